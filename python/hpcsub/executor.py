"""``hpcsub.Executor``: a ``concurrent.futures.Executor`` whose calls run as the tasks of hpcsub
task jobs, here or on Slurm or HTCondor.

Calls submitted close together (a ``map``, a loop of ``submit``, or everything inside
``with executor.batch():``) make one *batch*: one hpcsub run, so one Slurm array or one HTCondor
DAG, never one job per call. A batch is a workflow of *levels*: a call whose arguments hold
futures of the same batch runs in the level after theirs, and on a cluster each level's array
waits for the one before (``afterok``, a DAG edge). Each call is one task, served by a
``hpcsub/_worker.py`` process that lives as long as its thread of the slice, so the
interpreter starts once per thread, not once per call.

Futures finish as their tasks do: a thread per batch reads the task journals (``tasks.journal``
here, ``parts/<slice>.journal`` and the part files on a cluster), and on a cluster asks
``hpcsub status`` every few seconds, once per batch, to learn which slices left the queue and
why. A call that raised re-raises its exception with the remote traceback; a call that died
without a result raises ``TaskFailed`` with the reason.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, Optional, Union

from . import _calls, _progress
from ._command import binary, invoke
from .errors import HpcsubError, RunError

Backend = Literal["local", "slurm", "condor"]

#: The statistics a task job reduces.
STATISTICS = ("count", "sum", "mean", "sem", "var", "std", "min", "max")

_EXECUTOR_FILE = "executor.json"
_WORKER = Path(_calls.__file__).resolve().with_name("_worker.py")


class TaskFailed(HpcsubError, RuntimeError):
    """A call's task ended without a result: a time limit, the memory limit, a node failure, a
    preemption, a held job, a signal or an exit code, as hpcsub knows it.

    ``state`` is the scheduler's word when there is one (``TIMEOUT``, ``OUT_OF_MEMORY``,
    ``NODE_FAIL``, ``PREEMPTED``, ``CANCELLED``, ``HELD``) else ``FAILED``; ``reason`` says it in
    full; ``stderr_tail`` holds the task's last lines of stderr; ``log`` and ``stdout`` are its
    log files.
    """

    def __init__(
        self,
        reason: str,
        *,
        state: str = "FAILED",
        task: Optional[int] = None,
        stderr_tail: Optional[list[str]] = None,
        log: Optional[str] = None,
        stdout: Optional[str] = None,
        result: Optional[dict[str, Any]] = None,
    ) -> None:
        message = f"{state}: {reason}" if state not in reason else reason
        if stderr_tail:
            message += "\n  " + "\n  ".join(stderr_tail)
        super().__init__(message, exit_code=1, error={"kind": "task", "reason": reason, "state": state})
        self.reason = reason
        self.state = state
        self.task = task
        self.stderr_tail = list(stderr_tail or [])
        self.log = log
        self.stdout = stdout
        #: For ``map_reduce``: the reductions of the calls that succeeded.
        self.result = result
        #: The scheduler's logs of the slice that ran it, when it died with its slice.
        self.slice_logs: list[str] = []


def _state_of(reason: str) -> str:
    upper = reason.upper()
    # HTCondor enforces `resources.time` as AllowedExecuteDuration: its job is held ("exceeded
    # allowed execute duration") or removed, which is a time limit, not a hold.
    if any(w in upper for w in ("TIMED OUT", "TIME LIMIT", "ALLOWEDEXECUTEDURATION", "EXECUTE DURATION")):
        return "TIMEOUT"
    for word in ("TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "CANCELLED", "HELD"):
        if word in upper:
            return word
    if "OUT OF MEMORY" in upper or "OOM" in upper:
        return "OUT_OF_MEMORY"
    return "FAILED"


class HpcsubFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """A ``concurrent.futures.Future`` of one call; ``call`` is its number in the executor and
    ``outdir`` the directory its task leaves its result in."""

    def __init__(self, executor: Optional["Executor"], call: int) -> None:
        super().__init__()
        self._executor = weakref.ref(executor) if executor is not None else None
        self.call = call
        self.outdir: Optional[Path] = None

    def _owner(self) -> Optional["Executor"]:
        return self._executor() if self._executor is not None else None

    def result(self, timeout: Optional[float] = None) -> Any:
        owner = self._owner()
        if owner is not None:
            owner._flush()
        try:
            return super().result(timeout)
        except KeyboardInterrupt:
            if owner is not None:
                owner._interrupted()
            raise

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        owner = self._owner()
        if owner is not None:
            owner._flush()
        try:
            return super().exception(timeout)
        except KeyboardInterrupt:
            if owner is not None:
                owner._interrupted()
            raise


class _Call:
    __slots__ = ("fn", "args", "kwargs", "future", "level", "task")

    def __init__(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], future: HpcsubFuture) -> None:
        self.fn, self.args, self.kwargs, self.future = fn, args, kwargs, future
        self.level = 0
        self.task = 0


class Executor(concurrent.futures.Executor):
    """Runs Python functions as hpcsub tasks: here (``to="local"``), on Slurm or on HTCondor.

    ``Executor(to="local")`` runs up to ``processes`` calls at once (default: every CPU), each in
    a worker process, so the GIL never serialises them; ``threads`` is accepted as the same
    number, for code written for ``ThreadPoolExecutor(max_workers=...)``. On a cluster,
    ``slices`` array elements each run ``threads`` calls at once (default 1).

    ``resources`` is a job file's (``{"time": "10m", "memory": "2GiB", "cpus": 1}``): on a
    cluster, what each slice asks for (its time limit kills the slice: ``TaskFailed`` with
    ``TIMEOUT``); here, ``time`` is each call's limit. ``timeout`` (``"30s"``) limits every call
    everywhere; ``retries`` reruns a call whose task died (a call that raised has its outcome
    and is not rerun). ``slurm``, ``condor`` and ``environment`` are the job file's sections.
    ``python`` is the interpreter of the workers (default ``sys.executable``; cloudpickle must
    be importable there, and the modules of the functions pickled by reference).

    ``run_dir`` (default ``runs/<name>-<UTC time>``) keeps every batch: its pickled calls, its
    hpcsub run and each call's result, so ``Executor.attach(run_dir)`` gives the futures back in
    another process. ``on_interrupt`` says what Ctrl-C (or leaving the ``with`` block by an
    exception) does to submitted work: ``"cancel"`` (default) stops local runs and cancels
    cluster jobs; ``"keep"`` leaves cluster jobs queued to ``attach`` later (local runs always
    stop: they live in this process's children).
    """

    def __init__(
        self,
        to: Backend = "local",
        *,
        threads: Optional[int] = None,
        processes: Optional[int] = None,
        slices: Optional[int] = None,
        resources: Optional[dict[str, Any]] = None,
        slurm: Optional[dict[str, Any]] = None,
        condor: Optional[dict[str, Any]] = None,
        environment: Optional[dict[str, Any]] = None,
        run_dir: Union[str, "os.PathLike[str]", None] = None,
        progress: bool = True,
        python: Optional[str] = None,
        timeout: Optional[str] = None,
        retries: int = 0,
        name: str = "calls",
        on_interrupt: Literal["cancel", "keep"] = "cancel",
        batch_window: float = 0.02,
        poll_interval: Optional[float] = None,
    ) -> None:
        if to not in ("local", "slurm", "condor"):
            raise ValueError(f"to must be 'local', 'slurm' or 'condor', not {to!r}")
        if on_interrupt not in ("cancel", "keep"):
            raise ValueError(f"on_interrupt must be 'cancel' or 'keep', not {on_interrupt!r}")
        if to == "local" and slices not in (None, 1):
            raise ValueError("slices are array elements of a cluster run; a local run has one (use processes)")
        if threads is not None and processes is not None and to == "local" and threads != processes:
            raise ValueError("threads and processes both set how many calls run at once here; give one")
        for label, count in (("threads", threads), ("processes", processes), ("slices", slices)):
            if count is not None and (not isinstance(count, int) or count < 1):
                raise ValueError(f"{label} must be a whole number of at least 1, not {count!r}")
        self.to: Backend = to
        self.name = name
        self.progress = progress
        self.python = python or sys.executable
        self.on_interrupt = on_interrupt
        self._batch_window = batch_window
        self._poll = poll_interval if poll_interval is not None else (0.01 if to == "local" else 0.25)
        self._options: dict[str, Any] = {
            "threads": processes or threads,
            "slices": slices,
            "resources": dict(resources or {}),
            "slurm": slurm,
            "condor": condor,
            "environment": environment,
            "timeout": timeout,
            "retries": retries,
        }
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        self.run_dir = Path(run_dir if run_dir is not None else Path("runs") / f"{name}-{stamp}").resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record = self.run_dir / _EXECUTOR_FILE
        if not record.exists():
            record.write_text(json.dumps({"to": to, "name": name}) + "\n")
        self._lock = threading.RLock()
        self._pending: list[_Call] = []
        self._held = 0
        self._calls = 0
        self._batches: list[_Batch] = []
        self._shutdown = False
        self._timer: Optional[threading.Timer] = None
        _LIVE.add(self)

    # -- the concurrent.futures interface ------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> HpcsubFuture:
        """Schedules ``fn(*args, **kwargs)``; futures among the arguments (also inside lists,
        tuples, sets and dicts, up to 4 deep) are replaced by their results when it runs, after
        them."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to an Executor after shutdown")
            future = HpcsubFuture(self, self._calls)
            self._calls += 1
            self._pending.append(_Call(fn, args, kwargs, future))
            if not self._held:
                self._schedule_flush()
            return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:
        """``fn`` over the iterables, as one batch; results in order, as the built-in's.

        ``chunksize`` is accepted for ProcessPoolExecutor's callers and has no effect: every
        call is its own task, and workers already take one call after another.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.batch():
            futures = [self.submit(fn, *args) for args in zip(*iterables)]

        def results() -> Iterator[Any]:
            try:
                futures.reverse()
                while futures:
                    left = None if deadline is None else deadline - time.monotonic()
                    yield futures.pop().result(left)
            finally:
                for future in futures:
                    future.cancel()

        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                for call in self._pending:
                    call.future.cancel()
                self._pending = [c for c in self._pending if not c.future.cancelled()]
        self._flush()
        if wait:
            for batch in list(self._batches):
                batch.join()

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> Optional[bool]:
        if isinstance(value, BaseException) and not isinstance(value, Exception):
            # Ctrl-C (or a SystemExit) inside the block: what was submitted goes as documented.
            self._interrupted()
            self.shutdown(wait=False, cancel_futures=True)
            return None
        self.shutdown(wait=True)
        return None

    # -- hpcsub's own ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator["Executor"]:
        """Every ``submit`` inside the block goes into one batch, sent when the block ends (as
        submitit's ``executor.batch()``)."""
        with self._lock:
            self._held += 1
        try:
            yield self
        finally:
            with self._lock:
                self._held -= 1
            if not self._held:
                self._flush()

    def map_reduce(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        reduce: Iterable[str] = ("mean",),
    ) -> dict[str, Any]:
        """``fn`` over the iterables, reduced exactly as a task job reduces its tasks: the same
        bits whatever the backend, slices or threads.

        ``fn`` returns a number, an array (reduced element by element), a histogram (a dict
        with ``edges`` and ``counts``, or a one-axis hist/boost-histogram object; counts are
        summed) or a dict of those. ``reduce`` lists statistics of ``count sum mean sem var std
        min max``; ``"histogram"`` may be listed too and changes nothing (histograms are always
        summed). Returns the statistics of a non-dict value directly (``{"count": ..., "mean":
        ...}``), else one such dict per key. Raises ``TaskFailed`` if some calls failed, with the
        reductions of the others in ``result``.
        """
        wanted = [s for s in reduce if s != "histogram"]
        unknown = [s for s in wanted if s not in STATISTICS]
        if unknown:
            raise ValueError(f"unknown statistic {unknown[0]!r}; expected some of {', '.join(STATISTICS)} (or histogram)")
        calls = [_Call(fn, args, {}, HpcsubFuture(None, -1)) for args in zip(*iterables)]
        if not calls:
            raise ValueError("map_reduce needs at least one call")
        batch = _Batch(self, calls, reduce=wanted or ["count"])
        with self._lock:
            self._batches.append(batch)
        batch.start()
        batch.join()
        report = batch.reduced()
        result = report.get("result", {})
        values = dict(result)
        plain = set(values) == {"count", "value"} or (set(values) <= {"value", "count"} and "value" in values)
        if "value" in values and isinstance(values["value"], dict) and plain:
            values = values["value"]
        failed = report.get("failed") or []
        if failed or report.get("error"):
            first = failed[0] if failed else {}
            reason = first.get("reason") or (report.get("error") or {}).get("message", "calls failed")
            raise TaskFailed(
                f"{len(failed)} of {len(calls)} calls failed; the first, call {first.get('task')}: {reason}",
                state=_state_of(reason),
                task=first.get("task"),
                stderr_tail=first.get("stderr_tail"),
                log=first.get("log"),
                result=values,
            )
        return values

    @property
    def futures(self) -> list[HpcsubFuture]:
        """Every call's future, in the order submitted."""
        return sorted((c.future for b in self._batches for c in b.calls if c.future.call >= 0), key=lambda f: f.call)

    @classmethod
    def attach(cls, run_dir: Union[str, "os.PathLike[str]"], *, progress: bool = False) -> "Executor":
        """The executor of a run directory written earlier, by this process or another (after
        a notebook restart): ``attach(run_dir).futures`` are its calls' futures, which finish as
        its batches do (a cluster's still queued jobs included)."""
        path = Path(run_dir).resolve()
        record = path / _EXECUTOR_FILE
        if not record.is_file():
            raise FileNotFoundError(f"{path} is not an hpcsub.Executor run directory (it has no {_EXECUTOR_FILE})")
        saved = json.loads(record.read_text())
        executor = cls(saved["to"], run_dir=path, name=saved.get("name", "calls"), progress=progress)
        for directory in sorted(path.glob("batch-*")):
            index = json.loads((directory / "calls.json").read_text())
            calls: list[_Call] = []
            for level, task, _, _ in index["calls"]:
                call = _Call(None, (), {}, HpcsubFuture(executor, int(index["numbers"][len(calls)])))
                call.level, call.task = level, task
                calls.append(call)
            executor._calls = max([executor._calls, *(c.future.call + 1 for c in calls)])
            batch = _Batch(executor, calls, directory=directory)
            executor._batches.append(batch)
            batch.start(attached=True)
        return executor

    # -- inside ----------------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self._batch_window, self._flush)
        self._timer.daemon = True
        self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            if self._held or not self._pending:
                return
            calls, self._pending = self._pending, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            batch = _Batch(self, calls)
            self._batches.append(batch)
        batch.start()

    def _interrupted(self) -> None:
        with self._lock:
            for call in self._pending:
                call.future.cancel()
            self._pending = []
        for batch in self._batches:
            batch.stop(cancel_cluster_jobs=self.on_interrupt == "cancel")

    def _job(self, counts: list[int], directory: Path, reduce: Optional[list[str]]) -> dict[str, Any]:
        options = self._options
        resources = dict(options["resources"])
        timeout = options["timeout"]
        if self.to == "local" and timeout is None and "time" in resources:
            timeout = resources["time"]
        threads = options["threads"] or resources.pop("cpus", None)
        resources.pop("cpus", None)
        steps: dict[str, Any] = {}
        for level, count in enumerate(counts):
            tasks: dict[str, Any] = {
                "count": count,
                "worker": True,
                "command": [self.python, str(_WORKER), str(directory), str(level)],
                "workdir": os.getcwd(),
                "result": "json" if reduce else "none",
            }
            if timeout is not None:
                tasks["timeout"] = str(timeout)
            if options["retries"]:
                tasks["retries"] = int(options["retries"])
            step: dict[str, Any] = {"tasks": tasks}
            if level:
                step["needs"] = [f"level{i}" for i in range(level)]
            if reduce:
                step["reduce"] = reduce
            split: dict[str, Any] = {}
            if threads:
                split["threads"] = int(threads)
            if options["slices"] and self.to != "local":
                # Dealt out dynamically (the default): a slice that starts late or runs slowly
                # holds back no call, and the survivors finish a dead slice's calls.
                split["slices"] = min(options["slices"], count)
            if split:
                step["split"] = split
            if resources and self.to != "local":
                step["resources"] = resources
            if options["environment"]:
                step["environment"] = options["environment"]
            steps[f"level{level}"] = step
        job: dict[str, Any] = {"name": f"{self.name}-{directory.name}"[:64], "steps": steps}
        for section in ("slurm", "condor"):
            if options[section]:
                job[section] = options[section]
        return job


class _Batch:
    """One hpcsub run of calls: written, started, and watched until every future is done."""

    def __init__(
        self,
        executor: Executor,
        calls: list[_Call],
        *,
        reduce: Optional[list[str]] = None,
        directory: Optional[Path] = None,
    ) -> None:
        self.executor = executor
        self.calls = calls
        self.reduce = reduce
        self.directory = directory
        self.run: Optional[Path] = None
        self._thread: Optional[threading.Thread] = None
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._report: dict[str, Any] = {}
        self._stopped = False
        self._offsets: dict[Path, int] = {}
        self._parts_read: set[Path] = set()
        self._by_task: dict[tuple[int, int], _Call] = {}

    def start(self, *, attached: bool = False) -> None:
        self._thread = threading.Thread(target=self._main, args=(attached,), name="hpcsub-batch", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def reduced(self) -> dict[str, Any]:
        return self._report

    def stop(self, *, cancel_cluster_jobs: bool) -> None:
        self._stopped = True
        process = self._process
        if process is not None and process.poll() is None:
            # hpcsub's own Ctrl-C: it kills its tasks' process groups and workers.
            process.send_signal(signal.SIGINT)
        if self.executor.to != "local" and cancel_cluster_jobs and self.run is not None and self.run.exists():
            with contextlib.suppress(HpcsubError, OSError):
                invoke(["cancel", str(self.run)])

    # -- the batch's thread ------------------------------------------------------------------------

    def _main(self, attached: bool) -> None:
        try:
            if not attached:
                self._wait_for_earlier_batches()
                if not self._claim_futures():
                    return
                self._write()
                self._launch()
            else:
                assert self.directory is not None
                self.run = self.directory / "run"
                self._index()
                if self.executor.to != "local":
                    self._follow()
            self._watch(attached)
        except BaseException as error:  # every future must finish, whatever went wrong
            self._fail_rest(error)

    def _wait_for_earlier_batches(self) -> None:
        """A batch whose calls take futures of an earlier batch starts once those are done."""
        ours = {id(c.future) for c in self.calls}
        for call in self.calls:
            for future in _futures_in((call.args, call.kwargs)):
                if id(future) not in ours:
                    concurrent.futures.wait([future])

    def _claim_futures(self) -> bool:
        self.calls = [c for c in self.calls if c.future.set_running_or_notify_cancel()]
        return bool(self.calls)

    def _write(self) -> None:
        executor = self.executor
        with executor._lock:
            number = len(list(executor.run_dir.glob("batch-*"))) + 1
            self.directory = executor.run_dir / f"batch-{number:04d}"
            self.directory.mkdir()
        directory = self.directory
        self.run = directory / "run"
        # Levels: a call runs one level after the latest of the calls whose futures it takes.
        level_of: dict[int, tuple[int, int]] = {}
        counts: list[int] = []
        shared = _calls.shared_candidates([(c.fn, c.args, c.kwargs) for c in self.calls])
        shared_ids = {id(v): i for i, v in enumerate(shared)}
        current: list[int] = []

        def persistent(obj: Any) -> Optional[tuple[Any, ...]]:
            if isinstance(obj, HpcsubFuture):
                if id(obj) in level_of:
                    current.append(level_of[id(obj)][0])
                    return ("call", *level_of[id(obj)])
                if obj.outdir is None:
                    raise ValueError(f"an argument is the future of call {obj.call}, which did not run in a batch of this executor")
                return ("path", str(obj.outdir))
            if isinstance(obj, concurrent.futures.Future):
                raise TypeError("an argument is a future of another executor; pass its result() instead")
            index = shared_ids.get(id(obj))
            return None if index is None else ("shared", index)

        blobs: list[bytes] = []
        for call in self.calls:
            current.clear()
            blobs.append(_calls.dumps((call.fn, call.args, call.kwargs), persistent))
            call.level = max(current) + 1 if current else 0
            while len(counts) <= call.level:
                counts.append(0)
            call.task = counts[call.level]
            counts[call.level] += 1
            level_of[id(call.future)] = (call.level, call.task)
            call.future.outdir = _calls.outdir(self.run, call.level, call.task)
        shared_blob = _calls.dumps(shared, _refuse_futures)
        index: list[list[int]] = []
        offset = 0
        for call, blob in zip(self.calls, blobs):
            index.append([call.level, call.task, offset, offset + len(blob)])
            offset += len(blob)
        (directory / "calls.pkl").write_bytes(b"".join(blobs))
        (directory / "shared.pkl").write_bytes(shared_blob)
        (directory / "meta.json").write_text(json.dumps({"sys_path": [p for p in sys.path if p], "reduce": bool(self.reduce)}))
        numbers = [c.future.call for c in self.calls]
        (directory / "calls.json").write_text(json.dumps({"calls": index, "numbers": numbers}))
        job = executor._job(counts, directory, self.reduce)
        (directory / "job.yaml").write_text(json.dumps(job, indent=2) + "\n")
        self._index()

    def _index(self) -> None:
        assert self.run is not None
        self._by_task = {(c.level, c.task): c for c in self.calls}
        for call in self.calls:
            call.future.outdir = _calls.outdir(self.run, call.level, call.task)

    def _launch(self) -> None:
        assert self.directory is not None and self.run is not None
        job = str(self.directory / "job.yaml")
        if self.executor.to != "local":
            invoke(["submit", job, "--to", self.executor.to, "--run-dir", str(self.run)])
        self._follow()

    def _follow(self) -> None:
        """Starts the hpcsub process that ends when the batch does: the run itself here; on a
        cluster ``hpcsub wait``, which watches the queue (squeue, HTCondor's event logs) once for
        the whole batch and gathers when every job has left it."""
        assert self.directory is not None and self.run is not None
        if self.executor.to == "local":
            arguments = ["run", str(self.directory / "job.yaml"), "--run-dir", str(self.run)]
        else:
            arguments = ["wait", str(self.run)]
        command = [binary(), *arguments, "--json", "--progress", "never", "--quiet"]
        # The report goes to a file, read once the process ended: a pipe that nobody reads while
        # it runs would stop a large report halfway.
        with open(self.directory / "report.json", "wb") as stdout, open(self.directory / "hpcsub.err", "wb") as stderr:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                preexec_fn=_die_with_parent,
            )

    def _watch(self, attached: bool) -> None:
        executor = self.executor
        label = f"{executor.name} {self.directory.name if self.directory else ''}"
        display = _progress.display(label) if executor.progress else None
        try:
            while True:
                self._read_journals()
                if display is not None:
                    done = sum(1 for c in self.calls if c.future.done())
                    display.update({"done": done, "total": len(self.calls), "unit": "calls"})
                if all(c.future.done() for c in self.calls) and not self.reduce:
                    break
                if self._process is None or self._process.poll() is not None:
                    break
                time.sleep(executor._poll)
            self._finish()
        finally:
            if display is not None:
                display.close()

    def _finish(self) -> None:
        """The run ended: the last journal lines and parts, the report, then every future
        still unfinished fails with the reason hpcsub gives."""
        if self._process is not None:
            assert self.directory is not None
            self._process.wait()
            try:
                self._report = json.loads((self.directory / "report.json").read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                self._report = {}
            if not self._report:
                said = (self.directory / "hpcsub.err").read_text(errors="replace").strip()
                self._report = {"error": {"message": said[-2000:] or f"hpcsub exited with {self._process.returncode}"}}
        self._read_journals()
        if self.reduce:
            self._report = self._level_report(0)
        reasons = self._reasons()
        stopped = ("the run was stopped (interrupted or cancelled)", "CANCELLED")
        for call in self.calls:
            if call.future.done():
                continue
            reason, state, slice_index = reasons.get((call.level, call.task)) or reasons.get((call.level, -1)) or (
                *(stopped if self._stopped else ("its task left no result", "FAILED")),
                None,
            )
            _settle(call.future, self._task_failed(call, reason, state, slice_index))

    def _task_failed(self, call: _Call, reason: str, state: str, slice_index: Optional[int]) -> TaskFailed:
        """The failure of a call that left no journal line: its task's own logs, if it started,
        and its slice's scheduler logs."""
        assert self.run is not None
        logs = _calls.level_dir(self.run, call.level) / "logs"
        err, out = logs / f"task-{call.task}.err", logs / f"task-{call.task}.out"
        tail: list[str] = []
        if err.is_file():
            with open(err, "rb") as handle:
                handle.seek(max(0, err.stat().st_size - 4096))
                tail = [line for line in handle.read().decode(errors="replace").splitlines() if line.strip()][-5:]
        failure = TaskFailed(
            reason,
            state=state,
            task=call.task,
            stderr_tail=tail,
            log=str(err) if err.is_file() else None,
            stdout=str(out) if out.is_file() else None,
        )
        failure.slice_logs = sorted(str(p) for p in logs.glob(f"*_{slice_index}.*")) if slice_index is not None else []
        return failure

    def _level_report(self, level: int) -> dict[str, Any]:
        """A level's task report, from the report of the run (here) or of ``hpcsub wait``."""
        for step in self._report.get("steps", []):
            if step.get("step") == f"level{level}":
                report = step.get("report") or {}
                if report:
                    return dict(report)
                return {"error": {"message": step.get("reason") or "the step did not run"}}
        return {"error": (self._report.get("error") or {"message": "the run left no result"})}

    def _reasons(self) -> dict[tuple[int, int], tuple[str, str, Optional[int]]]:
        """Why unfinished calls left no result, by ``(level, task)``, or ``(level, -1)`` for a
        whole level: its step's reason here; on a cluster, the state and reason of the slice
        that ran it, as ``hpcsub status`` tells them from the queue and the logs."""
        found: dict[tuple[int, int], tuple[str, str, Optional[int]]] = {}
        if self.executor.to == "local":
            for step in self._report.get("steps", []):
                name = str(step.get("step", ""))
                if name.startswith("level") and step.get("status") not in ("ran", "kept"):
                    reason = f"level {name[5:]} did not run: {step.get('reason') or step.get('status')}"
                    found[(int(name[5:]), -1)] = (reason, _state_of(reason), None)
            if not found and self._report.get("error"):
                message = str(self._report["error"].get("message", "hpcsub failed"))
                for level in {c.level for c in self.calls}:
                    found[(level, -1)] = (message, _state_of(message), None)
            return found
        try:
            status = invoke(["status", str(self.run)])
        except HpcsubError:
            return found
        for step in status.get("steps", [status]):
            name = str(step.get("step", "level0"))
            if not name.startswith("level"):
                continue
            level = int(name[5:])
            slices = int(step.get("slices", 1)) or 1
            assert self.run is not None
            batches = _batches(_calls.level_dir(self.run, level) / "parts")
            stopped: dict[int, str] = {}
            for problem in step.get("problems", []):
                reason = str(problem.get("reason") or problem.get("state") or "failed")
                slice_index = problem.get("slice")
                if slice_index is None:
                    found[(level, -1)] = (reason, _state_of(reason), None)
                else:
                    stopped[int(slice_index)] = reason
            for call in self.calls:
                if call.level != level or not stopped:
                    continue
                # Without claims (a static split, or no slice got as far) slice s has tasks
                # s, s + slices, s + 2 slices, ...
                owner = next(
                    (s for start, end, s in batches if start <= call.task < end),
                    None if batches else call.task % slices,
                )
                if owner in stopped:
                    reason = stopped[owner]
                    found[(level, call.task)] = (f"slice {owner}: {reason}", _state_of(reason), owner)
                elif owner is None:
                    # Never claimed: every slice stopped before it came to this call.
                    first = min(stopped)
                    said = "; ".join(f"slice {s}: {r}" for s, r in sorted(stopped.items()))
                    found[(level, call.task)] = (f"no slice started it ({said})", _state_of(stopped[first]), first)
        return found

    def _read_journals(self) -> None:
        assert self.run is not None
        levels = {c.level for c in self.calls}
        for level in levels:
            base = _calls.level_dir(self.run, level)
            for journal in [base / "logs" / "tasks.journal", *sorted((base / "parts").glob("*.journal"))]:
                for line in self._new_lines(journal):
                    self._outcome(level, line)
            for part in sorted((base / "parts").glob("*.json")):
                if part in self._parts_read:
                    continue
                try:
                    content = json.loads(part.read_text())
                except (OSError, json.JSONDecodeError):
                    continue  # being written: next time
                self._parts_read.add(part)
                for outcome in content.get("tasks", []):
                    self._outcome(level, outcome)

    def _new_lines(self, path: Path) -> list[dict[str, Any]]:
        offset = self._offsets.get(path, 0)
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self._offsets[path] = offset + end
        lines = []
        for raw in data[:end].splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(raw))
        return lines

    def _outcome(self, level: int, outcome: dict[str, Any]) -> None:
        call = self._by_task.get((level, int(outcome.get("task", -1))))
        if call is None or call.future.done():
            return
        if self.reduce:
            return
        failure = outcome.get("failure")
        directory = _calls.outdir(self.run, level, call.task)  # type: ignore[arg-type]
        try:
            ok, value = _calls.load_outcome(directory)
        except FileNotFoundError:
            ok, value = False, TaskFailed(
                str(failure or "its task left no result"),
                state=_state_of(str(failure or "")),
                task=call.task,
                stderr_tail=outcome.get("stderr_tail"),
                log=outcome.get("log"),
                stdout=outcome.get("stdout"),
            )
        except Exception as error:  # a result that does not unpickle here
            ok, value = False, error
        if ok and failure is None:
            _settle(call.future, None, value)
        else:
            _settle(call.future, value if isinstance(value, BaseException) else TaskFailed(str(failure), task=call.task))

    def _fail_rest(self, error: BaseException) -> None:
        for call in self.calls:
            if not call.future.done():
                if call.future.running():
                    _settle(call.future, error if isinstance(error, Exception) else TaskFailed(f"interrupted: {error!r}", state="CANCELLED"))
                else:
                    with contextlib.suppress(concurrent.futures.InvalidStateError):
                        call.future.set_exception(error)
        if isinstance(error, Exception):
            self._report = {"error": {"message": str(error)}}


def _batches(parts: Path) -> list[tuple[int, int, int]]:
    """``(start, end, slice)`` of each batch of tasks a level's slices claimed: the claim of the
    highest generation (``parts/claims/<start>.<generation>``, written whole before its name
    appears), as the gather reads it."""
    newest: dict[int, tuple[int, tuple[int, int, int]]] = {}
    for path in (parts / "claims").glob("*.*"):
        start, _, generation = path.name.partition(".")
        if not (start.isdigit() and generation.isdigit()):
            continue
        try:
            with open(path, "rb") as handle:
                claim = json.loads(handle.read(4096))
            batch = (int(claim["start"]), int(claim["end"]), int(claim["slice"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if int(start) not in newest or newest[int(start)][0] < int(generation):
            newest[int(start)] = (int(generation), batch)
    return sorted(batch for _, batch in newest.values())


def _settle(future: HpcsubFuture, error: Optional[BaseException], value: Any = None) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _refuse_futures(obj: Any) -> Optional[tuple[Any, ...]]:
    # The shared objects are pickled in full, once; a future inside one has no call to wait for.
    if isinstance(obj, concurrent.futures.Future):
        raise TypeError("a future inside an object that several calls share cannot be resolved; pass it to each call")
    return None


def _futures_in(value: Any, depth: int = 0) -> Iterator[HpcsubFuture]:
    if isinstance(value, HpcsubFuture):
        yield value
    elif depth < 4 and isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _futures_in(item, depth + 1)
    elif depth < 4 and isinstance(value, dict):
        for item in value.values():
            yield from _futures_in(item, depth + 1)


def _die_with_parent() -> None:
    """In the child: SIGTERM when this process dies, so a local run (which ends its tasks on
    SIGTERM) never outlives the Python that started it, even killed with SIGKILL."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_LIVE: "weakref.WeakSet[Executor]" = weakref.WeakSet()


@atexit.register
def _stop_local_runs() -> None:
    for executor in list(_LIVE):
        for batch in executor._batches:
            process = batch._process
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)


__all__ = ["Executor", "HpcsubFuture", "TaskFailed", "STATISTICS"]
