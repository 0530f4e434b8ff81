"""The worker of ``hpcsub.Executor``: ``python .../hpcsub/_worker.py BATCH_DIR LEVEL``.

hpcsub starts it once per thread of a slice (``tasks.worker: true``) and hands it one task at a
time as a JSON line on stdin; it answers ``{"task": N, "exit": CODE}`` on its original stdout.
Each task is one call of the batch: its function, unpickled with its arguments (futures of other
calls become their results), runs with stdout and stderr appended to the task's log files. The
return value goes to ``{outdir}/result.pkl``; an exception to ``{outdir}/exception.pkl`` with its
traceback (and on stderr), and the task still exits 0 (it has an outcome) except in a
``map_reduce``. For ``map_reduce``, the value is also printed as the JSON object hpcsub reduces
exactly.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
import traceback
from pathlib import Path
from typing import Any, Optional, TextIO

import cloudpickle

if not __package__:
    # Run by its path (as the executor does, so that an interpreter without hpcsub installed
    # can serve too, given cloudpickle): its package is the directory above.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "hpcsub"

from . import _calls  # noqa: E402


def reducible(value: Any) -> dict[str, Any]:
    """A function's value as ``result: json`` reduces it: a number or an array under ``value``,
    a dict key by key, a histogram as ``{"edges", "counts"}`` (hist and boost-histogram objects
    and numpy histograms by duck typing, without importing them)."""
    converted = _reducible(value)
    keyed = isinstance(value, dict) and not ("edges" in value and "counts" in value)
    return converted if keyed else {"value": converted}


def _reducible(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        if "edges" in value and "counts" in value:
            return {"edges": [float(e) for e in value["edges"]], "counts": [int(c) for c in value["counts"]]}
        return {str(key): _reducible(item) for key, item in value.items()}
    axes = getattr(value, "axes", None)
    if axes is not None and callable(getattr(value, "values", None)) and len(axes) == 1:
        # A hist.Hist or boost_histogram.Histogram of one axis: its bin edges and counts.
        return {"edges": [float(e) for e in axes[0].edges], "counts": [int(c) for c in value.values()]}
    if hasattr(value, "tolist"):
        # A numpy array or scalar.
        return _reducible(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_reducible(item) for item in value]
    raise TypeError(
        f"map_reduce reduces numbers, arrays, dicts of them and histograms; the function returned {type(value).__name__}"
    )


class _Redirected:
    """The process's fds 1 and 2 on a task's logs while it runs."""

    def __init__(self, stdout: str, stderr: str, home_out: int, home_err: int) -> None:
        self._paths = (stdout, stderr)
        self._homes = (home_out, home_err)

    def __enter__(self) -> None:
        # stdout is the last attempt's (hpcsub reads the result from it); stderr keeps every
        # attempt's, after hpcsub's notes.
        for fd, path, mode in zip((1, 2), self._paths, (os.O_TRUNC, os.O_APPEND)):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o644)
            os.dup2(handle, fd)
            os.close(handle)

    def __exit__(self, *exc: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, home in zip((1, 2), self._homes):
            os.dup2(home, fd)


def run_call(calls: _calls.Reader, level: int, request: dict[str, Any], reduce: bool) -> int:
    task = int(request["task"])
    directory = Path(request["outdir"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (_calls.RESULT, _calls.EXCEPTION):
        (directory / stale).unlink(missing_ok=True)
    os.environ["HPCSUB_TASK"] = str(task)
    try:
        fn, args, kwargs = calls.load(level, task)
        value = fn(*args, **kwargs)
        data = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        if reduce:
            line = json.dumps(reducible(value), allow_nan=False)
    except BaseException as error:  # the task's failure, whatever it is, is its result
        text = traceback.format_exc()
        sys.stderr.write(text)
        _calls.atomic_write(directory / _calls.EXCEPTION, _saved_exception(error, text))
        # A raised exception is the future's outcome, as a value is: the task succeeds, so the
        # calls of later levels run (those that take this one's future raise DependencyFailed).
        # map_reduce's calls have no future; there the task fails, and is left out of the
        # reduction.
        return 1 if reduce else 0
    _calls.atomic_write(directory / _calls.RESULT, data)
    if reduce:
        sys.stdout.write("\n" + line + "\n")
    return 0


def _saved_exception(error: BaseException, text: str) -> bytes:
    try:
        data: bytes = cloudpickle.dumps({"exception": error, "traceback": text})
    except Exception:
        plain = _calls.RemoteError(f"{type(error).__module__}.{type(error).__qualname__}: {error}")
        data = cloudpickle.dumps({"exception": plain, "traceback": text})
    return data


def main(argv: Optional[list[str]] = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    batch, level = Path(arguments[0]), int(arguments[1])
    meta = json.loads((batch / "meta.json").read_text())
    for entry in reversed(meta["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    # The protocol keeps private copies of fds 0 and 1; the calls get /dev/null as stdin and
    # the task's logs as stdout and stderr.
    requests: TextIO = os.fdopen(os.dup(0), "r", encoding="utf-8")
    answers: TextIO = os.fdopen(os.dup(1), "w", encoding="utf-8")
    home_err = os.dup(2)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    calls = _calls.Reader(batch)
    for line in requests:
        request = json.loads(line)
        with _Redirected(request["stdout"], request["stderr"], null, home_err):
            code = run_call(calls, level, request, bool(meta.get("reduce")))
        answers.write(json.dumps({"task": request["task"], "exit": code}) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
