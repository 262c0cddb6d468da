"""The progress bar ``aftersales check`` shows on a terminal while it reads and checks."""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """A one-line progress bar on a terminal: ``检查会话 1200/8000 [####......] 15% 3s``.

    Redrawn at most ten times a second; `close` clears the line.  Write nothing
    (use `Progress.disabled()`) when the stream is not a terminal: a log file
    full of carriage returns helps nobody.
    """

    _WIDTH = 24

    def __init__(self, total: int, stream: TextIO | None, label: str = "检查会话") -> None:
        self.total = total
        self._stream = stream
        self._label = label
        self._started = time.monotonic()
        self._last = 0.0
        self._shown = False

    @classmethod
    def disabled(cls) -> Progress:
        return cls(0, None)

    def update(self, done: int) -> None:
        stream = self._stream
        if stream is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (not self.total or done < self.total):
            return
        self._last = now
        elapsed = now - self._started
        if not self.total:
            # Nothing to count yet (workers are still reading): say what is going on.
            stream.write(f"\r{self._label} …")
        else:
            fraction = done / self.total
            filled = int(self._WIDTH * fraction)
            bar = "#" * filled + "." * (self._WIDTH - filled)
            stream.write(
                f"\r{self._label} {done}/{self.total} [{bar}] {fraction:4.0%} {elapsed:5.1f}s"
            )
        stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._stream is not None and self._shown:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
