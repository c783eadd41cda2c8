"""Per-architecture pieces of the aarch64 public target (issue 18), without booting it: the
architecture table, ELF machine checks, the image spec's key, the arch-aware .deb cache, the
toolchain per target architecture and the wrong-architecture refusal before deploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.core.arch import arch, check_elf_arch, elf_arch_name, elf_machine, gcc_for
from hil.core.errors import SetupError
from hil.orchestrate import run_once
from hil.targets.definition import builtin_definitions
from hil.targets.toolchain import Toolchain, build_vdev
from hil.vm.arm64 import ARM64_KERNEL_CMDLINE, arm64_command
from hil.vm.debs import deb_path
from hil.vm.image import Image, ImageSpec
from hil.vm.qemu import QemuOptions
from tests.support.needs import require_program

ROOT = Path(__file__).resolve().parents[2]


def _elf_header(machine: int) -> bytes:
    return b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44)


def test_arch_names_and_aliases() -> None:
    assert arch("arm64") is arch("aarch64") and arch("amd64") is arch("x86_64")
    assert (arch("aarch64").debian, arch("aarch64").triplet, arch("aarch64").e_machine) == (
        "arm64",
        "aarch64-linux-gnu",
        183,
    )
    assert arch("aarch64").qcc_variant == "gcc_ntoaarch64le" and arch("aarch64").console == "ttyAMA0"
    with pytest.raises(SetupError, match=r"unknown architecture 'sparc'.*x86_64, aarch64"):
        arch("sparc")


def test_elf_machine_and_the_wrong_arch_message(tmp_path: Path) -> None:
    x86 = tmp_path / "vdev-x.so"
    x86.write_bytes(_elf_header(62))
    assert elf_machine(x86.read_bytes()) == 62 and elf_arch_name(x86) == "x86_64"
    check_elf_arch(x86, "x86_64", "vdev x")  # the right one: no error
    with pytest.raises(SetupError, match=r"vdev x: .*vdev-x\.so is built for x86_64, but the target is aarch64"):
        check_elf_arch(x86, "arm64", "vdev x")
    other = tmp_path / "vdev-rv.so"
    other.write_bytes(_elf_header(243))
    with pytest.raises(SetupError, match="built for riscv"):
        check_elf_arch(other, "aarch64", "vdev rv")
    text = tmp_path / "notelf.so"
    text.write_text("not a shared object")
    check_elf_arch(text, "aarch64", "vdev t")  # not ELF at all: left to qvm's dlopen error


def test_builtin_arm64_definition() -> None:
    d = builtin_definitions()["qemu-arm64"]
    assert (d.kind, d.arch, d.qemu.qemu, d.qemu.kernel_package, d.qemu.accel) == (
        "qemu",
        "aarch64",
        "qemu-system-aarch64",
        "linux-image-arm64",
        "tcg",
    )
    assert d.matches("label:aarch64") and d.matches("label:arm64") and not d.matches("label:x86_64")
    assert not builtin_definitions()["qemu"].matches("label:aarch64")


def test_image_key_covers_the_arch_and_keeps_x86_64_keys() -> None:
    x86 = ImageSpec()
    assert ImageSpec(arch="amd64").cache_key() == x86.cache_key()
    arm = ImageSpec(kernel_package="linux-image-arm64", arch="aarch64")
    assert arm.cache_key() != ImageSpec(kernel_package="linux-image-arm64").cache_key()
    assert ImageSpec(arch="arm64").cache_key() == ImageSpec(arch="aarch64").cache_key() != x86.cache_key()


def test_deb_cache_keeps_architectures_apart(tmp_path: Path) -> None:
    (tmp_path / "libc6_2.36-9_arm64.deb").write_bytes(b"")
    assert deb_path(tmp_path, "libc6", "2.36-9", "amd64") is None  # never the other architecture's .deb
    assert deb_path(tmp_path, "libc6", "2.36-9", "arm64") == tmp_path / "libc6_2.36-9_arm64.deb"
    (tmp_path / "libc6_2.36-9_amd64.deb").write_bytes(b"")
    assert deb_path(tmp_path, "libc6", "2.36-9", "amd64") == tmp_path / "libc6_2.36-9_amd64.deb"
    (tmp_path / "tzdata_1%3a2024_all.deb").write_bytes(b"")
    assert deb_path(tmp_path, "tzdata", "1:2024", "arm64") == tmp_path / "tzdata_1%3a2024_all.deb"


def test_virt_command_line(tmp_path: Path) -> None:
    image = Image(
        root=tmp_path,
        kernel=tmp_path / "Image",
        bzimage=tmp_path / "Image",
        initrd=tmp_path / "initrd.cpio.gz",
        host_key_pub="",
        client_key=tmp_path / "k",
        spec_hash="abc",
        ready_marker="HIL-READY abc",
        arch="aarch64",
    )
    options = QemuOptions(qemu="qemu-system-aarch64", kernel_args=("loglevel=3",), extra_args=("-cpu", "max"))
    argv = arm64_command(image, options, 7, 2222, "tcg", True, tmp_path / "qemu.pid")
    joined = " ".join(argv)
    assert argv[0] == "qemu-system-aarch64" and "-machine virt,accel=tcg" in joined
    assert f"-append {ARM64_KERNEL_CMDLINE} loglevel=3" in joined and "console=ttyAMA0" in joined
    assert "-bios" not in argv and "-kernel " + str(tmp_path / "Image") in joined  # booted directly
    assert "virtio-net-pci,romfile=,netdev=net0" in joined and "hostfwd=tcp:127.0.0.1:2222-:22" in joined
    assert argv[-2:] == ["-cpu", "max"]  # extra_args last: they can override the CPU
    with pytest.raises(SetupError, match="no QEMU device on the aarch64 virt machine"):
        arm64_command(
            Image(**{**image.__dict__, "nic_module": "rtl8139"}), options, 7, 2222, "tcg", True, tmp_path / "p"
        )


def test_toolchain_per_target_arch() -> None:
    defs = builtin_definitions()
    arm = Toolchain.from_definition(defs["qemu-arm64"])
    assert (arm.kind, arm.cc, arm.arch) == ("gcc", gcc_for("aarch64"), "aarch64")
    assert arm.cc == "aarch64-linux-gnu-gcc"  # this x86_64 host cross-compiles
    x86 = Toolchain.from_definition(defs["qemu"])
    assert (x86.cc, x86.arch) == ("gcc", "x86_64")


def test_vdev_built_for_arm64_is_aarch64_and_cached_apart(tmp_path: Path) -> None:
    require_program("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    defs = builtin_definitions()
    arm = build_vdev(ROOT / "target_vdevs" / "wdog", Toolchain.from_definition(defs["qemu-arm64"]))
    x86 = build_vdev(ROOT / "target_vdevs" / "wdog", Toolchain.from_definition(defs["qemu"]))
    assert elf_arch_name(arm.path) == "aarch64" and elf_arch_name(x86.path) == "x86_64"
    assert arm.path.parent != x86.path.parent  # the build cache keys on the architecture


def test_a_cross_toolchain_that_makes_the_wrong_arch_is_refused() -> None:
    wrong = Toolchain(cc="gcc", arch="aarch64")  # host gcc, yet the target is aarch64
    with pytest.raises(SetupError, match="is built for x86_64, but the target is aarch64"):
        build_vdev(ROOT / "target_vdevs" / "wdog", wrong)


def test_an_x86_64_vdev_for_qemu_arm64_is_a_setup_error_before_boot(tmp_path: Path) -> None:
    x86 = build_vdev(ROOT / "target_vdevs" / "wdog", Toolchain.from_definition(builtin_definitions()["qemu"]))
    conf = tmp_path / "x.qvmconf"
    conf.write_text("system vm\n")
    with pytest.raises(SetupError, match=r"--vdev .*vdev-wdog\.so for target 'qemu-arm64'.*built for x86_64"):
        run_once(builtin_definitions()["qemu-arm64"], conf, [x86.path], artifacts=tmp_path / "a")
    assert not (tmp_path / "a" / "target").exists()  # refused before the target was brought up
