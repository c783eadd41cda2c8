"""One qvm vocabulary (issue 26): ``qvm --vocabulary`` lists the words qvmsim's parser runs on, and the
Python side (``hil.qvm.confvocab``) must list the same ones, so the two cannot drift apart."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hil.qvm.config import QvmConfig
from hil.qvm.confparse import parse_qvmconf
from hil.qvm.confvocab import (
    BUILTIN_VDEVS,
    CONTEXT_OPENERS,
    CPU_OPTIONS,
    FILTER_ALIASES,
    GLOBAL_OPTIONS,
    LOGGER_DESTS,
    LOGGER_FILTERS,
    PASS_OPTIONS,
    SAFETY_VALUES,
    SET_VARIABLES,
    UNSUPPORTED_ACTIONS,
    UNSUPPORTED_TYPES,
    VDEV_COMMON_ARITY,
    BuiltinVdev,
)
from tests.support.qvmsim import RunQvm

BEHAVIOUR_MD = Path(__file__).resolve().parents[2] / "hil" / "qvmsim" / "BEHAVIOUR.md"


@dataclass
class Vocabulary:
    """``qvm --vocabulary`` read back: each KIND's rows (the words after KIND), in qvmsim's order."""

    rows: dict[str, list[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(list))

    def arity(self, kind: str) -> dict[str, int]:
        return {word: int(n) for word, n in self.rows[kind]}

    def pairs(self, kind: str) -> dict[str, str]:
        """KIND's two-word rows as {first: second} (a row of another length is a ValueError)."""
        return {word: value for word, value in self.rows[kind]}

    def words(self, kind: str) -> list[str]:
        return [row[0] for row in self.rows[kind]]


def _vocabulary(qvm_bin: Path) -> Vocabulary:
    out = subprocess.run([str(qvm_bin), "--vocabulary"], capture_output=True, text=True, timeout=30, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "qvmsim-vocabulary 1", out.stdout
    vocab = Vocabulary()
    for line in lines[1:]:
        assert re.fullmatch(r"[a-z-]+( \S+)+", line), f"not 'KIND WORD [FIELD...]': {line!r}"
        kind, *rest = line.split(" ")
        vocab.rows[kind].append(tuple(rest))
    return vocab


@pytest.fixture(scope="module")
def vocab(qvm_bin: Path) -> Vocabulary:
    return _vocabulary(qvm_bin)


def test_listing_is_stable_and_machine_readable(qvm_bin: Path, vocab: Vocabulary) -> None:
    assert _vocabulary(qvm_bin) == vocab
    assert set(vocab.rows) == {
        "global",
        "context",
        "cpu",
        "pass",
        "vdev-common",
        "set",
        "logger-filter",
        "logger-filter-alias",
        "logger-dest",
        "unsupported-type",
        "unsupported-action",
        "safety",
        "builtin",
        "builtin-option",
        "builtin-flag",
        "builtin-no-common",
    }
    # each word once per kind (a repeat in a table would be a dead entry)
    for kind, rows in vocab.rows.items():
        keys = [row[:2] if kind.startswith("builtin-") else row[:1] for row in rows]
        assert len(keys) == len(set(keys)), kind


def test_vm_wide_options_and_contexts_agree(vocab: Vocabulary) -> None:
    assert vocab.arity("global") == dict(GLOBAL_OPTIONS)
    assert vocab.arity("context") == dict(CONTEXT_OPENERS)
    assert vocab.arity("cpu") == dict(CPU_OPTIONS)
    assert vocab.arity("pass") == dict(PASS_OPTIONS)
    assert vocab.arity("vdev-common") == dict(VDEV_COMMON_ARITY)


def test_set_variables_agree(vocab: Vocabulary) -> None:
    listed = {name: (vtype, context) for name, vtype, context in vocab.rows["set"]}
    assert listed == {v.name: (v.type, v.context) for v in SET_VARIABLES.values()}


def test_value_words_agree(vocab: Vocabulary) -> None:
    assert vocab.words("logger-filter") == list(LOGGER_FILTERS)
    assert vocab.pairs("logger-filter-alias") == dict(FILTER_ALIASES)
    assert set(vocab.words("logger-dest")) == set(LOGGER_DESTS)
    assert vocab.pairs("unsupported-type") == dict(UNSUPPORTED_TYPES)
    assert vocab.words("unsupported-action") == list(UNSUPPORTED_ACTIONS)
    assert vocab.words("safety") == list(SAFETY_VALUES)


def _listed_builtins(vocab: Vocabulary) -> dict[str, BuiltinVdev]:
    found: dict[str, BuiltinVdev] = {}
    for name, fate in vocab.rows["builtin"]:
        assert fate in ("modelled", "accepted"), name
        found[name] = BuiltinVdev(
            name,
            fate == "modelled",
            tuple(o for n, o in vocab.rows["builtin-option"] if n == name),
            tuple(o for n, o in vocab.rows["builtin-flag"] if n == name),
            (name, "intr") in vocab.rows["builtin-no-common"],
        )
    assert {n for n, _ in vocab.rows["builtin-no-common"]} <= set(found)
    return found


def test_builtin_vdevs_agree(vocab: Vocabulary) -> None:
    listed = _listed_builtins(vocab)
    assert list(listed) == list(BUILTIN_VDEVS)
    for name, builtin in BUILTIN_VDEVS.items():
        mine = listed[name]
        assert (mine.modelled, sorted(mine.options), sorted(mine.flags), mine.own_intr) == (
            builtin.modelled,
            sorted(builtin.options),
            sorted(builtin.flags),
            builtin.own_intr,
        ), name


def test_builtin_vdevs_documented() -> None:
    """BEHAVIOUR.md's "Built-in vdevs" table names every built-in (and nothing else)."""
    text = BEHAVIOUR_MD.read_text()
    section = text.split("## Built-in vdevs", 1)[1].split("\n## ", 1)[0]
    documented: set[str] = set()
    for row in re.findall(r"^\| (`[^|]+)\|", section, re.MULTILINE):
        documented.update(re.findall(r"`([^`]+)`", row))
    assert documented == set(BUILTIN_VDEVS)


@pytest.mark.parametrize("name", sorted(BUILTIN_VDEVS))
def test_listing_matches_what_the_vdev_takes(run_qvm: RunQvm, vocab: Vocabulary, name: str) -> None:
    """`vdev NAME ?` (the factory's own option list) says what the listing says for each built-in."""
    run = run_qvm(f"vdev {name} ?\n")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"vdev {name} options"
    builtin = _listed_builtins(vocab)[name]
    expected = [f"    option {o}" for o in builtin.options] + [f"    flag {f}" for f in builtin.flags]
    assert sorted(line for line in lines[1:] if not line.startswith("    common")) == sorted(expected)
    assert ("    common intr" in lines) is not builtin.own_intr


def test_every_listed_word_is_parsed_and_no_other(run_qvm: RunQvm, vocab: Vocabulary) -> None:
    """The listing is the grammar: each listed VM-wide word is taken by the parser (``qvm --check`` gives its
    line), a word the listing does not have is refused."""
    args = {
        "system": "vm1",
        "ram": "16M",
        "rom": "64K",
        "logger": "error stderr",
        "dump": "/tmp",
        "unsupported": "reference ignore",
        "set": "exit-on-halt on",
        "safety": "none",
        "cmdline": '"console=ttyS0"',
        "initrd": "load /tmp/initrd",
        "data": "load /tmp/data",
    }
    words = [w for w, _ in vocab.rows["global"]] + [w for w, _ in vocab.rows["context"] if w != "vdev"]
    conf = "".join(f"{w} {args.get(w, '')}\n" for w in words if w != "load")
    run = run_qvm(conf, "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    fates = re.findall(r"^check: \S+:(\d+): [^:]+: (\w+)", run.stdout, re.MULTILINE)
    assert [w for _, w in fates] == [w for w in words if w != "load"]
    refused = run_qvm("ram 16M\nnot-a-qvm-word 1\n")
    assert refused.returncode == 65
    assert "unknown option 'not-a-qvm-word'" in refused.stderr


def test_everything_the_builder_writes_qvmsim_takes(run_qvm: RunQvm, vocab: Vocabulary, tmp_path: Path) -> None:
    """Each word ``QvmConfig`` writes (every builder method) is in qvmsim's listing, in the right context,
    and qvmsim accepts the whole configuration (``qvm --check``: every VM-wide line, then ``check: ok``)."""
    conf = (
        QvmConfig()
        .system("vm1")
        .ram("16M")
        .logger("error,warn", "stderr")
        .dump(str(tmp_path))
        .unsupported("reference", "ignore")
        .safety("none")
        .set("exit-on-halt", True)
        .cpu(sched=10)
        .vdev("wdt-sp805", loc=0x1C0F0000, intr="gic:40", name="wd", log=("info", "stderr"), action="terminate")
        .vdev("wdt-ib700", variables={"debug": False})
        .pass_through("mem:0x10000000,0x1000,rw=0x10000000", intr="gic:50")
        .dryrun()
    )
    text = conf.render()
    parsed = parse_qvmconf(text)
    top = vocab.arity("global") | vocab.arity("context")
    assert [o.name.text for o in parsed.options if o.name.text not in top] == []
    for ctx in parsed.contexts:
        takes = {"cpu": vocab.arity("cpu"), "pass": vocab.arity("pass")}.get(ctx.kind, {})
        if ctx.kind == "vdev":
            takes = vocab.arity("vdev-common") | {"set": 2}
            takes |= {o: 1 for n, o in vocab.rows["builtin-option"] if n == ctx.module}
            takes |= {f: 0 for n, f in vocab.rows["builtin-flag"] if n == ctx.module}
        words = [w.text for w in ctx.words]
        while words:  # each word the builder wrote is one qvmsim lists for this context, with its arguments
            assert words[0] in takes, (ctx.kind, ctx.module, words)
            words = words[1 + takes[words[0]] :]
    run = run_qvm(text, "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1] == "check: ok"
