"""QvmConfig rendering, fixtures with appended options, and the light .qvmconf parser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.core.errors import ConfigError
from hil.qvm.config import QvmConfig
from hil.qvm.confparse import ParsedConf, parse_qvmconf
from tests.support.paths import FIXTURES as REPO_FIXTURES


def option_values(parsed: ParsedConf, name: str) -> tuple[str, ...]:
    """The values of option ``name`` of a parsed configuration, asserted present."""
    option = parsed.option(name)
    assert option is not None, f"no {name!r} option"
    return option.values


@dataclass(frozen=True)
class BuiltVdev:
    """Stands in for a built vdev: only ``.name`` matters to the builder."""

    name: str
    path: Path = Path("/nowhere/vdev-x.so")


def test_issue_example_renders() -> None:
    trace = BuiltVdev("trace")
    cfg = QvmConfig().vdev(trace, fail_config="yes")
    assert cfg.render() == "vdev trace\n    fail_config yes\n"
    assert cfg.vdev_names() == ["trace"]
    assert cfg.vdev_objects() == [trace]


def test_full_render_puts_vm_wide_options_before_contexts(tmp_path: Path) -> None:
    guest = tmp_path / "guest.txt"
    guest.write_text("kick\n")
    cfg = (
        QvmConfig("vm1")
        .ram("16M")
        .vdev(
            "wdog",
            loc=0x1000,
            intr=5,
            name="wdog0",
            log=("info,debug", "stdout"),
            timeout=500,
            ratio=0.5,
            verbose=True,
            quiet=False,
            skip=None,
            pair=["a", 7],
        )
        .cpu(sched=10)
        .logger(["fatal", "error", "error"], "stderr")  # after a context, still rendered VM-wide
        .ram(0x100000, start=0x80000000)
        .dump("/tmp/dumps")
        .set("counter-offset", 42)
        .dryrun()
        .dryrun()
        .load(guest)
        .option("gic", "3")
    )
    assert cfg.render() == (
        "system vm1\n"
        "ram 16M\n"
        "logger fatal,error stderr\n"
        "ram 0x80000000,1048576\n"
        "dump /tmp/dumps\n"
        "set counter-offset 42\n"
        "dryrun\n"
        f"load {guest.resolve()}\n"
        "gic 3\n"
        "vdev wdog\n"
        "    loc 0x1000\n"
        "    intr 5\n"
        "    name wdog0\n"
        "    log info,debug stdout\n"
        "    timeout 500\n"
        "    ratio 0.5\n"
        "    verbose\n"
        "    pair a 7\n"
        "cpu\n"
        "    sched 10\n"
    )
    parsed = cfg.validate()
    assert parsed.system == "vm1"
    assert parsed.vdevs[0].option("timeout") == "500"
    assert parsed.vdevs[0].instance_name == "wdog0"
    assert parsed.vdevs[0].has_flag("verbose")
    assert str(cfg) == cfg.render()


def test_empty_config_renders_empty() -> None:
    assert QvmConfig().render() == ""


# (the arg-type ignores below: a value of the wrong type is the bad input those cases check)
@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: QvmConfig().vdev("trace", fail_config="a b"), ["vdev trace", "'fail_config'", "whitespace"]),
        (lambda: QvmConfig().vdev("trace", opt="x\ny"), ["'opt'", "whitespace"]),
        (lambda: QvmConfig().vdev("trace", opt="x#y"), ["'opt'", "comment"]),
        (lambda: QvmConfig().vdev("trace", opt=""), ["'opt'", "empty value"]),
        (lambda: QvmConfig().vdev("trace", opt=[]), ["'opt'", "empty list"]),
        (lambda: QvmConfig().vdev("trace", opt={"a": 1}), ["'opt'", "dict"]),  # type: ignore[arg-type]
        (lambda: QvmConfig().vdev("trace.so"), ["give NAME", "vdev('trace')"]),
        (lambda: QvmConfig().vdev("vdev-trace"), ["give NAME", "vdev('trace')"]),
        (lambda: QvmConfig().vdev("two words"), ["whitespace"]),
        (lambda: QvmConfig().vdev(object()), ["vdev NAME or a built vdev"]),  # type: ignore[arg-type]
        (lambda: QvmConfig().vdev("trace", **{"bad name": 1}), ["'bad name'", "bad option name"]),  # type: ignore[arg-type]
        (lambda: QvmConfig().vdev("trace", log="loud"), ["'log'", "'loud'", "verbose"]),  # type: ignore[arg-type]
        (lambda: QvmConfig().logger("info,chatty"), ["'filters'", "'chatty'", "allowed"]),
        (lambda: QvmConfig().logger("info", "file"), ["'dest'", "'file'", "slog"]),
        (lambda: QvmConfig().ram("lots"), ["ram", "'lots'", "16M"]),
        (lambda: QvmConfig().system("my vm"), ["system", "whitespace"]),
        (lambda: QvmConfig().set("fdt-dump-file", "a b"), ["set fdt-dump-file", "'value'"]),
        (lambda: QvmConfig().load(Path("/no/such/guest.txt")), ["'path'", "does not exist"]),
    ],
)
def test_bad_values_are_config_errors_naming_the_option(build: Callable[[], object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    for word in words:
        assert word in str(info.value), str(info.value)


def test_vdev_file_name_spelling_is_accepted_as_qvm_does() -> None:
    """``vdev vdev-NAME.so`` (a spelling of real configurations) loads vdev-NAME.so, as ``vdev NAME``."""
    cfg = QvmConfig().vdev("vdev-trace.so", loc=0x1000)
    assert cfg.render() == "vdev vdev-trace.so\n    loc 0x1000\n"
    assert cfg.vdev_names() == ["trace"]
    assert parse_qvmconf(cfg.render()).vdev_names() == ["trace"]


def test_raw_goes_where_called() -> None:
    cfg = QvmConfig().vdev("ser8250").raw("hostdev >-").ram("1M")
    assert cfg.render() == "ram 1M\nvdev ser8250\nhostdev >-\n"
    assert cfg.validate().vdevs[0].option("hostdev") == ">-"


def test_load_str_is_a_target_path_and_path_is_a_local_file(tmp_path: Path) -> None:
    guest = tmp_path / "g.txt"
    guest.write_text("kick\n")
    cfg = QvmConfig().load("/target/guest.bin", addr=0x1000).load(guest)
    key = str(guest.resolve())
    assert cfg.files() == {key: guest.resolve()}
    assert cfg.render(path_map={key: "/tmp/qnx-hil/t1/g.txt"}) == (
        "load 0x1000,/target/guest.bin\nload /tmp/qnx-hil/t1/g.txt\n"
    )
    moved = cfg.with_paths({key: "/remote/g.txt"})
    assert moved.render().endswith("load /remote/g.txt\n")
    assert cfg.render().endswith(f"load {key}\n")  # with_paths copies
    with pytest.raises(ConfigError, match="not a local file of this config"):
        cfg.render(path_map={"/target/guest.bin": "/x"})
    with pytest.raises(ConfigError, match="whitespace"):
        cfg.with_paths({key: "/with space/g.txt"})


FIXTURE = """\
# a fixture from fixtures/
system fx   # the VM's name
ram 16M
cpu
load 0x200,guest.txt
vdev trace
    fail_config yes   # refuse
vdev wdog timeout 500
"""


def write_fixture(tmp_path: Path, text: str = FIXTURE) -> Path:
    path = tmp_path / "bad.qvmconf"
    path.write_text(text)
    (tmp_path / "guest.txt").write_text("kick\n")
    return path


def test_from_file_keeps_text_and_appends(tmp_path: Path) -> None:
    path = write_fixture(tmp_path)
    cfg = QvmConfig.from_file(path).logger("info,debug").vdev("extra", x=1)
    text = cfg.render()
    assert text.startswith("system fx\n# a fixture from fixtures/\n")
    assert text.count("system") == 1
    # the VM-wide logger goes before the fixture's first context, contexts after its end
    assert text.index("logger info,debug stderr") < text.index("\ncpu\n")
    assert text.index("vdev wdog timeout 500") < text.index("vdev extra")
    assert "    fail_config yes   # refuse" in text
    parsed = parse_qvmconf(text, "rendered")
    assert parsed.system == "fx"
    assert parsed.vdev_names() == ["trace", "wdog", "extra"]
    assert cfg.vdev_names() == ["trace", "wdog", "extra"]
    assert cfg.source == str(path)


def test_from_file_system_override_stays_first(tmp_path: Path) -> None:
    cfg = QvmConfig.from_file(write_fixture(tmp_path)).system("other")
    text = cfg.render()
    assert text.startswith("system other\n")
    assert "fx" not in text
    assert parse_qvmconf(text).system == "other"


def test_builder_system_goes_before_a_fixture_without_one(tmp_path: Path) -> None:
    path = write_fixture(tmp_path, "vdev trace\n")
    assert QvmConfig.from_file(path).system("vm").render() == "system vm\nvdev trace\n"
    assert QvmConfig.from_file(path).render() == "vdev trace\n"


def test_from_file_inserts_vm_wide_options_mid_line(tmp_path: Path) -> None:
    path = write_fixture(tmp_path, "system s ram 8M vdev trace opt 1\n")
    text = QvmConfig.from_file(path).ram("16M").render()
    parsed = parse_qvmconf(text)
    assert [o.values for o in parsed.all("ram")] == [("8M",), ("16M",)]  # the builder's comes last: it wins
    assert parsed.vdevs[0].option("opt") == "1"
    assert parsed.vdevs[0].words[-1].text == "1"


def test_from_file_local_files_and_path_rewrite(tmp_path: Path) -> None:
    cfg = QvmConfig.from_file(write_fixture(tmp_path))
    assert cfg.files() == {"guest.txt": (tmp_path / "guest.txt").resolve()}
    text = cfg.render(path_map={"guest.txt": "/tmp/qnx-hil/t9/guest.txt"})
    assert "load 0x200,/tmp/qnx-hil/t9/guest.txt\n" in text
    assert "guest.txt\n" not in text.replace("/tmp/qnx-hil/t9/guest.txt\n", "")


def test_from_file_absolute_or_missing_loads_are_not_local(tmp_path: Path) -> None:
    path = write_fixture(tmp_path, "load /boot/guest.ifs\nload missing.txt\n")
    assert QvmConfig.from_file(path).files() == {}


def test_from_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read qvm config"):
        QvmConfig.from_file(tmp_path / "absent.qvmconf")
    bad = write_fixture(tmp_path, "ram 16M\n\nsystem late\n")
    with pytest.raises(ConfigError) as info:
        QvmConfig.from_file(bad)
    assert str(info.value).startswith(f"{bad}:3: key 'system': ")
    assert "must be the first option" in str(info.value) and "'ram' at line 1" in str(info.value)


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("vdev\n", "f.qvmconf:1", ["'vdev' needs a NAME", "end of file"]),
        ("vdev\ncpu\n", "f.qvmconf:2", ["'vdev' needs a NAME", "'cpu'"]),
        ("system a\nsystem b\n", "f.qvmconf:2", ["must be the first"]),
        ("vdev x\nsystem a\n", "f.qvmconf:2", ["must be the first", "'vdev'"]),
        ("# c\n\nram 16MiB\n", "f.qvmconf:3", ["'ram'", "bad size '16MiB'"]),
        ("logger info,loud stderr\n", "f.qvmconf:1", ["'loud'", "verbose"]),
        ("logger info\nvdev x\n", "f.qvmconf:2", ["'logger' needs", "'vdev'"]),
        ("logger info file\n", "f.qvmconf:1", ["destination 'file'"]),
        ("load\n", "f.qvmconf:1", ["'load' needs a path"]),
    ],
)
def test_parse_errors_name_file_and_line(text: str, where: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_qvmconf(text, "f.qvmconf")
    message = str(info.value)
    assert message.startswith(where + ": "), message
    for word in words:
        assert word in message, message


def test_parser_contexts_comments_and_line_breaks() -> None:
    parsed = parse_qvmconf(
        "system vm # name\n"
        "gic 3 mystery  \n"  # unknown VM-wide options are kept, not refused
        "ram\n  0x80000000,128M\n"
        "cpu sched 10 cpu\n"
        "vdev ser8250 hostdev >- loc 0x3f8 # console\n"
        "   intr 4 loc 0x2f8\n"
        "load guest.txt\n"  # a known VM-wide option closes the vdev context
        "vdev trace name t1 vdev trace name t2\n"
        "not_global 1\n",  # inside a context: one of its words
        "fx",
    )
    assert parsed.system == "vm"
    ram = parsed.option("ram")
    assert ram is not None and ram.values == ("0x80000000,128M",) and ram.line == 3
    assert [c.kind for c in parsed.contexts] == ["cpu", "cpu", "vdev", "vdev", "vdev"]
    assert parsed.contexts[0].option("sched") == "10"
    ser = parsed.vdevs[0]
    assert ser.option("loc") == "0x2f8"  # the last one wins
    assert ser.option("hostdev") == ">-"
    assert ser.line == 6
    assert [w.text for w in ser.words][-2:] == ["loc", "0x2f8"]
    load = parsed.option("load")
    assert load is not None and load.line == 8
    assert parsed.vdev_names() == ["ser8250", "trace"]
    assert [v.instance_name for v in parsed.vdevs] == ["ser8250", "t1", "t2"]
    assert [(o.name.text, o.values, o.known) for o in parsed.options][1] == ("gic", ("3", "mystery"), False)
    assert parsed.vdevs[-1].option("not_global") == "1"


# --- qvm options as QNX documents them (issue 8 items 4 and 5) ---


def test_loggers_add_up_and_warning_is_accepted() -> None:
    cfg = QvmConfig().logger("error", "stderr").logger("warning,info", "slog").vdev("trace", log=("warning", "stdout"))
    assert cfg.render() == ("logger error stderr\nlogger warning,info slog\nvdev trace\n    log warning stdout\n")
    parsed = cfg.validate()
    assert [o.values for o in parsed.all("logger")] == [("error", "stderr"), ("warning,info", "slog")]


def test_logger_without_destination_is_a_parse_error() -> None:
    with pytest.raises(
        ConfigError, match=r"f:1: key 'logger': 'logger' needs FILTER\[,FILTER...\] DEST, got end of file"
    ):
        parse_qvmconf("logger info\n", "f")


@pytest.mark.parametrize("kind,action", [("instruction", "fail"), ("reference", "ignore"), ("register", "abort")])
def test_unsupported_documented_types_and_actions(kind: str, action: str) -> None:
    cfg = QvmConfig().unsupported(kind, action)
    assert cfg.render() == f"unsupported {kind} {action}\n"
    assert option_values(cfg.validate(), "unsupported") == (kind, action)


@pytest.mark.parametrize(
    "build,words",
    [
        (lambda: QvmConfig().unsupported("memory", "fail"), ["'memory'", "instruction, reference, register"]),
        (lambda: QvmConfig().unsupported("reference", "crash"), ["'crash'", "abort, fail, ignore"]),
        (lambda: parse_qvmconf("unsupported reference\n", "f"), ["f:1", "needs a TYPE"]),
    ],
)
def test_unsupported_bad_words(build: Callable[[], object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    for word in words:
        assert word in str(info.value), str(info.value)


def test_set_documented_variables_are_typed() -> None:
    cfg = (
        QvmConfig()
        .set("exit-on-halt", False)
        .set("counter-offset", 0)
        .set("slog-buffer", 8192)
        .set("fdt-dump-file", "/tmp/fdt.dtb")
        .vdev("trace", variables={"debug": "off"})
    )
    assert cfg.render() == (
        "set exit-on-halt off\nset counter-offset 0\nset slog-buffer 0x2000\n"
        "set fdt-dump-file /tmp/fdt.dtb\nvdev trace\n    set debug off\n"
    )
    parsed = cfg.validate()
    assert parsed.vdevs[0].variables() == {"debug": "off"}  # `set` inside a context stays in it
    assert next(o.values for o in parsed.all("set")) == ("exit-on-halt", "off")


@pytest.mark.parametrize(
    "build,words",
    [
        (lambda: QvmConfig().set("NAME", "x"), ["unknown qvm configuration variable 'NAME'", "define()"]),
        (lambda: QvmConfig().set("exit-on-halt", "maybe"), ["bad boolean value 'maybe'", "on/off"]),
        (lambda: QvmConfig().set("counter-offset", "-1"), ["bad number value '-1'"]),
        (lambda: QvmConfig().set("debug", True), ["vdev variable", "vdev(..., variables"]),
        (lambda: parse_qvmconf("set debug off\n", "f"), ["f:1", "vdev variable"]),
        (lambda: parse_qvmconf("vdev x set exit-on-halt perhaps\n", "f"), ["f:1", "bad boolean"]),
    ],
)
def test_set_bad_variables_and_values(build: Callable[[], object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    for word in words:
        assert word in str(info.value), str(info.value)


def test_set_unknown_variable_in_a_file_is_kept() -> None:
    # a board's qvm or a vdev may define more variables than are documented
    assert option_values(parse_qvmconf("set my-vdev-knob 3\n"), "set") == ("my-vdev-knob", "3")
    assert QvmConfig().option("set", "my-vdev-knob", 3).render() == "set my-vdev-knob 3\n"


def test_dump_directory_and_pipe_forms() -> None:
    assert QvmConfig().dump("/tmp/dumps").render() == "dump /tmp/dumps\n"
    piped = QvmConfig().dump(pipe="gzip >/tmp/d.gz")
    assert piped.render() == 'dump "|gzip >/tmp/d.gz"\n'
    assert QvmConfig().dump("|gzip >/tmp/d.gz").render() == piped.render()
    assert option_values(piped.validate(), "dump") == ("|gzip >/tmp/d.gz",)
    bad_calls: tuple[Callable[[], object], ...] = (
        lambda: QvmConfig().dump(),
        lambda: QvmConfig().dump(pipe='echo "x"'),
        lambda: QvmConfig().dump("/a", pipe="cat"),
    )
    for bad in bad_calls:
        with pytest.raises(ConfigError, match="dump"):
            bad()


def test_quoted_words_in_files(tmp_path: Path) -> None:
    parsed = parse_qvmconf('dump "|gzip # not a comment >/x.gz" # a comment\nsystem_x 1\n')
    assert option_values(parsed, "dump") == ("|gzip # not a comment >/x.gz",)
    with pytest.raises(ConfigError, match=r"f:1: .*unterminated"):
        parse_qvmconf('dump "|gzip\n', "f")
    path = write_fixture(tmp_path, 'system "q vm"\nvdev trace\n')
    assert (
        QvmConfig.from_file(path).system("vm2").render() == "system vm2\nvdev trace\n"
    )  # the quoted word is cut whole


def test_pass_and_safety_are_documented_options() -> None:
    cfg = QvmConfig().safety("warn").pass_through("0x2000,0x1000,r=0x3000", intr="gic:40")
    parsed = cfg.validate()
    assert option_values(parsed, "safety") == ("warn",)
    assert parsed.contexts[0].kind == "pass" and parsed.contexts[0].option("intr") == "gic:40"
    with pytest.raises(ConfigError, match="'maybe'"):
        QvmConfig().safety("maybe")
    with pytest.raises(ConfigError, match=r"f:1: .*'maybe'.*none, warn, required"):
        parse_qvmconf("safety maybe\n", "f")


def test_macros_are_a_builder_feature_expanded_on_render(tmp_path: Path) -> None:
    path = write_fixture(tmp_path, "system ${SYS}\nvdev trace name ${NAME} loc ${BASE}\n")
    cfg = QvmConfig.from_file(path).define("SYS", "s1").define("NAME", "tr1").define("BASE", 0x3000)
    cfg.vdev("wdog", loc="${WBASE}").define("WBASE", "0x4000").raw("# $${LITERAL}")
    text = cfg.render()
    assert "${" not in text.replace("# ${LITERAL}", "")
    assert text.startswith("system s1\n") and "vdev trace name tr1 loc 12288" in text
    assert "loc 0x4000" in text and "# ${LITERAL}" in text
    assert cfg.validate().vdevs[0].instance_name == "tr1"
    assert cfg.macros == {"SYS": "s1", "NAME": "tr1", "BASE": "12288", "WBASE": "0x4000"}
    with pytest.raises(ConfigError) as info:
        QvmConfig().vdev("trace", loc="${NOPE}").render()
    assert "undefined macro ${NOPE}" in str(info.value) and ".define('NOPE', VALUE)" in str(info.value)
    with pytest.raises(ConfigError, match="bad macro name"):
        QvmConfig().define("1X", "y")


def test_vdev_log_needs_a_destination() -> None:
    with pytest.raises(ConfigError, match=r"needs a destination.*log=\('info', 'stderr'\)"):
        QvmConfig().vdev("trace", log="info")  # type: ignore[arg-type]  # a str, not (level, dest): the bad input


def test_production_file_as_base_with_the_vdev_under_test_replaced() -> None:
    board = REPO_FIXTURES / "qvmconf" / "arm-guest-8.0.qvmconf"
    cfg = QvmConfig.from_file(board).replace_vdev("wdt-sp805", "mywdog", loc=0x1C0F0000, timeout=300)
    text = cfg.render()
    assert "vdev wdt-sp805" not in text and "vdev mywdog\n    loc 0x1c0f0000\n    timeout 300\n" in text
    assert "vdev gic\n    version 2\n" in text and 'cmdline "console=ttyAMA0' in text  # the rest unchanged
    assert cfg.vdev_names() == ["gic", "pl011", "shmem", "virtio-net", "virtio-blk", "virtio-console", "mywdog"]
    parsed = cfg.validate()
    assert [c.module for c in parsed.vdevs][-1] == "mywdog" and len(parsed.vdevs) == 7


def test_without_vdev_by_instance_name_and_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "b.qvmconf"
    path.write_text("system b\nvdev trace name t1\nvdev trace name t2\n")
    assert QvmConfig.from_file(path).without_vdev("t1").render() == "system b\n\nvdev trace name t2\n"
    with pytest.raises(ConfigError, match=r"has no vdev 'nope' to leave out \(it has: t1, t2\)"):
        QvmConfig.from_file(path).without_vdev("nope")
    with pytest.raises(ConfigError, match=r"needs a fixture"):
        QvmConfig("x").without_vdev("t1")
