"""The public QEMU target image: a small x86_64 or aarch64 Linux built only from Debian packages.

``build_image(spec)`` fetches the packages with ``apt-get download`` (kept in
``cache_dir("debs")``), unpacks them with ``dpkg-deb -x`` (no maintainer scripts,
no network at run time) and assembles, in its cache folder
``cache_dir("images", <hash>)``:

* ``vmlinux``: the kernel's ELF image, decompressed from the bzImage, booted
  through its PVH entry with QEMU's ``-kernel`` (about twice as fast under TCG
  as the bzImage through SeaBIOS); ``bzImage``: the kernel as shipped, the
  fallback where the payload cannot be decompressed here.
  An aarch64 image (``ImageSpec.arch``) boots the arm64 package's ``Image`` as shipped
  (uncompressed; gunzip'd if a package ships it gzip'd) on QEMU's ``virt`` machine.
* ``initrd.cpio.gz``: a gzip'd newc cpio with busybox, dropbear, sftp-server,
  the libraries they need, the NIC driver modules and the ``/init`` from
  ``hil/vm/imagefiles`` (``initrd.cpio`` with ``initrd_compression="none"``: the
  kernel then skips ~0.2 s of decompression under TCG).
* ``host_key.pub`` (pinned by the framework), ``client_key`` (OpenSSH private key
  authorized in the image), ``image.json`` (what went in).

The cache key hashes the spec as given plus the image files and the extra files'
contents, so a cache hit costs no apt call and well under a second.

This module is the recipe and the cache; the packages come from ``hil.vm.debs``,
ELF and PVH parsing from ``hil.vm.elf``, the keys from ``hil.vm.keys`` and the
cpio writer from ``hil.vm.cpio``.

A foreign architecture's packages are downloaded with apt's multi-arch
(``apt-get download NAME:arm64``, after ``dpkg --add-architecture arm64``) and only
unpacked: nothing of them runs on the host.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from hil.core.arch import arch as arch_info
from hil.core.errors import SetupError
from hil.core.paths import PACKAGE_DIR, cache_dir, file_lock, hash_inputs
from hil.vm.cpio import Tree, read_cpio
from hil.vm.debs import FIX_HINT, candidate_versions, fetch, kernel_debs, unpack
from hil.vm.elf import elf_dynamic_info, extract_vmlinux, modinfo
from hil.vm.keys import make_keys

#: Bumped whenever the builder's output changes for the same inputs.
BUILD_FORMAT = "1"

#: The files copied into every image (``/init`` and friends).
IMAGEFILES_DIR = PACKAGE_DIR / "vm" / "imagefiles"

DEFAULT_PACKAGES: tuple[str, ...] = (
    "busybox-static",
    "dropbear-bin",
    "openssh-sftp-server",
    "libc6",
    "libcrypt1",
    "libtomcrypt1",
    "libtommath1",
    "zlib1g",
    "libgmp10",
    "libgcc-s1",
)

#: Modules a NIC driver needs besides the ones its ``depends=`` names (bus drivers).
NIC_BUS_MODULES: dict[str, tuple[str, ...]] = {
    "virtio_net": ("virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci"),
}


@dataclass(frozen=True)
class ImageSpec:
    """Every input of an image; its hash (with the image files) is the cache key.

    ``kernel_package`` may be a metapackage: it is resolved through its Depends
    on ``linux-image-*`` / ``linux-modules*`` packages.  ``versions`` pins
    package versions (name -> version, passed to apt as ``name=version``).
    ``extra_files`` are ``(path in image, host file)`` pairs, e.g. a built qvmsim
    at ``/usr/bin/qvm``; the shared libraries an ELF extra file needs are
    added from the unpacked packages.  ``nic_module`` is the NIC driver: the
    default ``virtio_net`` (with virtio_pci) is up at once, while QEMU's e1000
    refuses received frames for its first second after the driver enables
    receive, which delays SSH by ~0.9 s.  ``arch`` is the CPU architecture
    (``hil.core.arch``): its Debian packages, kernel and serial console.
    """

    kernel_package: str = "linux-image-amd64"
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    versions: Mapping[str, str] = field(default_factory=dict)
    nic_module: str = "virtio_net"
    extra_files: tuple[tuple[str, Path], ...] = ()
    initrd_compression: Literal["gzip", "none"] = "gzip"
    arch: str = "x86_64"

    def cache_key(self) -> str:
        """Hash of this spec as given, the image files and the extra files' contents (no apt call)."""
        fields: dict[str, object] = {
            "format": BUILD_FORMAT,
            "kernel_package": self.kernel_package,
            "packages": list(self.packages),
            "versions": dict(sorted(self.versions.items())),
            "nic_module": self.nic_module,
            "initrd_compression": self.initrd_compression,
            "extra_files": [dest for dest, _ in self.extra_files],
        }
        name = arch_info(self.arch).name
        if name != "x86_64":  # x86_64 images keep the keys they had before there was a choice
            fields["arch"] = name
        described = json.dumps(fields, sort_keys=True)
        items: list[bytes | str | Path] = [described]
        items += sorted(IMAGEFILES_DIR.iterdir())
        for dest, host in self.extra_files:
            host = Path(host)
            if not host.is_file():
                raise SetupError(f"image extra file for '{dest}': {host} does not exist or is not a file")
            items.append(host.read_bytes())
        return hash_inputs(*items)


@dataclass(frozen=True)
class Image:
    """A built image: all its files beside each other in ``root``.

    ``kernel`` is what to pass to QEMU's ``-kernel``: the ELF ``vmlinux`` (PVH
    boot) when it could be extracted, else the ``bzimage``.  ``host_key_pub`` is
    the pinned host key (``ssh-ed25519 AAAA...``), ``client_key`` the OpenSSH
    private key the image authorizes for ``user``.  The guest prints
    ``ready_marker`` (regex-safe) on its serial console once dropbear runs.
    """

    root: Path
    kernel: Path
    bzimage: Path
    initrd: Path
    host_key_pub: str
    client_key: Path
    spec_hash: str
    ready_marker: str
    nic_module: str = "virtio_net"
    user: str = "root"
    arch: str = "x86_64"

    @property
    def pvh(self) -> bool:
        """True when ``kernel`` is the ELF vmlinux (booted through its PVH entry)."""
        return self.kernel != self.bzimage


def build_image(spec: ImageSpec = ImageSpec(), *, force: bool = False, log: Callable[[str], None] = print) -> Image:
    """The image for ``spec``: from the cache, or built (``force``: always rebuilt).

    Concurrent builds of one spec (parallel test workers) take turns on a lock
    file; the later ones find the image built.
    """
    key = spec.cache_key()
    images = cache_dir("images")
    final = images / key
    if not force:
        cached = _load(final)
        if cached is not None:
            return cached
    with file_lock(images / f".{key}.lock"):
        if not force:
            cached = _load(final)
            if cached is not None:
                return cached
        started = time.monotonic()
        log(f"building QEMU target image {key} in {final}")
        work = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=images))
        try:
            _build(spec, key, work, log)
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=f".old-{key}-", dir=images))
                final.rename(old / key)
                shutil.rmtree(old, ignore_errors=True)
            work.rename(final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    image = _load_or_fail(final)
    log(
        f"image {key} built in {time.monotonic() - started:.1f} s: "
        f"initrd {image.initrd.stat().st_size // 1024} KiB, kernel {image.kernel.name}"
    )
    return image


# -- cache ---------------------------------------------------------------------------------------


def _load(root: Path) -> Image | None:
    meta = root / "image.json"
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    image = Image(
        root=root,
        kernel=root / data["kernel"],
        bzimage=root / data.get("bzimage", "bzImage"),
        initrd=root / data.get("initrd", "initrd.cpio.gz"),
        host_key_pub=(root / "host_key.pub").read_text().strip(),
        client_key=root / "client_key",
        spec_hash=data["spec_hash"],
        ready_marker=data["ready_marker"],
        nic_module=data["nic_module"],
        arch=data.get("arch", "x86_64"),
    )
    if not all(p.is_file() for p in (image.kernel, image.bzimage, image.initrd, image.client_key)):
        return None
    return image


def _load_or_fail(root: Path) -> Image:
    image = _load(root)
    if image is None:
        raise SetupError(f"image in {root} is incomplete; rebuild it with `hil image build --force`")
    return image


def load_image(root: Path) -> Image:
    """The already built image in ``root`` (e.g. from a running target's state file)."""
    return _load_or_fail(Path(root))


# -- build ---------------------------------------------------------------------------------------


def _build(spec: ImageSpec, key: str, out: Path, log: Callable[[str], None]) -> None:
    debs = cache_dir("debs")
    target = arch_info(spec.arch)
    deb_arch = target.debian
    # Resolve every version first (local index only): a bad name fails before any download.
    pins = [(name, spec.versions.get(name)) for name in spec.packages]
    wanted = list(zip(spec.packages, candidate_versions(pins, deb_arch), strict=True))
    kernel = kernel_debs(spec.kernel_package, spec.versions, debs, log, deb_arch)
    fetched = [(name, version, fetch(name, version, debs, log, deb_arch)) for name, version in wanted]
    with tempfile.TemporaryDirectory(prefix="unpack-", dir=out) as tmp:
        staging = Path(tmp)
        log(f"unpacking {len(kernel) + len(fetched)} packages")
        for _, _, deb in kernel + fetched:
            unpack(deb, staging)
        bzimage = _find_kernel(staging, spec.kernel_package)
        if target.name == "aarch64":
            kernel_name = bzimage_name = _add_arm64_kernel(bzimage, out)
        else:
            kernel_name = _add_kernel(bzimage, out, log)
            bzimage_name = "bzImage"
        host_pub, host_dropbear, client_priv, client_pub = make_keys()
        (out / "host_key.pub").write_text(host_pub + "\n")
        (out / "client_key").write_bytes(client_priv)
        (out / "client_key").chmod(0o600)
        (out / "client_key.pub").write_text(client_pub + "\n")
        marker = f"HIL-READY {key}"
        tree = Tree()
        _add_base(tree, staging, spec, marker, host_dropbear, client_pub, target.console)
        modules = _add_modules(tree, staging, bzimage.name, spec.nic_module)
        tree.file("/etc/hil/modules", "".join(m + "\n" for m in modules).encode(), 0o644)
        for dest, host in spec.extra_files:
            data = Path(host).read_bytes()
            tree.file(dest, data, 0o755 if os.access(host, os.X_OK) else 0o644)
        _add_libraries(tree, staging)
        cpio = tree.cpio()
        if spec.initrd_compression == "gzip":
            initrd_name = "initrd.cpio.gz"
            (out / initrd_name).write_bytes(gzip.compress(cpio, compresslevel=6, mtime=0))
        elif spec.initrd_compression == "none":
            initrd_name = "initrd.cpio"
            (out / initrd_name).write_bytes(cpio)
        else:
            raise SetupError(f"initrd_compression '{spec.initrd_compression}' is not one of: gzip, none")
    meta = {
        "spec_hash": key,
        "ready_marker": marker,
        "kernel": kernel_name,
        "bzimage": bzimage_name,
        "arch": target.name,
        "nic_module": spec.nic_module,
        "initrd": initrd_name,
        "modules": modules,
        "packages": {name: version for name, version, _ in kernel + fetched},
        "extra_files": [dest for dest, _ in spec.extra_files],
        "initrd_bytes": (out / initrd_name).stat().st_size,
        "initrd_uncompressed_bytes": len(cpio),
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / "image.json").write_text(json.dumps(meta, indent=2) + "\n")


def _add_kernel(bzimage: Path, out: Path, log: Callable[[str], None]) -> str:
    """Put ``bzImage`` and, when it can be extracted, ``vmlinux`` into ``out``; returns the one to boot.

    Both are kept once per kernel in ``cache_dir("kernels", <hash>)`` and hard-linked into
    each image (63 MB of vmlinux per image otherwise).
    """
    data = bzimage.read_bytes()
    kernels = cache_dir("kernels", hash_inputs(data))
    with file_lock(kernels / ".lock"):
        if not (kernels / "bzImage").exists():
            _write_atomic(kernels / "bzImage", data)
        if not (kernels / "vmlinux").exists() and not (kernels / "no-vmlinux").exists():
            try:
                _write_atomic(kernels / "vmlinux", extract_vmlinux(data))
            except ValueError as exc:
                (kernels / "no-vmlinux").write_text(f"{exc}\n")
    _link_or_copy(kernels / "bzImage", out / "bzImage")
    if (kernels / "vmlinux").exists():
        _link_or_copy(kernels / "vmlinux", out / "vmlinux")
        return "vmlinux"
    log(f"booting the bzImage (slower): {(kernels / 'no-vmlinux').read_text().strip()}")
    return "bzImage"


#: The magic of an arm64 kernel ``Image`` (at offset 0x38 of its header).
_ARM64_MAGIC = b"ARM\x64"


def _add_arm64_kernel(vmlinuz: Path, out: Path) -> str:
    """Put the arm64 kernel ``Image`` into ``out`` (kept once per kernel, hard-linked); returns its name.

    Debian's arm64 ``vmlinuz`` is the uncompressed ``Image`` QEMU's ``-kernel`` boots directly;
    a gzip'd one is decompressed once here (QEMU would do it on every boot)."""
    data = vmlinuz.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[0x38:0x3C] != _ARM64_MAGIC:
        raise SetupError(
            f"{vmlinuz.name} is not an arm64 kernel Image (no 'ARM\\x64' magic at offset 0x38); {FIX_HINT}"
        )
    kernels = cache_dir("kernels", hash_inputs(data))
    with file_lock(kernels / ".lock"):
        if not (kernels / "Image").exists():
            _write_atomic(kernels / "Image", data)
    _link_or_copy(kernels / "Image", out / "Image")
    return "Image"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    tmp.rename(path)


def _link_or_copy(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def _find_kernel(staging: Path, package: str) -> Path:
    found = sorted((staging / "boot").glob("vmlinuz-*"))
    if not found:
        raise SetupError(
            f"kernel package '{package}' (and the linux-image packages it depends on) holds no "
            f"/boot/vmlinuz-*; {FIX_HINT}"
        )
    return found[-1]


def _add_base(
    tree: Tree, staging: Path, spec: ImageSpec, marker: str, host_key: bytes, client_pub: str, console: str = "ttyS0"
) -> None:
    for d in (
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/dev",
        "/proc",
        "/sys",
        "/tmp",
        "/run",
        "/var/log",
        "/etc/dropbear",
        "/etc/hil",
        "/lib/modules",
    ):
        tree.dir(d)
    tree.dir("/root", 0o700)
    tree.dir("/root/.ssh", 0o700)
    tree.node("/dev/console", stat.S_IFCHR | 0o600, 5, 1)
    tree.node("/dev/null", stat.S_IFCHR | 0o666, 1, 3)
    files = {
        "init": ("/init", 0o755),
        "inittab": ("/etc/inittab", 0o644),
        "passwd": ("/etc/passwd", 0o644),
        "group": ("/etc/group", 0o644),
        "shells": ("/etc/shells", 0o644),
        "profile": ("/etc/profile", 0o644),
    }
    for name, (dest, mode) in files.items():
        data = (IMAGEFILES_DIR / name).read_bytes()
        if console != "ttyS0":  # the image files name x86's serial port (syslogd, the console shell)
            data = data.replace(b"ttyS0", console.encode())
        tree.file(dest, data, mode)
    tree.file("/etc/hil/ready", (marker + "\n").encode(), 0o644)
    tree.file("/etc/dropbear/dropbear_ed25519_host_key", host_key, 0o600)
    tree.file("/root/.ssh/authorized_keys", (client_pub + "\n").encode(), 0o600)

    busybox = _need(staging, "/bin/busybox", "busybox-static")
    tree.file("/bin/busybox", busybox.read_bytes(), 0o755)
    for applet in _busybox_applets(busybox):
        if applet != "/bin/busybox" and applet not in tree.entries:
            tree.symlink(applet, "/bin/busybox")
    tree.symlink("/bin/sh", "/bin/busybox")
    _copy_from(tree, staging, "/usr/sbin/dropbear", "dropbear-bin")
    # dropbear runs the SFTP subsystem from /usr/lib/sftp-server (Debian's build).
    _copy_from(tree, staging, "/usr/lib/sftp-server", "openssh-sftp-server")


def _need(staging: Path, path: str, package: str) -> Path:
    host = staging / path.lstrip("/")
    if not host.exists():
        raise SetupError(
            f"{path} is missing from the unpacked packages: is '{package}' in the image's packages? {FIX_HINT}"
        )
    return host


def _copy_from(tree: Tree, staging: Path, path: str, package: str) -> str:
    """Copy ``path`` from the unpacked packages into ``tree``, following (and recreating) symlinks;
    returns the real path."""
    for _ in range(20):
        host = staging / path.lstrip("/")
        if host.is_symlink():
            target = os.readlink(host)
            tree.symlink(path, target)
            path = os.path.normpath(target if target.startswith("/") else str(PurePosixPath(path).parent / target))
            continue
        _need(staging, path, package)
        if path not in tree.entries:
            tree.file(path, host.read_bytes(), stat.S_IMODE(host.stat().st_mode))
        return path
    raise SetupError(f"symlink loop at {path} in the unpacked packages")


def _busybox_applets(busybox: Path) -> list[str]:
    """Applet paths from the busybox binary itself (none: /init installs the links at boot)."""
    try:
        proc = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["/" + line.strip() for line in proc.stdout.splitlines() if line.strip()] if proc.returncode == 0 else []


def _add_modules(tree: Tree, staging: Path, vmlinuz_name: str, nic_module: str) -> list[str]:
    """Copy the NIC module and the modules it depends on; returns them in load order."""
    release = vmlinuz_name.removeprefix("vmlinuz-")
    moddir = staging / "lib" / "modules" / release
    if not moddir.is_dir():
        raise SetupError(f"no /lib/modules/{release} in the unpacked kernel packages; {FIX_HINT}")
    index: dict[str, Path] = {}
    for path in moddir.rglob("*.ko*"):
        index.setdefault(_module_name(path.name), path)
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        name = name.replace("-", "_")
        if name in order or name in chain:
            return
        path = index.get(name)
        if path is None:
            if _builtin(moddir, name):
                return
            raise SetupError(
                f"kernel module '{name}' (needed for nic_module '{nic_module}') is not in the "
                f"kernel packages for {release}; {FIX_HINT}"
            )
        data = _decompress_module(path)
        for dep in modinfo(data, "depends"):
            visit(dep, (*chain, name))
        order.append(name)
        tree.file(f"/lib/modules/{name}.ko", data, 0o644)

    for bus in NIC_BUS_MODULES.get(nic_module.replace("-", "_"), ()):
        if bus in index:
            visit(bus, ())
    visit(nic_module, ())
    return order


def _module_name(filename: str) -> str:
    return filename.split(".ko", 1)[0].replace("-", "_")


def _builtin(moddir: Path, name: str) -> bool:
    try:
        listed = (moddir / "modules.builtin").read_text()
    except OSError:
        return False
    return any(_module_name(PurePosixPath(line).name) == name for line in listed.split())


def _decompress_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko"):
        return data
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko.zst") and shutil.which("zstd"):
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    raise SetupError(f"cannot decompress kernel module {path.name} (install zstd for .ko.zst modules)")


# -- shared libraries ----------------------------------------------------------------------------


DLOPENED_BY_LIBC = ("libgcc_s.so.1",)


def _add_libraries(tree: Tree, staging: Path) -> None:
    """Add every shared library (and the loader) the tree's ELF files need, from ``staging``."""
    lib_dirs = [
        d
        for pattern in ("lib/*-linux-gnu", "usr/lib/*-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib")
        for d in sorted(staging.glob(pattern))
        if d.is_dir()
    ]
    pending = [path for path, entry in tree.entries.items() if entry.data is not None and entry.data[:4] == b"\x7fELF"]
    # glibc dlopen()s these itself (libgcc_s for pthread_exit/pthread_cancel unwinding): no
    # DT_NEEDED names them, but qvmsim's vdev threads need them.
    for soname in DLOPENED_BY_LIBC:
        for d in lib_dirs:
            if (d / soname).exists():
                pending.append(_copy_from(tree, staging, "/" + str((d / soname).relative_to(staging)), "libgcc-s1"))
                break
    done: set[str] = set()
    while pending:
        path = pending.pop()
        if path in done:
            continue
        done.add(path)
        info = elf_dynamic_info(tree.entries[path].data or b"")
        wanted: list[str] = []
        if info.interp:
            wanted.append(info.interp)
        for soname in info.needed:
            for d in lib_dirs:
                if (d / soname).exists():
                    wanted.append("/" + str((d / soname).relative_to(staging)))
                    break
            else:
                raise SetupError(
                    f"{path} in the image needs shared library {soname}, which no package in the "
                    f"image provides: add its Debian package to the image's packages"
                )
        for lib in wanted:
            real = _copy_from(tree, staging, lib, "libc6")
            pending.append(real)


def image_contents(image: Image) -> dict[str, tuple[int, bytes]]:
    """The initramfs of ``image`` as path -> (mode, data)."""
    data = image.initrd.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return {"/" + name: (mode, body) for name, mode, body in read_cpio(data)}
