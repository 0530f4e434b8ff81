"""The functions and the ``Run`` class of the hpcsub API: each is one ``hpcsub`` command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional, Union

from ._command import Job, invoke, job_file
from .results import Plan, Result, Status

Scheduler = Literal["slurm", "condor"]
SlurmMode = Literal["array", "mpi"]


def check(job: Job) -> Plan:
    """Validates ``job`` and returns its plan (``hpcsub check``): slices, threads, memory, the
    code path of this machine and the estimated time here.

    ``job`` is the path of a job file, or a dict with the structure of one.

    Raises ``JobFileError`` if the job is not valid.
    """
    with job_file(job) as (path, source):
        value = invoke(["check", path], source=source)
    return Plan(value)


def run(
    job: Job,
    *,
    threads: Optional[int] = None,
    samples: Union[int, str, None] = None,
    seed: Optional[int] = None,
    progress: bool = True,
) -> Result:
    """Runs ``job`` here on all cores (``hpcsub run``) and returns its result.

    ``threads``, ``samples`` (an int, or text such as ``"200M"``) and ``seed`` override the
    job file's. ``progress`` shows a bar (in a notebook) or a line of text while it runs.

    Raises ``JobFileError`` for an invalid job, ``RunError`` if it fails (if some of its tasks
    failed, the error's ``result`` holds the others').
    """
    arguments = ["run"]
    for flag, given in (("--threads", threads), ("--samples", samples), ("--seed", seed)):
        if given is not None:
            arguments += [flag, str(given)]
    with job_file(job) as (path, source):
        value = invoke([*arguments, path], progress=progress, label=_label(job, path), source=source)
    return Result(value)


def submit(
    job: Job,
    *,
    to: Scheduler,
    mode: Optional[SlurmMode] = None,
    run_dir: Union[str, "os.PathLike[str]", None] = None,
    wait: bool = False,
    dry_run: bool = False,
) -> "Run":
    """Writes a run directory for ``job`` and submits it to Slurm or HTCondor
    (``hpcsub submit``); returns the ``Run``.

    ``mode`` is Slurm's ``"array"`` (the default) or ``"mpi"``. ``run_dir`` defaults to
    ``runs/<name>-<UTC timestamp>`` in the current directory. With ``wait``, returns once every
    job has left the queue and the run was gathered (``Run.gather()`` then gives the result at
    once); with ``dry_run``, writes the files and submits nothing (``Run.commands`` says what
    would be submitted).
    """
    if to not in ("slurm", "condor"):
        raise ValueError(f"to must be 'slurm' or 'condor', not {to!r}")
    if mode not in (None, "array", "mpi"):
        raise ValueError(f"mode must be 'array' or 'mpi', not {mode!r}")
    if wait and dry_run:
        raise ValueError("wait and dry_run exclude each other: a dry run submits nothing")
    arguments = ["submit", "--to", to]
    if mode is not None:
        arguments += ["--mode", mode]
    if run_dir is not None:
        arguments += ["--run-dir", os.fspath(run_dir)]
    if dry_run:
        arguments.append("--dry-run")
    with job_file(job) as (path, source):
        value = invoke([*arguments, path], source=source)
    submitted = Run(value["run_dir"])
    submitted.commands = value.get("commands")
    if wait:
        submitted.wait()
    return submitted


class Run:
    """A submitted run, by its run directory: what ``hpcsub submit`` returns, or one reopened
    with ``Run("runs/quadratic-20261124T113500Z")``. A workflow's run directory works too: its
    status, result and errors are those of every step."""

    def __init__(self, run_dir: Union[str, "os.PathLike[str]"]) -> None:
        path = Path(run_dir)
        # A job's run directory has a manifest; a workflow's, its steps' record.
        if not any((path / name).is_file() for name in ("manifest.json", "workflow.json")):
            raise FileNotFoundError(
                f"{path} is not a run directory (it has neither manifest.json nor workflow.json)"
            )
        #: The run directory, absolute.
        self.run_dir = path.resolve()
        #: For a dry run: the commands that would submit it (run in the run directory).
        self.commands: Optional[list[list[str]]] = None

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r})"

    def __fspath__(self) -> str:
        return str(self.run_dir)

    def status(self) -> Status:
        """Where every slice stands: done, running, pending, failed or missing, and why."""
        value = invoke(["status", str(self.run_dir)])
        return Status(value)

    def wait(self, *, progress: bool = True) -> Result:
        """Waits until every job of the run has left the queue, showing the slices done, then
        gathers it (``hpcsub wait``).

        Raises ``IncompleteRun`` if slices are missing or corrupt, ``RunError`` if tasks failed
        or the run has no job (a dry run).
        """
        value = invoke(["wait", str(self.run_dir)], progress=progress, label=self.run_dir.name)
        return Result(value)

    def gather(self) -> Result:
        """Reduces the parts of every slice into the result (``hpcsub gather``).

        Raises ``IncompleteRun`` with the slices that are not done and why.
        """
        value = invoke(["gather", str(self.run_dir)])
        return Result(value)

    def cancel(self) -> list[str]:
        """Cancels every job of the run; returns their ids."""
        value = invoke(["cancel", str(self.run_dir)])
        return list(value.get("job_ids", []))

    def resubmit(self, *, wait: bool = False, dry_run: bool = False) -> "Run":
        """Submits again the slices that failed or are missing (never those still queued) and a
        new gather (``hpcsub resubmit``); with ``wait``, returns once they have left the queue."""
        if wait and dry_run:
            raise ValueError("wait and dry_run exclude each other: a dry run submits nothing")
        arguments = ["resubmit", str(self.run_dir)]
        if dry_run:
            arguments.append("--dry-run")
        value = invoke(arguments)
        self.commands = value.get("commands")
        if wait:
            self.wait()
        return self


def _label(job: Job, path: str) -> str:
    if isinstance(job, dict):
        return str(job.get("name", "job"))
    return Path(path).stem


__all__ = ["check", "run", "submit", "Run"]
