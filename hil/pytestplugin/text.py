"""Report text: XML-safe, free of terminal escapes, bounded with a note, or cut to one line."""

from __future__ import annotations

from hil.core.text import terminal_safe

#: A failure/error message is one line of at most this many characters.
MESSAGE_MAX = 500


def terminal_text(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves) of a serial console, and every
    other control character dropped (``hil.core.text.terminal_safe``)."""
    return terminal_safe(text, escape=False)


def clean(text: str) -> str:
    """``text`` without lone surrogates (junit-xml strips every other XML-invalid character)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def bound_text(text: str, limit: int, full_log: str | None = None) -> str:
    """``text`` if it has at most ``limit`` characters, else its tail under a note line.

    The note reads ``[... N bytes cut; full log: FULL_LOG]`` (N counts UTF-8
    bytes of the dropped head); the result, note included, has at most
    ``limit`` characters and starts at a line boundary when one is near.
    """
    if len(text) <= limit:
        return text
    where = f"full log: {full_log}" if full_log else "full log not kept"

    def note(cut_bytes: int) -> str:
        return f"[... {cut_bytes} bytes cut; {where}]\n"

    keep = limit - len(note(len(text.encode("utf-8", "replace"))))
    if keep <= 0:
        return note(len(text.encode("utf-8", "replace")))[:limit]
    cut = len(text) - keep
    newline = text.find("\n", cut, cut + 1024)
    if newline != -1:
        cut = newline + 1
    return note(len(text[:cut].encode("utf-8", "replace"))) + text[cut:]


def one_line(text: str) -> str:
    """The first non-empty line of ``text``, at most MESSAGE_MAX characters."""
    for line in text.splitlines():
        if line.strip():
            line = terminal_safe(line.strip())
            return line if len(line) <= MESSAGE_MAX else line[: MESSAGE_MAX - 3] + "..."
    return ""
