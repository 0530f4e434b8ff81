"""The exceptions of the hpcsub API: every failure the command reports with an exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .results import Result


class HpcsubError(Exception):
    """Anything the ``hpcsub`` command reported as an error (the base of the others)."""

    def __init__(self, message: str, *, exit_code: int, error: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        #: The exit code of the command: 1 failed, 2 bad input, 3 incomplete.
        self.exit_code = exit_code
        #: The ``error`` object of the command's JSON, as it printed it.
        self.error = error


class JobFileError(HpcsubError, ValueError):
    """The job file (or the dict given as a job) is not a valid job: where, what, and a hint.

    ``str()`` is the error as the command line renders it, with the offending line.
    """

    def __init__(self, error: dict[str, Any], *, source: Optional[str] = None) -> None:
        super().__init__(error.get("message", ""), exit_code=int(error.get("exit_code", 2)), error=error)
        #: The job file; for a job given as a dict, the temporary file it was written to.
        self.file: Optional[str] = error.get("file")
        #: Line and column of the problem, counted from 1.
        self.line: Optional[int] = error.get("line")
        self.column: Optional[int] = error.get("column")
        #: A suggestion, when one is obvious.
        self.hint: Optional[str] = error.get("hint")
        #: For a job given as a dict: the YAML written for it, which ``line`` counts in.
        self.source = source
        self._rendered: str = error.get("rendered") or self.message

    def __str__(self) -> str:
        return self._rendered


class RunError(HpcsubError, RuntimeError):
    """The command failed (exit code 1, or 2 for a usage error): tasks failed, a scheduler
    refused, a run directory could not be read.

    When the run finished with some tasks failed, ``result`` is the result of those that
    succeeded and ``json`` the whole report.
    """

    def __init__(
        self,
        error: dict[str, Any],
        *,
        json: Optional[dict[str, Any]] = None,
        result: Optional["Result"] = None,
    ) -> None:
        super().__init__(
            error.get("message", "hpcsub failed"),
            exit_code=int(error.get("exit_code", 1)),
            error=error,
        )
        #: ``run``, ``usage``, ``failed``, ``checkpointed`` (as in the JSON).
        self.kind: str = error.get("kind", "run")
        self.json = json
        self.result = result


class IncompleteRun(RunError):
    """A gather found slices that are not done (exit code 3): nothing was reduced.

    ``missing`` and ``corrupt`` list the slice indices; ``problems`` gives each slice's state,
    the reason, and its logs, as ``hpcsub gather --json`` does.
    """

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__(report.get("error", {}), json=report)
        self.missing: list[int] = list(report.get("missing", []))
        self.corrupt: list[int] = list(report.get("corrupt", []))
        self.problems: list[dict[str, Any]] = list(report.get("problems", []))
        self.run_dir: Optional[str] = report.get("run_dir")

    def __str__(self) -> str:
        lines = [self.message]
        for problem in self.problems:
            lines.append(f"  slice {problem.get('slice')}: {problem.get('problem', problem.get('reason', ''))}")
        return "\n".join(lines)
