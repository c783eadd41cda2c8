"""Target definitions: validation errors name the file, the key and what is allowed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hil.cli.scaffold import project_files
from hil.core.errors import ConfigError
from hil.targets.definition import (
    BUILTIN_TARGETS,
    inventory,
    load_definition,
    parse_definition,
    project_folders,
    resolve,
)

FIXTURE_TARGETS = Path(__file__).resolve().parents[2] / "fixtures" / "targets"


def write(tmp_path: Path, text: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_fixture_and_template_definitions_load() -> None:
    builtin = inventory()
    assert set(builtin) == {"qemu", "qemu-arm64", "local"}
    assert all(Path(d.source).parent == BUILTIN_TARGETS for d in builtin.values())
    assert set(inventory([FIXTURE_TARGETS])) == {"qemu", "qemu-arm64", "local", "qemu-b", "local-19m2"}
    (template,) = [f for f in project_files()[0] if f.path == "targets/board.toml.example"]
    board = parse_definition(tomllib.loads(template.text), template.path)
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
    with pytest.raises(ConfigError, match=r"ssh.host.*required"):
        parse_definition({"kind": "board", "ssh": {"port": 22}}, "b.toml", "b")


def test_selection_by_name_label_and_path(tmp_path: Path) -> None:
    write(tmp_path, 'kind = "local"\nlabels = ["aarch64"]\n', "arm.toml")
    write(tmp_path, 'kind = "local"\nlabels = ["aarch64", "imx8"]\n', "imx.toml")
    assert [d.name for d in resolve("label:aarch64", [tmp_path])] == ["qemu-arm64", "arm", "imx"]
    assert [d.name for d in resolve("label:imx8", [tmp_path])] == ["imx"]
    assert [d.name for d in resolve("qemu", [tmp_path])] == ["qemu"]
    assert resolve(str(tmp_path / "arm.toml"))[0].name == "arm"
    with pytest.raises(
        ConfigError, match=r"no target matches 'nosuch'.*known targets: arm, imx, local, qemu, qemu-arm64"
    ):
        resolve("nosuch", [tmp_path])


def test_project_folders_option_then_setting_then_convention(tmp_path: Path) -> None:
    for name in ("given", "lab", "targets"):
        (tmp_path / name).mkdir()
    root, cwd = tmp_path, tmp_path / "lab"
    chosen = project_folders(["../given"], ["lab"], root, root / "pyproject.toml", cwd)
    assert chosen.folders == (tmp_path / "given",) and chosen.origin == "--hil-targets-dir"
    chosen = project_folders([], ["lab"], root, root / "pyproject.toml", cwd)
    assert chosen.folders == (tmp_path / "lab",) and str(root / "pyproject.toml") in chosen.origin
    chosen = project_folders([], [], root, None, cwd)
    assert chosen.folders == (tmp_path / "targets",)
    (tmp_path / "targets").rmdir()
    assert project_folders([], [], root, None, cwd).folders == ()


def test_named_but_missing_targets_folder_says_where_it_was_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        project_folders([], ["labs"], tmp_path, tmp_path / "pytest.ini", tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'pytest.ini'}: key 'hil_targets_dir': no folder {tmp_path / 'labs'}")
    assert "create it or correct the setting" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match=r"^--hil-targets-dir nope: no folder .*nope; pass a folder"):
        project_folders(["nope"], [], tmp_path, None, tmp_path)
    with pytest.raises(ConfigError, match=r"folder .*gone does not exist"):
        inventory([tmp_path / "gone"])


def test_toolchain_portable_reaches_the_build(tmp_path: Path) -> None:
    from hil.targets import make_target

    d = load_definition(write(tmp_path, 'kind = "local"\n[toolchain]\nportable = true\n', "strict.toml"))
    assert d.toolchain.portable is True
    tc = make_target(d, tmp_path / "run").toolchain()
    assert tc.portable is True
    with pytest.raises(ConfigError, match="portable"):
        load_definition(write(tmp_path, 'kind = "local"\n[toolchain]\nportable = "yes"\n', "bad.toml"))
