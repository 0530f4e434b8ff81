"""``hpcsub.Executor`` as the lesson uses it: a ``concurrent.futures.Executor`` on every backend,
from the installed wheel. The lesson-kind script (lesson_calls.py) runs in a process of its own,
as a user's script would, on local, the private Slurm cluster and the emulated HTCondor pool."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpcsub
from conftest import alive, wait_for_pid_files

HERE = Path(__file__).resolve().parent


def lesson(backend: str, run_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "lesson_calls.py"), backend, str(run_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert not processes_of(run_dir), "processes outlived the script"
    return report


def processes_of(run_dir: Path) -> list[str]:
    """Live processes whose command line names `run_dir` (or its `-limit` sibling)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if str(run_dir) in command and state != "Z":
            found.append(f"{entry.name}: {command}")
    return found


def assert_lesson_answers(report: dict[str, Any], killed_state: str) -> None:
    assert report["arrays_equal"] and report["map_equal"], report
    assert report["map_reduce"]["count"] == 6
    assert report["map_reduce_arrays"]["count"] == 6 and len(report["map_reduce_arrays"]["sum"]) == 4
    assert report["graph"] == report["graph_expected"] == 15
    assert report["raised_type"] == "Unlucky" and report["raised_is_unlucky"] and report["raised_traceback"], report
    assert report["others"] == [0, 1, 2, 4]
    assert report["killed"]["state"] == killed_state, report["killed"]


@pytest.fixture(scope="module")
def local_lesson(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return lesson("local", tmp_path_factory.mktemp("local") / "run")


def test_the_lesson_runs_locally_with_the_direct_answers(local_lesson: dict[str, Any]) -> None:
    assert_lesson_answers(local_lesson, "TIMEOUT")
    assert "timed out" in local_lesson["killed"]["reason"]


def test_the_lesson_runs_on_slurm_with_the_bits_of_the_local_run(
    tmp_path: Path, slurm: None, local_lesson: dict[str, Any]
) -> None:
    report = lesson("slurm", tmp_path / "run")
    assert_lesson_answers(report, "TIMEOUT")
    assert report["map_reduce"] == local_lesson["map_reduce"]
    assert report["map_reduce_arrays"] == local_lesson["map_reduce_arrays"]


def test_the_lesson_runs_on_the_emulated_condor_pool_with_the_bits_of_the_local_run(
    tmp_path: Path, local_lesson: dict[str, Any]
) -> None:
    emulated = os.environ.get("HPCSUB_TEST_CONDOR_PATH")
    if not emulated:
        pytest.skip("HPCSUB_TEST_CONDOR_PATH (condor/emulated-bin) is not set; tests/it/python.rs sets it")
    env = dict(os.environ, PATH=f"{emulated}:{os.environ['PATH']}")
    report = lesson("condor", tmp_path / "run", env)
    assert_lesson_answers(report, "TIMEOUT")
    assert report["map_reduce"] == local_lesson["map_reduce"]
    assert report["map_reduce_arrays"] == local_lesson["map_reduce_arrays"]
    # Each batch is one DAG: one node per level, each level's node a job of its slices.
    assert list((tmp_path / "run").glob("batch-*/run/workflow.dag")), "to='condor' wrote no DAG"


def square(x: float) -> float:
    return x * x


def slow_square(x: float) -> float:
    time.sleep(0.2 * x)
    return x * x


def test_it_is_a_concurrent_futures_executor(tmp_path: Path) -> None:
    with hpcsub.Executor(run_dir=tmp_path / "run", processes=2, progress=False) as executor:
        assert isinstance(executor, concurrent.futures.Executor)
        futures = [executor.submit(slow_square, x) for x in (3, 0, 1)]
        assert all(isinstance(f, concurrent.futures.Future) for f in futures)
        done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
        assert done
        assert [f.result() for f in concurrent.futures.as_completed(futures, timeout=60)]
        assert [f.result() for f in futures] == [9, 0, 1]
        assert list(executor.map(square, [1.5, 2.0], timeout=60)) == [2.25, 4.0]
        assert executor.submit(lambda: {"kw": 1}).result() == {"kw": 1}
        assert executor.submit(pow, 2, exp=10).result() == 1024
    with pytest.raises(RuntimeError):
        executor.submit(square, 1)


def test_shutdown_with_cancel_futures_cancels_what_has_not_been_sent(tmp_path: Path) -> None:
    executor = hpcsub.Executor(run_dir=tmp_path / "run", progress=False)
    with executor.batch():
        held = [executor.submit(square, x) for x in range(3)]
        executor.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in held)
    assert not list((tmp_path / "run").glob("batch-*")), "cancelled calls were sent"


def test_a_map_is_one_task_job_and_a_shared_argument_is_written_once(tmp_path: Path) -> None:
    big = np.arange(2_000_000, dtype=np.float64)  # 16 MB
    with hpcsub.Executor(run_dir=tmp_path / "run", progress=False) as executor:
        picked = list(executor.map(lambda i, a: float(a[i]), range(20), [big] * 20))
    assert picked == [float(i) for i in range(20)]
    batches = sorted((tmp_path / "run").glob("batch-*"))
    assert len(batches) == 1, "a map must be one run"
    job = json.loads((batches[0] / "job.yaml").read_text())
    assert job["steps"]["level0"]["tasks"]["count"] == 20
    assert (batches[0] / "shared.pkl").stat().st_size > 16_000_000
    assert (batches[0] / "calls.pkl").stat().st_size < 100_000, "the array was pickled per call"


def fail_on(n: int) -> int:
    if n < 0:
        raise KeyError(n)
    return n


def test_futures_as_arguments_make_a_graph_and_a_failed_dependency_stops_its_dependents(tmp_path: Path) -> None:
    with hpcsub.Executor(run_dir=tmp_path / "run", progress=False) as executor:
        bad = executor.submit(fail_on, -1)
        good = executor.submit(fail_on, 2)
        after_good = executor.submit(lambda x, y=0: x * 10 + y, good, y=good)
        after_bad = executor.submit(square, bad)
        assert after_good.result() == 22
        assert isinstance(bad.exception(), KeyError)
        assert "in fail_on" in str(bad.exception().__cause__)
        with pytest.raises(hpcsub.DependencyFailed):
            after_bad.result()
        # a future of an earlier batch is waited for, then passed by value
        later = executor.submit(square, after_good)
        assert later.result() == 484


def test_map_reduce_gives_the_exact_statistics_of_the_equivalent_task_job(tmp_path: Path) -> None:
    def value(task: int) -> float:
        return (task * 0.1) ** 1.5 / 7

    with hpcsub.Executor(run_dir=tmp_path / "run", processes=2, progress=False) as executor:
        reduced = executor.map_reduce(value, range(40), reduce=["count", "sum", "mean", "std", "min", "max"])
    program = "import sys; t = int(sys.argv[1]); print(repr((t * 0.1) ** 1.5 / 7))"
    job = {
        "name": "equivalent",
        "tasks": {"count": 40, "command": [sys.executable, "-c", program, "{task}"], "result": "number"},
        "reduce": ["count", "sum", "mean", "std", "min", "max"],
        "split": {"threads": 1},
    }
    direct = hpcsub.run(job, progress=False)
    for statistic in ("count", "sum", "mean", "std", "min", "max"):
        assert reduced[statistic] == direct.result[statistic], statistic


class _Axis:
    def __init__(self, edges: Any) -> None:
        self.edges = edges


class OneAxisHistogram:
    """Shaped as a hist.Hist or boost_histogram.Histogram of one axis, which the tests do not
    install: ``axes[0].edges`` and ``values()``."""

    def __init__(self, counts: list[int]) -> None:
        self.axes = [_Axis(np.linspace(0.0, 1.0, len(counts) + 1))]
        self._counts = np.asarray(counts)

    def values(self) -> Any:
        return self._counts


def test_map_reduce_sums_histograms_given_as_dicts_or_histogram_objects(tmp_path: Path) -> None:
    def as_dict(i: int) -> dict[str, Any]:
        counts, edges = np.histogram(np.full(i + 1, 0.3), bins=2, range=(0, 1))
        return {"edges": edges, "counts": counts}

    with hpcsub.Executor(run_dir=tmp_path / "run", progress=False) as executor:
        summed = executor.map_reduce(as_dict, range(4), reduce=["histogram"])
        objects = executor.map_reduce(lambda i: OneAxisHistogram([i, 1, 2]), range(4), reduce=["histogram"])
        keyed = executor.map_reduce(lambda i: {"x": i / 2, "h": as_dict(i)}, range(4), reduce=["sum", "histogram"])
    assert summed["edges"] == [0.0, 0.5, 1.0] and summed["counts"] == [10, 0]
    assert objects["counts"] == [6, 4, 8] and len(objects["edges"]) == 4
    assert keyed["x"]["sum"] == 3.0 and keyed["h"]["counts"] == [10, 0]


def test_a_failed_call_in_map_reduce_raises_task_failed_with_the_others_result(tmp_path: Path) -> None:
    with hpcsub.Executor(run_dir=tmp_path / "run", progress=False) as executor:
        with pytest.raises(hpcsub.TaskFailed) as failure:
            executor.map_reduce(fail_on, [1, -1, 2], reduce=["sum"])
    assert failure.value.result is not None and failure.value.result["sum"] == 3
    assert "KeyError" in str(failure.value)


def test_attach_reopens_the_futures_of_a_run_from_another_process(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    script = (
        "import hpcsub\n"
        f"with hpcsub.Executor(run_dir={str(run_dir)!r}, progress=False) as executor:\n"
        "    list(executor.map(lambda x: [x, x * x], range(5)))\n"
        "    executor.submit(lambda: 'last').result()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    futures = hpcsub.Executor.attach(run_dir).futures
    assert [f.result(timeout=30) for f in futures] == [[x, x * x] for x in range(5)] + ["last"]
    with pytest.raises(FileNotFoundError):
        hpcsub.Executor.attach(tmp_path)


@pytest.mark.parametrize("backend", ["local", "slurm"])
def test_ctrl_c_cancels_the_calls_and_leaves_no_process_or_job(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "slurm":
        request.getfixturevalue("slurm")
    run_dir = tmp_path / "run"
    name = f"ctrl-c-{os.getpid()}"
    options = {"processes": 2} if backend == "local" else {"to": "slurm", "slices": 2}
    script = (
        "import os, time, hpcsub\n"
        "def sleeper(n):\n"
        f"    open(os.path.join({str(tmp_path)!r}, f'pid-{{n}}'), 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        f"with hpcsub.Executor(run_dir={str(run_dir)!r}, name={name!r}, progress=False, **{options!r}) as executor:\n"
        "    futures = [executor.submit(sleeper, n) for n in range(2)]\n"
        "    [f.result() for f in futures]\n"
    )
    python = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    pids = wait_for_pid_files([tmp_path / "pid-0", tmp_path / "pid-1"], python, seconds=120)
    python.send_signal(signal.SIGINT)
    _, err = python.communicate(timeout=60)
    assert python.returncode != 0 and "KeyboardInterrupt" in err, err
    deadline = time.monotonic() + 30
    while processes_of(run_dir) or any(alive(pid) for pid in pids) or queued(name):
        assert time.monotonic() < deadline, f"left behind: {processes_of(run_dir)}, jobs {queued(name)}"
        time.sleep(0.2)


def queued(name: str, columns: str = "%i %j") -> list[str]:
    """The Slurm jobs of the executor called `name` still in the queue (none without Slurm), as
    `columns` (squeue's format, the job name last) shows them."""
    if shutil.which("squeue") is None:
        return []
    done = subprocess.run(["squeue", "--noheader", "-o", columns], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if f" {name}-" in line]



def test_on_slurm_the_other_slice_finishes_the_calls_of_a_cancelled_one(tmp_path: Path, slurm: None) -> None:
    name = f"takeover-{os.getpid()}"
    ran = tmp_path / "ran"

    def call(n: int) -> int:
        time.sleep(0.5)
        with open(ran, "a") as out:
            out.write(f"{n}\n")
        return n

    with hpcsub.Executor(to="slurm", slices=2, run_dir=str(tmp_path / "run"), name=name, progress=False) as executor:
        futures = [executor.submit(call, n) for n in range(16)]
        journal = tmp_path / "run" / "batch-0001" / "run" / "steps" / "level0" / "parts" / "1.journal"
        deadline = time.monotonic() + 120
        while not journal.is_file() or len(journal.read_text().splitlines()) < 2:
            assert time.monotonic() < deadline, "slice 1 never finished 2 calls"
            time.sleep(0.05)
        # The array of the level's slices, not its gather job.
        arrays = {line.split()[0] for line in queued(name, "%F %K %j") if line.split()[1] != "N/A"}
        assert len(arrays) == 1, arrays
        subprocess.run(["scancel", f"{arrays.pop()}_1"], check=True)
        results = [f.result(timeout=300) for f in futures]
    assert results == list(range(16))
    assert sorted(int(n) for n in ran.read_text().split()) == list(range(16)), "a call ran twice or never"
