"""Output tails: the last lines or characters of a program's output, for error messages and reports."""

from __future__ import annotations


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
