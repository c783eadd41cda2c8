"""Text from programs for people: output tails, secrets masked, and the one terminal sanitiser.

``terminal_safe`` is applied to every message, summary and report line built from target or vdev
text (assertion and error messages, infrastructure causes, sanitizer findings, vdev warnings, the
sweep's table): what a guest, a vdev or a board prints can never drive the reader's terminal
(OSC 52 clipboard writes, OSC 0 titles, screen clears), hide text (C1 controls, a bare CR) or
reorder it (Unicode bidi overrides).
"""

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


#: Escape sequences (7-bit and 8-bit forms): CSI ... final, OSC ... BEL/ST, DCS/SOS/PM/APC ... ST, ESC x.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)
#: What is left that a terminal acts on: C0 but TAB and LF, DEL, C1, and the bidi/format controls.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str, escape: bool = True) -> str:
    """``text`` safe to show on a terminal, in a summary or a report: escape sequences removed
    (colours, cursor moves, OSC titles and clipboard writes), every other control character shown
    as an escape (``\\x07``, ``\\u202e``), or dropped with ``escape=False`` (a console log in a
    report); CRLF becomes LF, tabs and newlines stay."""
    if text.isprintable():
        return text
    text = _SEQUENCES.sub("", text.replace("\r\n", "\n"))
    if not escape:
        return _CONTROLS.sub("", text)
    return _CONTROLS.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


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
