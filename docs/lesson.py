"""The lesson, redone with hpcsub from Python.

The lesson took the tutorial's two workloads from one core to many: ten tasks of growing
duration (task i sleeps 0.1 i s, then computes a small mean; jobs/tutorial_task.py), first one
after another, then on threads; and the mean of the quadratic formula's root over 200 million
random points (jobs/quadratic.yaml), first on threads, then on a cluster. Here every step is one
call of the hpcsub package, and the timings are printed side by side at the end, with the check
that the kernel gave the same bits wherever it ran.

    python/build-wheel.sh         # the wheel, once, where Rust is (see the README)
    python3 -m venv /tmp/hpcsub-env && /tmp/hpcsub-env/bin/pip install --no-index target/python/wheels/hpcsub-*.whl
    /tmp/hpcsub-env/bin/python docs/lesson.py   # from anywhere; Slurm needs a cluster

The Slurm step submits to whatever cluster `sinfo` reaches (the tests start the private one of
slurm/; see "Submitting to Slurm" in the README) and is skipped, saying so, when none does.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import hpcsub

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def timed(step: str, where: str, call):
    started = time.perf_counter()
    result = call()
    return {"step": step, "where": where, "wall_s": time.perf_counter() - started, "result": result}


def slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    return subprocess.run(["sinfo", "--noheader"], capture_output=True).returncode == 0


def main() -> None:
    tasks = JOBS / "tutorial-tasks.yaml"
    kernel = JOBS / "quadratic.yaml"
    rows = [
        # 1. The ten tasks one after another: the sum of their durations, 4.5 s.
        timed("10 tutorial tasks", "1 thread", lambda: hpcsub.run(tasks, threads=1)),
        # 2. The same on ten threads (split.threads in the job file): about the longest, 0.9 s.
        timed("10 tutorial tasks", "10 threads", lambda: hpcsub.run(tasks)),
        # 3. The 200M-sample kernel on one core, then on every core of this machine.
        timed("200M-sample kernel", "1 thread", lambda: hpcsub.run(kernel, threads=1)),
        timed("200M-sample kernel", "all cores", lambda: hpcsub.run(kernel)),
    ]
    # 4. The same kernel as a Slurm job array of 4 slices and a gather job.
    if slurm_answers():
        with tempfile.TemporaryDirectory(prefix="hpcsub-lesson-") as runs:

            def on_slurm() -> hpcsub.Result:
                run = hpcsub.submit(kernel, to="slurm", run_dir=Path(runs) / "quadratic")
                return run.wait()

            rows.append(timed("200M-sample kernel", "slurm array of 4", on_slurm))
    else:
        print("slurm: skipped, no cluster answers `sinfo` (see the README to start one)\n")

    print(f"{'step':<20} {'where':<18} {'wall s':>8} {'hpcsub s':>9}  result")
    for row in rows:
        result: hpcsub.Result = row["result"]
        mean = result.result["mean"]
        print(f"{row['step']:<20} {row['where']:<18} {row['wall_s']:>8.3f} {result.elapsed_s:>9.3f}  mean {mean!r}")
    kernel_results = [row["result"].result for row in rows if row["step"].startswith("200M")]
    same = all(r == kernel_results[0] for r in kernel_results)
    print(f"\nsame bits on every backend: {'yes' if same else 'NO'}")
    serial, threaded = rows[0]["wall_s"], rows[1]["wall_s"]
    print(f"tasks on threads: {serial / threaded:.1f}x faster than one after another")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
