#!/usr/bin/env bash
# Creates the two Python environments of the HTCondor harness, from PyPI, pinned:
#   DIR/htcondor-24: htcondor 24.12.24, whose Submit(...).jobs() expands a submit description
#                    into job ClassAds without a schedd (removed in 25.x);
#   DIR/htcondor-25: htcondor 25.14.1, whose htcondor2.Submit.from_dag runs condor_submit_dag's
#                    own DAG parser, and whose JobEventLog reads event logs.
# Usage: condor/setup.sh [DIR]   (default: target/condor-venvs). Does nothing if both are there.
set -euo pipefail
dir="${1:-$(cd "$(dirname "$0")/.." && pwd)/target/condor-venvs}"
mkdir -p "$dir"
# One setup at a time: the tests call this from several threads.
exec 9>"$dir/.lock"
flock 9
for version in 24.12.24 25.14.1; do
  venv="$dir/htcondor-${version%%.*}"
  if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("htcondor"))' 2>/dev/null)" = "$version" ]; then
    continue
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "htcondor==$version"
done
echo "$dir"
