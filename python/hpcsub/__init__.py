"""hpcsub from Python: run one YAML job on threads, MPI ranks, Slurm or HTCondor arrays, with
the same bits everywhere.

    >>> import hpcsub
    >>> result = hpcsub.run("jobs/quadratic.yaml")
    >>> result.result["mean"]
    -9.457258099131486e-06
    >>> run = hpcsub.submit("jobs/quadratic.yaml", to="slurm", wait=True)
    >>> run.gather().result == result.result
    True

A job is the path of a job file or a dict with the structure of one. Every function runs the
``hpcsub`` command this package installed (``hpcsub.binary()`` gives its path) and reads its
``--json`` report; errors are exceptions: ``JobFileError``, ``RunError``, ``IncompleteRun``.
"""

from __future__ import annotations

from ._command import binary
from .api import Run, check, run, submit
from .errors import HpcsubError, IncompleteRun, JobFileError, RunError
from .results import Plan, Result, Status


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hpcsub")
    except Exception:  # not installed (run from a source tree)
        return "unknown"


__version__ = _version()

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
]
