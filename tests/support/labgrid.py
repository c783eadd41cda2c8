"""A labgrid lab on loopback for the tests: a coordinator, one exporter, places, and a VM to export.

``Lab.start(folder)`` runs ``labgrid-coordinator`` (on a free loopback port, its state
files in ``folder``); ``lab.export({group: resources})`` runs one ``labgrid-exporter``
for those resource groups; ``lab.place(name, group)`` creates a place matching a group,
as a lab administrator would, with ``labgrid-client``.  ``lab.stop()`` ends them all.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.core.deadline import Deadline
from hil.targets.definition import parse_definition
from hil.targets.qemu import public_image, qemu_options
from hil.vm.qemu import QemuMachine

BIN = Path(sys.executable).parent


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class Lab:
    """A coordinator and its exporters, all on 127.0.0.1."""

    folder: Path
    address: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls, folder: Path) -> Lab:
        folder.mkdir(parents=True, exist_ok=True)
        lab = cls(folder)
        log = open(folder / "coordinator.log", "wb")  # noqa: SIM115 - the process keeps it
        proc = subprocess.Popen(
            [str(BIN / "labgrid-coordinator"), "-l", "127.0.0.1:0"], cwd=folder, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        lab.procs.append(proc)
        deadline = Deadline.after(30, "labgrid-coordinator listening")
        try:
            while True:
                found = re.search(rb"listening on 127\.0\.0\.1:(\d+)", (folder / "coordinator.log").read_bytes())
                if found:
                    lab.address = f"127.0.0.1:{found.group(1).decode()}"
                    return lab
                if proc.poll() is not None or deadline.expired:
                    raise RuntimeError(f"labgrid-coordinator did not start: {(folder / 'coordinator.log').read_text()}")
                time.sleep(0.1)
        except BaseException:
            lab.stop()
            raise

    def client(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``labgrid-client -x COORDINATOR ARGS...``."""
        done = subprocess.run(
            [str(BIN / "labgrid-client"), "-x", self.address, *args], capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(args)}: {done.stdout}{done.stderr}")
        return done

    def export(self, name: str, groups: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Run an exporter ``name`` for ``groups`` (YAML: group -> resource class -> parameters)."""
        import json

        config = self.folder / f"exporter-{name}.yaml"
        config.write_text(json.dumps(groups, indent=2))  # JSON is YAML
        log = open(self.folder / f"exporter-{name}.log", "wb")  # noqa: SIM115 - the process keeps it
        self.procs.append(
            subprocess.Popen(
                [str(BIN / "labgrid-exporter"), "-c", self.address, "-n", name, "--hostname", "127.0.0.1", str(config)],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
        deadline = Deadline.after(30, "labgrid-exporter registered")
        wanted = {f"{name}/{group}/{cls}" for group, resources in groups.items() for cls in resources}
        while True:
            listed = set(self.client("resources").stdout.split())
            if wanted <= listed:
                return
            if deadline.expired:
                raise RuntimeError(f"exporter {name} did not register {wanted - listed}: listed {listed}")
            time.sleep(0.2)

    def place(self, name: str, match: str, tags: dict[str, str] | None = None) -> None:
        """Create place ``name`` holding the resources that match ``EXPORTER/GROUP/CLASS`` (globs)."""
        self.client("-p", name, "create")
        self.client("-p", name, "add-match", match)
        if tags:
            self.client("-p", name, "set-tags", *(f"{k}={v}" for k, v in tags.items()))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)
        self.procs.clear()


def network_service(port: int, user: str = "root") -> dict[str, Any]:
    return {"address": "127.0.0.1", "port": port, "username": user}


def serial_port(port: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "speed": 115200, "protocol": "raw"}


@dataclass
class Vm:
    """A public QEMU VM booted for export: its console is left free for a labgrid client."""

    machine: QemuMachine
    client_key: Path
    host_key: str

    @classmethod
    def boot(cls, run_dir: Path) -> Vm:
        definition = parse_definition({"kind": "qemu"}, "<test>", "lab-vm")
        image = public_image(definition)
        machine = QemuMachine(image, qemu_options(definition), run_dir=run_dir, console_tcp=True)  # exported to the lab
        machine.start()
        try:
            machine.wait_ready(Deadline.after(180, "booting the lab VM"))  # reads the console, then lets go
        except BaseException:
            machine.stop()
            raise
        return cls(machine, image.client_key, image.host_key_pub)


def lab_definition(folder: Path, coordinator: str, vm: Vm, **lease: float) -> Path:
    """A lab's ``labgrid`` definition without a place (``--hil-target labgrid:PLACE`` applies it):
    the coordinator, the VM image's keys (host key pinned), qvmsim's scripted guest, Linux."""
    from hil.targets.definition import TargetDefinition

    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        'name = "lab"',
        'kind = "labgrid"',
        'labels = ["lab"]',
    ]
    if "os" in TargetDefinition.__dataclass_fields__:
        lines.append('os = "linux"')
    lines += [
        "[labgrid]",
        f'coordinator = "{coordinator}"',
        "[ssh]",
        f'key = "{vm.client_key}"',
        f'host_key = "{vm.host_key.strip()}"',
        "[guest]",
        'control = "scripted"',
    ]
    if lease:
        lines.append("[lease]")
        lines += [f"{k} = {v}" for k, v in lease.items()]
    path = folder / "lab.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def hold_command(targets_dir: Path, selector: str, seconds: float, marker: str) -> list[str]:
    """A run that takes ``selector``, holds it ``seconds`` with ``marker`` made on the board, then lets go."""
    return [sys.executable, "-m", "tests.support.labgrid", str(targets_dir), selector, str(seconds), marker]


def _hold(targets_dir: str, selector: str, seconds: str, marker: str) -> int:
    """``python -m tests.support.labgrid DIR SELECTOR SECONDS MARKER``: up, ``mkdir MARKER`` on the
    board (fails if another run holds it), ``HELD`` on stdout, sleep, ``rmdir``, down."""
    from hil.core.errors import HilError
    from hil.orchestrate import target_up
    from hil.targets.definition import select

    (definition,) = select([selector], [Path(targets_dir)])
    run_dir = Path(targets_dir) / f"run-{os.getpid()}"
    try:
        with target_up(definition, run_dir) as target:
            target.run(f"mkdir {marker}", timeout=30, check=True)  # never two holders at once
            print(f"HELD {time.time():.3f}", flush=True)
            time.sleep(float(seconds))
            target.run(f"rmdir {marker}", timeout=30, check=True)
            print(f"RELEASING {time.time():.3f}", flush=True)
    except HilError as exc:
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(_hold(*sys.argv[1:5]))
