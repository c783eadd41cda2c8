"""A user-supplied image under QEMU (issue 12), booted for real: the public image's own kernel,
initrd and keys given to the generic ``[qemu] kernel``/``initrd``/``append`` path as if they were
a user's, then the HIL suite on it through ``--hil-target path/to/definition.toml``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hil.targets import qemu as qemu_kind
from hil.targets.definition import resolve
from hil.vm.x86_64 import KERNEL_CMDLINE
from tests.support.inner import run_inner_pytest

#: The whole HIL suite (watchdog bites, endings, the power button, crashes, slog2 on qemu-kind targets, ...).
SELECTION = ("tests/hil",)


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def test_user_image_path_boots_to_ssh_and_runs_the_hil_suite(tmp_path: Path) -> None:
    (public,) = resolve("qemu")
    image = qemu_kind.public_image(public)  # the cached build (hil.vm.image), made once if missing
    definition = tmp_path / "mine.toml"
    definition.write_text(
        "\n".join(
            [
                'name = "mine"',
                'kind = "qemu"',
                'os = "linux"',
                "[qemu]",
                f"kernel = {_toml(str(image.bzimage))}",
                f"initrd = {_toml(str(image.initrd))}",
                f"append = {_toml(KERNEL_CMDLINE)}",
                f"console_ready_regex = {_toml(re.escape(image.ready_marker))}",
                f"ssh_key = {_toml(str(image.client_key))}",
                f"ssh_host_key = {_toml(image.host_key_pub)}",
                f"boot_timeout = {public.qemu.boot_timeout}",
                "",
            ]
        )
    )
    junit, artifacts = tmp_path / "junit.xml", tmp_path / "artifacts"
    proc = run_inner_pytest(
        *SELECTION,
        *("--hil-junit", str(junit), "-q"),
        targets=(str(definition),),
        artifacts=artifacts,
        timeout=900,
        env={"HIL_PRIVATE_VM": None},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    cases = list(ET.parse(junit).iter("testcase"))
    assert len(cases) >= 30, proc.stdout[-2000:]  # the suite ran, every test of it on the user image
    assert all(
        len(case) == 0 or all(c.tag in ("system-out", "system-err", "properties") for c in case) for case in cases
    )
    assert re.search(rf"\b{len(cases)} passed\b", proc.stdout), proc.stdout[-2000:]

    props = {p.get("name"): p.get("value") for p in ET.parse(junit).iter("property")}
    if "hil.target.facts" in props:  # older reports: one JSON property
        props.update(json.loads(props["hil.target.facts"] or "{}"))
    assert props.get("image") == f"user image: kernel {image.bzimage.name}", props
    assert props.get("qemu.start") == "cold boot", props  # a user image is never snapshotted

    run = artifacts / "mine" / "target"  # the target's run files, private to this run
    console = (run / "console.log").read_text(errors="replace")
    assert image.ready_marker in console  # the boot went through the serial console
    cmdline = (run / "qemu" / "qemu.cmdline").read_text()
    assert f"-kernel {image.bzimage} -initrd {image.initrd}" in cmdline and "-name hil-user-mine" in cmdline
    assert (run / "qemu" / "qemu.stderr").is_file()
    assert not list(image.root.glob("snapshots/*.vmstate")) or "-incoming" not in cmdline
