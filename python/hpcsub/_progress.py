"""Progress of a running command, from the JSON lines ``hpcsub --progress json`` writes on
stderr: a bar that updates in place in a notebook, a line of text elsewhere."""

from __future__ import annotations

import html
import json
import sys
import time
from typing import Any, Optional, Protocol

#: How often a line is written when stderr is not a terminal (a log file): rarely, and not at
#: all for a call shorter than this.
_LOG_INTERVAL = 10.0
#: A line on a terminal is drawn only once a call has lasted this long, so quick calls in a
#: loop leave the terminal alone.
_TERMINAL_DELAY = 0.5


def parse(line: str) -> Optional[dict[str, Any]]:
    """The progress object of a line ``{"progress": {...}}``, else None."""
    if not line.startswith('{"progress"'):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    progress = value.get("progress") if isinstance(value, dict) else None
    return progress if isinstance(progress, dict) else None


class Display(Protocol):
    def update(self, progress: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def display(label: str) -> Display:
    """A notebook bar inside Jupyter, else text on stderr."""
    if _in_notebook():
        return _NotebookBar(label)
    return _TextLine(label)


def _in_notebook() -> bool:
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def describe(progress: dict[str, Any], elapsed: float) -> str:
    """``12.3M/200M samples (6%), ETA 14 s``, with the other counts the command sent."""
    done, total, unit = progress.get("done", 0), progress.get("total", 0), progress.get("unit", "")
    text = f"{_count(done)}/{_count(total)} {unit}"
    if total:
        text += f" ({100 * done / total:.0f}%)"
    others = [f"{value} {key}" for key, value in progress.items() if key not in ("done", "total", "unit")]
    if others:
        text += ", " + ", ".join(others)
    if 0 < done < total and elapsed > 0.5:
        text += f", ETA {elapsed * (total - done) / done:.0f} s"
    return text


def fraction(progress: dict[str, Any]) -> float:
    total = progress.get("total") or 0
    return min(1.0, progress.get("done", 0) / total) if total else 0.0


def _count(n: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:g}"


class _NotebookBar:
    """An HTML ``<progress>`` in the cell's output, updated in place (IPython's display
    handles; no widget library needed)."""

    def __init__(self, label: str) -> None:
        from IPython import display

        # IPython has no type hints: its module and the display handle are used as Any.
        self._ipython: Any = display
        self._label = label
        self._started = time.monotonic()
        self._handle: Any = self._ipython.display(self._ipython.HTML(self._render(None)), display_id=True)

    def _render(self, progress: Optional[dict[str, Any]]) -> str:
        if progress is None:
            return f"<div><b>{html.escape(self._label)}</b>: starting</div>"
        text = describe(progress, time.monotonic() - self._started)
        return (
            f"<div><b>{html.escape(self._label)}</b> "
            f'<progress value="{fraction(progress):.4f}" max="1" style="width: 40%"></progress> '
            f"{html.escape(text)}</div>"
        )

    def update(self, progress: dict[str, Any]) -> None:
        self._handle.update(self._ipython.HTML(self._render(progress)))

    def close(self) -> None:
        pass


class _TextLine:
    """One line redrawn in place on a terminal; an occasional line in a log."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._started = time.monotonic()
        self._terminal = sys.stderr.isatty()
        self._last = self._started
        self._drawn = False

    def update(self, progress: dict[str, Any]) -> None:
        now = time.monotonic()
        elapsed = now - self._started
        text = f"{self._label}: {describe(progress, elapsed)}"
        if self._terminal and elapsed >= _TERMINAL_DELAY:
            sys.stderr.write("\r\x1b[2K" + text)
            self._drawn = True
        elif not self._terminal and now - self._last >= _LOG_INTERVAL:
            sys.stderr.write(text + "\n")
            self._last = now
        else:
            return
        sys.stderr.flush()

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
