"""The JUnit XML writer: a run's record as a document valid against junit-10.xsd (one testsuite per target),
and checking a report against that schema.  Its entry in ``hil.pytestplugin.writers`` makes it ``live``:
rewritten atomically after every finished test, so an interrupted run always leaves a complete file."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from junit_xml import TestCase, TestSuite, to_xml_report_string

from hil.core.errors import SetupError
from hil.pytestplugin.results import CaseResult, RunRecord, Suite, fmt_time
from hil.pytestplugin.text import clean
from hil.pytestplugin.writers import replace_file

if TYPE_CHECKING:
    from hil.pytestplugin.writers import WriterOptions

__all__ = ["earlier_reports", "fmt_time", "junit_document", "to_xml", "validate_junit", "write"]


class _SchemaSuite(TestSuite):  # type: ignore[misc]
    """junit-xml's TestSuite minus what junit-10.xsd rejects (``disabled``, exponent times).

    The XML is produced by ``junit-xml``; those two things it emits that the Jenkins xUnit
    schema (junit-10.xsd) rejects are fixed after the fact (here and in ``_fix_root``).
    """

    def build_xml_doc(self, encoding: str | None = None) -> Any:
        element = super().build_xml_doc(encoding=encoding)
        element.attrib.pop("disabled", None)
        element.set("time", fmt_time(float(element.get("time") or 0)))
        return element


_ROOT_TAG = re.compile(r"<testsuites\b[^>]*>")


def _fix_root(xml: str) -> str:
    """Drop ``disabled`` from and reformat ``time`` of the ``<testsuites>`` tag (schema validity)."""

    def fix(match: re.Match[str]) -> str:
        tag = re.sub(r'\sdisabled="[^"]*"', "", match.group(0))
        return re.sub(r'\btime="([^"]*)"', lambda t: f'time="{fmt_time(float(t.group(1)))}"', tag)

    return _ROOT_TAG.sub(fix, xml, count=1)


def junit_document(
    suites: Iterable[Suite], all_properties: dict[str, dict[str, str]], hostname: str, exitstatus: int | None
) -> str:
    """The JUnit XML document of ``suites`` (their properties by suite name), valid against junit-10.xsd."""
    elements = []
    for suite in suites:
        properties = all_properties[suite.name]
        if exitstatus is not None:
            properties["pytest.exitstatus"] = str(exitstatus)
        stamp = datetime.fromtimestamp(suite.started, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        elements.append(
            _SchemaSuite(
                clean(suite.name),
                [_test_case(c) for c in suite.cases],
                hostname=clean(hostname),
                timestamp=stamp,
                properties=properties or None,
            )
        )
    return _fix_root(to_xml_report_string(elements, prettyprint=True, encoding="utf-8"))


def to_xml(record: RunRecord) -> str:
    """The record as a JUnit XML document (schema-valid against junit-10.xsd)."""
    return junit_document(record.suites, record.suite_properties(), record.hostname, record.exitstatus)


def write(record: RunRecord, path: Path, options: WriterOptions) -> None:
    """Write the record's JUnit report to ``path`` (atomically: a temporary file, then ``os.replace``)."""
    replace_file(path, to_xml(record).encode("utf-8"))


def earlier_reports(folders: Iterable[Path], current: Path | None = None) -> list[Path]:
    """The JUnit reports of earlier runs (``--hil-history``): each folder's own (``junit.xml``, the writers'
    table's name for it), or those of the report folders a folder holds; oldest first (by folder name).
    The ``current`` report folder is never one of them (``--history reports`` with ``--reports reports``)."""
    from hil.pytestplugin.writers import writer

    name = writer("junit").file_name
    found: list[Path] = []
    for folder in map(Path, folders):
        if (folder / name).is_file():
            found.append(folder)
        elif folder.is_dir():
            found += sorted(p for p in folder.iterdir() if (p / name).is_file())
    if current is not None:
        found = [f for f in found if f.resolve() != Path(current).resolve()]
    return [folder / name for folder in sorted(found, key=lambda p: p.name)]


def _test_case(case: CaseResult) -> TestCase:
    """The ``<testcase>`` of one finished test."""
    tc = TestCase(
        case.name,
        classname=case.classname,
        elapsed_sec=round(case.duration, 6),
        stdout=case.system_out,
        stderr=case.qvm_log or None,
    )
    if case.outcome == "failed":
        tc.add_failure_info(message=case.message, output=case.details or None)
    elif case.outcome == "error":
        tc.add_error_info(
            message=case.message,
            output=case.details or None,
            error_type="infrastructure" if case.infrastructure is not None else None,
        )
    elif case.outcome == "skipped":
        tc.add_skipped_info(message=case.message)
    return tc


@lru_cache(maxsize=4)
def _xmlschema_for(xsd: str) -> Any:
    import xmlschema

    return xmlschema.XMLSchema(xsd)


def validate_junit(path: Path, xsd: Path, validator: str = "auto") -> list[str]:
    """Problems of the report ``path`` against the schema ``xsd`` ([] when valid).

    ``validator`` is ``xmlschema`` (the Python package), ``xmllint``
    (libxml2-utils) or ``auto`` (the first available, in that order). Raises
    SetupError when no validator is available or the schema cannot be read,
    so a missing validator never passes for a valid report.
    """
    path, xsd = Path(path), Path(xsd)
    if not xsd.is_file():
        raise SetupError(f"JUnit schema {xsd} not found; pass the path of junit-10.xsd")
    if not path.is_file():
        return [f"{path}: report not found"]
    if validator not in ("auto", "xmlschema", "xmllint"):
        raise ValueError(f"validate_junit: unknown validator {validator!r}; use auto, xmlschema or xmllint")
    if validator in ("auto", "xmlschema"):
        try:
            schema = _xmlschema_for(str(xsd.resolve()))
        except ImportError:
            if validator == "xmlschema":
                raise SetupError(
                    "validate_junit: the xmlschema package is not installed; "
                    "pip install xmlschema (or use validator='xmllint')"
                ) from None
        else:
            try:
                return [f"{path}: {e.path or '/'}: {e.reason or e.message}" for e in schema.iter_errors(str(path))]
            except Exception as exc:  # noqa: BLE001 - a not-well-formed file is a finding, not a crash
                return [f"{path}: not well-formed XML: {exc}"]
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        raise SetupError(
            "validate_junit: no XML schema validator: install the xmlschema package "
            "(pip install xmlschema) or xmllint (apt-get install libxml2-utils)"
        )
    proc = subprocess.run(
        [xmllint, "--noout", "--schema", str(xsd), str(path)], capture_output=True, text=True, check=False
    )
    if proc.returncode == 0:
        return []
    if proc.returncode == 5:
        raise SetupError(f"validate_junit: xmllint cannot use schema {xsd}: {proc.stderr.strip()}")
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.endswith(" fails to validate")]
    return lines or [f"{path}: xmllint exit status {proc.returncode}"]
