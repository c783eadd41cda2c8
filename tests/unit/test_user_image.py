"""A user-supplied image under QEMU (issue 12): its command line, its checks and its OS facts, without a VM."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.core.errors import ConfigError
from hil.core.osfacts import QNX_CRASH_BANNERS
from hil.targets import QemuTarget, make_target
from hil.targets.definition import TargetDefinition, parse_definition
from hil.targets.qemu import background_up, user_image, user_ssh_config
from hil.vm import snapshot as snapshots
from hil.vm.qemu import QemuOptions
from hil.vm.usermachine import UserQemuMachine, user_command
from tests.support.keys import STRANGER_HOST_KEY

HOST_KEY = STRANGER_HOST_KEY  # any valid public key line: never connected to here


def qnx_definition(folder: Path, **qemu: object) -> TargetDefinition:
    """An x86_64 QNX image as mkqnximage leaves it: an IFS, a disk, a data drive, the key to log in with."""
    for name in ("ifs.bin", "disk-qemu.vmdk", "data,1.img", "id_ed25519"):
        (folder / name).write_bytes(b"\0" * 512)
    table: dict[str, object] = {
        "kernel": "ifs.bin",
        "append": "startup-x86 -D8250",
        "image": "disk-qemu.vmdk",
        "drives": ["file=data,,1.img,if=virtio,format=raw"],
        "machine": "q35",
        "console_ready_regex": r"login:|\$ $",
        "ssh_key": "id_ed25519",
        "ssh_host_key": HOST_KEY,
        "ssh_port": 2222,
        "memory_mb": 1024,
        **qemu,
    }
    table = {key: value for key, value in table.items() if value is not None}  # None: leave the key out
    data = {"kind": "qemu", "os": "qnx", "qemu": table, "qvm": {"command": "/usr/sbin/qvm"}}
    return parse_definition(data, str(folder / "qnx.toml"), "qnx-qemu")


def test_qnx_disk_image_command_line(tmp_path: Path) -> None:
    definition = qnx_definition(tmp_path)
    user = user_image(definition)
    argv = user_command(user, QemuOptions(memory_mb=1024), 7, 40022, "tcg", True, tmp_path / "run" / "qemu.pid")
    line = " ".join(argv)

    def after(option: str) -> list[str]:
        return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]

    assert after("-machine") == ["q35,accel=tcg"] and after("-m") == ["1024"]
    assert after("-kernel") == [str(tmp_path / "ifs.bin")] and after("-append") == ["startup-x86 -D8250"]
    assert after("-drive") == [  # the disk never written (snapshot=on), the extra drive's file made absolute
        f"file={tmp_path / 'disk-qemu.vmdk'},format=vmdk,if=ide,snapshot=on",
        f"file={tmp_path / 'data,,1.img'},if=virtio,format=raw",
    ]
    assert after("-netdev") == ["user,id=net0,hostfwd=tcp:127.0.0.1:40022-:2222"]
    assert after("-device") == ["virtio-net-pci,romfile=,netdev=net0"]
    assert after("-chardev") == ["socket,id=console,fd=7,server=on,wait=on"] and after("-serial") == ["chardev:console"]
    # nothing of the public image: no initrd, no kernel command line of ours, no firmware of ours, no cache path
    assert "-initrd" not in argv and "-bios" not in argv and "console=ttyS0" not in line and ".cache" not in line
    assert not snapshots.snapshottable(argv)  # a disk: never snapshotted


def test_user_machine_boots_cold_and_stays_out_of_the_background(tmp_path: Path) -> None:
    definition = qnx_definition(tmp_path, image=None, drives=[])  # kernel only: still never snapshotted
    machine = UserQemuMachine(user_image(definition), run_dir=tmp_path / "run")
    argv = machine.command(3, 4, "tcg")
    assert not machine.snapshot and not machine._plan_snapshot(argv) and machine._snapshot is None
    assert machine.ready_marker() == r"login:|\$ $" and machine._marker_seen(machine.ready_marker(), b"\nlogin:")
    assert machine.guest_ssh_port == 2222
    with pytest.raises(ConfigError, match=r"qnx\.toml.*qemu\.kernel.*'hil target up' keeps the public image"):
        background_up(definition)


def test_qnx_facts_ssh_and_qvm_come_from_the_definition(tmp_path: Path) -> None:
    definition = qnx_definition(tmp_path)
    target = make_target(definition, tmp_path / "run")
    assert isinstance(target, QemuTarget)
    assert target.os.name == "qnx" and target.os.crash_banners == QNX_CRASH_BANNERS
    assert target.os.signal_name(16) == "SIGUSR1"  # QNX numbering, not Linux's SIGSTKFLT
    assert target.qvm_command() == "/usr/sbin/qvm"
    ssh = user_ssh_config(definition, 40022)
    assert (ssh.port, ssh.user, ssh.host_key, ssh.key_path) == (40022, "root", HOST_KEY, tmp_path / "id_ed25519")


@pytest.mark.parametrize(
    ("change", "key"),
    [({"kernel": "nope.ifs"}, "qemu.kernel"), ({"drives": ["if=virtio,file=gone.img"]}, r"qemu.drives\[0\]")],
)
def test_a_missing_file_is_a_one_line_config_error(tmp_path: Path, change: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"qnx\.toml.*{key}.*no file") as err:
        qnx_definition(tmp_path, **change)
    assert "\n" not in str(err.value)
