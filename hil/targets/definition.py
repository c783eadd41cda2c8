"""Target definitions: TOML files validated into dataclasses.

A definition names a target, its kind (``qemu``, ``board`` or ``local``) and
labels, and holds one table per concern::

    name = "lab-imx8"
    kind = "board"
    labels = ["aarch64", "imx8"]

    [ssh]
    host = "10.0.0.20"
    key = "~/.ssh/hil_ed25519"
    known_hosts = "~/.ssh/known_hosts"

    [console]
    url = "/dev/ttyUSB0"            # without [ssh]: a serial-only board, reached by this console alone

    [toolchain]
    kind = "qcc"
    variant = "gcc_ntoaarch64le"

Every unknown key, wrong type or missing required value is a ``ConfigError``
naming the file, the key and what is allowed.  Loading uses only ``tomllib``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from hil.core.errors import ConfigError
from hil.core.inputs import check_name, read_input_text
from hil.core.paths import PACKAGE_DIR

#: The target kinds: the one list of them (each has its ``Target`` class in ``hil.targets``).
Kind = Literal["qemu", "board", "local", "labgrid"]
KINDS: tuple[str, ...] = get_args(Kind)

#: The definitions that ship with qnx-hil: ``local`` and ``qemu``.
BUILTIN_TARGETS = PACKAGE_DIR / "targets" / "builtin"

#: A project's own definitions, when neither ``--hil-targets-dir`` nor the
#: ``hil_targets_dir`` setting names a folder: this folder beside pytest's rootdir.
CONVENTIONAL_TARGETS_DIR = "targets"

#: The pytest ini/pyproject setting naming a project's definition folders.
TARGETS_DIR_SETTING = "hil_targets_dir"


#: Each kind's OS when a definition does not say ``os``: a board is a real QNX board; the
#: public QEMU target and this host run Linux.
DEFAULT_OS: dict[str, str] = {"board": "qnx", "qemu": "linux", "local": "linux", "labgrid": "qnx"}


@dataclass(frozen=True)
class QemuSection:
    """How to boot the public QEMU target."""

    memory_mb: int = 256
    cpus: int = 1
    accel: Literal["auto", "tcg", "kvm"] = "auto"
    boot_timeout: float = 90.0
    kernel_package: str = "linux-image-amd64"
    packages: tuple[str, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    nic_module: str = "virtio_net"
    initrd_compression: Literal["gzip", "none"] = "gzip"
    qemu: str = "qemu-system-x86_64"
    extra_args: tuple[str, ...] = ()
    # A user-supplied image instead of the public one (e.g. a QNX SDP licensee's mkqnximage
    # output); setting ``image`` or ``kernel`` selects it, see ``user_image``.
    image: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    append: str | None = None
    drives: tuple[str, ...] = ()
    machine: str | None = None
    nic: str = "virtio-net-pci"
    console_ready_regex: str | None = None
    ssh_user: str = "root"
    ssh_key: str | None = None
    ssh_host_key: str | None = None
    ssh_port: int = 22

    @property
    def user_image(self) -> bool:
        """True when this definition boots the user's own image (``image`` or ``kernel`` set)."""
        return self.image is not None or self.kernel is not None


@dataclass(frozen=True)
class SshSection:
    """How to reach a board over SSH; the host key is always pinned."""

    host: str = ""  # a labgrid place's NetworkService gives it there
    port: int = 22
    user: str = "root"
    key: str | None = None
    known_hosts: str | None = None
    host_key: str | None = None
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class ConsoleSection:
    """The board's serial console: any pyserial URL."""

    url: str
    baud: int = 115200


@dataclass(frozen=True)
class PowerSection:
    """Host shell commands that switch the board; all optional."""

    on: str | None = None
    off: str | None = None
    cycle: str | None = None
    ready_regex: str | None = None
    boot_timeout: float = 120.0
    timeout: float = 60.0  # seconds each power command may take before it is an infrastructure error


@dataclass(frozen=True)
class LeaseSection:
    """How a shared board is leased while a run uses it (see ``hil.targets.lease``)."""

    enabled: bool = True
    wait: float = 600.0
    ttl: int = 90


@dataclass(frozen=True)
class ToolchainSection:
    """How vdevs are compiled for this target."""

    kind: Literal["gcc", "qcc"] = "gcc"
    cc: str | None = None
    variant: str | None = None
    qnx_host: str | None = None
    qnx_target: str | None = None
    cflags: tuple[str, ...] = ()
    portable: bool = False
    werror: bool = False
    coverage: bool = False  # the quality gates (--hil-coverage, --hil-sanitize): hil.qvmrun.gates
    sanitize: tuple[Literal["address", "undefined"], ...] = ()


@dataclass(frozen=True)
class QvmSection:
    """Where qvm lives on the target and how its [inferred] rows read there."""

    command: str = "qvm"
    workdir: str = "/tmp/qnx-hil"
    exit_overrides: dict[str, int | str | tuple[int, ...]] = field(default_factory=dict)
    # qvm's slog2 log (``slog`` destination, internal messages): "auto" reads it on QNX targets
    # always and elsewhere when the run's configuration routes a level to ``slog``.
    slog2: Literal["auto", "always", "never"] = "auto"
    slog2_buffer: str = "qvm"  # the buffer set name slog2info is asked for (``slog2info -b``)
    slog2info: str = "slog2info"
    # qvmsim's guest timer rate (ticks per second; local and qemu targets): what guest_timer_create()
    # reports and guest_timer_notify() deadlines count in.  None: qvmsim's default, 1 GHz (ns ticks).
    # A board's guest timer runs at its hardware's rate (ARM generic timers: tens of MHz).
    timer_hz: int | None = None

    def environment(self) -> dict[str, str]:
        """The variables qvm is started with for these settings (qvmsim's ``QVMSIM_TIMER_HZ``)."""
        return {"QVMSIM_TIMER_HZ": str(self.timer_hz)} if self.timer_hz is not None else {}


@dataclass(frozen=True)
class GuestSection:
    """Guest-console commands that drive a real guest (boards)."""

    start_kicking: str | None = None
    stop_kicking: str | None = None
    shutdown: str | None = None
    # Which guest the target's qvm runs: "console" (a real guest, these commands) or "scripted"
    # (qvmsim's, through qvm's stdin); default: the kind's (board and labgrid: console).
    control: Literal["scripted", "console"] | None = None


@dataclass(frozen=True)
class LabgridSection:
    """Which place of a labgrid lab a ``labgrid`` target takes (see ``hil.targets.labgridplace``)."""

    coordinator: str | None = None  # HOST[:PORT]; default: $LG_COORDINATOR, else labgrid's 127.0.0.1:20408
    place: str | None = None  # a place by name ...
    tags: dict[str, str] = field(default_factory=dict)  # ... or any place with these tags
    prio: int = 0  # the reservation's priority in labgrid's queue


@dataclass(frozen=True)
class TargetDefinition:
    """One target, as read from its TOML file."""

    name: str
    kind: Kind
    labels: tuple[str, ...] = ()
    arch: str = "x86_64"
    os: Literal["qnx", "linux"] | None = None  # default by kind: board -> qnx, qemu and local -> linux
    description: str = ""
    qemu: QemuSection = field(default_factory=QemuSection)
    ssh: SshSection | None = None
    console: ConsoleSection | None = None
    power: PowerSection = field(default_factory=PowerSection)
    lease: LeaseSection = field(default_factory=LeaseSection)
    toolchain: ToolchainSection = field(default_factory=ToolchainSection)
    qvm: QvmSection = field(default_factory=QvmSection)
    guest: GuestSection = field(default_factory=GuestSection)
    labgrid: LabgridSection = field(default_factory=LabgridSection)
    source: str = "<built-in>"

    @property
    def target_os(self) -> str:
        """The target's OS (``"qnx"`` or ``"linux"``): ``os``, else the kind's default."""
        return self.os or DEFAULT_OS[self.kind]

    def matches(self, selector: str) -> bool:
        """True for ``NAME`` or ``label:LABEL`` (the kind and arch count as labels)."""
        if selector.startswith("label:"):
            label = selector[len("label:") :]
            return label in self.labels or label in (self.kind, self.arch)
        return selector == self.name


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"list of {_type_name(get_args(tp)[0])}"
    if origin is dict:
        return f"table of {_type_name(get_args(tp)[1])}"
    return {str: "string", int: "integer", float: "number", bool: "true/false"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, source: str, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted."""
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own, more precise, error
            return _convert(value, options[0], source, key)
        for option in options:
            try:
                return _convert(value, option, source, key)
            except ConfigError:
                pass
        raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", source, key)
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", source, key)
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", source, key)
        return tuple(_convert(v, get_args(tp)[0], source, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", source, key)
        return {str(k): _convert(v, get_args(tp)[1], source, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table [{key}], got {value!r}", source, key)
        return _build(typing.cast(type, tp), value, source, key)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (tp in (int, float) and isinstance(value, bool)) or not isinstance(value, tp):
        raise ConfigError(f"expected {_type_name(tp)}, got {value!r}", source, key)
    return value


def _build(cls: type, data: dict[str, Any], source: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            allowed = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key; allowed here: {allowed}", source, full)
        kwargs[key] = _convert(value, hints[key], source, full)
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError("required key is missing", source, f"{prefix}.{name}" if prefix else name)
    return cls(**kwargs)


def parse_definition(data: dict[str, Any], source: str, default_name: str | None = None) -> TargetDefinition:
    """Validate a TOML document (already parsed) into a ``TargetDefinition``."""
    data = dict(data)
    if "name" not in data and default_name:
        data["name"] = default_name
    if "kind" not in data:
        raise ConfigError(f"required key is missing; set kind = one of {', '.join(KINDS)}", source, "kind")
    definition: TargetDefinition = _build(TargetDefinition, data, source)
    definition = dataclasses.replace(definition, source=source)
    check_name(definition.name, "target name", source, "name")  # it becomes a folder name
    for key, value, low, high, what in (
        ("ttl", definition.lease.ttl, 10, 86400, "seconds a lease lives unrenewed"),
        ("wait", definition.lease.wait, 0, 86400, "seconds to wait for a busy board"),
    ):
        if not low <= value <= high:  # also refuses nan
            raise ConfigError(f"{value!r} is out of range: allowed {low} to {high} ({what})", source, f"lease.{key}")
    for key, value, low, high, what in (  # bad input, not a QEMU that fails to start (issue 11.12)
        ("memory_mb", definition.qemu.memory_mb, 64, 1 << 20, "the VM's memory in MiB"),
        ("cpus", definition.qemu.cpus, 1, 64, "the VM's CPUs"),
        ("boot_timeout", definition.qemu.boot_timeout, 1, 86400, "seconds to wait for the VM to boot"),
    ):
        if not low <= value <= high:
            raise ConfigError(f"{value!r} is out of range: allowed {low} to {high} ({what})", source, f"qemu.{key}")
    if definition.qvm.timer_hz is not None:
        if definition.kind not in ("local", "qemu"):
            raise ConfigError(
                f"timer_hz sets qvmsim's guest timer (local and qemu targets); a {definition.kind}'s guest timer runs "
                "at its hardware's rate: remove the key",
                source,
                "qvm.timer_hz",
            )
        if not 1 <= definition.qvm.timer_hz <= 10_000_000_000:
            raise ConfigError(
                f"{definition.qvm.timer_hz!r} is out of range: allowed 1 to 10000000000 (guest timer ticks per "
                "second, e.g. 19200000)",
                source,
                "qvm.timer_hz",
            )
    if definition.kind == "labgrid":
        _check_labgrid(definition, source)
    elif definition.kind == "board" and definition.ssh is not None and not definition.ssh.host:
        raise ConfigError("required key is missing (the board's address)", source, "ssh.host")
    ssh = definition.ssh
    if definition.kind == "board" and ssh is None:
        _check_serial_only(definition, source)
    elif definition.kind == "board" and ssh is not None and ssh.host_key is None and ssh.known_hosts is None:
        raise ConfigError(
            'the host key must be pinned: set host_key = "ssh-ed25519 AAAA..." or known_hosts = PATH', source, "ssh"
        )
    if definition.kind == "qemu" and definition.qemu.user_image:
        _check_user_image(definition.qemu, source)
    if definition.power.timeout <= 0:
        raise ConfigError(f"{definition.power.timeout!r} must be above 0 (seconds)", source, "power.timeout")
    workdir = definition.qvm.workdir
    if not workdir.startswith("/") or any(c in workdir for c in "\n\r\0") or "/../" in f"{workdir}/":
        raise ConfigError(  # a path on the target: never relative to wherever a command runs
            f"{workdir!r} must be an absolute path on one line without '..' (e.g. /tmp/qnx-hil-ci)",
            source,
            "qvm.workdir",
        )
    if definition.toolchain.kind == "qcc" and not definition.toolchain.variant:
        raise ConfigError('qcc needs variant, e.g. "gcc_ntoaarch64le"', source, "toolchain.variant")
    return definition


def definition_path(source: str, value: str) -> Path:
    """A path a definition names: ``~`` expanded, relative to the definition file's folder."""
    base = Path(source).parent if source != "<built-in>" else Path.cwd()
    return (base / Path(value).expanduser()).absolute()


def drive_file(drive: str) -> str | None:
    """The ``file=`` of a QEMU ``-drive`` argument (``,,`` is a comma in it), or None."""
    for part in drive.replace(",,", "\0").split(","):
        if part.startswith("file="):
            return part[len("file=") :].replace("\0", ",")
    return None


def _check_user_image(q: QemuSection, source: str) -> None:
    """A user image boots only with its SSH key and pinned host key, and files that exist."""
    if q.ssh_key is None or q.ssh_host_key is None:
        raise ConfigError(
            'a user image needs ssh_key = PATH (the private key its root accepts) and ssh_host_key = "ssh-ed25519 '
            'AAAA..." (its pinned host key)',
            source,
            "qemu.ssh_key" if q.ssh_key is None else "qemu.ssh_host_key",
        )
    base = Path(source).parent if source != "<built-in>" else Path.cwd()
    files = [(key, getattr(q, key)) for key in ("image", "kernel", "initrd", "ssh_key")]
    files += [(f"drives[{i}]", drive_file(d)) for i, d in enumerate(q.drives)]
    for key, value in files:
        if value is not None and not definition_path(source, value).is_file():
            raise ConfigError(
                f"no file {value} (relative to {base}); give the path of an existing file", source, f"qemu.{key}"
            )
    if q.initrd is not None and q.kernel is None:
        raise ConfigError("initrd needs kernel (QEMU boots an initrd only with -kernel)", source, "qemu.initrd")
    if q.append is not None and q.kernel is None:
        raise ConfigError("append needs kernel (QEMU passes -append only with -kernel)", source, "qemu.append")
    if q.console_ready_regex is not None:
        try:
            re.compile(q.console_ready_regex)
        except re.error as exc:
            raise ConfigError(f"not a valid regex: {exc}", source, "qemu.console_ready_regex") from None


def _check_serial_only(definition: TargetDefinition, source: str) -> None:
    """A board without [ssh] is reached by its console alone: it needs one, and its guest cannot be
    driven through it (the console carries the shell)."""
    if definition.console is None:
        raise ConfigError(
            "a board needs an [ssh] table (host, user, key, known_hosts or host_key), or a [console] "
            '(url = "/dev/ttyUSB0", "rfc2217://HOST:PORT", "socket://HOST:PORT") to be reached through its '
            "serial console alone",
            source,
            "ssh",
        )
    if definition.guest.control == "console":
        raise ConfigError(
            "a board without [ssh] runs its shell on the console, so its guest cannot be driven there: set control = "
            '"scripted" (commands through qvm\'s standard input) or add an [ssh] table',
            source,
            "guest.control",
        )


def _check_labgrid(definition: TargetDefinition, source: str) -> None:
    """A labgrid place's NetworkService has no host key: the definition pins it, as for a board."""
    ssh = definition.ssh
    if ssh is None or (ssh.host_key is None and ssh.known_hosts is None):
        raise ConfigError(
            "a labgrid place's host key must be pinned (its NetworkService carries none): set [ssh] "
            'host_key = "ssh-ed25519 AAAA..." or known_hosts = PATH (and key = PATH)',
            source,
            "ssh",
        )
    if definition.labgrid.place is not None and definition.labgrid.tags:
        raise ConfigError("set place (one place) or tags (any matching place), not both", source, "labgrid")


#: ``--hil-target labgrid:PLACE``: the place PLACE, through a ``labgrid`` definition.
LABGRID_PREFIX = "labgrid:"


def labgrid_place(selector: str, known: dict[str, TargetDefinition]) -> TargetDefinition:
    """The definition for ``labgrid:PLACE``: a ``labgrid`` definition of that place, else the one
    ``labgrid`` definition without a place or tags (the lab's: coordinator, SSH keys, toolchain)
    applied to PLACE and named ``labgrid-PLACE``."""
    place = selector[len(LABGRID_PREFIX) :]
    lab = [d for d in known.values() if d.kind == "labgrid"]
    for d in lab:
        if d.labgrid.place == place:
            return d
    templates = [d for d in lab if d.labgrid.place is None and not d.labgrid.tags]
    if len(templates) != 1:
        found = ", ".join(f"{d.name} ({d.source})" for d in templates) or "none"
        raise ConfigError(
            f"--hil-target {selector}: no labgrid definition has place = {place!r}, and it needs exactly one "
            f'labgrid definition without place or tags to apply to it (found: {found}); write one: kind = "labgrid", '
            f"[labgrid] coordinator, [ssh] key and host_key or known_hosts"
        )
    name = f"labgrid-{place}"
    check_name(name, "target name", selector, "labgrid place")
    template = templates[0]
    return dataclasses.replace(template, name=name, labgrid=dataclasses.replace(template.labgrid, place=place))


def load_definition(path: Path | str) -> TargetDefinition:
    """Read and validate one ``*.toml`` target definition."""
    path = Path(path)
    text = read_input_text(path, "target definition", limit=1 << 20)  # bounded; no FIFO or device
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", str(path)) from None
    return parse_definition(data, str(path), default_name=path.stem)


@dataclass(frozen=True)
class TargetFolders:
    """Where a project's target definitions come from (besides the built-in ones)."""

    folders: tuple[Path, ...]
    origin: str  # "--hil-targets-dir", "hil_targets_dir in FILE", "targets/ beside the rootdir", "none"

    def describe(self) -> str:
        if not self.folders:
            return f"built-in only (no {CONVENTIONAL_TARGETS_DIR}/ folder, no {TARGETS_DIR_SETTING} setting)"
        return f"built-in + {', '.join(str(f) for f in self.folders)} ({self.origin})"


def project_folders(
    option: Sequence[str],
    setting: Sequence[str],
    rootdir: Path,
    inifile: Path | None = None,
    invocation_dir: Path | None = None,
) -> TargetFolders:
    """A project's definition folders, found as pytest finds its settings.

    ``option``: the ``--hil-targets-dir`` values (relative to ``invocation_dir``);
    else ``setting``: the ``hil_targets_dir`` ini/pyproject value (relative to
    ``rootdir``); else ``<rootdir>/targets`` when it exists; else none.  A folder
    that is named but missing is a ``ConfigError`` saying where it was named.
    """
    if option:
        base = invocation_dir or Path.cwd()
        folders = tuple((base / f).resolve() for f in option)
        for given, folder in zip(option, folders):
            if not folder.is_dir():
                raise ConfigError(
                    f"--hil-targets-dir {given}: no folder {folder}; pass a folder of *.toml target definitions"
                )
        return TargetFolders(folders, "--hil-targets-dir")
    if setting:
        where = str(inifile) if inifile is not None else "the pytest configuration"
        folders = tuple((rootdir / f).resolve() for f in setting)
        for given, folder in zip(setting, folders):
            if not folder.is_dir():
                raise ConfigError(
                    f"no folder {folder} ('{given}' is relative to the rootdir {rootdir}); create it "
                    f"or correct the setting",
                    where,
                    TARGETS_DIR_SETTING,
                )
        return TargetFolders(folders, f"{TARGETS_DIR_SETTING} in {where}")
    conventional = rootdir / CONVENTIONAL_TARGETS_DIR
    if conventional.is_dir():
        return TargetFolders((conventional.resolve(),), f"{CONVENTIONAL_TARGETS_DIR}/ beside the rootdir")
    return TargetFolders((), "none")


def builtin_definitions() -> dict[str, TargetDefinition]:
    """The definitions that ship with qnx-hil (``local``, ``qemu``, ``qemu-arm64``)."""
    return {d.name: d for d in (load_definition(p) for p in sorted(BUILTIN_TARGETS.glob("*.toml")))}


def inventory(folders: Sequence[Path] = ()) -> dict[str, TargetDefinition]:
    """Every target definition: the built-in ``local``, ``qemu`` and ``qemu-arm64``, then each ``*.toml`` in ``folders``
    (a definition of the same name replaces an earlier one)."""
    targets = builtin_definitions()
    for folder in folders:
        if not Path(folder).is_dir():
            raise ConfigError(f"target definition folder {folder} does not exist; create it or name another")
        for path in sorted(Path(folder).glob("*.toml")):
            definition = load_definition(path)
            targets[definition.name] = definition
    return targets


def resolve(selector: str, folders: Sequence[Path] = ()) -> list[TargetDefinition]:
    """Targets for ``NAME``, ``label:LABEL`` or a path to a ``.toml`` file."""
    if selector.endswith(".toml") or "/" in selector:
        return [load_definition(selector)]
    known = inventory(folders)
    if selector.startswith(LABGRID_PREFIX):
        return [labgrid_place(selector, known)]
    found = [d for d in known.values() if d.matches(selector)]
    if not found:
        where = ", ".join(str(f) for f in folders) if folders else "only the built-in ones"
        raise ConfigError(
            f"no target matches '{selector}'; known targets: {', '.join(sorted(known))} (definitions: {where}); "
            f"use NAME, label:LABEL or a path to a .toml file"
        )
    return found


def select(selectors: Sequence[str], folders: Sequence[Path] = ()) -> list[TargetDefinition]:
    """The definitions ``selectors`` name, each once, in order."""
    chosen: dict[str, TargetDefinition] = {}
    for selector in selectors:
        for definition in resolve(selector, folders):
            chosen.setdefault(definition.name, definition)
    return list(chosen.values())
