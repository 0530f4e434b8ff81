"""Dynamic against static balance of task jobs on the private Slurm cluster, side by side in one
run (issue 26), and the cost of a task against `xargs -P` on the same CPUs.

    cargo build --release
    eval "$(slurm/start-cluster.sh /tmp/hpcsub-slurm)"
    python3 bench/balance.py
    python3 bench/balance.py --memory-only     # part 3 alone, without Slurm

1. Uneven tasks on 2 slices x 1 thread: even tasks sleep 0.5 s, odd ones 0.05 s, so a static
   split gives one slice all the long ones. Ideal: the tasks' own times added up / 2 slices.
2. 100,000 no-op tasks (`true`) on a Slurm array of 4 slices x 1 thread, against
   `xargs -P 4 -n 1 true` over the same 100,000 arguments, per task.
3. The peak memory of a local run of 1,000,000 no-op tasks (LOCAL_TASKS), as GNU time sees it
   (`apt-get install time`): a child forked from Python would count the interpreter's pages.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HPCSUB = str(Path(os.environ.get("HPCSUB", "target/release/hpcsub")).resolve())
ROUNDS = int(os.environ.get("ROUNDS", "3"))
NOOP_TASKS = int(os.environ.get("NOOP_TASKS", "100000"))
LOCAL_TASKS = int(os.environ.get("LOCAL_TASKS", "1000000"))

NOOP_JOB = "name: noop\ntasks:\n  count: {tasks}\n  command: ['true']\n  result: none\nsplit:\n  slices: 4\n  threads: 1\n"

def hpcsub(*args: str) -> dict:
    done = subprocess.run([HPCSUB, *args, "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"hpcsub {' '.join(args)} failed ({done.returncode}): {done.stderr}{done.stdout}")
    return json.loads(done.stdout)


def uneven_job(directory: Path, balance: str) -> Path:
    seconds = ", ".join("'0.5'" if t % 2 == 0 else "'0.05'" for t in range(40))
    job = directory / f"uneven-{balance}.yaml"
    job.write_text(
        "name: uneven\n"
        f"tasks:\n  params: {{seconds: [{seconds}]}}\n  command: [sleep, '{{seconds}}']\n  result: none\n"
        f"split:\n  slices: 2\n  threads: 1\n  balance: {balance}\n"
    )
    return job


def submitted(job: Path, run_dir: Path) -> tuple[float, float]:
    """The run's elapsed_s (first slice's start to last one's end) and its ideal."""
    report = hpcsub("submit", str(job), "--to", "slurm", "--wait", "--quiet", "--run-dir", str(run_dir))
    records = [json.loads(line) for line in (run_dir / "tasks.jsonl").read_text().splitlines()]
    ideal = sum(r["elapsed_s"] for r in records) / report["slices"]
    return report["elapsed_s"], ideal


def main() -> None:
    if "--memory-only" in sys.argv[1:]:
        local_memory(Path(tempfile.mkdtemp(prefix="hpcsub-balance-")))
        return
    if "SLURM_CONF" not in os.environ:
        sys.exit('start the private cluster first: eval "$(slurm/start-cluster.sh /tmp/hpcsub-slurm)"')
    work = Path(tempfile.mkdtemp(prefix="hpcsub-balance-"))
    times: dict[str, list[float]] = {"dynamic": [], "static": []}
    ideals: list[float] = []
    for round_ in range(ROUNDS):
        for balance in ("static", "dynamic"):
            elapsed, ideal = submitted(uneven_job(work, balance), work / f"{balance}-{round_}")
            times[balance].append(elapsed)
            ideals.append(ideal)
    ideal = statistics.median(ideals)
    print(f"Uneven tasks (40: 0.5 s and 0.05 s alternating), 2 slices x 1 thread, {ROUNDS} rounds interleaved\n")
    print("| balance | best elapsed_s | median elapsed_s | median / ideal |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| ideal (task times / 2) | | {ideal:.2f} | 1.00x |")
    for balance in ("static", "dynamic"):
        median = statistics.median(times[balance])
        print(f"| {balance} | {min(times[balance]):.2f} | {median:.2f} | {median / ideal:.2f}x |")

    noop = work / "noop.yaml"
    noop.write_text(NOOP_JOB.format(tasks=NOOP_TASKS))
    started = time.perf_counter()
    report = hpcsub("submit", str(noop), "--to", "slurm", "--wait", "--quiet", "--run-dir", str(work / "noop"))
    submitted_wall = time.perf_counter() - started
    claims = len([p for p in (work / "noop/parts/claims").iterdir() if p.name[0].isdigit()])
    started = time.perf_counter()
    subprocess.run(["xargs", "-P", "4", "-n", "1", "true"], input="\n".join(map(str, range(NOOP_TASKS))), text=True, check=True)
    xargs = time.perf_counter() - started
    per_task = report["elapsed_s"] / NOOP_TASKS * 1e6
    print(f"\n{NOOP_TASKS} no-op tasks, 4 at a time on {os.cpu_count()} CPUs\n")
    print("| runner | wall (s) | per task (us) | / xargs |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| xargs -P 4 -n 1 true | {xargs:.1f} | {xargs / NOOP_TASKS * 1e6:.0f} | 1.00x |")
    print(f"| hpcsub Slurm array of 4 slices (elapsed_s of the slices) | {report['elapsed_s']:.1f} | {per_task:.0f} | {report['elapsed_s'] / xargs:.2f}x |")
    print(f"| the same, submit to gathered result | {submitted_wall:.1f} | | {submitted_wall / xargs:.2f}x |")
    print(f"\nclaims: {claims} batches for {NOOP_TASKS} tasks")

    local_memory(work)


def local_memory(work: Path) -> None:
    local = work / "noop-local.yaml"
    local.write_text(NOOP_JOB.format(tasks=LOCAL_TASKS).replace("slices: 4\n  threads: 1", "threads: 4"))
    started = time.perf_counter()
    measured = subprocess.run(
        ["/usr/bin/time", "-f", "%M", HPCSUB, "run", str(local), "--quiet", "--json"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    wall = time.perf_counter() - started
    peak_kib = int(measured.stderr.split()[-1])
    print(f"\npeak memory of `hpcsub run --json` over {LOCAL_TASKS} no-op tasks (4 threads): "
          f"{peak_kib / 1024:.0f} MiB, in {wall:.0f} s")

if __name__ == "__main__":
    main()
