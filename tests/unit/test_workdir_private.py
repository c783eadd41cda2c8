"""Workdirs another local user cannot take over (issue 22, critical 2).

The ``local`` target's default workdir is this user's private folder; a configured workdir that
is not ours, or that others can write, is a set-up error naming it; ``nobody`` cannot enter or
replace a deployment, and a ``qvm.pid`` it could not write, or one pointing at a process of
another user or outside its folder, never gets a process killed by the stale clean-up.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.core.errors import ConfigError, SetupError
from hil.targets import deploy, make_target
from hil.targets.base import Target
from hil.targets.definition import parse_definition
from hil.targets.deploy import cleanup_stale, create_deployment
from tests.support.otheruser import as_nobody


def local(workdir: str | None, run_dir: Path) -> Target:
    data: dict[str, object] = {"kind": "local"}
    if workdir is not None:
        data["qvm"] = {"workdir": workdir}
    return make_target(parse_definition(data, "t.toml", "box"), run_dir)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder like /tmp (sticky, open to all) that user nobody can reach (pytest's tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="hil-shared-"))
    folder.chmod(0o1777)  # like /tmp: anyone may create, no one may rename what is not theirs
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_local_default_workdir_is_this_users_private_folder(tmp_path: Path) -> None:
    target = local(None, tmp_path / "run")
    workdir = Path(target.workdir())
    assert workdir == Path(tempfile.gettempdir()) / f"qnx-hil-{os.getuid()}" / "work"
    for folder in (workdir, workdir.parent):
        st = os.lstat(folder)
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700
    d = create_deployment(target, "test_private")
    try:
        (tmp_path / "vdev-x.so").write_bytes(b"ours")
        remote = d.put_file(tmp_path / "vdev-x.so")
        # nobody can neither look in nor replace what was deployed
        done = as_nobody(["sh", "-c", f"ls {d.path}; echo evil > {remote}; mv {d.path} {d.path}.x; ls {workdir}"])
        assert done.returncode != 0 and done.stderr.count("Permission denied") >= 3, done.stderr
        assert Path(remote).read_bytes() == b"ours"
    finally:
        d.cleanup()


def test_a_workdir_another_user_made_first_is_a_setup_error(tmp_path: Path, shared_tmp: Path) -> None:
    """The /tmp/qnx-hil attack: another user creates the workdir first (open to all, or theirs)."""
    workdir = shared_tmp / "qnx-hil"
    assert as_nobody(["sh", "-c", f"mkdir -m 777 {workdir}"]).returncode == 0
    target = local(str(workdir), tmp_path / "run")
    with pytest.raises(SetupError, match=rf"the workdir {workdir} on box is owned by uid 65534, not by 0"):
        create_deployment(target, "test_x")
    with pytest.raises(SetupError, match=rf"the workdir {workdir} on box is owned by uid 65534"):
        cleanup_stale(target)
    assert os.listdir(workdir) == []  # nothing was made in it


@pytest.mark.parametrize("problem", ["writable by others", "symlink", "open parent"])
def test_a_workdir_others_can_write_is_a_setup_error(tmp_path: Path, shared_tmp: Path, problem: str) -> None:
    workdir = shared_tmp / "work"
    if problem == "writable by others":
        workdir.mkdir(mode=0o700)
        workdir.chmod(0o777)
        why = "is writable by group or others"
    elif problem == "symlink":
        (shared_tmp / "elsewhere").mkdir(mode=0o700)
        workdir.symlink_to(shared_tmp / "elsewhere")
        why = "is a symlink or not a folder"
    else:
        shared_tmp.chmod(0o777)  # not sticky: anyone can rename the workdir away and put another there
        workdir.mkdir(mode=0o700)
        why = f"is in {shared_tmp}, writable by others"
    target = local(str(workdir), tmp_path / "run")
    with pytest.raises(SetupError, match=f"the workdir {workdir} on box {why}") as caught:
        create_deployment(target, "test_x")
    assert "t.toml" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("workdir", ["relative/work", "/tmp/a\nb", "/tmp/../etc"])
def test_a_malformed_workdir_is_a_config_error(tmp_path: Path, workdir: str) -> None:
    with pytest.raises(ConfigError, match=r"must be an absolute path on one line"):
        create_deployment(local(workdir, tmp_path / "run"), "test_x")


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


@pytest.mark.parametrize("forgery", ["pidfile of another user", "process of another user", "not this folder's"])
def test_a_forged_qvm_pid_never_gets_a_process_killed(tmp_path: Path, forgery: str) -> None:
    """A qvm.pid that proves the process's start time and command line is still refused when the file
    is not ours, the process runs as someone else, or its command line is not this folder's qvm."""
    workdir = tmp_path / "work"
    workdir.mkdir(mode=0o700)
    target = local(str(workdir), tmp_path / "run")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = workdir / f"hil-{deploy._HOST}-{dead.pid}-1-test_old"
    stale.mkdir()
    conf = f"@{stale}/run.qvmconf" if forgery != "not this folder's" else f"@{tmp_path}/other/run.qvmconf"
    argv = ["tail", "-F", conf]
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    victim = subprocess.Popen(
        (prefix if forgery == "process of another user" else []) + argv, stderr=subprocess.DEVNULL, cwd="/"
    )
    try:
        while Path(f"/proc/{victim.pid}/cmdline").read_bytes() != ("\0".join(argv) + "\0").encode():
            time.sleep(0.01)
        pidfile = stale / "qvm.pid"
        pidfile.write_text(f"{victim.pid}\n{_start_time(victim.pid)}\n{' '.join(argv)}\n")
        if forgery == "pidfile of another user":
            os.chown(pidfile, 65534, 65534)
        assert cleanup_stale(target) == [str(stale)]
        time.sleep(0.2)
        assert victim.poll() is None, f"{forgery}: the process was killed"
    finally:
        victim.kill()
        victim.wait()
