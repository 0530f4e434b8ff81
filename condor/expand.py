"""Expands one submit file into its job ClassAds with HTCondor's own submit-language code
(htcondor 24.x: Submit(text).jobs(clusterid=N), no schedd needed), and prints them as JSON:
{"commands": [...], "procs": [{attribute: value, ..., "argv": [...], "environment": {...}}]}.

HTCondor's parser raises on bad syntax, quoting, universe and values, but silently accepts
commands it does not know; so every command must also be in submit-commands.txt (custom
attributes, `+Name` or `My.Name`, excepted).

Usage: expand.py SUBMIT_FILE [--cluster N]   (run with the htcondor-24 environment's python)
"""

import argparse
import json
import os
import sys

os.environ.setdefault("CONDOR_CONFIG", "/dev/null")
import classad  # noqa: E402
import htcondor  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from htcondor_text import split_arguments, split_environment  # noqa: E402


def allowed_commands():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "submit-commands.txt")
    with open(path) as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


def plain(ad, key):
    """An attribute as JSON: its value when it is a literal, else the expression's text."""
    value = ad.get(key)
    if isinstance(value, classad.ExprTree):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("submit_file")
    parser.add_argument("--cluster", type=int, default=1)
    args = parser.parse_args()
    with open(args.submit_file) as f:
        text = f.read()
    submit = htcondor.Submit(text)
    known = allowed_commands()
    unknown = [
        name
        for name in submit.keys()
        if not name.startswith("+") and not name.lower().startswith("my.") and name.lower() not in known
    ]
    if unknown:
        sys.exit(f"{args.submit_file}: commands not in submit-commands.txt: {', '.join(unknown)}")
    # Submit(...).jobs() resolves relative paths against the current directory, as
    # condor_submit does against the one it runs in: the submit file's own.
    os.chdir(os.path.dirname(os.path.abspath(args.submit_file)))
    procs = []
    for ad in submit.jobs(clusterid=args.cluster):
        if "Args" in ad:
            sys.exit(f"{args.submit_file}: old-style arguments (Args); hpcsub writes new-style ones")
        proc = {key: plain(ad, key) for key in ad.keys()}
        proc["argv"] = split_arguments(ad.get("Arguments", ""))
        proc["environment"] = split_environment(ad.get("Environment", ""))
        procs.append(proc)
    json.dump({"commands": list(submit.keys()), "procs": procs}, sys.stdout)


if __name__ == "__main__":
    main()
