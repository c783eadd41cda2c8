"""``.qvmconf`` text: a builder (``QvmConfig``) and a light parser (``parse_qvmconf``).

QNX's "VM configuration syntax" (and ``hil/qvmsim/BEHAVIOUR.md``): plain text,
``#`` comments, line breaks carry no meaning; ``vdev``, ``cpu`` and ``pass``
open a context that takes the options after them; ``system NAME``, if
present, comes first; a word in double quotes may hold spaces (``dump
"|gzip >/tmp/d.gz"``).

Text macros are a *builder* feature, not qvm syntax: ``QvmConfig.define(NAME,
value)`` and ``${NAME}`` anywhere in the config (a fixture's text included) are
expanded by ``render()``; qvm never sees a ``${``.  ``$${`` renders a literal
``${``.  ``set VAR VALUE`` is qvm's own option: a typed configuration variable
(``SET_VARIABLES``), nothing to do with macros.

``QvmConfig`` renders VM-wide options (system, ram, logger, load, ...) before
any context, so a VM-wide option is never swallowed by the last ``vdev``; each
context's options are indented under it.  A fixture read with
``QvmConfig.from_file`` keeps its text: builder VM-wide options are inserted
just before its first context, builder contexts are appended after it.

Local files a config references (a guest script given to ``load`` as a
``Path``, or a relative ``load`` path in a fixture) are listed by ``files()``
so a deployer can copy them to the target and rewrite their paths with
``render(path_map=...)`` or ``with_paths(...)``.  No I/O here except reading
``.qvmconf`` files.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from hil.core.errors import ConfigError

#: The logger filter *set* and its destinations [doc].  The logger page spells
#: the warning filter ``warn``, the "Common vdev options" page (``log``) spells it
#: ``warning``: both are accepted everywhere and rendered as written.
LOGGER_FILTERS: tuple[str, ...] = ("fatal", "internal", "error", "warn", "info", "debug", "verbose")
FILTER_ALIASES: Mapping[str, str] = {"warning": "warn"}
LOGGER_DESTS: tuple[str, ...] = ("stdout", "stderr", "slog", "none")

#: ``unsupported TYPE ACTION`` [doc 8.0 vm/unsupported.html] and the documented defaults.
UNSUPPORTED_TYPES: Mapping[str, str] = {"instruction": "fail", "reference": "ignore", "register": "fail"}
UNSUPPORTED_ACTIONS: tuple[str, ...] = ("abort", "fail", "ignore")
#: ``safety none|warn|required`` [doc 7.1 vm/safety.html].
SAFETY_VALUES: tuple[str, ...] = ("none", "warn", "required")


@dataclass(frozen=True)
class SetVariable:
    """A documented qvm configuration variable (``set VAR VALUE``): its type, implicit context, source."""

    name: str
    type: str  # address, boolean, tristate, number, string
    context: str  # global or vdev
    source: str  # the QNX page that documents it


_V80 = "8.0 vm/variables.html"
_S80 = "8.0 vm/set.html (qvm set ? sample)"
_V71 = "7.1 vm/variables.html"
#: The variables qvmsim knows (and ``QvmConfig.set`` accepts); a real qvm may know
#: more (platform- or vdev-defined ones: use ``option("set", VAR, VALUE)`` for those).
SET_VARIABLES: Mapping[str, SetVariable] = {
    v.name: v
    for v in (
        SetVariable("counter-offset", "number", "global", _V80),
        SetVariable("debug", "boolean", "vdev", _V80),
        SetVariable("exit-on-halt", "boolean", "global", _V80),
        SetVariable("fdt-dump-file", "string", "global", _V80),
        SetVariable("legacy-free", "boolean", "global", _S80),
        SetVariable("message-block-timeout", "number", "global", _S80),
        SetVariable("posted-interrupts", "boolean", "global", _S80),
        SetVariable("virtual-interrupts", "boolean", "global", _S80),
        SetVariable("grow-heap", "address", "global", _V71),
        SetVariable("slog-buffer", "address", "global", _V71),
        SetVariable("vdev-message-block-timeout", "number", "vdev", _V71),
        SetVariable("gic-hwassist", "boolean", "global", _V71 + " (ARM)"),
        SetVariable("host-paddr-gicd", "address", "global", _V71 + " (ARM)"),
        SetVariable("host-paddr-gich", "address", "global", _V71 + " (ARM)"),
    )
}
_BOOLEAN = ("on", "off", "1", "0", "yes", "no", "true", "false")
_TRISTATE = ("on", "off", "auto")

#: Context-opening options -> how many arguments they take (vdev NAME, cpu, pass).
CONTEXT_OPENERS: Mapping[str, int] = {"vdev": 1, "cpu": 0, "pass": 0}
#: VM-wide options the parser knows -> argument count (-1: until the next known option).
GLOBAL_OPTIONS: Mapping[str, int] = {
    "system": 1,
    "ram": 1,
    "rom": 1,
    "load": 1,
    "dump": 1,
    "logger": 2,
    "set": 2,
    "dryrun": 0,
    "unsupported": 2,
    "safety": 1,
}
#: Options qvm handles for every vdev; they never reach the vdev [doc].
VDEV_COMMON_OPTIONS: tuple[str, ...] = ("loc", "intr", "name", "log")

_KEYWORDS = frozenset(CONTEXT_OPENERS) | frozenset(GLOBAL_OPTIONS)
_OPTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_SIZE = r"(?:0x[0-9a-f]+|0d\d+|\d+)(?:[kmgt]b?)?"
_RAM = re.compile(rf"^(?:{_SIZE},)?{_SIZE}$", re.IGNORECASE)
_ADDR = re.compile(r"^(?:0x[0-9a-f]+|\d+)$", re.IGNORECASE)
_CUT = "\x00"  # marks where a fixture's text is cut to insert VM-wide options
_MACRO = re.compile(r"\$(\$?)\{([^}]*)\}")
_MACRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Value = str | int | float | bool | Path | Sequence[str | int | float | Path] | None


class _Named(Protocol):
    """Anything with a ``name``: a built vdev (``vdev-NAME.so``) passes as NAME."""

    @property
    def name(self) -> str: ...


# --- parsing -----------------------------------------------------------------


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
        """For a vdev: NAME, as in ``vdev-NAME.so``."""
        return self.arg.text if self.arg else None

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


_WORD = re.compile(r'"(?P<q>[^"]*)"|(?P<w>[^\s#"]+)|(?P<hash>#)|(?P<bad>")')


def _tokenize(text: str, source: str = "<qvmconf>") -> Iterator[Token]:
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in _WORD.finditer(line):
            if m["hash"] is not None:
                break
            if m["bad"] is not None:
                raise ConfigError(
                    "unterminated '\"': a quoted word ends on its own line", f"{source}:{lineno}", line.strip()
                )
            word = m["q"] if m["q"] is not None else m["w"]
            yield Token(word, lineno, m.start(), m.end())


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
            if arg.text in _KEYWORDS and tok.text != "set":
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
        if word in GLOBAL_OPTIONS:
            close()
            if word == "system" and seen_any:
                first = options[0].name if options else contexts[0].opener
                raise ConfigError(
                    f"'system' must be the first option (found after '{first.text}' at line {first.line})",
                    where(tok),
                    "system",
                )
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
    if word == "ram" and not _RAM.match(args[0].text):
        raise ConfigError(
            f"bad size {args[0].text!r}; expected [start,]len with len like 16M, 0x1000000 or 1G", where, word
        )
    if word == "logger":
        _check_logger(args[0].text, args[1].text, where, word)
    if word == "unsupported":
        _check_unsupported(args[0].text, args[1].text, where)
    if word == "safety" and args[0].text not in SAFETY_VALUES:
        raise ConfigError(f"bad value {args[0].text!r}; allowed: {', '.join(SAFETY_VALUES)}", where, word)
    if word == "set" and args[0].text in SET_VARIABLES:
        _check_set_value(SET_VARIABLES[args[0].text], args[1].text, where, context)


def _check_unsupported(kind: str, action: str, where: str) -> None:
    if kind not in UNSUPPORTED_TYPES:
        raise ConfigError(f"bad type {kind!r}; allowed: {', '.join(UNSUPPORTED_TYPES)}", where, "unsupported")
    if action not in UNSUPPORTED_ACTIONS:
        raise ConfigError(f"bad action {action!r}; allowed: {', '.join(UNSUPPORTED_ACTIONS)}", where, "unsupported")


def _check_set_value(var: SetVariable, value: str, where: str, context: str | None) -> None:
    """A documented variable's value checked against its type [doc 8.0 vm/set.html]."""
    key = f"set {var.name}"
    if var.context == "vdev" and context != "vdev":
        raise ConfigError(
            f"{var.name!r} is a vdev variable: set it inside a vdev context "
            "(after 'vdev NAME'; QvmConfig: vdev(..., variables={...}))",
            where,
            key,
        )
    ok = {
        "boolean": value.lower() in _BOOLEAN,
        "tristate": value.lower() in _TRISTATE,
        "number": re.fullmatch(r"0x[0-9a-fA-F]{1,16}|\d+", value) is not None and int(value, 0) < 1 << 64,
        "address": re.fullmatch(_SIZE, value, re.IGNORECASE) is not None,
        "string": value != "",
    }[var.type]
    if not ok:
        allowed = {
            "boolean": "/".join(_BOOLEAN),
            "tristate": "on, off or auto",
            "number": "a non-negative 64-bit integer, decimal or 0x hex",
            "address": "a size or address like 4K, 0x1000, 0d16384",
            "string": "a word",
        }[var.type]
        raise ConfigError(f"bad {var.type} value {value!r}; expected {allowed}", where, key)


def _require_filters(parts: list[str], where: str, key: str) -> None:
    """The one check of a logger filter set (config files and the builder alike)."""
    bad = [p for p in parts if p not in LOGGER_FILTERS and p not in FILTER_ALIASES]
    if bad or not parts:
        raise ConfigError(
            f"unknown log filter(s) {', '.join(map(repr, bad)) or '(none given)'}; "
            f"allowed, as a comma-separated set: {', '.join(LOGGER_FILTERS)}",
            where,
            key,
        )


def _check_logger(filters: str, dest: str, where: str, key: str) -> None:
    _require_filters(filters.split(",") if filters else [], where, key)
    _dest(dest, where, key)


def _split_addr(text: str) -> tuple[str, str]:
    """``0x1000,guest.txt`` -> (``0x1000,``, ``guest.txt``); no address -> (``""``, text)."""
    head, sep, tail = text.partition(",")
    if sep and _ADDR.match(head):
        return head + sep, tail
    return "", text


# --- building ----------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One rendered line: words, or ``raw`` text; ``file_key`` marks a rewritable path (last word)."""

    words: tuple[str, ...]
    indent: bool = False
    raw: bool = False
    file_key: str | None = None
    file_prefix: str = ""

    def render(self, path_map: Mapping[str, str]) -> str:
        if self.raw:
            return self.words[0]
        words = list(self.words)
        if self.file_key is not None and self.file_key in path_map:
            words[-1] = self.file_prefix + path_map[self.file_key]
        return ("    " if self.indent else "") + " ".join(words)


@dataclass
class _Base:
    """A fixture's text, parsed, and the folder its relative paths are read from."""

    text: str
    parsed: ParsedConf
    directory: Path


def _check_token(value: str, where: str, key: str) -> str:
    if value == "":
        raise ConfigError("empty value; give a word, or True for a bare flag", where, key)
    if any(c.isspace() for c in value):
        raise ConfigError(
            f"value {value!r} contains whitespace; .qvmconf values are single words (pass a list for several words)",
            where,
            key,
        )
    if "#" in value:
        raise ConfigError(f"value {value!r} contains '#', which starts a comment in .qvmconf", where, key)
    if '"' in value:
        raise ConfigError(f"value {value!r} contains '\"', which quotes a word in .qvmconf", where, key)
    return value


def _words(value: Value, where: str, key: str, hex_ints: bool = False) -> tuple[str, ...]:
    """A Python value -> .qvmconf words (True: none, i.e. a bare flag)."""
    if value is True:
        return ()
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"unexpected value {value!r}", where, key)
    if isinstance(value, int):
        return (hex(value) if hex_ints else str(value),)
    if isinstance(value, float):
        return (repr(value),)
    if isinstance(value, (str, Path)):
        return (_check_token(str(value), where, key),)
    if isinstance(value, Sequence):
        out: list[str] = []
        for item in value:
            if isinstance(item, (bool, list, tuple)) or item is None:
                raise ConfigError(f"unexpected list item {item!r}; items must be words or numbers", where, key)
            out.extend(_words(item, where, key, hex_ints))
        if not out:
            raise ConfigError("empty list; give at least one word, or True for a bare flag", where, key)
        return tuple(out)
    raise ConfigError(f"unsupported value type {type(value).__name__} ({value!r})", where, key)


def _check_name(name: str, where: str, key: str) -> str:
    if not _OPTION_NAME.match(name):
        raise ConfigError(
            f"bad option name {name!r}; use letters, digits, '_', '-', '.' (starting with a letter or '_')",
            where,
            key,
        )
    return name


def _filters(filters: str | Iterable[str], where: str, key: str) -> str:
    """A filter set as written (``warning`` stays ``warning``: the vdev ``log`` page spells it so)."""
    parts = filters.split(",") if isinstance(filters, str) else list(filters)
    parts = [p.strip().lower() for p in parts]
    _require_filters(parts, where, key)
    return ",".join(dict.fromkeys(parts))


def _dest(dest: str, where: str, key: str) -> str:
    if dest not in LOGGER_DESTS:
        raise ConfigError(f"unknown log destination {dest!r}; allowed: {', '.join(LOGGER_DESTS)}", where, key)
    return dest


class QvmConfig:
    """A qvm configuration being built; every method returns ``self`` to chain.

    ``QvmConfig(system="vm1").ram("16M").vdev(trace, fail_config="yes").render()``::

        system vm1
        ram 16M
        vdev trace
            fail_config yes
    """

    def __init__(self, system: str | None = None) -> None:
        self._system: str | None = None
        self._globals: list[_Line] = []
        self._body: list[_Line] = []
        self._files: dict[str, Path] = {}
        self._vdevs: list[str] = []
        self._vdev_objects: list[object] = []
        self._path_map: dict[str, str] = {}
        self._macros: dict[str, str] = {}
        self._base: _Base | None = None
        if system is not None:
            self.system(system)

    # --- construction from a fixture ---
    @classmethod
    def from_file(cls, path: str | Path) -> QvmConfig:
        """A config starting with an existing ``.qvmconf`` (checked by ``parse_qvmconf``).

        Relative ``load`` paths in it are local files next to it (see ``files()``).
        """
        from hil.core.inputs import read_input_text

        path = Path(path)
        text = read_input_text(path, "qvm config", limit=1 << 20)  # bounded; a FIFO or device is refused
        return cls.from_text(text, source=str(path), base_dir=path.resolve().parent)

    @classmethod
    def from_text(cls, text: str, source: str = "<qvmconf>", base_dir: str | Path | None = None) -> QvmConfig:
        """Like ``from_file`` for text already read; relative paths are read from ``base_dir`` (default cwd)."""
        cfg = cls()
        parsed = parse_qvmconf(text, source)
        cfg._base = _Base(text, parsed, Path(base_dir) if base_dir is not None else Path.cwd())
        for option in parsed.all("load"):
            _, path_text = _split_addr(option.values[0])
            local = cfg._base.directory / path_text
            if not Path(path_text).is_absolute() and not local.resolve().is_relative_to(cfg._base.directory.resolve()):
                tok = option.args[0]
                raise ConfigError(
                    f"load path {path_text!r} (column {tok.col + 1}) leaves the folder "
                    f"{cfg._base.directory} ('..' or a symlink); put the guest file there or "
                    f"give an absolute path on the target",
                    f"{source}:{tok.line}",
                    "load",
                )
            if not Path(path_text).is_absolute() and local.is_file():
                cfg._files[path_text] = local.resolve()
        return cfg

    # --- VM-wide options ---
    def system(self, name: str) -> QvmConfig:
        """``system NAME`` (always rendered first; replaces a fixture's own)."""
        self._system = _check_token(name, "system", "system")
        return self

    def ram(self, size: str | int, start: str | int | None = None) -> QvmConfig:
        """``ram [start,]size``; ints: size in bytes, start rendered in hex. May repeat."""
        where = "ram"
        text = _words(size, where, "size")[0]
        if start is not None:
            text = _words(start, where, "start", hex_ints=True)[0] + "," + text
        if not _RAM.match(text):
            raise ConfigError(
                f"bad size {text!r}; expected [start,]len with len like 16M, 0x1000000 or 1G", where, "size"
            )
        self._globals.append(_Line(("ram", text)))
        return self

    def logger(
        self, filters: str | Iterable[str] = "fatal,internal,error,warn,info", dest: str = "stderr"
    ) -> QvmConfig:
        """``logger FILTER[,FILTER...] DEST``: filters are a set of fatal, internal, error,
        warn (or warning), info, debug, verbose; dest is stdout, stderr, slog or none.

        Loggers add up [doc]: each call adds one (one destination each), so
        ``.logger("error", "stderr").logger("error,info", "slog")`` logs to both.
        Any ``logger`` replaces qvm's default (``fatal,internal,error,warn,info stderr``).
        """
        self._globals.append(_Line(("logger", _filters(filters, "logger", "filters"), _dest(dest, "logger", "dest"))))
        return self

    def dump(self, directory: str | None = None, *, pipe: str | None = None) -> QvmConfig:
        """``dump DIR`` (guest dumps as ``<system>-YYYYMMDD-hhmmss.gcore`` files there) or
        ``dump "|COMMAND"`` (``pipe="gzip >/tmp/d.gz"`` or ``dump("|gzip >/tmp/d.gz")``:
        each dump goes to a shell command's stdin).  Paths are on the target."""
        where = "dump"
        if (directory is None) == (pipe is None):
            raise ConfigError("give a directory or pipe=COMMAND (one of them)", where, "directory")
        if directory is not None and str(directory).startswith("|"):
            pipe = str(directory)[1:]
        if pipe is not None:
            command = pipe.strip()
            if not command or '"' in command or "\n" in command:
                raise ConfigError(
                    f"bad pipe command {pipe!r}: give a one-line shell command without '\"'", where, "pipe"
                )
            self._globals.append(_Line(("dump", f'"|{command}"')))
        else:
            self._globals.append(_Line(("dump", _check_token(str(directory), where, "directory"))))
        return self

    def unsupported(self, kind: str, action: str) -> QvmConfig:
        """``unsupported instruction|reference|register abort|fail|ignore`` [doc]; defaults
        when absent: instruction fail, reference ignore (reads give all ones), register fail."""
        _check_unsupported(kind, action, "unsupported")
        self._globals.append(_Line(("unsupported", kind, action)))
        return self

    def safety(self, value: str) -> QvmConfig:
        """``safety none|warn|required`` (QNX Hypervisor for Safety; qvmsim accepts it, no effect)."""
        if value not in SAFETY_VALUES:
            raise ConfigError(f"bad value {value!r}; allowed: {', '.join(SAFETY_VALUES)}", "safety", "value")
        self._globals.append(_Line(("safety", value)))
        return self

    def pass_through(self, *locs: str, intr: str | None = None) -> QvmConfig:
        """A ``pass`` context: ``pass loc SPEC ... [intr SPEC]`` (host resources passed to the
        guest; qvmsim parses it and logs at DEBUG that it has no effect)."""
        where = "pass"
        if not locs and intr is None:
            raise ConfigError("give at least one loc or an intr", where, "loc")
        self._body.append(_Line(("pass",)))
        for loc in locs:
            self._body.append(_Line(("loc", _check_token(loc, where, "loc")), indent=True))
        if intr is not None:
            self._body.append(_Line(("intr", _check_token(intr, where, "intr")), indent=True))
        return self

    def dryrun(self) -> QvmConfig:
        """``dryrun``: build and check the VM without starting the guest."""
        if _Line(("dryrun",)) not in self._globals:
            self._globals.append(_Line(("dryrun",)))
        return self

    def set(self, var: str, value: str | int | bool) -> QvmConfig:
        """``set VAR VALUE``: a documented qvm configuration variable (``SET_VARIABLES``),
        its value checked against its type (bool renders on/off).  Vdev-context
        variables go in ``vdev(..., variables={...})``.  A variable only your
        board's qvm or a vdev defines: ``option("set", VAR, VALUE)``.  For text
        substitution use ``define`` (macros), not ``set``."""
        where = f"set {var}"
        var = _check_token(var, where, "var")
        self._globals.append(_Line(("set", var, _set_value(var, value, where, None))))
        return self

    def define(self, name: str, value: str | int) -> QvmConfig:
        """A text macro: every ``${NAME}`` in the rendered config (builder values and a
        fixture's text alike) becomes ``value``.  Not qvm syntax: qvm never sees it."""
        if not _MACRO_NAME.match(name):
            raise ConfigError(
                f"bad macro name {name!r}; use letters, digits and '_' (not starting with a digit)", "define", name
            )
        self._macros[name] = _check_token(str(value), f"define {name}", "value")
        return self

    @property
    def macros(self) -> dict[str, str]:
        """The macros given to ``define``."""
        return dict(self._macros)

    def load(self, path: str | Path, addr: str | int | None = None) -> QvmConfig:
        """``load [addr,]path``: qvmsim's guest script (or a guest image).

        A ``Path`` is a local file (must exist) that a deployer copies, listed by
        ``files()``; a ``str`` is a path on the target, used as written.
        """
        prefix = "" if addr is None else _words(addr, "load", "addr", hex_ints=True)[0] + ","
        if isinstance(path, Path):
            local = path.expanduser().resolve()
            if local.exists() and not local.is_file():
                raise ConfigError(
                    f"guest file {path} is not a regular file (a FIFO, device or folder); give a guest script file",
                    "load",
                    "path",
                )
            if not local.is_file():
                raise ConfigError(
                    f"guest file {path} does not exist (a Path is a local file to deploy)", "load", "path"
                )
            key = _check_token(str(local), "load", "path")
            self._files[key] = local
            self._globals.append(_Line(("load", prefix + key), file_key=key, file_prefix=prefix))
        else:
            self._globals.append(_Line(("load", prefix + _check_token(path, "load", "path"))))
        return self

    def option(self, name: str, *values: Value) -> QvmConfig:
        """Any other VM-wide option, e.g. ``option("unsupported", "abort")``."""
        _check_name(name, name, "name")
        words: list[str] = []
        for v in values:
            words.extend(_words(v, name, name))
        self._globals.append(_Line((name, *words)))
        return self

    # --- contexts ---
    def cpu(self, **options: Value) -> QvmConfig:
        """A ``cpu`` context with its options (``cpu(sched=10)``)."""
        self._body.append(_Line(("cpu",)))
        self._body.extend(self._option_lines("cpu", options))
        return self

    def vdev(
        self,
        vdev: str | _Named,
        /,
        *,
        loc: str | int | None = None,
        intr: str | int | None = None,
        name: str | None = None,
        log: tuple[str, str] | None = None,
        variables: Mapping[str, str | int | bool] | None = None,
        **options: Value,
    ) -> QvmConfig:
        """``vdev NAME`` with the common options and the vdev's own as keywords.

        ``vdev`` is NAME (of ``vdev-NAME.so``) or a built vdev (anything with a
        ``.name``).  ``loc`` ints render in hex; ``log`` is ``(filters, dest)``
        (the destination is mandatory, as in the docs' synopsis);
        ``variables`` are vdev-context ``set`` variables (``{"debug": False}``).  Own options: ``fail_config="yes"`` ->
        ``fail_config yes``; True -> a bare flag; False/None -> left out; a list
        -> several words.
        """
        module = vdev if isinstance(vdev, str) else getattr(vdev, "name", None)
        if not isinstance(module, str):
            raise ConfigError(f"expected a vdev NAME or a built vdev with a .name, got {vdev!r}", "vdev", "name")
        where = f"vdev {module}"
        _check_token(module, where, "NAME")
        if module.endswith(".so") or module.startswith("vdev-"):
            bare = module.removesuffix(".so").removeprefix("vdev-")
            raise ConfigError(f"give NAME, not the file name: vdev('{bare}') loads vdev-{bare}.so", where, "NAME")
        if not isinstance(vdev, str):
            self._vdev_objects.append(vdev)
        self._vdevs.append(module)
        lines = [_Line(("vdev", module))]
        if loc is not None:
            lines.append(_Line(("loc", *_words(loc, where, "loc", hex_ints=True)), indent=True))
        if intr is not None:
            lines.append(_Line(("intr", *_words(intr, where, "intr")), indent=True))
        if name is not None:
            lines.append(_Line(("name", _check_token(name, where, "name")), indent=True))
        if log is not None:
            if isinstance(cast(object, log), str):  # a common mistake: filters without a destination
                _filters(log, where, "log")
                raise ConfigError(
                    "the log option needs a destination (its synopsis is 'log FILTERS DEST'): "
                    f"give log=({log!r}, 'stderr')",
                    where,
                    "log",
                )
            filters, dest = log
            lines.append(_Line(("log", _filters(filters, where, "log"), _dest(dest, where, "log")), indent=True))
        for var, value in (variables or {}).items():
            lines.append(_Line(("set", var, _set_value(var, value, f"{where} set {var}", "vdev")), indent=True))
        lines.extend(self._option_lines(where, options))
        self._body.extend(lines)
        return self

    @staticmethod
    def _option_lines(where: str, options: Mapping[str, Value]) -> list[_Line]:
        lines = []
        for key, value in options.items():
            _check_name(key, where, key)
            if value is None or value is False:
                continue
            lines.append(_Line((key, *_words(value, where, key)), indent=True))
        return lines

    def raw(self, text: str) -> QvmConfig:
        """Escape hatch: ``text`` verbatim, where called among the builder's contexts
        (after ``.vdev(x)`` it is read as part of x's context)."""
        self._body.append(_Line((text.rstrip("\n"),), raw=True))
        return self

    # --- inspection ---
    def vdev_names(self) -> list[str]:
        """Every vdev module this config loads (fixture's, then builder's), once each."""
        base = self._base.parsed.vdev_names() if self._base else []
        return list(dict.fromkeys([*base, *self._vdevs]))

    def vdev_objects(self) -> list[object]:
        """The built vdevs passed to ``vdev()`` (not plain names), for a deployer."""
        return list(self._vdev_objects)

    def files(self) -> dict[str, Path]:
        """Local files the config references: path as rendered -> local file."""
        return dict(self._files)

    @property
    def source(self) -> str | None:
        """The fixture this config started from, if any."""
        return self._base.parsed.source if self._base else None

    def copy(self) -> QvmConfig:
        return copy.deepcopy(self)

    def with_paths(self, mapping: Mapping[str, str]) -> QvmConfig:
        """A copy whose local files (keys of ``files()``) render as the target paths in ``mapping``."""
        self._check_path_map(mapping)
        new = self.copy()
        new._path_map.update(mapping)  # noqa: SLF001
        return new

    def _check_path_map(self, mapping: Mapping[str, str]) -> None:
        for key, value in mapping.items():
            if key not in self._files:
                known = ", ".join(self._files) or "none"
                raise ConfigError(f"not a local file of this config (its files: {known})", "path_map", key)
            _check_token(value, "path_map", key)

    # --- rendering ---
    def render(self, path_map: Mapping[str, str] | None = None) -> str:
        """The .qvmconf text; ``path_map`` (keys of ``files()``) rewrites local paths;
        ``${NAME}`` macros (``define``) expanded."""
        return self._expand(self._render(path_map))

    def _expand(self, text: str) -> str:
        source = self.source or "<QvmConfig>"

        def one(m: re.Match[str]) -> str:
            if m[1]:
                return "${" + m[2] + "}"  # $${NAME}: a literal ${NAME}
            name = m[2]
            if name not in self._macros:
                line = text.count("\n", 0, m.start()) + 1
                known = ", ".join(sorted(self._macros)) or "none"
                raise ConfigError(
                    f"undefined macro ${{{name}}} (rendered line {line}); define it with "
                    f".define({name!r}, VALUE) (defined: {known})",
                    source,
                    name,
                )
            return self._macros[name]

        return _MACRO.sub(one, text)

    def _render(self, path_map: Mapping[str, str] | None = None) -> str:
        paths = dict(self._path_map)
        if path_map:
            self._check_path_map(path_map)
            paths.update(path_map)
        out: list[str] = []
        base = self._base
        system = self._system or (base.parsed.system if base else None)
        if system is not None:
            out.append(f"system {system}")
        globals_ = [line.render(paths) for line in self._globals]
        body = [line.render(paths) for line in self._body]
        if base is None:
            out.extend(globals_)
            out.extend(body)
            return "\n".join(out) + "\n" if out else ""
        before, after = self._split_base(base, paths)
        if before.strip():
            out.append(before.rstrip("\n"))
        if globals_:
            out.append(
                f"# added by qnx-hil (before {base.parsed.source}'s first context)" if after else "# added by qnx-hil"
            )
            out.extend(globals_)
        if after.strip():
            out.append(after.rstrip("\n"))
        if body:
            out.append("# added by qnx-hil")
            out.extend(body)
        return "\n".join(out) + "\n"

    def _split_base(self, base: _Base, paths: Mapping[str, str]) -> tuple[str, str]:
        """The fixture's text, edited, cut at its first context: (before, after)."""
        lines = base.text.splitlines()
        edits: list[tuple[int, int, int, str]] = []  # line, col, end, replacement
        system = base.parsed.option("system")
        if system is not None:  # render() writes the system line first itself
            for tok in (system.name, *system.args):
                edits.append((tok.line, tok.col, tok.stop, ""))
        for option in base.parsed.all("load"):
            tok = option.args[0]
            prefix, path_text = _split_addr(tok.text)
            if path_text in paths and path_text in self._files:
                edits.append((tok.line, tok.col, tok.stop, prefix + paths[path_text]))
        first = base.parsed.first_context
        if first is not None:
            edits.append((first.line, first.col, first.col, _CUT))
        for line_no, col, end, replacement in sorted(edits, reverse=True):
            text = lines[line_no - 1]
            lines[line_no - 1] = text[:col] + replacement + text[end:]
        if system is not None:  # tidy what the removal left (cosmetic)
            for tok in (system.name, *system.args):
                idx = tok.line - 1
                lines[idx] = lines[idx].strip() if tok.col == 0 or not lines[idx].strip() else lines[idx]
        before, _, after = "\n".join(lines).partition(_CUT)
        return before, after

    def validate(self) -> ParsedConf:
        """Parse the rendered text back (``ConfigError`` on a problem the parser can see)."""
        return parse_qvmconf(self.render(), self.source or "<QvmConfig>")

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        src = f" from {self.source}" if self.source else ""
        return f"<QvmConfig{src}: vdevs {self.vdev_names()}>"


def _set_value(var: str, value: str | int | bool, where: str, context: str | None) -> str:
    known = SET_VARIABLES.get(var)
    if known is None:
        names = ", ".join(SET_VARIABLES)
        raise ConfigError(
            f"unknown qvm configuration variable {var!r}; documented ones: {names} "
            "(a board- or vdev-defined one: option('set', VAR, VALUE); text macros: define())",
            where,
            "var",
        )
    if isinstance(value, bool):
        text = "on" if value else "off"
    elif isinstance(value, int):
        text = hex(value) if known.type == "address" else str(value)
    else:
        text = _check_token(str(value), where, "value")
    _check_set_value(known, text, where, context)
    return text


__all__ = [
    "FILTER_ALIASES",
    "LOGGER_DESTS",
    "LOGGER_FILTERS",
    "SAFETY_VALUES",
    "SET_VARIABLES",
    "UNSUPPORTED_ACTIONS",
    "UNSUPPORTED_TYPES",
    "ConfContext",
    "ConfOption",
    "ParsedConf",
    "QvmConfig",
    "SetVariable",
    "Token",
    "parse_qvmconf",
]
