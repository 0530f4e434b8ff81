"""What the API returns: the plan of a job, the result of a run, the status of a submitted run.

Each keeps the command's JSON object whole (``.json``), so nothing it reports is lost; the
properties are the parts most used.
"""

from __future__ import annotations

import html
from typing import Any, Optional, cast


class _Report:
    def __init__(self, json: dict[str, Any]) -> None:
        #: The whole JSON object the command printed.
        self.json = json

    def __getitem__(self, key: str) -> Any:
        return self.json[key]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.json!r})"


class Plan(_Report):
    """What ``hpcsub check`` says of a job: slices, threads, memory, code path, estimate."""

    @property
    def job(self) -> str:
        return str(self.json["job"])

    @property
    def slices(self) -> list[dict[str, Any]]:
        """Each slice (one MPI rank or array element) and the samples or tasks it computes."""
        return cast("list[dict[str, Any]]", self.json.get("slices", []))

    @property
    def threads(self) -> Optional[int]:
        """Threads of a local run here."""
        return self.json.get("threads")

    @property
    def code(self) -> Optional[str]:
        """The code path of this machine, e.g. ``native: AVX-512 machine code generated ...``."""
        return self.json.get("code")

    @property
    def estimated_s(self) -> Optional[float]:
        """Estimated seconds of a local run here (compute jobs)."""
        return self.json.get("estimated_s")


class Result(_Report):
    """The result of a run or a gather.

    ``result`` holds the reductions exactly as ``--json`` gives them: the same floats, to the
    last bit (JSON floats are printed shortest-round-trip and parsed exactly).
    """

    @property
    def result(self) -> dict[str, Any]:
        """The reductions by name: ``{"count": ..., "mean": ..., "sem": ..., ...}``."""
        return cast("dict[str, Any]", self.json.get("result", {}))

    @property
    def job(self) -> Optional[str]:
        return self.json.get("job")

    @property
    def elapsed_s(self) -> Optional[float]:
        return self.json.get("elapsed_s")

    @property
    def histograms(self) -> dict[str, dict[str, Any]]:
        """Every histogram of the run by name: a compute job's is ``"histogram"``, a task job's
        are its histogram reductions. Each has ``edges`` and ``counts``."""
        found: dict[str, dict[str, Any]] = {}
        if isinstance(self.json.get("histogram"), dict):
            found["histogram"] = self.json["histogram"]
        for name, value in self.result.items():
            if isinstance(value, dict) and "edges" in value and "counts" in value:
                found[name] = value
        return found

    @property
    def histogram(self) -> Optional[dict[str, Any]]:
        """The run's histogram (``edges``, ``counts``, and for compute jobs ``underflow`` and
        ``overflow``), if it has exactly one; see ``histograms`` for several."""
        histograms = self.histograms
        return next(iter(histograms.values())) if len(histograms) == 1 else None

    @property
    def tasks(self) -> Optional[list[dict[str, Any]]]:
        """A task job's per-task records (task, params, status, result, attempts, elapsed_s,
        logs); None for a compute job."""
        return self.json.get("tasks")

    @property
    def failed(self) -> list[Any]:
        """The tasks that failed (task jobs)."""
        return cast("list[Any]", self.json.get("failed", []))

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame``: one row per task for a task job (its result's fields as
        columns), else one row of the reductions. Needs pandas, which hpcsub does not depend on."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Result.to_pandas needs pandas: pip install pandas") from None
        if self.tasks is not None:
            rows = []
            for task in self.tasks:
                row = {key: value for key, value in task.items() if key not in ("result", "params")}
                row.update(task.get("params") or {})
                result = task.get("result")
                if isinstance(result, dict):
                    row.update(result)
                elif result is not None:
                    row["result"] = result
                rows.append(row)
            return pandas.DataFrame(rows)
        return pandas.DataFrame([self.result], index=[self.job])

    def _repr_html_(self) -> str:
        header = html.escape(str(self.job or "result"))
        facts = [f"{key} {self.json[key]}" for key in ("samples", "task_count", "seed", "ranks", "threads") if key in self.json]
        if self.elapsed_s is not None:
            facts.append(f"{self.elapsed_s:.3f} s")
        rows = []
        result = self.result
        for name, value in result.items():
            if name == "sem" and "mean" in result:
                continue
            if isinstance(value, dict) and "counts" in value:
                cell = f"histogram, {len(value['counts'])} bins"
            elif name == "mean" and "sem" in result:
                cell = f"{value!r} ± {result['sem']!r}"
            else:
                cell = repr(value)
            rows.append(f"<tr><th style='text-align:left'>{html.escape(name)}</th><td style='text-align:left'>{html.escape(cell)}</td></tr>")
        table = f"<table>{''.join(rows)}</table>"
        for name, histogram in self.histograms.items():
            table += _histogram_html(name, histogram)
        if self.tasks is not None:
            table += f"<p>{len(self.tasks)} tasks, {len(self.failed)} failed</p>"
        return f"<div><b>{header}</b>: {html.escape(', '.join(facts))}{table}</div>"


def _histogram_html(name: str, histogram: dict[str, Any]) -> str:
    edges, counts = histogram.get("edges", []), histogram.get("counts", [])
    most = max(counts, default=0) or 1
    rows = "".join(
        f"<tr><td>[{edges[i]:.6g}, {edges[i + 1]:.6g})</td><td style='text-align:right'>{count}</td>"
        f"<td><div style='background:#4a7ebb;height:0.8em;width:{200 * count / most:.0f}px'></div></td></tr>"
        for i, count in enumerate(counts)
        if i + 1 < len(edges)
    )
    return f"<details><summary>{html.escape(name)}</summary><table>{rows}</table></details>"


class Status(_Report):
    """Where every slice of a submitted run stands (``hpcsub status --json``). For a workflow,
    the counts, job ids and problems are those of all its steps (``steps`` has each)."""

    @property
    def steps(self) -> list[dict[str, Any]]:
        """A workflow's steps, each with its own status; empty for a job's run."""
        return cast("list[dict[str, Any]]", self.json.get("steps", []))

    def _parts(self) -> list[dict[str, Any]]:
        return self.steps or [self.json]

    def _count(self, key: str) -> int:
        return sum(int(part.get(key, 0)) for part in self._parts())

    @property
    def done(self) -> int:
        return self._count("done")

    @property
    def running(self) -> int:
        return self._count("running")

    @property
    def pending(self) -> int:
        return self._count("pending")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def missing(self) -> int:
        return self._count("missing")

    @property
    def slices(self) -> int:
        return self._count("slices")

    @property
    def job_ids(self) -> list[str]:
        return [job_id for part in self._parts() for job_id in part.get("job_ids", [])]

    @property
    def problems(self) -> list[dict[str, Any]]:
        """Each slice that is not done: its state and the reason (and a workflow's ``step``)."""
        return [
            {**({"step": part["step"]} if "step" in part else {}), **problem}
            for part in self._parts()
            for problem in part.get("problems", [])
        ]

    @property
    def finished(self) -> bool:
        """Whether nothing of the run is queued any more (done, failed or missing)."""
        return self.running == 0 and self.pending == 0

    def _repr_html_(self) -> str:
        counts = ", ".join(f"{self._count(k)} {k}" for k in ("done", "running", "pending", "failed", "missing"))
        return f"<div><b>{html.escape(str(self.json.get('run_dir', 'run')))}</b>: {self.slices} slices: {counts}</div>"
