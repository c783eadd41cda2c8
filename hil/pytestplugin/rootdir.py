"""pytest's rootdir, configuration file and settings, found without starting pytest.

``pytest_setup(args, cwd, environ)`` answers what ``pytest ARGS`` run in
``cwd`` would choose, by pytest's own rules (``_pytest.config.findpaths``,
``Config.parse``), in a few milliseconds instead of the ~1 s a pytest
configuration costs (every installed plugin imported, assertion rewriting):

1. ``PYTEST_ADDOPTS`` goes before the arguments; they are parsed with pytest's
   built-in options only (``BUILTIN_OPTIONS``, less the plugins a ``-p no:NAME``
   argument blocks), as pytest parses them before any plugin is loaded: an
   unknown option is a flag, so the value of ``--some-plugin-option VALUE``
   counts as a path argument, exactly as in pytest.  This plugin's own options
   (``HIL_VALUE_OPTIONS``) are the exception: the plugin finds the rootdir again
   once they are known (``options.keep_rootdir``), so ``--hil-junit PATH`` and
   ``--hil-junit=PATH`` give the same rootdir; when pytest had already acted on
   the configuration file the value led it to (its ``addopts``, ...), the
   plugin refuses the run and so does this.
2. The configuration file: ``-c/--config-file``, else the first of
   ``pytest.toml``, ``.pytest.toml``, ``pytest.ini``, ``.pytest.ini``,
   ``pyproject.toml`` (with ``[tool.pytest]`` or ``[tool.pytest.ini_options]``),
   ``tox.ini`` (with ``[pytest]``), ``setup.cfg`` (with ``[tool:pytest]``) in
   the common ancestor of the path arguments and its parents; else a
   ``pyproject.toml`` without pytest settings; else ``setup.py``'s folder.
   The rootdir is that file's folder, or ``--rootdir``.
3. The file's ``addopts`` go before everything, and the whole is parsed again
   with the plugin's own options known too (``--hil-targets-dir``); ``-o
   NAME=VALUE`` overrides a setting.

``BUILTIN_OPTIONS`` is pytest's own option table (the options that take a
value end in ``=``, an optional value in ``?``); ``tests/unit/test_rootdir.py``
checks it against the installed pytest and checks the answers against
pytest's own on a matrix of layouts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from hil.core.errors import ConfigError
from hil.pytestplugin.writers import WRITERS

__all__ = ["BUILTIN_OPTIONS", "CONFIG_NAMES", "HIL_VALUE_OPTIONS", "PytestSetup", "pytest_setup"]

#: pytest's built-in plugins (``_pytest.config.default_plugins``) that add options, and their options:
#: ``-a|--long`` aliases; ``=`` takes a value, ``?`` an optional value, else a flag.
BUILTIN_OPTIONS: dict[str, str] = {
    "mark": "-k= -m= --markers",
    "main": "-x|--exitfirst --maxfail= --strict-config --strict-markers --strict -W|--pythonwarnings= "
    "--max-warnings= --collectonly|--collect-only|--co --pyargs --ignore= --ignore-glob= --deselect= "
    "--confcutdir= --noconftest --keepduplicates|--keep-duplicates --collect-in-virtualenv "
    "--continue-on-collection-errors --import-mode= -c|--config-file= --rootdir= --basetemp=",
    "runner": "--durations= --durations-min=",
    "fixtures": "--fixtures|--funcargs --fixtures-per-test",
    "helpconfig": "-V|--version -h|--help -p= --disable-plugin-autoload --traceconfig|--trace-config --debug? "
    "-o|--override-ini=",
    "terminal": "-v|--verbose --no-header --no-summary --no-fold-skipped --force-short-summary -q|--quiet "
    "--verbosity= -r|--report-chars= --disable-warnings|--disable-pytest-warnings -l|--showlocals "
    "--no-showlocals --tb= --xfail-tb --show-capture= --fulltrace|--full-trace --color= --code-highlight=",
    "debugging": "--pdb --pdbcls= --trace",
    "capture": "--capture= -s",
    "skipping": "--runxfail",
    "pastebin": "--pastebin=",
    "assertion": "--assert=",
    "junitxml": "--junitxml|--junit-xml= --junitprefix|--junit-prefix=",
    "doctest": "--doctest-modules --doctest-report= --doctest-glob= --doctest-ignore-import-errors "
    "--doctest-continue-on-failure",
    "cacheprovider": "--lf|--last-failed --ff|--failed-first --nf|--new-first --cache-show? --cache-clear "
    "--lfnf|--last-failed-no-failures=",
    "setuponly": "--setuponly|--setup-only --setupshow|--setup-show",
    "setupplan": "--setupplan|--setup-plan",
    "stepwise": "--sw|--stepwise --sw-skip|--stepwise-skip --sw-reset|--stepwise-reset",
    "logging": "--log-level= --log-format= --log-date-format= --log-cli-level= --log-cli-format= "
    "--log-cli-date-format= --log-file= --log-file-mode= --log-file-level= --log-file-format= "
    "--log-file-date-format= --log-auto-indent= --log-disable=",
}
#: Plugins a ``-p no:`` cannot block (``_pytest.config.essential_plugins``).
ESSENTIAL_PLUGINS = frozenset({"mark", "main", "runner", "fixtures", "helpconfig"})
#: This plugin's options that take a value (``tests/unit/test_rootdir.py`` checks them against the plugin).
HIL_VALUE_OPTIONS = " ".join(
    [
        "--hil-target= --hil-targets-dir= --hil-artifacts= --hil-history= --hil-coverage-dir= "
        "--hil-coverage-fail-under= --hil-sanitize=",
        *(f"{w.option}=" for w in WRITERS),  # --hil-junit=, --hil-summary=, ...: the report writers' table
    ]
)
#: Settings pytest acts on before the plugin loads (``options._TAKEN_EARLY``).
_TAKEN_EARLY = ("addopts", "pythonpath", "required_plugins", "minversion")
#: The destinations read from the parsed options (pytest's names for them).
_DESTS = {"-c": "inifilename", "--rootdir": "rootdir", "-o": "override_ini", "--hil-targets-dir": "hil_targets_dir"}
_APPEND = frozenset({"-o", "-p", "-W", "--ignore", "--ignore-glob", "--deselect", "--doctest-glob", "--log-disable"})
_APPEND |= {"--cache-show", "--hil-targets-dir"}

#: Configuration file names pytest looks for, in its order of precedence.
CONFIG_NAMES = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")

Settings = dict[str, tuple[Any, str]]  # name -> (value, "ini" or "toml" mode)


@dataclass(frozen=True)
class PytestSetup:
    """What a pytest run would take: ``rootdir``, ``inifile``, the settings and the whole argument list."""

    invocation_dir: Path
    rootdir: Path
    inifile: Path | None
    settings: Settings = field(repr=False)
    options: argparse.Namespace = field(repr=False)  # the second parse (addopts and PYTEST_ADDOPTS included)

    def getini_args(self, name: str) -> list[str]:
        """A setting of pytest's type ``args`` (``[]`` when not set), as ``config.getini(name)`` returns it."""
        if name not in self.settings:
            return []
        value, mode = self.settings[name]
        if mode == "toml":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"expected a list of strings, got {type(value).__name__}: {value!r}",
                    str(self.inifile),
                    name,
                )
            return list(value)
        return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]

    def option(self, dest: str) -> Any:
        """A parsed option value (``None`` when not given), e.g. ``hil_targets_dir``."""
        return getattr(self.options, dest, None)


# -- the options -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"pytest's arguments: {message}")


def _parser(blocked: frozenset[str], extra: str = "") -> _Parser:
    """pytest's parser before plugins load (``extra``: options of plugins that are loaded by then)."""
    parser = _Parser(add_help=False, allow_abbrev=False, fromfile_prefix_chars="@", prog="pytest")
    parser.add_argument("file_or_dir", nargs="*")
    specs = [spec for plugin, text in BUILTIN_OPTIONS.items() if plugin not in blocked for spec in text.split()]
    for spec in [*specs, *extra.split()]:
        kind = spec[-1] if spec[-1] in "=?" else ""
        names = spec.rstrip("=?").split("|")
        dest = _DESTS.get(names[0], "x" + names[-1].lstrip("-").replace("-", "_"))
        if not kind:
            parser.add_argument(*names, dest=dest, action="store_true")
        else:
            action = "append" if names[0] in _APPEND else "store"
            parser.add_argument(*names, dest=dest, action=action, nargs="?" if kind == "?" else None)
    return parser


def _parse_known(parser: _Parser, args: list[str]) -> argparse.Namespace:
    """``Parser.parse_known_and_unknown_args`` as pytest runs it on this Python."""
    if sys.version_info < (3, 12, 8) or (3, 13) <= sys.version_info < (3, 13, 1):
        namespace, unknown = parser.parse_known_args(args)
        namespace.file_or_dir.extend(arg for arg in unknown if not arg.startswith("-"))
        return namespace
    namespace, _ = parser.parse_known_intermixed_args(args)  # pragma: no cover - newer Pythons
    return namespace


def _blocked(args: Sequence[str]) -> frozenset[str]:
    """The built-in plugins ``-p no:NAME`` arguments block (``PytestPluginManager.consider_preparse``)."""
    blocked: set[str] = set()
    i = 0
    while i < len(args):
        opt = args[i]
        i += 1
        if opt == "-p":
            if i >= len(args):
                break
            parg = args[i]
            i += 1
        elif opt.startswith("-p"):
            parg = opt[2:]
        else:
            continue
        parg = parg.strip()
        if parg.startswith("no:"):
            name = parg[3:]
            if name in ESSENTIAL_PLUGINS:
                raise ConfigError(f"plugin {name} cannot be disabled", "-p")
            blocked.add(name)
            if name == "cacheprovider":
                blocked.add("stepwise")
    return frozenset(blocked)


# -- the configuration files -------------------------------------------------------------------


def _ini(path: Path) -> Any:
    import iniconfig  # pytest's own INI parser (a dependency of pytest)

    try:
        return iniconfig.IniConfig(str(path))
    except iniconfig.ParseError as exc:
        raise ConfigError(str(exc)) from exc


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _section(ini: Any, name: str) -> Settings:
    return {k: (v, "ini") for k, v in ini[name].items()}


def _pytest_ini(path: Path) -> Settings | None:
    ini = _ini(path)
    return _section(ini, "pytest") if "pytest" in ini else {}


def _tox_ini(path: Path) -> Settings | None:
    ini = _ini(path)
    return _section(ini, "pytest") if "pytest" in ini else None


def _setup_cfg(path: Path) -> Settings | None:
    ini = _ini(path)
    if "tool:pytest" in ini.sections:
        return _section(ini, "tool:pytest")
    if "pytest" in ini.sections:
        raise ConfigError(
            "[pytest] section in setup.cfg files is no longer supported, change to [tool:pytest] instead.", str(path)
        )
    return None


def _pytest_table(path: Path, document: dict[str, Any]) -> Settings | None:
    if "pytest" in document:
        return {k: (v, "toml") for k, v in document["pytest"].items()}
    top = [key for key, value in document.items() if not isinstance(value, dict)]
    if top:
        raise ConfigError(
            f"{path}: pytest configuration must be under a [pytest] table (found top-level options: {', '.join(top)})"
        )
    return None


def _tool_pytest(path: Path, document: dict[str, Any]) -> Settings | None:
    tool = document.get("tool", {}).get("pytest", {})
    native = {k: v for k, v in tool.items() if k != "ini_options"}
    ini_options = tool.get("ini_options", None)
    if native and ini_options:
        raise ConfigError(
            f"{path}: Cannot use both [tool.pytest] (native TOML types) and [tool.pytest.ini_options] "
            f"(string-based INI format) simultaneously."
        )
    if native:
        return {k: (v, "toml") for k, v in native.items()}
    if ini_options is not None:
        return {k: (v if isinstance(v, list) else str(v), "ini") for k, v in ini_options.items()}
    return None


def _pytest_toml(path: Path) -> Settings | None:
    found = _pytest_table(path, _toml(path))
    return found if found is not None else {}


def _pyproject_toml(path: Path) -> Settings | None:
    return _tool_pytest(path, _toml(path))


def _custom_toml(path: Path) -> Settings | None:
    document = _toml(path)
    found = _tool_pytest(path, document)
    if found is None:
        return _pytest_table(path, document)
    if "pytest" in document:
        raise ConfigError(f"{path}: Cannot use both [pytest] and [tool.pytest]/[tool.pytest.ini_options] in one file.")
    return found


_BY_NAME = {
    "pytest.toml": _pytest_toml,
    ".pytest.toml": _pytest_toml,
    "pytest.ini": _pytest_ini,
    ".pytest.ini": _pytest_ini,
    "pyproject.toml": _pyproject_toml,
    "tox.ini": _tox_ini,
    "setup.cfg": _setup_cfg,
}
_BY_SUFFIX = {".ini": _tox_ini, ".cfg": _setup_cfg, ".toml": _custom_toml}


def _locate(base_dirs: Sequence[Path]) -> tuple[Path | None, Path | None, Settings]:
    """``findpaths.locate_config``: the first folder, upwards, with a file holding pytest settings."""
    pyproject: Path | None = None
    for start in base_dirs:
        for base in (start, *start.parents):
            for name in CONFIG_NAMES:
                path = base / name
                if path.is_file():
                    if name == "pyproject.toml" and pyproject is None:
                        pyproject = path
                    found = _BY_NAME[name](path)
                    if found is not None:
                        return base, path, found
    if pyproject is not None:
        return pyproject.parent, pyproject, {}
    return None, None, {}


def _common_ancestor(invocation_dir: Path, paths: Sequence[Path]) -> Path:
    common: Path | None = None
    for path in paths:
        if not path.exists():
            continue
        if common is None:
            common = path
        elif common in path.parents or path == common:
            continue
        elif path in common.parents:
            common = path
        else:
            try:
                common = Path(os.path.commonpath((str(path), str(common))))
            except ValueError:
                pass
    if common is None:
        return invocation_dir
    return common.parent if common.is_file() else common


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (ValueError, OSError):
        return False


def _is_fs_root(path: Path) -> bool:
    return os.path.splitdrive(str(path))[1] == os.sep


def _determine(
    cwd: Path, inifile: str | None, file_or_dir: Sequence[str], rootdir_arg: str | None
) -> tuple[Path, Path | None, Settings]:
    """``findpaths.determine_setup`` (less the ``-o`` overrides, applied by the caller)."""

    def absolute(path: str) -> Path:
        return Path(os.path.abspath(os.path.join(cwd, path)))

    possible = (absolute(arg.partition("::")[0]) for arg in file_or_dir if not arg.startswith("-"))
    dirs = [p if p.is_dir() else p.parent for p in possible if _exists(p)]
    rootdir: Path | None = None
    inipath: Path | None = None
    settings: Settings
    if inifile:
        inipath = absolute(inifile)
        if not inipath.exists():
            raise ConfigError(f"Config file '{inipath}' not found. Check your '-c/--config-file' option.")
        if inipath.is_dir():
            raise ConfigError(f"Config file '{inipath}' is a directory. Check your '-c/--config-file' option.")
        loader = _BY_NAME.get(inipath.name) or _BY_SUFFIX.get(inipath.suffix)
        if loader is not None:
            settings = loader(inipath) or {}
        elif inipath.is_file():
            raise ConfigError(
                f"Config file '{inipath}' has an unsupported format. Supported extensions are: .cfg, .ini, .toml."
            )
        else:
            settings = {}  # e.g. -c /dev/null: no configuration
        if rootdir_arg is None:
            if inipath.is_file():
                rootdir = inipath.parent
            else:
                rootdir = _common_ancestor(cwd, dirs)
                if _is_fs_root(rootdir):
                    rootdir = cwd
    else:
        ancestor = _common_ancestor(cwd, dirs)
        rootdir, inipath, settings = _locate([ancestor])
        if rootdir is None and rootdir_arg is None:
            for candidate in (ancestor, *ancestor.parents):
                if (candidate / "setup.py").is_file():
                    rootdir = candidate
                    break
            else:
                if dirs != [ancestor]:
                    rootdir, inipath, settings = _locate(dirs)
                if rootdir is None:
                    rootdir = _common_ancestor(cwd, [cwd, ancestor])
                    if _is_fs_root(rootdir):
                        rootdir = ancestor
    if rootdir_arg:
        rootdir = absolute(os.path.expandvars(rootdir_arg))
        if not rootdir.is_dir():
            raise ConfigError(f"Directory '{rootdir}' not found. Check your '--rootdir' option.")
    assert rootdir is not None
    return rootdir, inipath, settings


def _overrides(values: Sequence[str] | None) -> Settings:
    found: Settings = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"-o/--override-ini expects option=value style (got: {item!r}).")
        found[key] = (value, "ini")
    return found


def pytest_setup(
    args: Sequence[str] = (), cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> PytestSetup:
    """What ``pytest ARGS`` in ``cwd`` would take as rootdir, configuration file, settings and options.

    Refusals pytest would make while finding them (a ``-c`` file that does not
    exist, a ``--rootdir`` that is no folder, a configuration file that does not
    parse) are a ``ConfigError`` with pytest's words.
    """
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    env = os.environ if environ is None else environ
    given = [str(a) for a in args]
    everything = [*shlex.split(env.get("PYTEST_ADDOPTS", "")), *given]
    everything = [f"@{cwd / a[1:]}" if a.startswith("@") else a for a in everything]  # argparse reads @FILE
    blocked = _blocked(given)
    naive = _parse_known(_parser(blocked), list(everything))  # as pytest, before plugins load
    first = _parse_known(_parser(blocked, HIL_VALUE_OPTIONS), list(everything))  # as the plugin finds it again
    rootdir, inifile, settings = _determine(cwd, first.inifilename, first.file_or_dir, first.rootdir or None)
    if naive.file_or_dir != first.file_or_dir:
        took = _determine(cwd, naive.inifilename, naive.file_or_dir, naive.rootdir or None)
        if (took[0], took[1]) != (rootdir, inifile) and any(name in took[2] for name in _TAKEN_EARLY):
            raise ConfigError(
                f"pytest took a --hil- option's separate value for a test path and chose rootdir {took[0]} "
                f"(configuration file {took[1]}) instead of {rootdir} ({inifile}); write it with '=' "
                "(e.g. --hil-junit=PATH)"
            )
    settings.update(_overrides(first.override_ini))
    setup = PytestSetup(cwd, rootdir, inifile, settings, first)
    final = [*setup.getini_args("addopts"), *everything]
    second = _parse_known(_parser(blocked, HIL_VALUE_OPTIONS), final)
    settings.update(_overrides(second.override_ini))
    return PytestSetup(cwd, rootdir, inifile, settings, second)
