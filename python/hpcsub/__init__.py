"""hpcsub from Python: run one YAML job on threads, MPI ranks, Slurm or HTCondor arrays, with
the same bits everywhere.

    >>> import hpcsub
    >>> result = hpcsub.run("jobs/quadratic.yaml")
    >>> result.result["mean"]
    -9.457258099131486e-06
    >>> run = hpcsub.submit("jobs/quadratic.yaml", to="slurm", wait=True)
    >>> run.gather().result == result.result
    True

Or hand it Python functions, as to ``concurrent.futures``:

    >>> with hpcsub.Executor(to="slurm", slices=4) as executor:
    ...     squares = list(executor.map(lambda x: x * x, range(100)))

A job is the path of a job file or a dict with the structure of one. Every function runs the
``hpcsub`` command this package installed (``hpcsub.binary()`` gives its path) and reads its
``--json`` report; errors are exceptions: ``JobFileError``, ``RunError``, ``IncompleteRun``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._calls import DependencyFailed, RemoteError
    from ._command import binary
    from .api import Run, check, run, submit
    from .errors import HpcsubError, IncompleteRun, JobFileError, RunError
    from .executor import Executor, HpcsubFuture, TaskFailed
    from .results import Plan, Result, Status

# Each name is imported from its module when first used: a worker process of the Executor
# imports only what it needs (hpcsub._worker), not the whole API, once per thread of a slice.
_HOMES = {
    "DependencyFailed": "_calls",
    "RemoteError": "_calls",
    "binary": "_command",
    "Run": "api",
    "check": "api",
    "run": "api",
    "submit": "api",
    "HpcsubError": "errors",
    "IncompleteRun": "errors",
    "JobFileError": "errors",
    "RunError": "errors",
    "Executor": "executor",
    "HpcsubFuture": "executor",
    "TaskFailed": "executor",
    "Plan": "results",
    "Result": "results",
    "Status": "results",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = _version()
        return globals()[name]
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hpcsub' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES, "__version__"])


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hpcsub")
    except Exception:  # not installed (run from a source tree)
        return "unknown"


__all__ = [
    "binary",
    "check",
    "run",
    "submit",
    "Run",
    "Plan",
    "Result",
    "Status",
    "HpcsubError",
    "JobFileError",
    "RunError",
    "IncompleteRun",
    "Executor",
    "HpcsubFuture",
    "TaskFailed",
    "DependencyFailed",
    "RemoteError",
]
