"""Every configuration error ends qvm with 65 and a FATAL line naming file:line and the word."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.qvmsim import RunQvm

CASES = [
    # (id, config, expected FATAL message regex, source of the FATAL line)
    (
        "unknown-vdev-option",
        "vdev trace\n  bogus 1\n",
        r"^cfg\.qvmconf:2: unknown option 'bogus' for vdev 'trace'$",
        "qvm",
    ),
    ("unknown-option", "system s\nfrobnicate\n", r"^cfg\.qvmconf:2: unknown option 'frobnicate'$", "qvm"),
    ("bad-loc", "vdev trace\nloc zzz\n", r"^cfg\.qvmconf:2: bad value 'zzz' for option 'loc' of vdev 'trace'", "qvm"),
    (
        "bad-vdev-value",
        "vdev wdog loc 0x10\n timeout abc\n",
        r"^cfg\.qvmconf:2: vdev 'wdog' refused option 'timeout' value 'abc': Invalid argument \(errno 22\)$",
        "qvm",
    ),
    ("missing-vdev", "\nvdev nosuch\n", r"^cfg\.qvmconf:2: vdev 'nosuch' not found", "qvm"),
    (
        "abi-mismatch",
        "vdev badabi\n",
        r"^cfg\.qvmconf:1: vdev 'badabi' .* ABI number 0x801 but qvmsim implements "
        r"ABI 0x800 .*refused",
        "qvm",
    ),
    (
        "refused-option",
        "vdev trace\nrefuse option\n",
        r"^cfg\.qvmconf:2: vdev 'trace' refused option 'refuse' value 'option': Operation not permitted",
        "qvm",
    ),
    (
        "refused-assign",
        "vdev trace refuse ASSIGN\n",
        r"^cfg\.qvmconf:1: vdev 'trace' refused VDEV_CTRL_ASSIGN: Operation not permitted \(errno 1\)$",
        "qvm",
    ),
    ("missing-value", "vdev trace tick\n", r"^cfg\.qvmconf:1: option 'tick' of vdev 'trace' needs a value$", "qvm"),
    ("system-not-first", "ram 16M\nsystem late\n", r"^cfg\.qvmconf:2: option 'system' must come first", "qvm"),
    (
        "system-as-a-value-is-fine-but-bogus-is-not",
        "system s vdev trace name system\nbogus\n",
        r"^cfg\.qvmconf:2: unknown option 'bogus' for vdev 'system'$",
        "qvm",
    ),
    ("bad-ram", "ram lots\n", r"^cfg\.qvmconf:1: bad value 'lots' for option 'ram'", "qvm"),
    ("bad-log-filter", "logger info,chatty stderr\n", r"^cfg\.qvmconf:1: unknown log filter 'chatty'", "qvm"),
    (
        "text-macro",
        "vdev trace loc ${BASE}\n",
        r"^cfg\.qvmconf:1: '\$\{BASE\}' is not qvm syntax: qvm has no \$\{NAME\} macros",
        "qvm",
    ),
    (
        "unknown-set-variable",
        "set BASE 0x1000\n",
        r"^cfg\.qvmconf:1: unknown configuration variable 'BASE' for option 'set' \('qvm set \?' lists them",
        "qvm",
    ),
    (
        "bad-set-value",
        "set exit-on-halt maybe\n",
        r"^cfg\.qvmconf:1: bad boolean value 'maybe' for 'set exit-on-halt' \(on/off",
        "qvm",
    ),
    (
        "vdev-variable-outside-a-vdev",
        "set debug off\n",
        r"^cfg\.qvmconf:1: 'set debug' applies to a vdev: put it after 'vdev NAME'$",
        "qvm",
    ),
    (
        "logger-without-destination",
        "logger info\nvdev trace\n",
        r"^cfg\.qvmconf:1: option 'logger info' needs a destination after the filters, got 'vdev'",
        "qvm",
    ),
    (
        "log-without-destination",
        "vdev trace log info\n",
        r"^cfg\.qvmconf:1: option 'log info' needs a destination after the filters, got the end",
        "qvm",
    ),
    (
        "bad-unsupported-type",
        "unsupported memory fail\n",
        r"^cfg\.qvmconf:1: bad value 'memory' for option 'unsupported' \(expected instruction, reference",
        "qvm",
    ),
    (
        "bad-unsupported-action",
        "unsupported register crash\n",
        r"^cfg\.qvmconf:1: bad value 'crash' for option 'unsupported register' \(expected abort, fail or ignore\)$",
        "qvm",
    ),
    ("bad-safety", "safety maybe\n", r"^cfg\.qvmconf:1: bad value 'maybe' for option 'safety'", "qvm"),
    (
        "unknown-pass-option",
        "pass loc 0x2000,0x1000,rw bogus 1\n",
        r"^cfg\.qvmconf:1: unknown option 'bogus' for 'pass'",
        "qvm",
    ),
    (
        "missing-dump-directory",
        "dump /nonexistent/qnx-hil\n",
        r"^cfg\.qvmconf:1: dump directory '/nonexistent/qnx-hil' for option 'dump' does not exist",
        "qvm",
    ),
    ("empty-dump-pipe", 'dump "| "\n', r"^cfg\.qvmconf:1: option 'dump \"\|\"' needs a shell command", "qvm"),
    ("unterminated-quote", 'dump "|gzip\n', r"^cfg\.qvmconf:1: unterminated '\"'", "qvm"),
    (
        "overlap",
        "vdev trace name a loc 0x1000\nvdev trace name b loc 0x1800\n",
        r"^cfg\.qvmconf:2: region 0x1800-0x27ff of vdev 'b' overlaps vdev 'a'$",
        "qvm",
    ),
    (
        "missing-script",
        "load nowhere.gs\n",
        r"^cfg\.qvmconf:1: guest script 'nowhere.gs' for option 'load' not found$",
        "qvm",
    ),
    ("fatal-in-guest-configured", "vdev trace fail_config yes\n", r"^config failed: ", "trace"),
]


@pytest.mark.parametrize("conf,pattern,source", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_configuration_error_exits_65(run_qvm: RunQvm, conf: str, pattern: str, source: str) -> None:
    run = run_qvm(conf, timeout=5)  # no guest: a config that passed would idle until the timeout
    assert run.returncode == 65, run.stderr
    fatal = run.one(pattern, level="FATAL")
    assert fatal.source == source
    assert run.log[-1].message == "exit status=65"
    assert not run.find("GUEST_STARTING")


def test_fatal_in_guest_configured_still_terminates_started_vdevs(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev trace name ok\nvdev trace name bad fail_config yes\n")
    assert run.returncode == 65
    assert run.one(r"^config failed: fail_config is set", source="bad", level="FATAL")
    assert run.one(
        r"^cfg\.qvmconf:2: vdev 'bad' called qvm_fatal\(\) in VDEV_CTRL_GUEST_CONFIGURED$", source="qvm", level="ERROR"
    )
    assert run.trace_ctrls("ok")[-1] == "ctrl TERMINATE"
    assert run.trace_ctrls("bad")[-1] == "ctrl TERMINATE"


def test_fatal_in_an_option_names_the_option(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev trace fatal_option boom\n")
    assert run.returncode == 65, run.stderr
    assert run.one(r"^fatal_option: boom$", source="trace", level="FATAL")
    assert run.one(
        r"^cfg\.qvmconf:1: vdev 'trace' called qvm_fatal\(\) in option 'fatal_option' \(index 6\)$", source="qvm"
    )


def test_command_line_errors_name_cmdline(run_qvm: RunQvm) -> None:
    run = run_qvm(None, "vdev", "trace", "bogus")
    assert run.returncode == 65
    # argv: qvm -L DIR vdev trace bogus -> 'bogus' is argv[5]
    assert run.one(r"^<cmdline>:5: unknown option 'bogus' for vdev 'trace'$", level="FATAL").source == "qvm"
    run = run_qvm(None, "--frob")
    assert run.returncode == 65
    assert run.one(r"^<cmdline>:3: unknown command-line flag '--frob'", level="FATAL")


def test_guest_script_errors_name_script_line(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev trace loc 0x1000\n", script="# a comment\nprint ok\njump 3\n")
    assert run.returncode == 65
    assert run.one(r"^guest\.gs:3: unknown guest command 'jump'$", level="FATAL")
    run = run_qvm("", script="write 0x1000 3 1\n")
    assert run.returncode == 65
    assert run.one(r"^guest\.gs:1: bad size '3'", level="FATAL")


def test_missing_config_file(run_qvm: RunQvm, tmp_path: Path) -> None:
    run = run_qvm(None, "@absent.qvmconf")
    assert run.returncode == 65
    assert run.one(r"^<cmdline>:3: cannot read configuration file 'absent\.qvmconf'", level="FATAL")
