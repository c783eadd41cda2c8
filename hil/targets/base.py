"""The one interface every target implements, whatever it is made of.

A ``Target`` gives a shell (``run``), long-running processes (``start``),
file transfer (``put``/``get``), a serial console (``console``, may be
``None``), and knows its architecture, its toolchain and which guest control
its qvm runs (``guest_control``).  Each kind of ``hil.targets.definition.KINDS``
registers its class in ``TARGET_CLASSES``; ``make_target`` picks by the
definition's kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from hil.core.command import shell_command
from hil.core.deadline import Deadline
from hil.core.errors import ConfigError
from hil.core.osfacts import OsFacts, os_facts
from hil.targets.definition import KINDS, TargetDefinition

if TYPE_CHECKING:
    from hil.core.command import CommandResult
    from hil.links.console import Console
    from hil.targets.toolchain import Toolchain

OutputCallback = Callable[[str, bytes], None]

#: How the guest of a qvm on a target is driven (``hil.qvmrun.guest``): qvmsim's
#: scripted guest through qvm's standard input, or a real guest through the
#: serial console with the definition's ``[guest]`` commands.
GuestKind = Literal["scripted", "console"]


class Process(Protocol):
    """A program running on a target (``Target.start``)."""

    pid: int

    @property
    def stdout(self) -> bytes: ...

    @property
    def stderr(self) -> bytes: ...

    def write_stdin(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def signal(self, sig: str | int) -> None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None) -> CommandResult: ...


class Target(ABC):
    """A place where vdevs are built for, deployed to and run by qvm."""

    kind: ClassVar[str]
    #: Which guest its qvm runs (qvmsim's scripted one unless the kind says otherwise).
    guest_control: ClassVar[GuestKind] = "scripted"
    #: The target is this host: its paths are the host's paths, its programs may be built here.
    on_this_host: ClassVar[bool] = False
    #: Its qvm is qvmsim, which this package may replace by its own build (``--hil-sanitize``).
    runs_qvmsim_builds: ClassVar[bool] = False
    #: A deployment folder is made by the next command that reaches the target (``hil.targets.deploy``):
    #: its operations make the folders waiting for it first (``flush_setups``).
    lazy_deployments: ClassVar[bool] = False
    #: Reached over a link (SSH, a console's shell): a small file is written by one command, from this
    #: run's vdev cache on the target when there (``hil.targets.deploy``), not copied by a transfer.
    reached_over_link: ClassVar[bool] = False
    console: Console | None = None

    def __init__(self, definition: TargetDefinition, run_dir: Path) -> None:
        self.definition = definition
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self._facts: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def arch(self) -> str:
        return self.definition.arch

    @property
    def os(self) -> OsFacts:
        """The target OS's facts (signal numbers, crash banners, shell, slog2): ``hil.core.osfacts``,
        from the definition's ``os`` (default by kind)."""
        return os_facts(self.definition.target_os)

    @abstractmethod
    def up(self, deadline: Deadline) -> None:
        """Boot or attach; return when the target takes commands."""

    @abstractmethod
    def down(self) -> None:
        """Release everything ``up`` took (idempotent)."""

    @abstractmethod
    def run(
        self,
        command: str | Sequence[str],
        timeout: float | None = None,
        *,
        stdin: bytes | None = None,
        check: bool = False,
    ) -> CommandResult:
        """Run a shell command to its end: ``CommandTimeout`` (killed) past ``timeout``; with ``check``,
        ``CommandFailed`` on a non-zero exit or a signal (``hil.core.errors``, on every target kind)."""

    @abstractmethod
    def start(self, command: str | Sequence[str], *, on_output: OutputCallback | None = None) -> Process:
        """Start a long-running program."""

    @abstractmethod
    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        """Copy a host file to the target."""

    @abstractmethod
    def get(self, remote: str, local: Path) -> None:
        """Copy a target file to the host."""

    @classmethod
    def for_definition(cls, definition: TargetDefinition) -> type[Target]:
        """The class that runs ``definition``: this kind's, or a variant of it (a board without
        ``[ssh]`` is a serial-only board)."""
        return cls

    @classmethod
    def ssh_login(cls, definition: TargetDefinition, known_hosts: Path) -> list[str]:
        """``ssh`` arguments reaching a running target of this kind (``hil target ssh``): the options
        pinning its host key (written to ``known_hosts`` when the definition gives the key itself), the
        client key, the port and ``user@host``.  Here: the definition's ``[ssh]``."""
        ssh = definition.ssh
        if ssh is None:
            raise ConfigError(f"target '{definition.name}' ({definition.kind}) is not reached over SSH", "--target")
        host = ssh.host if ssh.port == 22 else f"[{ssh.host}]:{ssh.port}"
        if ssh.host_key:
            known_hosts.write_text(f"{host} {ssh.host_key.strip()}\n")
            hosts_file = known_hosts
        else:
            hosts_file = Path(str(ssh.known_hosts)).expanduser()
        argv = ["-o", f"UserKnownHostsFile={hosts_file}", "-p", str(ssh.port)]
        if ssh.key:
            argv += ["-i", str(Path(str(ssh.key)).expanduser())]
        return [*argv, f"{ssh.user}@{ssh.host}"]

    @classmethod
    def console_url(cls, definition: TargetDefinition) -> str:
        """The serial console's URL of a running target of this kind (``hil target console``): here the
        definition's ``[console] url``."""
        if definition.console is None or not definition.console.url:
            raise ConfigError(f"target '{definition.name}' has no [console] url", "--target")
        return definition.console.url

    def explain(self, what: str, exc: Exception) -> Exception:
        """The error to report for ``exc``, met while ``what``: the target's own cause when it has one
        (a QEMU that died, a lease lost), so a link going down with it is not blamed."""
        return exc

    def healthy(self) -> bool:
        """A cheap liveness probe: can it still run a command?"""
        try:
            return self.run("true", timeout=10).exit_status == 0
        except Exception:  # noqa: BLE001
            return False

    def reset(self, deadline: Deadline) -> None:
        """Bring the target back after an infrastructure failure."""
        self.down()
        self.up(deadline)

    def toolchain(self) -> Toolchain:
        """The compiler vdevs for this target are built with."""
        from hil.targets.toolchain import Toolchain

        return Toolchain.from_definition(self.definition)

    def qvm_command(self) -> str:
        """The qvm executable on the target."""
        return self.definition.qvm.command

    def workdir(self) -> str:
        """The folder on the target that holds the deployment folders: the definition's ``[qvm] workdir``
        (``hil.targets.deploy`` checks it is the target user's own and closed to others)."""
        return self.definition.qvm.workdir

    def facts(self) -> dict[str, str]:
        """What a report says about this target (asked once, then remembered)."""
        if self._facts is None:
            tc = self.toolchain()
            facts = {
                "target.name": self.name,
                "target.kind": self.kind,
                "target.arch": self.arch,
                "target.labels": ",".join(self.definition.labels),
                "toolchain": f"{tc.cc} -V{tc.variant}" if tc.variant else tc.cc,
            }
            try:
                # the first 4 KB only, cut on the target: a qvm that prints megabytes costs nothing here
                version = self.run(
                    f"{{ {shell_command([self.qvm_command(), '-V'])}; }} 2>&1 | dd bs=4096 count=1 2>/dev/null",
                    timeout=20,
                )
                first = (version.stdout_text.strip().splitlines() or [""])[0]
                facts["qvm.version"] = first if len(first) <= 200 else first[:200] + "..."
            except Exception as exc:  # a report must not fail for want of a version string  # noqa: BLE001
                facts["qvm.version"] = f"unknown ({type(exc).__name__})"
            self._facts = facts
        return dict(self._facts)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


#: The class of each kind, filled by ``register``.
TARGET_CLASSES: dict[str, type[Target]] = {}


def register(cls: type[Target]) -> type[Target]:
    """Class decorator: make a target kind (one of ``KINDS``) known to ``make_target``."""
    if cls.kind not in KINDS:
        raise TypeError(f"{cls.__name__}.kind {cls.kind!r} is not one of the target kinds {KINDS}")
    TARGET_CLASSES[cls.kind] = cls
    return cls


def target_class(definition: TargetDefinition) -> type[Target]:
    """The class that runs ``definition`` (its kind's, or the variant the kind picks for it)."""
    return TARGET_CLASSES[definition.kind].for_definition(definition)


def make_target(definition: TargetDefinition, run_dir: Path) -> Target:
    """The target object for a definition (not yet up)."""
    return target_class(definition)(definition, run_dir)
