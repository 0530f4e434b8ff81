"""The calls of one batch of ``hpcsub.Executor``, as they travel to the workers.

A batch directory holds:

- ``calls.pkl``: each call ``(fn, args, kwargs)`` pickled by value with cloudpickle, one after
  another; ``calls.json`` gives each call's level (a workflow step), task id and byte range;
- ``shared.pkl``: the objects that several calls of the batch share (the function of a ``map``,
  a large array passed to every call), written once and loaded once per worker;
- ``meta.json``: the submitter's ``sys.path`` and whether results are reduced.

Inside a call's pickle, a shared object is a persistent id ``("shared", i)``, and a future of
another call is ``("call", level, task)`` (same batch) or ``("path", DIR)`` (an earlier one): the
worker loads that call's result from its task's outdir when it unpickles the call.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Optional

import cloudpickle

RESULT = "result.pkl"
EXCEPTION = "exception.pkl"

#: Objects smaller than this are pickled into each call rather than shared.
_SHARED_MIN_BYTES = 4096


def level_dir(run: Path, level: int) -> Path:
    """The run directory of one level (workflow step) of a batch's run."""
    return run / "steps" / f"level{level}"


def outdir(run: Path, level: int, task: int) -> Path:
    """A call's ``{outdir}``, where its worker leaves its result or exception."""
    return level_dir(run, level) / "outputs" / f"task-{task}"


class DependencyFailed(RuntimeError):
    """A call's argument was the future of a call that failed: the call did not run.

    ``__cause__`` is that call's exception.
    """


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    def __init__(self, file: io.BytesIO, persistent: Callable[[Any], Optional[tuple[Any, ...]]]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._persistent = persistent

    def persistent_id(self, obj: Any) -> Optional[tuple[Any, ...]]:
        return self._persistent(obj)


def dumps(value: Any, persistent: Callable[[Any], Optional[tuple[Any, ...]]]) -> bytes:
    """``value`` pickled by value, with ``persistent(obj)`` naming the objects kept out of it."""
    buffer = io.BytesIO()
    _Pickler(buffer, persistent).dump(value)
    return buffer.getvalue()


def atomic_write(path: Path, data: bytes) -> None:
    """``data`` in ``path`` whole or not at all: a reader never sees half a result. There is no
    fsync (a quarter of a trivial call's cost): the file survives any crash of the processes,
    and only a crash of the machine itself before its kernel wrote the file out loses it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def load_outcome(directory: Path) -> tuple[bool, Any]:
    """What a finished call left in its outdir: ``(True, value)`` or ``(False, exception)``;
    ``FileNotFoundError`` if it left neither."""
    result = directory / RESULT
    if result.is_file():
        with open(result, "rb") as handle:
            return True, pickle.load(handle)
    with open(directory / EXCEPTION, "rb") as handle:
        return False, exception_of(pickle.load(handle))


def exception_of(saved: dict[str, Any]) -> BaseException:
    """The remote exception, with its traceback as its cause (as ProcessPoolExecutor does) and
    as a note."""
    exception: BaseException = saved["exception"]
    traceback_text = saved["traceback"]
    exception.__cause__ = RemoteTraceback(traceback_text)
    if hasattr(exception, "add_note"):
        exception.add_note(f"remote traceback (hpcsub task):\n{traceback_text}")
    return exception


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a task, as the task printed it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class RemoteError(Exception):
    """A task's exception that could not be pickled: its type's name and message."""


class Reader:
    """The calls of a batch, for a worker: ``load(level, task)`` gives ``(fn, args, kwargs)``."""

    def __init__(self, batch: Path) -> None:
        self.batch = batch
        self.run = batch / "run"
        index = json.loads((batch / "calls.json").read_text())
        self._ranges = {(level, task): (start, end) for level, task, start, end in index["calls"]}
        self._shared: Optional[list[Any]] = None
        self._data = open(batch / "calls.pkl", "rb")

    def shared(self, i: int) -> Any:
        if self._shared is None:
            with open(self.batch / "shared.pkl", "rb") as handle:
                self._shared = self._unpickler(handle).load()
        return self._shared[i]

    def _resolve(self, pid: tuple[Any, ...]) -> Any:
        kind = pid[0]
        if kind == "shared":
            return self.shared(pid[1])
        directory = outdir(self.run, pid[1], pid[2]) if kind == "call" else Path(pid[1])
        try:
            ok, value = load_outcome(directory)
        except FileNotFoundError:
            raise DependencyFailed(f"an argument is the future of a call that left no result ({directory})") from None
        if not ok:
            raise DependencyFailed(f"an argument is the future of a call that raised {type(value).__name__}: {value}") from value
        return value

    def _unpickler(self, handle: Any) -> pickle.Unpickler:
        unpickler = pickle.Unpickler(handle)
        unpickler.persistent_load = self._resolve  # type: ignore[method-assign]
        return unpickler

    def load(self, level: int, task: int) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        start, end = self._ranges[(level, task)]
        self._data.seek(start)
        fn, args, kwargs = self._unpickler(io.BytesIO(self._data.read(end - start))).load()
        return fn, args, kwargs


def shared_candidates(calls: list[tuple[Any, tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
    """The objects that two or more calls pass (the function, or an argument itself), except
    small ones: written once in ``shared.pkl``."""
    seen: dict[int, tuple[Any, int]] = {}
    for fn, args, kwargs in calls:
        for value in {id(v): v for v in (fn, *args, *kwargs.values())}.values():
            if isinstance(value, (bool, int, float, complex, type(None))):
                continue
            if isinstance(value, (str, bytes)) and len(value) < _SHARED_MIN_BYTES:
                continue
            if type(value).__name__ == "HpcsubFuture":
                continue
            entry = seen.get(id(value))
            seen[id(value)] = (value, (entry[1] if entry else 0) + 1)
    return [value for value, count in seen.values() if count > 1]
