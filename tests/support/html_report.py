"""Reading an HTML report as a browser shows it once every test is opened (its details files inlined)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hil.pytestplugin.html import details_dir


def details(report: Path) -> dict[str, str]:
    """Element id -> body HTML, from every file of the report's details folder (``report.details/``)."""
    bodies: dict[str, str] = {}
    folder = details_dir(report)
    for path in sorted(folder.glob("*.js")) if folder.is_dir() else ():
        text = path.read_text(encoding="utf-8")
        assert text.startswith("hilDetails(") and text.endswith(");\n"), path
        bodies.update(json.loads(text[len("hilDetails(") : -len(");\n")]))
    return bodies


def expanded(report: Path) -> str:
    """The report's HTML with each on-demand body (``<div class="body"></div>`` of an element with
    ``data-chunk``) replaced by the body its details file holds."""
    html = report.read_text(encoding="utf-8")
    bodies = details(report)

    def fill(match: re.Match[str]) -> str:
        return match.group(1) + bodies[match.group(2)] + match.group(3)

    test = re.compile(
        r'(<details class="test" id="(t\d+)"[^>]* data-chunk="[^"]+"[^>]*>\s*<summary>.*?</summary>\s*)'
        r'<div class="body"></div>(\s*</details>)',
        re.S,
    )
    return test.sub(fill, html)
