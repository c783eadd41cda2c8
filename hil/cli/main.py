"""The ``hil`` command line: for people and for nightly scripts.

Exit codes: ``hil.cli.status`` (0 success, 1 failed, 2 bad input, 3 infrastructure).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hil import __version__
from hil.cli.status import EXIT_FAILED, EXIT_INFRA, EXIT_INPUT, EXIT_OK
from hil.core.errors import HilError, InfrastructureError
from hil.core.text import terminal_safe


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def _folders(args: argparse.Namespace) -> tuple[Path, ...]:
    """The project's target definition folders, found as pytest finds its settings (``hil.pytestplugin.project``)."""
    from hil.pytestplugin.project import locate_project

    return locate_project([f"--hil-targets-dir={d}" for d in args.targets_dir or []]).targets.folders


def _definition(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from hil.targets.definition import resolve

    found = resolve(args.target, _folders(args))
    if len(found) != 1:
        raise HilError(
            f"--target '{args.target}' selects {len(found)} targets ({', '.join(d.name for d in found)}); "
            f"name exactly one"
        )
    return found[0]


# -- image / target ---------------------------------------------------------------------------


def cmd_image_build(args: argparse.Namespace) -> int:
    from hil.targets.qemu import public_image

    image = public_image(_definition(args), force=args.force, log=lambda m: print(m, file=sys.stderr))
    _emit(
        args,
        {
            "root": str(image.root),
            "kernel": str(image.kernel),
            "initrd": str(image.initrd),
            "spec_hash": image.spec_hash,
        },
        str(image.root),
    )
    return EXIT_OK


def cmd_target_up(args: argparse.Namespace) -> int:
    from hil.targets.qemu import background_up

    state = background_up(_definition(args))
    _emit(
        args,
        state,
        f"target {args.target} up: ssh port {state['ssh_port']}, console {state['console_url']}, pid {state['pid']}",
    )
    return EXIT_OK


def _target_name(args: argparse.Namespace) -> str:
    """``--target`` as a name: a .toml path (or anything with a '/') stands for its definition's name."""
    if args.target.endswith(".toml") or "/" in args.target:
        from hil.targets.definition import load_definition

        return load_definition(args.target).name
    return str(args.target)


def cmd_target_down(args: argparse.Namespace) -> int:
    from hil.targets.qemu import background_down

    stopped = background_down(_target_name(args))
    _emit(args, {"stopped": stopped}, f"target {args.target} " + ("stopped" if stopped else "was not running"))
    return EXIT_OK


def cmd_target_status(args: argparse.Namespace) -> int:
    from hil.targets.qemu import background_status, sshd_problem

    name = _target_name(args)
    state = background_status(name)
    if state is None:
        _emit(args, {"name": name, "running": False}, f"target {name}: not running")
        return EXIT_FAILED
    problem = sshd_problem(state)  # QEMU runs; its guest must answer too, or sessions cannot use it
    state = {**state, "healthy": not problem, **({"problem": problem} if problem else {})}
    _emit(args, state, "\n".join(f"{k}: {v}" for k, v in state.items()))
    return EXIT_INFRA if problem else EXIT_OK


def cmd_target_check(args: argparse.Namespace) -> int:
    from hil.cli.nightly import select_targets
    from hil.targets.health import check_target

    chosen = [d for d, _ in select_targets(args.target or [], _folders(args), Path.cwd().resolve())]
    findings = [f for d in chosen for f in check_target(d)]
    problems = [f for f in findings if f.kind != "ok"]
    if args.json:
        print(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        for f in findings:
            if f.kind != "ok" or args.verbose:
                print(f.line())
        names = ", ".join(d.name for d in chosen)
        if problems:
            print(f"hil target check: {len(problems)} problem(s) for {names}", file=sys.stderr)
        else:
            print(f"hil target check: {names}: ok ({len(findings)} items checked)")
    if any(f.kind == "config" for f in problems):
        return EXIT_INPUT
    return EXIT_INFRA if problems else EXIT_OK


def cmd_target_ssh(args: argparse.Namespace) -> int:
    from hil.cli.attach import run_ssh

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    return run_ssh(_definition(args), command)


def cmd_target_console(args: argparse.Namespace) -> int:
    from hil.cli.attach import run_console

    return run_console(_definition(args))


# -- sdk / vdev / qvm -------------------------------------------------------------------------


def cmd_sdk_include(args: argparse.Namespace) -> int:
    from hil.targets.sdk import include_dir

    print(include_dir())
    return EXIT_OK


def cmd_sdk_qvm(args: argparse.Namespace) -> int:
    from hil.targets.sdk import build_qvmsim

    print(build_qvmsim())
    return EXIT_OK


def cmd_vdev_build(args: argparse.Namespace) -> int:
    from hil.targets.toolchain import Toolchain, build_vdev

    toolchain = Toolchain.from_definition(_definition(args))
    if args.portable:
        toolchain = toolchain.with_portable()
    if args.werror:
        toolchain = toolchain.with_werror()
    built = build_vdev(
        [Path(s) for s in args.sources], toolchain, name=args.name, out_dir=Path(args.output) if args.output else None
    )
    _emit(
        args,
        {"name": built.name, "path": str(built.path), "cached": built.cached, "command": list(built.command)},
        str(built.path),
    )
    return EXIT_OK


#: ``hil vdev sweep --jobs`` at most (each job is a deployment folder and a qvm at once).
MAX_SWEEP_JOBS = 64
#: ``hil vdev sweep --timeout`` at most, in seconds (a day).
MAX_SWEEP_TIMEOUT = 86400.0


def cmd_vdev_sweep(args: argparse.Namespace) -> int:
    import shlex

    from hil.orchestrate import sweep_once
    from hil.targets.sdk import SANITIZERS

    sanitize = tuple(sorted({n.strip() for n in (args.sanitize or "").split(",") if n.strip()}))
    bad = [n for n in sanitize if n not in SANITIZERS]
    if bad:
        raise HilError(f"--sanitize: unknown sanitizer(s) {', '.join(bad)}: use {','.join(SANITIZERS)}")
    if not math.isfinite(args.timeout) or not 0 < args.timeout <= MAX_SWEEP_TIMEOUT:
        raise HilError(f"--timeout {args.timeout}: give the seconds per run, a number above 0 and at most "
                       f"{MAX_SWEEP_TIMEOUT:.0f} (e.g. --timeout 8)")  # fmt: skip
    if not 1 <= args.jobs <= MAX_SWEEP_JOBS:
        raise HilError(f"--jobs {args.jobs}: give the runs at once, 1 to {MAX_SWEEP_JOBS} (e.g. --jobs 2)")
    base = []
    for words in args.base:
        try:
            base += shlex.split(words)
        except ValueError as exc:
            raise HilError(
                f"--base {words!r}: {exc} (quote the words as a shell would, e.g. --base 'loc 0x1000')"
            ) from None
    folder = Path(args.vdev_dir)
    out = Path(args.output) if args.output else Path("artifacts") / "sweep" / folder.resolve().name
    report = sweep_once(
        _definition(args), folder, out,
        base=base, accept=args.accept, exclude=args.exclude,
        sanitize=sanitize, timeout=args.timeout, jobs=args.jobs,
    )  # fmt: skip
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(terminal_safe(report.table()), end="")
        print(f"sweep.txt, sweep.json and findings/*.qvmconf in {out}")
    return EXIT_FAILED if report.findings else EXIT_OK


def _offset_range(text: str) -> tuple[int, int]:
    """``--skip OFFSET[,LENGTH]`` (length 1 by default) as numbers."""
    off, _, length = text.partition(",")
    try:
        return int(off, 0), int(length, 0) if length else 1
    except ValueError:
        raise HilError(f"--skip {text}: expected OFFSET[,LENGTH] in the vdev's region, e.g. 0x10,4") from None


def cmd_vdev_fuzz(args: argparse.Namespace) -> int:
    import shlex

    from hil.qvmrun.fuzz import FuzzSettings, fuzz_vdev

    if args.target != "local":
        raise HilError(
            f"--target {args.target}: hil vdev fuzz runs on the local target only (the fuzzer runs qvmsim's "
            "core in-process on this host; the QEMU targets are not supported yet)"
        )
    folder = Path(args.vdev_dir)
    base_conf: Path | None = None
    words: list[str] = []
    for b in args.base:
        if b.endswith(".qvmconf"):
            if not Path(b).is_file():
                raise HilError(f"--base {b}: no such configuration file")
            base_conf = Path(b)
        else:
            words += shlex.split(b)
    if base_conf is not None and words:
        raise HilError("--base: give either a .qvmconf file or the vdev's option words, not both")
    settings = FuzzSettings.read(folder) if folder.is_dir() else FuzzSettings()  # VDEV_DIR/fuzz.settings
    if not args.base:
        words = settings.base
    skips = [_offset_range(s) for s in args.skip] or settings.skip
    out = Path(args.output) if args.output else Path("artifacts") / "fuzz" / folder.resolve().name
    report = fuzz_vdev(
        folder, out, base=words, base_conf=base_conf, seconds=args.time, runs=args.runs,
        jobs=args.jobs, corpus=Path(args.corpus) if args.corpus else None, hang_timeout=args.hang_timeout,
        seed_scripts=[Path(s) for s in args.seed], skip=skips,
        progress=None if args.json else print,
    )  # fmt: skip
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.summary(), end="")
        print(f"fuzz.txt, fuzz.json, corpus/ and findings/N/ (replay.sh) in {out}")
    return EXIT_FAILED if report.findings else EXIT_OK


def cmd_qvm_run(args: argparse.Namespace) -> int:
    from hil.orchestrate import run_once

    if args.private_vm:
        import os

        from hil.targets.qemu import PRIVATE_VM_ENV

        os.environ[PRIVATE_VM_ENV] = "1"
    from hil.targets.sdk import SANITIZERS

    sanitize = tuple(sorted({n.strip() for n in (args.sanitize or "").split(",") if n.strip()}))
    bad = [n for n in sanitize if n not in SANITIZERS]
    if bad:
        raise HilError(f"--sanitize: unknown sanitizer(s) {', '.join(bad)}: use {','.join(SANITIZERS)}")
    result = run_once(
        _definition(args),
        Path(args.conf),
        vdevs=[Path(v) for v in args.vdev],
        guest=Path(args.guest) if args.guest else None,
        timeout=args.timeout,
        artifacts=Path(args.artifacts),
        sanitize=sanitize,
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.summary())
        report = result.artifacts.get("sanitizer")
        if report is not None:
            print(f"sanitizer report ({report}):")
            print(Path(report).read_text(encoding="utf-8", errors="replace"), end="")
        print(f"reason: {result.reason.name}: {result.reason.description}")
        severe = list(result.log.at_level("FATAL", "INTERNAL", "ERROR"))
        if severe:  # the lines that explain the ending (exit 65: the configuration qvm refused, ...)
            print(f"qvm's fatal and error lines ({len(severe)}):")
            for line in severe[:20]:
                print(f"  {line}")
            if len(severe) > 20:
                print(f"  ... {len(severe) - 20} more in {Path(args.artifacts).resolve()}")
        refusal = result.refusal()
        if refusal:
            print(refusal)
    return EXIT_OK


def cmd_qvm_check(args: argparse.Namespace) -> int:
    from hil.qvmrun.check import check_config
    from hil.targets import target_class

    definition = _definition(args)
    report = check_config(Path(args.conf), vdev_dirs=[Path(d) for d in args.L])
    note = ""
    if not target_class(definition).runs_qvmsim_builds:  # a board's qvm is QNX's own
        note = f"note: {definition.name} runs QNX's qvm; this is qvmsim's reading of the file\n"
    if args.json:
        print(json.dumps({"target": definition.name, **report.to_json()}, indent=2))
    else:
        print(note + report.table(), end="")
    return EXIT_OK if report.ok else EXIT_INPUT


# -- demo / nightly ---------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from hil.cli.nightly import demo

    return demo(Path(args.reports), args.target or ["qemu"])


def cmd_nightly(args: argparse.Namespace) -> int:
    from hil.cli.nightly import nightly

    gates = ["--hil-coverage"] if args.coverage else []  # the quality gates (hil.qvmrun.gates)
    gates += [f"--hil-sanitize={args.sanitize}"] if args.sanitize else []
    gates += [f"--hil-coverage-fail-under={v}" for v in args.coverage_fail_under or []]
    rc = nightly(
        args.target or [],
        Path(args.reports),
        [*gates, *args.pytest_args],
        args.targets_dir or [],
        history=[Path(h) for h in args.history or []],
    )
    if args.fuzz is None:
        return rc
    from hil.cli.fuzznightly import fuzz_each

    found = fuzz_each(Path.cwd(), [Path(d) for d in args.fuzz_vdev or []], args.fuzz, Path(args.reports) / "fuzz")
    return EXIT_FAILED if found and rc == EXIT_OK else rc


def cmd_host_check(args: argparse.Namespace) -> int:
    from hil.cli.host import check

    return check(args.target or [], _folders(args), as_json=args.json, fuzzing=args.fuzz)


def cmd_host_install(args: argparse.Namespace) -> int:
    from hil.cli.host import install

    return install(args.target or [], _folders(args), dry_run=args.dry_run, fuzzing=args.fuzz)


def cmd_init(args: argparse.Namespace) -> int:
    from hil.cli.scaffold import render, scaffold

    folder = Path(args.dir)
    done = scaffold(folder, args.ci, sample=not args.no_sample, ci_only=args.ci_only)
    print(f"hil init: qnx-hil {'CI jobs' if args.ci_only else 'project'} in {folder.resolve()}:")
    for path in done.written:
        print(f"  {path.relative_to(folder)}")
    if done.ci_main_kept is not None:
        print(f"{done.ci_main_kept} exists and was left as it is: add this line to it:\n  {done.include_line}")
    if done.settings_kept is not None:
        block = render("pyproject.toml", {"version": __version__}).split("[tool.pytest.ini_options]", 1)[1]
        print(
            f"{done.settings_kept} exists and was left as it is: merge these settings into its "
            f"[tool.pytest.ini_options] table:{block.rstrip()}"
        )
    if not args.ci_only:
        where = "" if folder.resolve() == Path.cwd().resolve() else f"cd {args.dir} && "
        print(f"next: {where}pytest --hil-target local   (then --hil-target qemu; hil nightly for every target)")
    if args.ci is None:
        print("no CI job written: run 'hil init --ci github|gitlab|jenkins --ci-only' to add one")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hil", description="qnx-hil: HIL tests for QNX Hypervisor vdevs")
    parser.add_argument("--version", action="version", version=f"qnx-hil {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    targets_dir_help = (
        "a folder of target definitions (*.toml; repeatable); default: as pytest, the "
        "hil_targets_dir setting, else targets/ beside the rootdir"
    )

    def add(
        parent: Any, name: str, func: Callable[[argparse.Namespace], int], help: str, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    image = sub.add_parser("image", help="the public QEMU target's image").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    p = add(image, "build", cmd_image_build, "build (or find in the cache) the QEMU target image")
    p.add_argument("--target", default="qemu", help="a qemu-kind target definition (default: qemu)")
    p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
    p.add_argument("--force", action="store_true", help="rebuild even when cached")

    target = sub.add_parser("target", help="start/stop a QEMU target in the background").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    for name, func, text in (
        ("up", cmd_target_up, "boot a QEMU target and leave it running"),
        ("down", cmd_target_down, "stop a target started with 'hil target up'"),
        ("status", cmd_target_status, "is it running? pid, ports, console URL, image"),
    ):
        p = add(target, name, func, text)
        p.add_argument("--target", default="qemu", help="target name (default: qemu)")
        if name == "up":
            p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
    p = add(
        target,
        "check",
        cmd_target_check,
        "check target definitions before a run: files, keys, known_hosts, console, SSH login, qvm, toolchain, "
        "labgrid place, power commands; every problem at once, one line each (exit 0 fine, 2 a definition or "
        "file to fix, 3 something away)",
    )
    p.add_argument(
        "--target",
        action="append",
        metavar="NAME|label:LABEL",
        help="select targets (repeatable; default: every target of the inventory, as hil nightly)",
    )
    p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
    p.add_argument("-v", "--verbose", action="store_true", help="also list what is fine")
    for name, func, text in (
        ("ssh", cmd_target_ssh, "a shell (or -- COMMAND) on a running target: the background one, or a board"),
        ("console", cmd_target_console, "attach this terminal to a running target's serial console (Ctrl-] ends)"),
    ):
        p = add(target, name, func, text, json_flag=False)
        p.add_argument("--target", default="qemu", help="target name (default: qemu)")
        p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
        if name == "ssh":
            p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")

    sdk = sub.add_parser("sdk", help="qvmsim and its vdev headers").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    add(sdk, "include", cmd_sdk_include, "print the folder holding qvm/*.h", json_flag=False)
    add(sdk, "qvm", cmd_sdk_qvm, "build the host qvmsim if needed and print its path", json_flag=False)

    vdev = sub.add_parser("vdev", help="build vdevs").add_subparsers(dest="sub", required=True, metavar="ACTION")
    p = add(vdev, "build", cmd_vdev_build, "compile a vdev folder or C files into vdev-NAME.so")
    p.add_argument("sources", nargs="+", metavar="SRC", help="a vdev folder or C files")
    p.add_argument("--target", default="local", help="whose toolchain to use (default: local)")
    p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
    p.add_argument("--name", help="vdev name (default: the folder's name or the C file's stem)")
    p.add_argument(
        "--portable",
        action="store_true",
        help="only the names QNX documents for 8.0 (qvmsim's own names are compile errors)",
    )
    p.add_argument("--werror", action="store_true", help="make compiler warnings errors (-Werror)")
    p.add_argument("-o", "--output", help="copy the .so into this folder")

    p = add(
        vdev,
        "sweep",
        cmd_vdev_sweep,
        "configuration-fault sweep: run every option of a vdev with bad values; exit 1 on findings",
    )
    p.add_argument("vdev_dir", metavar="VDEV_DIR", help="the vdev folder (its sweep.accept, if any, is read)")
    p.add_argument(
        "--target", default="local", help="a target running qvmsim: local, qemu, qemu-arm64, ... (default: local)"
    )
    p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
    p.add_argument(
        "--base",
        action="append",
        default=[],
        metavar="WORDS",
        help="the vdev's required options, e.g. 'loc 0x1c0f0000'",
    )
    p.add_argument(
        "--accept",
        action="append",
        default=[],
        metavar="OPTION=KIND",
        help="a documented acceptance (exit 0 is fine; * for any)",
    )
    p.add_argument("--exclude", action="append", default=[], metavar="OPTION", help="leave an option out of the sweep")
    p.add_argument(
        "--sanitize", metavar="address,undefined", help="the vdev and qvm as sanitizer builds: a report is a finding"
    )
    p.add_argument("--timeout", type=float, default=8.0, help="seconds per run before it counts as a hang (default 8)")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    p.add_argument("-o", "--output", help="the report folder (default artifacts/sweep/VDEV)")

    p = add(
        vdev,
        "fuzz",
        cmd_vdev_fuzz,
        "coverage-guided fuzzing of a vdev through its guest interface (a hostile guest); exit 1 on findings",
    )
    p.add_argument(
        "vdev_dir",
        metavar="VDEV_DIR",
        help="the vdev folder (its *.guest/*.gs scripts seed the corpus; its fuzz.settings give the defaults)",
    )
    p.add_argument(
        "--base",
        action="append",
        default=[],
        metavar="WORDS|CONF",
        help="the vdev's options, e.g. 'loc 0x1c0f0000 timeout 500' (default: fuzz.settings' base; loc "
        "0x1c0f0000 if none), or a .qvmconf naming it 'vdev NAME'",
    )
    p.add_argument("--time", type=float, default=60.0, metavar="S", help="seconds of fuzzing (default 60)")
    p.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help="stop each worker after N inputs if --time is not up first: the same campaign on any machine",
    )
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel fuzzing workers (default 1)")
    p.add_argument("--corpus", metavar="DIR", help="the corpus folder, kept between runs (default OUT/corpus)")
    p.add_argument(
        "--hang-timeout", type=float, default=10.0, metavar="S", help="an input running longer is a hang (default 10)"
    )
    p.add_argument(
        "--seed", action="append", default=[], metavar="GUEST_SCRIPT", help="a guest script seeding the corpus"
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="OFFSET[,LEN]",
        help="region offsets the guest never touches (a documented fault-injection register)",
    )
    p.add_argument("--target", default="local", help="where to fuzz: local (the only one supported)")
    p.add_argument("-o", "--output", help="the report folder (default artifacts/fuzz/VDEV)")

    qvm = sub.add_parser("qvm", help="run qvm on a target").add_subparsers(dest="sub", required=True, metavar="ACTION")
    p = add(qvm, "run", cmd_qvm_run, "deploy vdevs, run qvm @CONF on a target, report how it ended")
    p.add_argument("--target", default="local", help="target name, label:LABEL or .toml (default: local)")
    p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
    p.add_argument("--conf", required=True, help="the .qvmconf file")
    p.add_argument("--vdev", action="append", default=[], metavar="SO", help="a built vdev-NAME.so (repeatable)")
    p.add_argument("--guest", help="a guest script for qvmsim's scripted guest")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before the hang escalation")
    p.add_argument("--artifacts", default="artifacts/cli", help="where logs are written")
    p.add_argument(
        "--sanitize",
        metavar="address,undefined",
        help="run qvmsim's sanitizer build (the --vdev should be a sanitizer build too): reports are printed",
    )
    p.add_argument(
        "--private-vm",
        action="store_true",
        help="a qemu target boots a VM of its own even when 'hil target up' left one running (default: attach)",
    )

    p = add(
        qvm,
        "check",
        cmd_qvm_check,
        "per configuration line: modelled, accepted but not modelled, or refused (with the reason); "
        "exit 2 on a refusal",
    )
    p.add_argument("conf", metavar="CONF", help="the .qvmconf file")
    p.add_argument("--target", default="local", help="target name (default: local; qvmsim is the same on all)")
    p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
    p.add_argument(
        "-L", action="append", default=[], metavar="DIR", help="a folder with the configuration's vdev-NAME.so files"
    )

    host = sub.add_parser("host", help="what the targets need on this host (Debian packages)").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    for name, func, text in (
        ("check", cmd_host_check, "list what the selected targets need and this host lacks; exit 1 if anything"),
        ("install", cmd_host_install, "install it with apt-get (through sudo unless root)"),
    ):
        p = add(host, name, func, text, json_flag=name == "check")
        p.add_argument(
            "--target",
            action="append",
            metavar="NAME|label:LABEL",
            help="select targets (repeatable; default: every target of the inventory, as hil nightly)",
        )
        p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
        p.add_argument(
            "--fuzz", action="store_true", help="also what hil vdev fuzz needs (clang and libFuzzer, local targets)"
        )
        if name == "install":
            p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")

    p = add(
        sub,
        "init",
        cmd_init,
        "write a new vdev project: a sample vdev, its tests, pytest settings, a board template, a CI job",
        json_flag=False,
    )
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project folder (default: here)")
    p.add_argument(
        "--ci",
        choices=["github", "gitlab", "jenkins"],
        help="also write the nightly jobs for this CI server: an includable file (.gitlab/qnx-hil.yml, the "
        "reusable workflow .github/workflows/qnx-hil.yml, ci/qnx-hil.groovy) and ci/qnx-hil-job.sh; the "
        "CI server's main file too unless the repository has one (then the line to add is printed)",
    )
    p.add_argument("--no-sample", action="store_true", help="leave the sample vdev and its tests out")
    p.add_argument("--ci-only", action="store_true", help="write only the CI files (with --ci)")

    p = add(
        sub,
        "demo",
        cmd_demo,
        "run the 'hil init' project's tests on the public QEMU target, with a report",
        json_flag=False,
    )
    p.add_argument("--target", action="append", metavar="NAME|label:LABEL", help="targets (repeatable; default: qemu)")
    p.add_argument("--reports", default="reports", help="report folder (default: reports)")

    p = add(
        sub,
        "nightly",
        cmd_nightly,
        "run this project's tests (as pytest would here) on every target of the inventory, with a JUnit report",
        json_flag=False,
    )
    p.add_argument("--target", action="append", metavar="NAME|label:LABEL", help="select targets (repeatable)")
    p.add_argument("--targets-dir", action="append", metavar="DIR", help=targets_dir_help)
    p.add_argument("--reports", default="reports", help="report folder (default: reports)")
    p.add_argument(
        "--history",
        action="append",
        metavar="DIR",
        help="earlier report folder(s), or a folder of them, for the HTML report's trends (repeatable)",
    )
    p.add_argument(
        "--coverage",
        action="store_true",
        help="vdev C coverage: REPORT/coverage/ (HTML, Cobertura XML), a line per vdev in the summary",
    )
    p.add_argument(
        "--coverage-fail-under",
        action="append",
        metavar="[VDEV=]LINE%",
        help="with --coverage: exit 1 when a vdev's line coverage is below LINE%% "
        "(VDEV=LINE%%: that vdev's; repeatable)",
    )
    p.add_argument("--sanitize", metavar="address,undefined", help="build vdevs and qvm with these sanitizers")
    p.add_argument(
        "--fuzz",
        type=float,
        metavar="S",
        help="after the tests, fuzz each vdev S seconds from the guest side (hil vdev fuzz; local): "
        "REPORTS/fuzz/VDEV/, a finding fails the night",
    )
    p.add_argument(
        "--fuzz-vdev",
        action="append",
        metavar="DIR",
        help="a vdev folder to fuzz (repeatable; default: every folder of .c files in vdevs/ and target_vdevs/)",
    )
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then arguments for pytest")
    return parser


#: Every output option of the CLI: (attribute, option) checked by hil.core.outputs before the command runs.
_OUTPUT_DIRS = (("output", "-o/--output"), ("artifacts", "--artifacts"), ("reports", "--reports"))


def _check_outputs(args: argparse.Namespace) -> None:
    from hil.core.outputs import output_dir

    for attr, option in _OUTPUT_DIRS:
        value = getattr(args, attr, None)
        if value:
            output_dir(value, option)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "pytest_args", None) and args.pytest_args[0] == "--":
        args.pytest_args = args.pytest_args[1:]
    from hil.core import cancel

    cancel.install()  # SIGTERM (a cancelled CI job) ends a command the way Ctrl-C does: what it started is stopped
    try:
        _check_outputs(args)
        return int(args.func(args))
    except InfrastructureError as exc:
        print(f"hil: infrastructure error: {terminal_safe(str(exc))}", file=sys.stderr)
        return EXIT_INFRA
    except HilError as exc:
        print(f"hil: error: {terminal_safe(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        why = cancel.requested() or "SIGINT"
        print(f"hil: interrupted ({why})", file=sys.stderr)
        return 128 + int(getattr(signal.Signals, why, signal.SIGINT))


if __name__ == "__main__":
    sys.exit(main())
