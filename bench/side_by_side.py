#!/usr/bin/env python3
"""Two hpcsub binaries at the same moment, one per core, so a noisy machine slows both alike.

    python3 bench/side_by_side.py OLD_BINARY NEW_BINARY [ROUNDS] [JOB,JOB...]

Each round runs every job (jobs/JOB.yaml, 1 thread, 30M samples) with OLD on core 0 and NEW
on core 1, then swapped. It prints the median of NEW's user time over OLD's, the best times,
and the spread of the ratios.
"""
import os
import statistics
import subprocess
import sys
from pathlib import Path

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def start(binary, cpu, job):
    command = ["taskset", "-c", str(cpu), binary, "run", str(JOBS / f"{job}.yaml"), "-q",
               "--samples", "30000000", "--threads", "1"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def main():
    old, new = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    jobs = sys.argv[4].split(",") if len(sys.argv) > 4 else ["quadratic", "normal", "smearing", "exp_sin"]
    ratios = {job: [] for job in jobs}
    times = {(binary, job): [] for binary in (old, new) for job in jobs}
    for _ in range(rounds):
        for job in jobs:
            for old_cpu, new_cpu in ((0, 1), (1, 0)):
                processes = {start(old, old_cpu, job).pid: old, start(new, new_cpu, job).pid: new}
                user = {}
                for _ in processes:
                    pid, status, usage = os.wait4(-1, 0)
                    if status != 0:
                        sys.exit(f"{processes[pid]} failed on {job} (status {status})")
                    user[processes[pid]] = usage.ru_utime + usage.ru_stime
                ratios[job].append(user[new] / user[old])
                for binary in (old, new):
                    times[(binary, job)].append(user[binary])
    for job in jobs:
        print(f"{job:10s} new/old median {statistics.median(ratios[job]):.3f}  "
              f"best old {min(times[(old, job)]):.3f} s  best new {min(times[(new, job)]):.3f} s  "
              f"spread {min(ratios[job]):.3f}-{max(ratios[job]):.3f}")


if __name__ == "__main__":
    main()
