"""AN EMULATED HTCONDOR POOL, for testing on machines without HTCondor's daemons (they are not
in Debian 12, and the PyPI wheels carry only the Python bindings). It is not HTCondor: it runs
a DAG the way DAGMan and a one-machine pool would, using HTCondor's own code wherever the
bindings have it.

- The DAG is checked by condor_submit_dag's parser (check_dag.py, htcondor 25.x).
- Each node's submit file is expanded into job ClassAds by HTCondor's submit code (expand.py,
  htcondor 24.x), so every proc runs exactly the Cmd and Arguments HTCondor would run, in its
  Iwd, with only its Environment (plus OMP_NUM_THREADS and _CONDOR_SCRATCH_DIR, which a starter
  sets), its output and error in Out and Err, and AllowedExecuteDuration as a time limit.
- Nodes run in DAG order; a node fails if any of its procs does, and is run again whole up to
  its RETRY count, as DAGMan does. Children of a failed node do not run.
- Events go to each proc's UserLog and DAGMan's own to <dag>.dagman.log, in HTCondor's text
  format, with the "DAG Node:" note DAGMan adds.
- --remove-proc N removes proc N of the first node on every attempt, as condor_rm or a
  site's policy would: it never runs. That is how the tests lose a slice.
- --background answers as condor_submit_dag does ("1 job(s) submitted to cluster N.") and
  runs the DAG in a detached process, writing its summary to <dag>.dagman.out; the
  condor_submit_dag in emulated-bin/ is this.

Usage: emulated_pool.py RUN_DIR [DAG_FILE] [--venvs DIR] [--remove-proc N] [--background]
Prints a JSON summary; exits 0 if every node succeeded, 1 otherwise (as DAGMan).
"""

import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from htcondor_text import event, terminated  # noqa: E402


def harness(venvs, version, script, *args):
    python = os.path.join(venvs, f"htcondor-{version}", "bin", "python")
    result = subprocess.run(
        [python, os.path.join(HERE, script), *args], capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(result.stderr.strip() or f"{script} failed")
    return json.loads(result.stdout)


def next_cluster(run_dir):
    """One more than any cluster in the event logs under the run directory (a workflow's steps
    keep theirs in steps/<step>/): ids keep growing across runs, as a schedd's do."""
    seen = [0]
    for log in glob.glob(os.path.join(run_dir, "**", "*.log"), recursive=True):
        with open(log) as f:
            seen += [int(m) for m in re.findall(r"^\d{3} \((\d+)\.", f.read(), re.M)]
    return max(seen) + 1


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def kill_session(session):
    """SIGKILL to every process of `session`."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_proc(proc, node, removed):
    """Runs one expanded proc as a starter would; its return value, or None if removed."""
    iwd = proc["Iwd"]
    log = os.path.join(iwd, proc["UserLog"])
    cluster, number = proc["ClusterId"], proc["ProcId"]
    append(log, event(0, cluster, number, "Job submitted from host: <127.0.0.1:0>",
                      [f"    DAG Node: {node}"]))
    if removed:
        append(log, event(9, cluster, number, "Job was aborted.",
                          ["\tremoved by the emulated pool (--remove-proc)"]))
        return None
    append(log, event(1, cluster, number, "Job executing on host: <127.0.0.1:0>"))
    environment = dict(proc["environment"])
    environment["OMP_NUM_THREADS"] = str(proc["RequestCpus"])
    environment["_CONDOR_SCRATCH_DIR"] = iwd
    limit = proc.get("AllowedExecuteDuration")
    with open(os.path.join(iwd, proc["Out"]), "a") as out, \
         open(os.path.join(iwd, proc["Err"]), "a") as err:
        # A session of its own, so that the time limit kills every process the job started
        # (hpcsub puts its tasks in process groups of their own), as a starter does.
        job = subprocess.Popen([proc["Cmd"], *proc["argv"]], cwd=iwd, env=environment,
                               stdout=out, stderr=err, start_new_session=True)
        try:
            code = job.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_session(job.pid)
            job.wait()
            append(log, event(9, cluster, number, "Job was aborted.",
                              ["\tAllowedExecuteDuration exceeded"]))
            return None
    append(log, terminated(cluster, number, code))
    return code


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("dag", nargs="?", default="job.dag")
    parser.add_argument("--venvs", default=os.path.join(HERE, "..", "target", "condor-venvs"))
    parser.add_argument("--remove-proc", type=int, action="append", default=[])
    parser.add_argument("--background", action="store_true")
    args = parser.parse_args()
    run_dir = os.path.abspath(args.run_dir)
    dag_path = os.path.join(run_dir, args.dag)
    dag = harness(args.venvs, 25, "check_dag.py", dag_path)

    dagman_log = dag_path + ".dagman.log"
    dagman = next_cluster(run_dir)
    append(dagman_log, event(0, dagman, 0, "Job submitted from host: <127.0.0.1:0>"))
    if args.background:
        print("Submitting job(s).")
        print(f"1 job(s) submitted to cluster {dagman}.")
        sys.stdout.flush()
        if os.fork() > 0:
            return
        os.setsid()
        out = os.open(dag_path + ".dagman.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        for stream in (1, 2):
            os.dup2(out, stream)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    append(dagman_log, event(1, dagman, 0, "Job executing on host: <127.0.0.1:0>"))
    cluster = dagman
    first = next(iter(dag["nodes"]))
    status, summary = {}, {"dag": args.dag, "dagman_cluster": dagman, "nodes": {}}
    pending = list(dag["nodes"])
    while pending:
        node = next(candidate for candidate in pending
                    if all(parent in status for parent, child in dag["edges"] if child == candidate))
        pending.remove(node)
        parents_ok = all(status[p] for p, c in dag["edges"] if c == node)
        record = summary["nodes"][node] = {"attempts": 0, "clusters": [], "procs": []}
        status[node] = False
        if not parents_ok:
            record["skipped"] = "a parent failed"
            continue
        for _ in range(1 + dag["retries"].get(node, 0)):
            cluster += 1
            expanded = harness(args.venvs, 24, "expand.py",
                               os.path.join(run_dir, dag["nodes"][node]), "--cluster", str(cluster))
            record["attempts"] += 1
            record["clusters"].append(cluster)
            codes = [run_proc(proc, node, node == first and proc["ProcId"] in args.remove_proc)
                     for proc in expanded["procs"]]
            record["procs"] = [{"proc": p["ProcId"], "argv": p["argv"], "return_value": c}
                               for p, c in zip(expanded["procs"], codes)]
            if all(code == 0 for code in codes):
                status[node] = True
                break
    succeeded = all(status.values())
    append(dagman_log, terminated(dagman, 0, 0 if succeeded else 1))
    summary["succeeded"] = succeeded
    json.dump(summary, sys.stdout)
    sys.exit(0 if succeeded else 1)


if __name__ == "__main__":
    main()
