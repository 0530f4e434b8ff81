"""Reads a job event log with HTCondor's own reader (htcondor2.JobEventLog) and prints its
events as JSON lines: {"type", "cluster", "proc", "node", "return_value"}.

Usage: read_events.py LOG   (run with the htcondor-25 environment's python)
"""

import json
import os
import sys

os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
import htcondor2  # noqa: E402

for event in htcondor2.JobEventLog(sys.argv[1]).events(0):
    notes = event.get("LogNotes", "")
    print(json.dumps({
        "type": int(event.type),
        "cluster": event.cluster,
        "proc": event.proc,
        "node": notes.removeprefix("DAG Node: ") if notes.startswith("DAG Node: ") else None,
        "return_value": event.get("ReturnValue"),
    }))
