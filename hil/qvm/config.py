"""The ``.qvmconf`` builder: ``QvmConfig`` renders a qvm configuration, from scratch or from a fixture.

The syntax is QNX's (``hil.qvm.confparse`` reads it back, ``hil.qvm.confvocab``
holds its vocabulary and value checks).

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from hil.core.errors import ConfigError
from hil.qvm.confparse import ConfContext, ParsedConf, parse_qvmconf, vdev_module
from hil.qvm.confvocab import (
    RAM_SIZE,
    SAFETY_VALUES,
    SET_VARIABLES,
    check_dest,
    check_set_value,
    check_unsupported,
    require_filters,
)

_OPTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_ADDR = re.compile(r"^(?:0x[0-9a-f]+|\d+)$", re.IGNORECASE)
_CUT = "\x00"  # marks where a fixture's text is cut to insert VM-wide options
_MACRO = re.compile(r"\$(\$?)\{([^}]*)\}")
_MACRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Value = str | int | float | bool | Path | Sequence[str | int | float | Path] | None


class _Named(Protocol):
    """Anything with a ``name``: a built vdev (``vdev-NAME.so``) passes as NAME."""

    @property
    def name(self) -> str: ...


def _split_addr(text: str) -> tuple[str, str]:
    """``0x1000,guest.txt`` -> (``0x1000,``, ``guest.txt``); no address -> (``""``, text)."""
    head, sep, tail = text.partition(",")
    if sep and _ADDR.match(head):
        return head + sep, tail
    return "", text


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
    require_filters(parts, where, key)
    return ",".join(dict.fromkeys(parts))


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
        self._removed: list[ConfContext] = []  # the fixture's vdev contexts left out (without_vdev)
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
        if not RAM_SIZE.match(text):
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
        self._globals.append(
            _Line(("logger", _filters(filters, "logger", "filters"), check_dest(dest, "logger", "dest")))
        )
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
        check_unsupported(kind, action, "unsupported")
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
        word = module
        if module.startswith("vdev-") and module.endswith(".so") and len(module) > 8 and "/" not in module:
            module = vdev_module(module)  # real configurations' spelling: qvm (and qvmsim) load vdev-NAME.so
        elif module.endswith(".so") or module.startswith("vdev-"):
            bare = module.removesuffix(".so").removeprefix("vdev-")
            raise ConfigError(f"give NAME, not the file name: vdev('{bare}') loads vdev-{bare}.so", where, "NAME")
        if not isinstance(vdev, str):
            self._vdev_objects.append(vdev)
        self._vdevs.append(module)
        lines = [_Line(("vdev", word))]
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
            lines.append(_Line(("log", _filters(filters, where, "log"), check_dest(dest, where, "log")), indent=True))
        for var, value in (variables or {}).items():
            lines.append(_Line(("set", var, _set_value(var, value, f"{where} set {var}", "vdev")), indent=True))
        lines.extend(self._option_lines(where, options))
        self._body.extend(lines)
        return self

    def without_vdev(self, name: str) -> QvmConfig:
        """Leave out the fixture's ``vdev`` contexts whose NAME or instance ``name`` is ``name``
        (a production ``.qvmconf`` loaded with ``from_file``), e.g. to put the vdev under test
        in their place: ``QvmConfig.from_file("board.qvmconf").without_vdev("wdt-sp805").vdev(mine)``.
        A name the fixture does not have is an error (``ConfigError``)."""
        if self._base is None:
            raise ConfigError("without_vdev() needs a fixture: start from QvmConfig.from_file()", "without_vdev", name)
        found = [c for c in self._base.parsed.vdevs if name in (c.module, c.instance_name) and c not in self._removed]
        if not found:
            have = ", ".join(c.instance_name or "?" for c in self._base.parsed.vdevs if c not in self._removed)
            raise ConfigError(
                f"{self._base.parsed.source} has no vdev {name!r} to leave out (it has: {have or 'none'})",
                "without_vdev",
                name,
            )
        self._removed.extend(found)
        return self

    def replace_vdev(self, name: str, vdev: str | _Named, /, **options: Any) -> QvmConfig:
        """``without_vdev(name)`` then ``vdev(vdev, **options)``: the vdev under test instead of the fixture's."""
        return self.without_vdev(name).vdev(vdev, **options)

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
        base = [c.module for c in self._base.parsed.vdevs if c.module and c not in self._removed] if self._base else []
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
        for context in self._removed:  # without_vdev(): the context's words, comments and line breaks kept
            for tok in (context.opener, *([context.arg] if context.arg else []), *context.words):
                edits.append((tok.line, tok.col, tok.stop, ""))
        first = base.parsed.first_context
        if first is not None:
            edits.append((first.line, first.col, first.col, _CUT))
        for line_no, col, end, replacement in sorted(edits, reverse=True):
            text = lines[line_no - 1]
            lines[line_no - 1] = text[:col] + replacement + text[end:]
        for context in self._removed:  # tidy what without_vdev() left (cosmetic)
            for tok in (context.opener, *context.words):
                here = lines[tok.line - 1]
                if not here.replace(_CUT, "").strip():
                    lines[tok.line - 1] = _CUT if _CUT in here else ""
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
    check_set_value(known, text, where, context)
    return text


__all__ = ["SET_VARIABLES", "QvmConfig"]
