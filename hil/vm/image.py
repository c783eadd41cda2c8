"""The public QEMU target image: a small x86_64 Linux built only from Debian packages.

``build_image(spec)`` fetches the packages with ``apt-get download`` (kept in
``cache_dir("debs")``), unpacks them with ``dpkg-deb -x`` (no maintainer scripts,
no network at run time) and assembles, in its cache folder
``cache_dir("images", <hash>)``:

* ``vmlinux``: the kernel's ELF image, decompressed from the bzImage, booted
  through its PVH entry with QEMU's ``-kernel`` (about twice as fast under TCG
  as the bzImage through SeaBIOS); ``bzImage``: the kernel as shipped, the
  fallback where the payload cannot be decompressed here.
* ``initrd.cpio.gz``: a gzip'd newc cpio with busybox, dropbear, sftp-server,
  the libraries they need, the NIC driver modules and the ``/init`` from
  ``hil/vm/imagefiles`` (``initrd.cpio`` with ``initrd_compression="none"``: the
  kernel then skips ~0.2 s of decompression under TCG).
* ``host_key.pub`` (pinned by the framework), ``client_key`` (OpenSSH private key
  authorized in the image), ``image.json`` (what went in).

The cache key hashes the spec as given plus the image files and the extra files'
contents, so a cache hit costs no apt call and well under a second.
"""

from __future__ import annotations

import fcntl
import gzip
import io
import json
import lzma
import os
import re
import shutil
import stat
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from hil.core.errors import SetupError
from hil.core.paths import PACKAGE_DIR, cache_dir, hash_inputs

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

_FIX_HINT = (
    "check the name and version with `apt-cache policy NAME` (run `apt-get update` if the index is stale); "
    "set `packages`, `versions` or `kernel_package` in the target definition's [qemu] section "
    "(on Ubuntu the kernel is linux-image-generic and e1000 lives in linux-modules-extra-*)"
)


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
    receive, which delays SSH by ~0.9 s.
    """

    kernel_package: str = "linux-image-amd64"
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    versions: Mapping[str, str] = field(default_factory=dict)
    nic_module: str = "virtio_net"
    extra_files: tuple[tuple[str, Path], ...] = ()
    initrd_compression: Literal["gzip", "none"] = "gzip"

    def cache_key(self) -> str:
        """Hash of this spec as given, the image files and the extra files' contents (no apt call)."""
        described = json.dumps(
            {
                "format": BUILD_FORMAT,
                "kernel_package": self.kernel_package,
                "packages": list(self.packages),
                "versions": dict(sorted(self.versions.items())),
                "nic_module": self.nic_module,
                "initrd_compression": self.initrd_compression,
                "extra_files": [dest for dest, _ in self.extra_files],
            },
            sort_keys=True,
        )
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

    @property
    def pvh(self) -> bool:
        """True when ``kernel`` is the ELF vmlinux (booted through its PVH entry)."""
        return self.kernel != self.bzimage


def build_image(spec: ImageSpec = ImageSpec(), *, force: bool = False,
                log: Callable[[str], None] = print) -> Image:
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
    with _locked(images / f".{key}.lock"):
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
    log(f"image {key} built in {time.monotonic() - started:.1f} s: "
        f"initrd {image.initrd.stat().st_size // 1024} KiB, kernel {image.kernel.name}")
    return image


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created) for the duration of the block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        bzimage=root / "bzImage",
        initrd=root / data.get("initrd", "initrd.cpio.gz"),
        host_key_pub=(root / "host_key.pub").read_text().strip(),
        client_key=root / "client_key",
        spec_hash=data["spec_hash"],
        ready_marker=data["ready_marker"],
        nic_module=data["nic_module"],
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


# -- apt -----------------------------------------------------------------------------------------


def _apt_env() -> dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    return env


def _apt_options() -> list[str]:
    # apt drops to the _apt user for downloads, which cannot write into root's cache.
    return ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []


def _candidate_version(name: str, pinned: str | None) -> str:
    """The version apt would download (pinned or candidate), from the local index only."""
    if shutil.which("apt-cache") is None or shutil.which("apt-get") is None:
        raise SetupError("building the QEMU target image needs a Debian/Ubuntu host (apt-get, apt-cache, dpkg-deb)")
    proc = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True, env=_apt_env(),
                          check=False)
    found = re.search(r"^\s+Candidate:\s*(\S+)", proc.stdout, re.MULTILINE)
    if pinned is not None:
        versions = re.findall(r"^\s+(?:\*\*\*\s+)?(\S+)\s+-?\d+\s*$", proc.stdout, re.MULTILINE)
        if pinned not in versions:
            known = ", ".join(versions) or "none"
            raise SetupError(f"Debian package '{name}' has no version '{pinned}' in the apt index "
                             f"(known: {known}); {_FIX_HINT}")
        return pinned
    if proc.returncode != 0 or not found or found.group(1) == "(none)":
        raise SetupError(f"Debian package '{name}' is not in the apt index of this host; {_FIX_HINT}")
    return found.group(1)


def _deb_path(debs: Path, name: str, version: str) -> Path | None:
    quoted = version.replace(":", "%3a")
    hits = sorted(debs.glob(f"{name}_{quoted}_*.deb"))
    return hits[0] if hits else None


def _fetch(name: str, version: str, debs: Path, log: Callable[[str], None]) -> Path:
    """The .deb of ``name`` at ``version``: from ``debs`` or fetched with apt-get download."""
    with _locked(debs / ".lock"):  # apt-get writes the .deb in place: no reader may see half of it
        return _fetch_locked(name, version, debs, log)


def _fetch_locked(name: str, version: str, debs: Path, log: Callable[[str], None]) -> Path:
    have = _deb_path(debs, name, version)
    if have is not None:
        return have
    log(f"apt-get download {name}={version}")
    proc = subprocess.run(["apt-get", *_apt_options(), "download", f"{name}={version}"], cwd=debs,
                          capture_output=True, text=True, env=_apt_env(), check=False)
    have = _deb_path(debs, name, version)
    if proc.returncode != 0 or have is None:
        why = (proc.stderr.strip().splitlines() or ["no .deb appeared"])[-1]
        raise SetupError(f"could not download Debian package '{name}={version}' with apt-get download: {why}; "
                         f"{_FIX_HINT}")
    return have


def _deb_field(deb: Path, name: str) -> str:
    proc = subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def _kernel_debs(spec: ImageSpec, debs: Path, log: Callable[[str], None]) -> list[tuple[str, str, Path]]:
    """The kernel package and, through Depends, the linux-image/modules packages it pulls in."""
    out: list[tuple[str, str, Path]] = []
    todo = [(spec.kernel_package, spec.versions.get(spec.kernel_package))]
    seen: set[str] = set()
    while todo:
        name, pinned = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        version = _candidate_version(name, pinned)
        deb = _fetch(name, version, debs, log)
        out.append((name, version, deb))
        for clause in _deb_field(deb, "Depends").split(","):
            first = clause.split("|")[0].strip()
            m = re.match(r"([a-z0-9][a-z0-9+.-]*)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?", first)
            if m and re.match(r"linux-(image|modules)", m.group(1)):
                todo.append((m.group(1), spec.versions.get(m.group(1), m.group(2))))
    return out


def _unpack(deb: Path, dest: Path) -> None:
    proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"dpkg-deb -x {deb} failed: {proc.stderr.strip()}; delete it and build again")


# -- build ---------------------------------------------------------------------------------------


def _build(spec: ImageSpec, key: str, out: Path, log: Callable[[str], None]) -> None:
    debs = cache_dir("debs")
    # Resolve every version first (local index only): a bad name fails before any download.
    wanted = [(name, _candidate_version(name, spec.versions.get(name))) for name in spec.packages]
    kernel = _kernel_debs(spec, debs, log)
    fetched = [(name, version, _fetch(name, version, debs, log)) for name, version in wanted]
    with tempfile.TemporaryDirectory(prefix="unpack-", dir=out) as tmp:
        staging = Path(tmp)
        log(f"unpacking {len(kernel) + len(fetched)} packages")
        for _, _, deb in kernel + fetched:
            _unpack(deb, staging)
        bzimage = _find_kernel(staging, spec.kernel_package)
        kernel_name = _add_kernel(bzimage, out, log)
        host_pub, host_dropbear, client_priv, client_pub = _make_keys()
        (out / "host_key.pub").write_text(host_pub + "\n")
        (out / "client_key").write_bytes(client_priv)
        (out / "client_key").chmod(0o600)
        (out / "client_key.pub").write_text(client_pub + "\n")
        marker = f"HIL-READY {key}"
        tree = _Tree()
        _add_base(tree, staging, spec, marker, host_dropbear, client_pub)
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
    with _locked(kernels / ".lock"):
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
        raise SetupError(f"kernel package '{package}' (and the linux-image packages it depends on) holds no "
                         f"/boot/vmlinuz-*; {_FIX_HINT}")
    return found[-1]


def _add_base(tree: _Tree, staging: Path, spec: ImageSpec, marker: str, host_key: bytes, client_pub: str) -> None:
    for d in ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/dev", "/proc", "/sys", "/tmp", "/run",
              "/var/log", "/etc/dropbear", "/etc/hil", "/lib/modules"):
        tree.dir(d)
    tree.dir("/root", 0o700)
    tree.dir("/root/.ssh", 0o700)
    tree.node("/dev/console", stat.S_IFCHR | 0o600, 5, 1)
    tree.node("/dev/null", stat.S_IFCHR | 0o666, 1, 3)
    files = {"init": ("/init", 0o755), "inittab": ("/etc/inittab", 0o644), "passwd": ("/etc/passwd", 0o644),
             "group": ("/etc/group", 0o644), "shells": ("/etc/shells", 0o644), "profile": ("/etc/profile", 0o644)}
    for name, (dest, mode) in files.items():
        tree.file(dest, (IMAGEFILES_DIR / name).read_bytes(), mode)
    tree.file("/etc/hil/ready", (marker + "\n").encode(), 0o644)
    tree.file("/etc/dropbear/dropbear_ed25519_host_key", host_key, 0o600)
    tree.file("/root/.ssh/authorized_keys", (client_pub + "\n").encode(), 0o600)

    busybox = _need(staging, "/bin/busybox", "busybox-static")
    tree.file("/bin/busybox", busybox.read_bytes(), 0o755)
    for applet in _busybox_applets(busybox):
        if applet != "/bin/busybox" and applet not in tree.entries:
            tree.symlink(applet, "/bin/busybox")
    tree.symlink("/bin/sh", "/bin/busybox")
    tree.copy_from(staging, "/usr/sbin/dropbear", "dropbear-bin")
    # dropbear runs the SFTP subsystem from /usr/lib/sftp-server (Debian's build).
    tree.copy_from(staging, "/usr/lib/sftp-server", "openssh-sftp-server")


def _need(staging: Path, path: str, package: str) -> Path:
    host = staging / path.lstrip("/")
    if not host.exists():
        raise SetupError(f"{path} is missing from the unpacked packages: is '{package}' in the image's packages? "
                         f"{_FIX_HINT}")
    return host


def _busybox_applets(busybox: Path) -> list[str]:
    """Applet paths from the busybox binary itself (none: /init installs the links at boot)."""
    try:
        proc = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["/" + line.strip() for line in proc.stdout.splitlines() if line.strip()] if proc.returncode == 0 else []


def _add_modules(tree: _Tree, staging: Path, vmlinuz_name: str, nic_module: str) -> list[str]:
    """Copy the NIC module and the modules it depends on; returns them in load order."""
    release = vmlinuz_name.removeprefix("vmlinuz-")
    moddir = staging / "lib" / "modules" / release
    if not moddir.is_dir():
        raise SetupError(f"no /lib/modules/{release} in the unpacked kernel packages; {_FIX_HINT}")
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
            raise SetupError(f"kernel module '{name}' (needed for nic_module '{nic_module}') is not in the "
                             f"kernel packages for {release}; {_FIX_HINT}")
        data = _decompress_module(path)
        for dep in _modinfo(data, "depends"):
            visit(dep, chain + (name,))
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


def _modinfo(ko: bytes, key: str) -> list[str]:
    """Comma-separated values of ``key=`` in a module's .modinfo strings."""
    for m in re.finditer(rb"(?:^|\0)" + re.escape(key.encode()) + rb"=([^\0]*)\0", ko):
        return [v for v in m.group(1).decode(errors="replace").split(",") if v]
    return []


# -- shared libraries ----------------------------------------------------------------------------


DLOPENED_BY_LIBC = ("libgcc_s.so.1",)


def _add_libraries(tree: _Tree, staging: Path) -> None:
    """Add every shared library (and the loader) the tree's ELF files need, from ``staging``."""
    lib_dirs = [d for pattern in ("lib/*-linux-gnu", "usr/lib/*-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib")
                for d in sorted(staging.glob(pattern)) if d.is_dir()]
    pending = [path for path, entry in tree.entries.items() if entry.data is not None and entry.data[:4] == b"\x7fELF"]
    # glibc dlopen()s these itself (libgcc_s for pthread_exit/pthread_cancel unwinding): no
    # DT_NEEDED names them, but qvmsim's vdev threads need them.
    for soname in DLOPENED_BY_LIBC:
        for d in lib_dirs:
            if (d / soname).exists():
                pending.append(tree.copy_from(staging, "/" + str((d / soname).relative_to(staging)), "libgcc-s1"))
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
                raise SetupError(f"{path} in the image needs shared library {soname}, which no package in the "
                                 f"image provides: add its Debian package to the image's packages")
        for lib in wanted:
            real = tree.copy_from(staging, lib, "libc6")
            pending.append(real)


@dataclass(frozen=True)
class ElfDynamicInfo:
    """What the dynamic loader needs for an ELF file: its interpreter and DT_NEEDED names."""

    interp: str | None
    needed: tuple[str, ...]


def elf_dynamic_info(data: bytes) -> ElfDynamicInfo:
    """PT_INTERP and DT_NEEDED of a 64-bit little-endian ELF file (static: neither)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    interp = None
    dynamic: tuple[int, int] | None = None
    loads: list[tuple[int, int, int]] = []  # vaddr, offset, filesz
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 3:
            interp = data[p_offset:p_offset + p_filesz].split(b"\0")[0].decode()
        elif p_type == 2:
            dynamic = (p_offset, p_filesz)
        elif p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
    if dynamic is None:
        return ElfDynamicInfo(interp, ())
    entries = [struct.unpack_from("<qQ", data, dynamic[0] + i) for i in range(0, dynamic[1], 16)]
    strtab_vaddr = next((v for tag, v in entries if tag == 5), None)
    if strtab_vaddr is None:
        return ElfDynamicInfo(interp, ())
    strtab = next((off + strtab_vaddr - va for va, off, size in loads if va <= strtab_vaddr < va + size), None)
    if strtab is None:
        raise ValueError("ELF string table is outside every loadable segment")
    needed = []
    for tag, value in entries:
        if tag == 0:
            break
        if tag == 1:
            end = data.index(b"\0", strtab + value)
            needed.append(data[strtab + value:end].decode())
    return ElfDynamicInfo(interp, tuple(needed))


# -- kernel --------------------------------------------------------------------------------------

_XZ_MAGIC = b"\xfd7zXZ\x00"
_GZIP_MAGIC = b"\x1f\x8b\x08"


def extract_vmlinux(bzimage: bytes) -> bytes:
    """The ELF vmlinux inside a bzImage (XZ or gzip payload), checked for a PVH entry note.

    Raises ``ValueError`` when the payload is in another format or the ELF has
    no PVH note (then boot the bzImage itself).
    """
    starts: list[int] = []
    if bzimage[0x202:0x206] == b"HdrS":  # boot protocol header: the payload's exact offset
        setup_sects = bzimage[0x1F1] or 4
        payload_offset, = struct.unpack_from("<I", bzimage, 0x248)
        starts.append((setup_sects + 1) * 512 + payload_offset)
    starts += [m.start() for m in re.finditer(re.escape(_XZ_MAGIC) + b"|" + re.escape(_GZIP_MAGIC), bzimage)]
    for start in starts:
        head = bzimage[start:start + 6]
        try:
            if head == _XZ_MAGIC:
                elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(bzimage[start:])
            elif head[:3] == _GZIP_MAGIC:
                elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bzimage[start:])
            else:
                continue
        except (lzma.LZMAError, zlib.error):
            continue
        if elf[:4] != b"\x7fELF":
            continue
        if not _has_pvh_note(elf):
            raise ValueError("the kernel's ELF image has no PVH entry note (CONFIG_PVH is off)")
        return elf
    raise ValueError("no XZ or gzip compressed ELF payload found in the bzImage (another compression?)")


def _has_pvh_note(elf: bytes) -> bool:
    """True when a PT_NOTE holds XEN_ELFNOTE_PHYS32_ENTRY (type 18, owner "Xen")."""
    try:
        phoff, = struct.unpack_from("<Q", elf, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
        for i in range(phnum):
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
            if p_type != 4:
                continue
            pos, end = p_offset, p_offset + p_filesz
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
                name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
                if name == b"Xen" and ntype == 18:
                    return True
                pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    except struct.error:
        return False
    return False


# -- keys ----------------------------------------------------------------------------------------


def _make_keys() -> tuple[str, bytes, bytes, str]:
    """(host public key line, host key in dropbear's format, client private key (OpenSSH), client public line)."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    host = Ed25519PrivateKey.generate()
    host_priv = host.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())
    host_pub_raw = host.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    host_pub = host.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()
    client = Ed25519PrivateKey.generate()
    client_priv = client.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, ser.NoEncryption())
    client_pub = client.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()
    return host_pub, dropbear_ed25519_key(host_priv, host_pub_raw), client_priv, client_pub + " hil-client"


def dropbear_ed25519_key(private: bytes, public: bytes) -> bytes:
    """An Ed25519 key in dropbear's own key file format."""
    def string(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    return string(b"ssh-ed25519") + string(private + public)


# -- cpio ----------------------------------------------------------------------------------------


@dataclass
class _Entry:
    mode: int
    data: bytes | None = None  # file contents; symlink target for links
    rdev: tuple[int, int] = (0, 0)


class _Tree:
    """The initramfs contents, written as a newc cpio (owner root, mtime 0)."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}

    def _parents(self, path: str) -> None:
        parent = str(PurePosixPath(path).parent)
        if parent != "/" and parent not in self.entries:
            self.dir(parent)

    def dir(self, path: str, mode: int = 0o755) -> None:
        self._parents(path)
        self.entries[path] = _Entry(stat.S_IFDIR | mode)

    def file(self, path: str, data: bytes, mode: int) -> None:
        self._parents(path)
        self.entries[path] = _Entry(stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        self._parents(path)
        self.entries[path] = _Entry(stat.S_IFLNK | 0o777, target.encode())

    def node(self, path: str, mode: int, major: int, minor: int) -> None:
        self._parents(path)
        self.entries[path] = _Entry(mode, None, (major, minor))

    def copy_from(self, staging: Path, path: str, package: str) -> str:
        """Copy ``path`` from the unpacked packages, following (and recreating) symlinks; returns the real path."""
        for _ in range(20):
            host = staging / path.lstrip("/")
            if host.is_symlink():
                target = os.readlink(host)
                self.symlink(path, target)
                path = os.path.normpath(target if target.startswith("/") else str(PurePosixPath(path).parent / target))
                continue
            _need(staging, path, package)
            if path not in self.entries:
                self.file(path, host.read_bytes(), stat.S_IMODE(host.stat().st_mode))
            return path
        raise SetupError(f"symlink loop at {path} in the unpacked packages")

    def cpio(self) -> bytes:
        out = io.BytesIO()
        for ino, path in enumerate(sorted(self.entries), start=1):
            e = self.entries[path]
            _cpio_entry(out, path.lstrip("/"), e.mode, e.data or b"", ino, e.rdev)
        _cpio_entry(out, "TRAILER!!!", 0, b"", 0, (0, 0))
        return out.getvalue()


def _cpio_entry(out: io.BytesIO, name: str, mode: int, data: bytes, ino: int, rdev: tuple[int, int]) -> None:
    encoded = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
    out.write(b"\0" * (-(110 + len(encoded)) % 4))
    out.write(data)
    out.write(b"\0" * (-len(data) % 4))


def read_cpio(data: bytes) -> Iterator[tuple[str, int, bytes]]:
    """(name, mode, data) of each entry of a newc cpio archive (for tests and inspection)."""
    pos = 0
    while pos + 110 <= len(data):
        if data[pos:pos + 6] != b"070701":
            raise ValueError(f"bad cpio header at {pos}")
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos:pos + size]
        pos += size
        pos += -pos % 4
        if name == "TRAILER!!!":
            return
        yield name, mode, body


def image_contents(image: Image) -> dict[str, tuple[int, bytes]]:
    """The initramfs of ``image`` as path -> (mode, data)."""
    data = image.initrd.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return {"/" + name: (mode, body) for name, mode, body in read_cpio(data)}


