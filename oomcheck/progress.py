"""Progress on stderr: one line redrawn in place on a terminal, plain lines anywhere else.

A long search reports every few seconds. On a terminal a status line that rewrites itself says
the same without scrolling the results away; in CI logs, pipes and files carriage returns and
escape codes are noise, so there each report is an ordinary line. Why not a library (rich,
tqdm): the engine already decides when to report, so all that is left is this choice and a
cleared line at the end; rich would add its import time to every short check, and tqdm hides
itself on a non-terminal instead of printing plain lines (README, "Library choices").
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TextIO

CLEAR = "\r\x1b[K"  # back to column 0, erase to the end of the line


def is_live(stream: TextIO) -> bool:
    """Whether to redraw one line: a terminal that understands it, and not a CI job (some CI
    runners give jobs a pseudo-terminal, whose log would keep every redraw)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return tty and os.environ.get("TERM", "") != "dumb" and not os.environ.get("CI")


class StatusLine:
    """Shows progress messages on `stream`; `close()` (or leaving a `with` block) clears a live
    line, so that what is printed next starts on a clean line."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = is_live(self.stream) if live is None else live
        self.shown = False

    def show(self, text: str) -> None:
        if not self.live:
            print(text, file=self.stream, flush=True)
            return
        # one character short of the width: a full-width line wraps on some terminals, and the
        # carriage return would then redraw only its second row
        keep = shutil.get_terminal_size().columns - 1
        if len(text) > keep:
            text = text[: keep - 3] + "..." if keep > 3 else text[: max(keep, 0)]
        self.stream.write(CLEAR + text)
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self.shown = False

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SearchProgress:
    """The explicit engine's progress callback (states, depth, seconds) over a StatusLine."""

    def __init__(self, label: str, status: StatusLine | None = None) -> None:
        self.label = label
        self.status = status if status is not None else StatusLine()

    def __call__(self, states: int, depth: int, seconds: float) -> None:
        rate = states / seconds if seconds else 0.0
        self.status.show(f"oomcheck: [{self.label}] {states:,} states, depth {depth}, "
                         f"{seconds:.0f} s, {rate:,.0f} states/s")

    def close(self) -> None:
        self.status.close()
