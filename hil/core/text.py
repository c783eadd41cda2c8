"""Output tails: the last lines or characters of a program's output, for error messages and reports."""

from __future__ import annotations

import re


def tail_lines(text: str | bytes, count: int, *, skip_blank: bool = False) -> list[str]:
    """The last ``count`` lines of ``text`` (bytes are decoded as UTF-8, bad bytes replaced);
    ``skip_blank``: blank lines do not count and are left out."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if skip_blank:
        lines = [line for line in lines if line.strip()]
    return lines[-count:] if count > 0 else []


def tail_chars(text: str | bytes, limit: int = 2000) -> str:
    """``text`` (bytes decoded as UTF-8) cut to its last ``limit`` characters, ``...`` marking a cut."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text if len(text) <= limit else "..." + text[-limit:]


_SECRETS = (
    # user:password@ in a URL
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1***@"),
    # curl/wget style -u USER:PASS, --user USER:PASS, --user=USER:PASS
    (re.compile(r"((?:^|\s)(?:-u|--user|--proxy-user)(?:\s+|=)['\"]?[^:\s'\"]+:)[^\s'\"]+"), r"\1***"),
    # -p PASS / --pass PASS (sshpass, ipmitool, ...)
    (re.compile(r"((?:^|\s)(?:-p|-P|--pass)\s+)['\"]?[^\s'\"]+['\"]?"), r"\1***"),
    # password=..., --password=..., TOKEN=..., api_key: ... (env-style and option-style)
    (
        re.compile(
            r"(?i)(\b[\w.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|credentials?)[\w.-]*"
            r"(?:\s*[=:]\s*|\s+(?=['\"]?[^\s-])))(['\"]?)[^\s'\"&;]+"
        ),
        r"\1\2***",
    ),
    # Authorization: Bearer/Basic ...
    (re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
)


def mask_secrets(command: str) -> str:
    """``command`` with its secrets as ``***``, for showing it anywhere (errors, reports, logs): passwords
    in URLs (``http://user:***@host``), ``-u user:***``, ``password=***``, ``TOKEN=***``, ``-p ***``,
    ``Bearer ***``."""
    for pattern, replacement in _SECRETS:
        command = pattern.sub(replacement, command)
    return command
