"""hil.targets.hostdeps: what a definition needs on the host comes from the definition; the table and
scripts/install-host-deps (this repository's own bootstrap) name the same packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from hil.cli.host import shell_line, ubuntu_like
from hil.core.arch import ARCHES, Arch
from hil.targets.definition import builtin_definitions, parse_definition
from hil.targets.hostdeps import HostNeed, packages_named, requirements
from tests.support.paths import REPO

AMD64 = ARCHES["x86_64"]
ARM64 = ARCHES["aarch64"]


def script_packages() -> set[str]:
    """Every package scripts/install-host-deps may install: its NEED table's values and its missing+=(...)."""
    text = (REPO / "scripts" / "install-host-deps").read_text()
    names = set(re.findall(r"^\s*\[[^\]]+\]=(\S+)", text, re.M))
    for group in re.findall(r"missing\+=\(([^)]*)\)", text):
        names |= set(group.split())
    return names


def test_every_package_of_the_table_is_in_the_bootstrap_script() -> None:
    """The script serves amd64 hosts (this repository's machines and CI), so the table's packages for one."""
    script = script_packages()
    assert {"gcc", "libc6-dev", "binutils", "qemu-system-x86"} <= script  # the parser reads the script
    assert packages_named(AMD64) - script == set()


def table(definition_toml: str, host: Arch = AMD64) -> dict[str, HostNeed]:
    definition = parse_definition(tomllib.loads(definition_toml), "test.toml")
    return {n.name: n for n in requirements(definition, host)}


def test_builtins_need_what_their_definitions_say() -> None:
    builtin = builtin_definitions()
    local = {n.name: n.package for n in requirements(builtin["local"], AMD64)}
    assert local == {"gcc": "gcc", "/usr/include/stdio.h": "libc6-dev", "addr2line": "binutils"}  # no fuzzing asked
    fuzzing = {n.name: n.package for n in requirements(builtin["local"], AMD64, fuzzing=True)}
    fuzzer = [name for name, package in fuzzing.items() if package == "libclang-rt-dev"]  # the file, or its pattern
    assert len(fuzzer) == 1 and fuzzer[0].startswith("/usr/lib/llvm-") and "libclang_rt.fuzzer-x86_64.a" in fuzzer[0]
    del fuzzing[fuzzer[0]]
    assert fuzzing == {**local, "clang": "clang"}
    assert "clang" not in {n.name for n in requirements(builtin["qemu"], AMD64, fuzzing=True)}  # fuzzing runs on local
    qemu = {n.name: n.package for n in requirements(builtin["qemu"], AMD64)}
    assert qemu["qemu-system-x86_64"] == "qemu-system-x86" and qemu["dpkg-deb"] == "dpkg"
    assert qemu["amd64"] is None  # the apt index of amd64: apt-get update, no package
    arm = {n.name: n.package for n in requirements(builtin["qemu-arm64"], AMD64)}
    assert arm["qemu-system-aarch64"] == "qemu-system-arm"
    assert arm["aarch64-linux-gnu-gcc"] == "gcc-aarch64-linux-gnu"
    assert arm["/usr/aarch64-linux-gnu/include/stdio.h"] == "libc6-dev-arm64-cross"
    assert "arm64" in arm and "gcc" not in arm


def test_needs_come_from_kind_arch_qemu_and_toolchain_never_the_name() -> None:
    needs = table('name = "qemu"\nkind = "qemu"\narch = "aarch64"\n[qemu]\nqemu = "qemu-system-aarch64"\n')
    assert needs["qemu-system-aarch64"].package == "qemu-system-arm" and "qemu-system-x86_64" not in needs
    own = table('name = "x"\nkind = "qemu"\n[qemu]\nqemu = "/opt/qemu/bin/qemu-system-x86_64"\n')
    assert own["/opt/qemu/bin/qemu-system-x86_64"].package is None
    cc = table('name = "b"\nkind = "board"\n[ssh]\nhost = "h"\nhost_key = "k"\n[toolchain]\ncc = "clang"\n')
    assert set(cc) == {"clang", "addr2line"} and cc["clang"].package is None
    qcc = table(
        'name = "b"\nkind = "board"\narch = "aarch64"\n[ssh]\nhost = "h"\nhost_key = "k"\n'
        '[toolchain]\nkind = "qcc"\nvariant = "gcc_ntoaarch64le"\nqnx_host = "/opt/qnx800/host/linux/x86_64"\n'
    )
    assert set(qcc) == {"qcc", "addr2line"} and qcc["qcc"].package is None and "QNX SDP" in qcc["qcc"].source
    assert qcc["qcc"].extra_path == ("/opt/qnx800/host/linux/x86_64/usr/bin",)


def test_on_an_arm64_host_the_x86_64_target_is_the_cross_one() -> None:
    needs = table('name = "q"\nkind = "qemu"\n', host=ARM64)
    assert needs["x86_64-linux-gnu-gcc"].package == "gcc-x86-64-linux-gnu"
    assert needs["/usr/x86_64-linux-gnu/include/stdio.h"].package == "libc6-dev-amd64-cross"
    assert table('name = "q"\nkind = "qemu"\narch = "aarch64"\n', host=ARM64)["gcc"].package == "gcc"


def test_command_lines_use_sudo_unless_root() -> None:
    apt = ["apt-get", "update"]
    assert shell_line(apt, root=False, noninteractive=True) == "sudo DEBIAN_FRONTEND=noninteractive apt-get update"
    assert shell_line(apt, root=True, noninteractive=False) == "apt-get update"
    assert shell_line(["dpkg", "--add-architecture", "arm64"], False, True) == "sudo dpkg --add-architecture arm64"


def test_ubuntu_is_told_from_os_release(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    for text, expected in (
        ('ID=ubuntu\nVERSION_ID="24.04"\n', True),
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', True),
        ("ID=debian\n", False),
    ):
        release.write_text(text)
        assert ubuntu_like(release) is expected
    assert ubuntu_like(tmp_path / "none") is False


def test_clang_is_missing_only_when_fuzzing_is_asked_for(tmp_path: Path) -> None:
    """Issue 22: a host without clang serves the local target (hil host check exit 0 for it); ``--fuzz`` asks
    for clang and libFuzzer too (what ``hil vdev fuzz`` needs)."""
    from hil.targets.hostdeps import missing

    local = builtin_definitions()["local"]
    empty = tmp_path / "bin"
    empty.mkdir()
    plain = {m.need.name for m in missing([local], path=str(empty))}
    fuzzing = {m.need.name for m in missing([local], path=str(empty), fuzzing=True)}
    assert "gcc" in plain and "clang" not in plain  # the PATH has nothing: gcc is missing, clang not asked for
    assert fuzzing - plain >= {"clang"}
