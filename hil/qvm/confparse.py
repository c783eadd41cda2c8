"""The ``.qvmconf`` parser: ``parse_qvmconf`` splits a config into VM-wide options and contexts, checked.

QNX's "VM configuration syntax" (and ``hil/qvmsim/BEHAVIOUR.md``): plain text,
``#`` comments, line breaks carry no meaning; ``vdev``, ``cpu`` and ``pass``
open a context that takes the options after them; ``system NAME``, if
present, comes first; a word in double quotes may hold spaces (``dump
"|gzip >/tmp/d.gz"``).  The values it knows are checked against
``hil.qvm.confvocab``; unknown options are kept.  No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hil.core.errors import ConfigError
from hil.qvm.confvocab import (
    CONTEXT_OPENERS,
    GLOBAL_OPTIONS,
    RAM_SIZE,
    SAFETY_VALUES,
    SET_VARIABLES,
    check_logger,
    check_set_value,
    check_unsupported,
)

#: VM-wide words that a vdev may also have as options of its own (qvmsim gives the vdev's own option
#: precedence; this parser cannot know the vdev's options): inside a context they stay its words.
_CONTEXT_MAY_OWN = frozenset({"cmdline", "initrd", "data", "debug"})
_KEYWORDS = frozenset(CONTEXT_OPENERS) | (frozenset(GLOBAL_OPTIONS) - _CONTEXT_MAY_OWN)


@dataclass(frozen=True)
class Token:
    """A word of a .qvmconf file and where it is (1-based line, 0-based column).

    A double-quoted word's ``text`` is without its quotes; ``end`` is the column
    after the word as written (quotes included).
    """

    text: str
    line: int
    col: int
    end: int = -1

    @property
    def stop(self) -> int:
        return self.end if self.end >= 0 else self.col + len(self.text)


@dataclass(frozen=True)
class ConfOption:
    """A VM-wide option: its name token and arguments; ``known`` if the parser knows its arity."""

    name: Token
    args: tuple[Token, ...]
    known: bool = True

    @property
    def line(self) -> int:
        return self.name.line

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(a.text for a in self.args)


@dataclass(frozen=True)
class ConfContext:
    """A ``vdev NAME`` or ``cpu`` context and the words that follow it (its options)."""

    kind: str
    opener: Token
    arg: Token | None
    words: tuple[Token, ...]

    @property
    def line(self) -> int:
        return self.opener.line

    @property
    def module(self) -> str | None:
        """For a vdev: NAME, as in ``vdev-NAME.so``; the word may be ``vdev-NAME.so`` or a path to it
        (as qvmsim reads it: ``hil/qvmsim/BEHAVIOUR.md``)."""
        return vdev_module(self.arg.text) if self.arg else None

    def option(self, name: str) -> str | None:
        """The word after the last ``name`` in this context (the last one wins), or None."""
        value: str | None = None
        for here, after in zip(self.words, self.words[1:]):
            if here.text == name:
                value = after.text
        return value

    def has_flag(self, name: str) -> bool:
        """True if ``name`` appears as a word of this context."""
        return any(w.text == name for w in self.words)

    @property
    def instance_name(self) -> str | None:
        """The ``name`` option, else the module name."""
        return self.option("name") or self.module

    def variables(self) -> dict[str, str]:
        """``set VAR VALUE`` lines inside this context (vdev-context variables), last one wins."""
        found: dict[str, str] = {}
        for i, word in enumerate(self.words[:-2]):
            if word.text == "set":
                found[self.words[i + 1].text] = self.words[i + 2].text
        return found


@dataclass(frozen=True)
class ParsedConf:
    """A .qvmconf split into VM-wide options and contexts, comments dropped."""

    source: str
    options: tuple[ConfOption, ...]
    contexts: tuple[ConfContext, ...]

    @property
    def system(self) -> str | None:
        opt = self.option("system")
        return opt.values[0] if opt else None

    def option(self, name: str) -> ConfOption | None:
        """The last VM-wide option called ``name`` (the last one wins), or None."""
        found = [o for o in self.options if o.name.text == name]
        return found[-1] if found else None

    def all(self, name: str) -> list[ConfOption]:
        """Every VM-wide option called ``name`` (``load`` and ``ram`` may repeat)."""
        return [o for o in self.options if o.name.text == name]

    @property
    def vdevs(self) -> list[ConfContext]:
        return [c for c in self.contexts if c.kind == "vdev"]

    def vdev_names(self) -> list[str]:
        """The vdev modules this config loads (NAME of ``vdev-NAME.so``), first use order, once each."""
        return list(dict.fromkeys(c.module for c in self.vdevs if c.module))

    @property
    def first_context(self) -> Token | None:
        return self.contexts[0].opener if self.contexts else None


def vdev_module(word: str) -> str:
    """NAME of a ``vdev`` word: ``NAME``, ``vdev-NAME.so`` or a path to it."""
    base = word.rsplit("/", 1)[-1]
    if base.startswith("vdev-") and base.endswith(".so") and len(base) > 8:
        return base[5:-3]
    return base


_WORD = re.compile(r'"(?P<q>[^"]*)"|(?P<w>[^\s#"]+)|(?P<hash>#[^\n]*)|(?P<bad>")')


def _tokenize(text: str, source: str = "<qvmconf>") -> Iterator[Token]:
    """The words of ``text``; a quoted word may go on over several lines (real configurations write a
    long ``cmdline "..."`` so): each line break in it is one space, as qvmsim reads it."""
    lineno, line_start = 1, 0
    for m in _WORD.finditer(text):
        newlines = text.count("\n", line_start, m.start())
        if newlines:
            lineno += newlines
            line_start = text.rfind("\n", 0, m.start()) + 1
        if m["hash"] is not None:
            continue
        if m["bad"] is not None:
            line = text[line_start:].split("\n", 1)[0]
            raise ConfigError(
                "unterminated '\"': no closing '\"' before the end of the file", f"{source}:{lineno}", line.strip()
            )
        word = re.sub(r"\r?\n", " ", m["q"]) if m["q"] is not None else m["w"]
        yield Token(word, lineno, m.start() - line_start, m.end() - line_start)


def parse_qvmconf(text: str, source: str = "<qvmconf>") -> ParsedConf:
    """Split ``text`` into VM-wide options and contexts, checking what the parser knows.

    Errors (``ConfigError``, naming ``source:line``): ``system`` not first or
    repeated, a known option missing its argument, a bad ``ram`` size, a bad
    ``logger`` filter or destination.  Unknown options are kept, not refused
    (real qvm has more than this parser knows).  A known VM-wide option found
    inside a context is read as closing it [inferred: qvm's own rule is not
    public in detail].
    """
    nul = text.find("\0")
    if nul >= 0:  # would vanish silently on the way to qvm
        line = text.count("\n", 0, nul) + 1
        col = nul - text.rfind("\n", 0, nul)
        raise ConfigError(f"NUL byte at line {line}, column {col}; a .qvmconf is text: remove it", f"{source}:{line}")
    tokens = list(_tokenize(text, source))
    options: list[ConfOption] = []
    contexts: list[ConfContext] = []
    current: tuple[str, Token, Token | None, list[Token]] | None = None
    seen_any = False

    def where(tok: Token) -> str:
        return f"{source}:{tok.line}"

    def close() -> None:
        nonlocal current
        if current is not None:
            kind, opener, arg, words = current
            contexts.append(ConfContext(kind, opener, arg, tuple(words)))
            current = None

    def args_of(i: int, count: int, what: str) -> tuple[Token, ...]:
        tok = tokens[i]
        if count < 0:
            j = i + 1
            while j < len(tokens) and tokens[j].text not in _KEYWORDS:
                j += 1
            return tuple(tokens[i + 1 : j])
        got = tuple(tokens[i + 1 : i + 1 + count])
        for arg in got:
            own_word = tok.text in ("initrd", "data") and arg is got[0] and arg.text == "load"  # `initrd load PATH`
            if arg.text in _KEYWORDS and tok.text != "set" and not own_word:
                raise ConfigError(f"'{tok.text}' needs {what}, got the option '{arg.text}'", where(arg), tok.text)
        if len(got) < count:
            raise ConfigError(f"'{tok.text}' needs {what}, got end of file", where(tok), tok.text)
        return got

    i = 0
    while i < len(tokens):
        tok = tokens[i]
        word = tok.text
        if word in CONTEXT_OPENERS:
            close()
            count = CONTEXT_OPENERS[word]
            got = args_of(i, count, "a NAME (vdev-NAME.so)") if count else ()
            current = (word, tok, got[0] if got else None, [])
            i += 1 + count
            seen_any = True
            continue
        if word == "set" and current is not None:
            got = args_of(i, 2, _ARG_HELP["set"])
            _check_option(word, got, where(tok), current[0])
            current[3].extend((tok, *got))
            i += 3
            continue
        if word in GLOBAL_OPTIONS and not (current is not None and word in _CONTEXT_MAY_OWN):
            close()
            if word == "system" and seen_any:
                first = options[0].name if options else contexts[0].opener
                raise ConfigError(
                    f"'system' must be the first option (found after '{first.text}' at line {first.line})",
                    where(tok),
                    "system",
                )
            if word in ("initrd", "data") and (i + 1 == len(tokens) or tokens[i + 1].text != "load"):
                after = repr(tokens[i + 1].text) if i + 1 < len(tokens) else "the end of the file"
                raise ConfigError(f"bad value {after}; expected '{word} load [ADDR,]PATH'", where(tok), word)
            got = args_of(i, GLOBAL_OPTIONS[word], _ARG_HELP.get(word, "a value"))
            _check_option(word, got, where(tok))
            options.append(ConfOption(tok, got))
            i += 1 + len(got)
            seen_any = True
            continue
        if current is not None:
            current[3].append(tok)
            i += 1
            continue
        got = args_of(i, -1, "")
        options.append(ConfOption(tok, got, known=False))
        i += 1 + len(got)
        seen_any = True
    close()
    return ParsedConf(source, tuple(options), tuple(contexts))


_ARG_HELP = {
    "system": "a NAME",
    "cmdline": 'the guest\'s command line ("...")',
    "initrd": "'load [ADDR,]PATH'",
    "data": "'load [ADDR,]PATH'",
    "ram": "a size ([start,]len, e.g. 16M)",
    "rom": "a size or path",
    "load": "a path ([addr,]path)",
    "dump": "a directory",
    "logger": "FILTER[,FILTER...] DEST",
    "set": "VAR VALUE",
    "unsupported": "a TYPE (instruction, reference, register) and an ACTION (abort, fail, ignore)",
    "safety": "none, warn or required",
}


def _check_option(word: str, args: tuple[Token, ...], where: str, context: str | None = None) -> None:
    if any("${" in a.text for a in args):
        return  # a builder macro: checked after render() expands it
    if word == "ram" and not RAM_SIZE.match(args[0].text):
        raise ConfigError(
            f"bad size {args[0].text!r}; expected [start,]len with len like 16M, 0x1000000 or 1G", where, word
        )
    if word == "logger":
        check_logger(args[0].text, args[1].text, where, word)
    if word == "unsupported":
        check_unsupported(args[0].text, args[1].text, where)
    if word == "safety" and args[0].text not in SAFETY_VALUES:
        raise ConfigError(f"bad value {args[0].text!r}; allowed: {', '.join(SAFETY_VALUES)}", where, word)
    if word == "set" and args[0].text in SET_VARIABLES:
        check_set_value(SET_VARIABLES[args[0].text], args[1].text, where, context)


__all__ = ["ConfContext", "ConfOption", "ParsedConf", "Token", "parse_qvmconf", "vdev_module"]
