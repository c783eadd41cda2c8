"""Target definitions: validation errors name the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.errors import ConfigError
from hil.target_config import REPO_TARGETS, inventory, load_definition, parse_definition, resolve

EXAMPLES = REPO_TARGETS.parent.parent / "examples" / "targets"


def write(tmp_path: Path, text: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_repository_definitions_load() -> None:
    targets = inventory()
    assert {"qemu", "local", "qemu-b"} <= set(targets)
    board = load_definition(EXAMPLES / "board.toml")
    assert board.kind == "board" and board.ssh is not None and board.ssh.port == 22
    assert board.toolchain.variant == "gcc_ntox86_64"
    assert board.qvm.exit_overrides == {"watchdog": 4}


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    d = load_definition(write(tmp_path, 'kind = "local"\n', "bench-host.toml"))
    assert d.name == "bench-host" and d.kind == "local"


def test_unknown_key_names_file_key_and_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, 'kind = "qemu"\n[qemu]\nmemroy_mb = 512\n')
    with pytest.raises(ConfigError) as err:
        load_definition(path)
    msg = str(err.value)
    assert str(path) in msg and "qemu.memroy_mb" in msg and "memory_mb" in msg


def test_wrong_type_names_expected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"qemu.memory_mb.*expected integer.*'lots'"):
        load_definition(write(tmp_path, 'kind = "qemu"\n[qemu]\nmemory_mb = "lots"\n'))
    with pytest.raises(ConfigError, match=r"'kind'.*expected 'qemu' or 'board' or 'local'"):
        load_definition(write(tmp_path, 'kind = "vm"\n'))
    with pytest.raises(ConfigError, match=r"labels\[1\].*expected string"):
        load_definition(write(tmp_path, 'kind = "local"\nlabels = ["a", 3]\n'))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_definition(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_definition(write(tmp_path, "kind = \n"))


def test_board_requires_pinned_host_key() -> None:
    with pytest.raises(ConfigError, match=r"'ssh'.*\[ssh\] table"):
        parse_definition({"kind": "board"}, "b.toml", "b")
    with pytest.raises(ConfigError, match="must be pinned"):
        parse_definition({"kind": "board", "ssh": {"host": "h"}}, "b.toml", "b")
    with pytest.raises(ConfigError, match="ssh.host.*required"):
        parse_definition({"kind": "board", "ssh": {"port": 22}}, "b.toml", "b")


def test_selection_by_name_label_and_path(tmp_path: Path) -> None:
    write(tmp_path, 'kind = "local"\nlabels = ["aarch64"]\n', "arm.toml")
    write(tmp_path, 'kind = "local"\nlabels = ["aarch64", "imx8"]\n', "imx.toml")
    assert [d.name for d in resolve("label:aarch64", [tmp_path])] == ["arm", "imx"]
    assert [d.name for d in resolve("label:imx8", [tmp_path])] == ["imx"]
    assert [d.name for d in resolve("qemu", [tmp_path])] == ["qemu"]
    assert resolve(str(tmp_path / "arm.toml"))[0].name == "arm"
    with pytest.raises(ConfigError, match="no target matches 'nosuch'.*known targets: arm, imx, local, qemu"):
        resolve("nosuch", [tmp_path])
