"""The image builder's pure parts: cache keys, kernel extraction, ELF and cpio handling, errors."""

from __future__ import annotations

import json
import lzma
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from hil.core.errors import SetupError
from hil.vm import image as image_mod
from hil.vm.cpio import Tree, read_cpio
from hil.vm.debs import candidate_versions
from hil.vm.elf import elf_dynamic_info, extract_vmlinux, modinfo
from hil.vm.image import Image, ImageSpec, build_image
from hil.vm.keys import dropbear_ed25519_key, make_keys
from tests.support.needs import require_program


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "qnx-hil"


# -- cache key ---------------------------------------------------------------------------------


def test_cache_key_is_stable_and_covers_every_input(tmp_path: Path) -> None:
    qvm = tmp_path / "qvm"
    qvm.write_bytes(b"\x7fELF one")
    base = ImageSpec(extra_files=(("/usr/bin/qvm", qvm),))
    key = base.cache_key()
    assert key == ImageSpec(extra_files=(("/usr/bin/qvm", qvm),)).cache_key()
    variants = [
        ImageSpec(),
        ImageSpec(kernel_package="linux-image-cloud-amd64", extra_files=base.extra_files),
        ImageSpec(packages=(*base.packages, "strace"), extra_files=base.extra_files),
        ImageSpec(versions={"busybox-static": "1:1.35.0-4"}, extra_files=base.extra_files),
        ImageSpec(nic_module="e1000", extra_files=base.extra_files),
        ImageSpec(initrd_compression="none", extra_files=base.extra_files),
        ImageSpec(extra_files=(("/usr/bin/qvm2", qvm),)),
    ]
    keys = {v.cache_key() for v in variants}
    assert key not in keys and len(keys) == len(variants)
    qvm.write_bytes(b"\x7fELF two")  # same path, new contents: a new image
    assert base.cache_key() != key


def test_cache_key_covers_the_init_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = tmp_path / "imagefiles"
    shutil.copytree(image_mod.IMAGEFILES_DIR, files)
    monkeypatch.setattr(image_mod, "IMAGEFILES_DIR", files)
    key = ImageSpec().cache_key()
    (files / "init").write_text((files / "init").read_text() + "\n# changed\n")
    assert ImageSpec().cache_key() != key


def test_missing_extra_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match=r"/usr/bin/qvm.*nowhere"):
        ImageSpec(extra_files=(("/usr/bin/qvm", tmp_path / "nowhere"),)).cache_key()


def test_cache_hit_runs_no_tool(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ImageSpec()
    root = cache / "images" / spec.cache_key()
    root.mkdir(parents=True)
    for name in ("vmlinux", "bzImage", "initrd.cpio.gz", "client_key"):
        (root / name).write_bytes(b"x")
    (root / "host_key.pub").write_text("ssh-ed25519 AAAAtest\n")
    (root / "image.json").write_text(
        json.dumps(
            {
                "spec_hash": spec.cache_key(),
                "ready_marker": "HIL-READY k",
                "kernel": "vmlinux",
                "nic_module": "virtio_net",
            }
        )
    )

    def no_tools(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a cache hit ran {args}")

    monkeypatch.setattr("hil.vm.image.subprocess.run", no_tools)
    monkeypatch.setattr("hil.vm.image.subprocess.Popen", no_tools)
    image = build_image(spec, log=lambda m: None)
    assert isinstance(image, Image)
    assert (image.root, image.kernel, image.initrd) == (root, root / "vmlinux", root / "initrd.cpio.gz")
    assert image.pvh and image.host_key_pub == "ssh-ed25519 AAAAtest" and image.ready_marker == "HIL-READY k"


def test_incomplete_cache_entry_is_rebuilt_not_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ImageSpec(packages=("hil-no-such-package-qnxhil",))
    root = cache / "images" / spec.cache_key()
    root.mkdir(parents=True)
    (root / "image.json").write_text("{")  # a crashed build
    assert shutil.which("apt-cache"), "the image is built from Debian packages: needs apt (a Debian/Ubuntu host)"
    with pytest.raises(SetupError, match="hil-no-such-package-qnxhil"):
        build_image(spec, log=lambda m: None)


# -- apt errors --------------------------------------------------------------------------------


def test_unknown_package_is_named_with_the_fix(cache: Path) -> None:
    require_program("apt-cache", "apt")
    with pytest.raises(SetupError) as err:
        build_image(ImageSpec(packages=("hil-no-such-package-qnxhil",)), log=lambda m: None)
    message = str(err.value)
    assert "'hil-no-such-package-qnxhil'" in message
    assert "versions" in message and "kernel_package" in message and "linux-modules-extra" in message
    assert not [p for p in (cache / "images").iterdir() if p.is_dir()], "a failed build left a folder behind"


def test_unknown_pinned_version_is_named(cache: Path) -> None:
    require_program("apt-cache", "apt")
    with pytest.raises(SetupError, match=r"'libc6' has no version '0\.0-hil'.*known:"):
        build_image(ImageSpec(packages=("libc6",), versions={"libc6": "0.0-hil"}), log=lambda m: None)


def test_versions_of_several_packages_come_from_one_apt_call() -> None:
    """An image's packages are resolved with one ``apt-cache policy`` (each call rebuilds apt's cache on hosts
    that keep none): the same versions as one call each, an unknown package or version still named."""
    require_program("apt-cache", "apt")
    wanted: list[tuple[str, str | None]] = [("busybox-static", None), ("libc6", None), ("dropbear-bin", None)]
    together = candidate_versions(wanted)
    assert together == [candidate_versions([one])[0] for one in wanted] and all(together)
    assert candidate_versions([("libc6", together[1]), ("busybox-static", None)]) == [together[1], together[0]]
    with pytest.raises(SetupError, match="'hil-no-such-package-qnxhil' is not in the apt index"):
        candidate_versions([("busybox-static", None), ("hil-no-such-package-qnxhil", None), ("libc6", None)])
    with pytest.raises(SetupError, match=r"'libc6' has no version '0\.0-hil'"):
        candidate_versions([("busybox-static", None), ("libc6", "0.0-hil")])


# -- kernel ------------------------------------------------------------------------------------


def _elf_with_notes(notes: list[tuple[bytes, int, bytes]]) -> bytes:
    """A minimal ELF64 file with one PT_NOTE segment holding ``notes``."""
    blob = b""
    for name, ntype, desc in notes:
        n = name + b"\0"
        blob += struct.pack("<III", len(n), len(desc), ntype)
        blob += n + b"\0" * (-len(n) % 4) + desc + b"\0" * (-len(desc) % 4)
    header = bytearray(64)
    header[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHIQQQIHHHHHH", header, 16, 2, 62, 1, 0x1000000, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 4, 4, 64 + 56, 0, 0, len(blob), len(blob), 4)
    return bytes(header) + phdr + blob + os.urandom(4096)


PVH_ELF = _elf_with_notes([(b"Linux", 1, b"6.1"), (b"Xen", 18, struct.pack("<I", 0x1000000))])


def _bzimage(payload: bytes, with_header: bool, before: bytes = b"") -> bytes:
    """A bzImage-like blob: setup sectors, ``before`` (decompressor code), the payload, trailer."""
    setup = bytearray(os.urandom(3 * 512))
    setup[0x1F1] = 2  # setup_sects: the protected-mode code starts at (2 + 1) * 512
    setup[0x202:0x206] = b"HdrS" if with_header else b"xxxx"
    filler = before + os.urandom(0x40)
    struct.pack_into("<I", setup, 0x248, len(filler))  # payload_offset from the protected-mode start
    return bytes(setup) + filler + payload + os.urandom(300)


@pytest.mark.parametrize("with_header", [True, False], ids=["boot-header", "magic-search"])
def test_vmlinux_is_extracted_from_an_xz_bzimage(with_header: bool) -> None:
    payload = lzma.compress(PVH_ELF, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    assert extract_vmlinux(_bzimage(payload, with_header)) == PVH_ELF


def test_boot_header_payload_offset_wins_over_earlier_streams() -> None:
    """An earlier XZ stream (a non-PVH ELF) would be refused: the header's offset must be used."""
    plain = lzma.compress(_elf_with_notes([(b"Linux", 1, b"6.1")]), format=lzma.FORMAT_XZ)
    payload = lzma.compress(PVH_ELF, format=lzma.FORMAT_XZ)
    assert extract_vmlinux(_bzimage(payload, with_header=True, before=plain)) == PVH_ELF
    with pytest.raises(ValueError, match="PVH"):
        extract_vmlinux(_bzimage(payload, with_header=False, before=plain))


def test_vmlinux_is_extracted_from_a_gzip_bzimage() -> None:
    import gzip

    assert extract_vmlinux(_bzimage(gzip.compress(PVH_ELF), with_header=True)) == PVH_ELF


def test_vmlinux_without_pvh_note_is_refused() -> None:
    plain = _elf_with_notes([(b"Linux", 1, b"6.1"), (b"Xen", 17, b"\0" * 8)])
    with pytest.raises(ValueError, match="PVH"):
        extract_vmlinux(_bzimage(lzma.compress(plain, format=lzma.FORMAT_XZ), with_header=True))


def test_bzimage_with_unknown_compression_is_refused() -> None:
    with pytest.raises(ValueError, match="no XZ or gzip"):
        extract_vmlinux(_bzimage(b"(\xb5/\xfd" + os.urandom(2000), with_header=True))  # zstd magic


# -- ELF, modules, keys, cpio --------------------------------------------------------------------


def test_elf_dynamic_info_of_a_host_binary() -> None:
    info = elf_dynamic_info(Path(shutil.which("ls") or "/bin/ls").read_bytes())
    assert info.interp is not None and "ld-linux" in info.interp
    assert "libc.so.6" in info.needed


def test_elf_dynamic_info_rejects_non_elf() -> None:
    with pytest.raises(ValueError, match="ELF"):
        elf_dynamic_info(b"#!/bin/sh\n")


def test_module_depends_are_read_from_modinfo() -> None:
    ko = b"\x7fELF...\0license=GPL\0depends=failover,net_failover\0retpoline=Y\0name=virtio_net\0"
    assert modinfo(ko, "depends") == ["failover", "net_failover"]
    assert modinfo(b"\0depends=\0name=e1000\0", "depends") == []


def test_dropbear_key_layout() -> None:
    key = dropbear_ed25519_key(b"\x01" * 32, b"\x02" * 32)
    assert key == struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 64) + b"\x01" * 32 + b"\x02" * 32


def test_generated_keys_match_and_load_in_paramiko(tmp_path: Path) -> None:
    import paramiko

    host_pub, host_dropbear, client_priv, client_pub = make_keys()
    assert host_pub.startswith("ssh-ed25519 AAAA") and client_pub.startswith("ssh-ed25519 AAAA")
    import base64

    raw_pub = base64.b64decode(host_pub.split()[1])[-32:]
    assert host_dropbear.endswith(raw_pub)  # dropbear's file carries the pinned public key
    (tmp_path / "k").write_bytes(client_priv)
    loaded = paramiko.Ed25519Key.from_private_key_file(str(tmp_path / "k"))
    assert f"{loaded.get_name()} {loaded.get_base64()}" == " ".join(client_pub.split()[:2])


def _tree() -> Tree:
    tree = Tree()
    tree.file("/init", b"#!/bin/busybox sh\necho hi\n", 0o755)
    tree.file("/etc/odd", b"abc", 0o600)  # sizes not a multiple of 4 exercise the padding
    tree.symlink("/bin/sh", "/bin/busybox")
    tree.node("/dev/console", 0o020600, 5, 1)
    tree.dir("/root/.ssh", 0o700)
    return tree


def test_cpio_round_trip() -> None:
    entries = {name: (mode, data) for name, mode, data in read_cpio(_tree().cpio())}
    assert entries["init"] == (0o100755, b"#!/bin/busybox sh\necho hi\n")
    assert entries["etc/odd"] == (0o100600, b"abc")
    assert entries["bin/sh"] == (0o120777, b"/bin/busybox")
    assert entries["dev/console"][0] == 0o020600
    assert entries["root/.ssh"][0] == 0o040700 and entries["root"][0] == 0o040755  # parents made


def test_cpio_is_read_by_gnu_cpio() -> None:
    require_program("cpio", "cpio")
    listing = subprocess.run(["cpio", "-itv", "--quiet"], input=_tree().cpio(), capture_output=True, check=True)
    lines = listing.stdout.decode().splitlines()
    by_name = {line.split()[-1] if "->" not in line else line.split()[-3]: line for line in lines}
    assert by_name["init"].startswith("-rwxr-xr-x")
    assert by_name["dev/console"].startswith("crw-------") and "5," in by_name["dev/console"]
    assert by_name["bin/sh"].startswith("lrwxrwxrwx") and by_name["bin/sh"].endswith("-> /bin/busybox")
    assert by_name["root/.ssh"].startswith("drwx------")


def test_concurrent_builds_of_one_spec_build_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    builds: list[str] = []

    def fake_build(spec: ImageSpec, key: str, out: Path, log: object) -> None:
        builds.append(key)
        time.sleep(0.2)  # long enough for the other builder to queue on the lock
        for name in ("vmlinux", "bzImage", "initrd.cpio.gz", "client_key"):
            (out / name).write_bytes(b"x")
        (out / "host_key.pub").write_text("ssh-ed25519 AAAAtest\n")
        (out / "image.json").write_text(
            json.dumps(
                {"spec_hash": key, "ready_marker": f"HIL-READY {key}", "kernel": "vmlinux", "nic_module": "virtio_net"}
            )
        )

    monkeypatch.setattr(image_mod, "_build", fake_build)
    results: list[Image] = []
    threads = [
        threading.Thread(target=lambda: results.append(build_image(ImageSpec(), log=lambda m: None))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(results) == 3
    assert {r.root for r in results} == {cache / "images" / ImageSpec().cache_key()}
    build_image(ImageSpec(), force=True, log=lambda m: None)
    assert len(builds) == 2
