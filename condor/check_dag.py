"""Checks a DAG file with condor_submit_dag's own parser (htcondor 25.x:
htcondor2.Submit.from_dag, which rejects unknown keywords and bad syntax), then what that parser
leaves to DAGMan at run time: every node's submit file exists and every RETRY, PARENT and CHILD
names a declared node. Prints the DAG as JSON: {"nodes": {name: submit file}, "retries":
{name: n}, "edges": [[parent, child]]}.

Usage: check_dag.py DAG_FILE   (run with the htcondor-25 environment's python)
"""

import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
import htcondor2  # noqa: E402


def structure(path):
    nodes, retries, edges = {}, {}, []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            where = f"{path}:{number}"
            keyword = words[0].upper()
            if keyword == "JOB":
                nodes[words[1]] = words[2]
            elif keyword == "RETRY":
                retries[words[1]] = int(words[2])
            elif keyword == "PARENT":
                child = [w.upper() for w in words].index("CHILD")
                edges += [[p, c] for p in words[1:child] for c in words[child + 1 :]]
            else:
                sys.exit(f"{where}: the harness does not model DAG keyword {words[0]}")
    named = list(retries) + [n for edge in edges for n in edge]
    undeclared = sorted(set(named) - set(nodes))
    if undeclared:
        sys.exit(f"{path}: undeclared nodes: {', '.join(undeclared)}")
    directory = os.path.dirname(os.path.abspath(path))
    missing = [f for f in nodes.values() if not os.path.exists(os.path.join(directory, f))]
    if missing:
        sys.exit(f"{path}: missing submit files: {', '.join(missing)}")
    return {"nodes": nodes, "retries": retries, "edges": edges}


def main():
    path = sys.argv[1]
    # from_dag writes <dag>.condor.sub beside the DAG; a copy keeps the run directory as
    # condor_submit_dag will want to find it.
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, os.path.basename(path))
        shutil.copy(path, copy)
        try:
            htcondor2.Submit.from_dag(copy, {"dagman": "/bin/true", "force": True})
        except Exception as error:  # the bindings raise HTCondorException
            sys.exit(f"{path}: condor_submit_dag's parser refused it: {error}")
    json.dump(structure(path), sys.stdout)


if __name__ == "__main__":
    main()
