"""The Python API, driven as a user would: from the installed wheel, in a fresh environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hpcsub
from conftest import alive, wait_for_pid_files
from hpcsub import _progress

REPO = Path(__file__).resolve().parents[2]

QUADRATIC = {
    "name": "py-quadratic",
    "seed": 42,
    "compute": {
        "samples": 3_000_001,
        "vars": {"a": "uniform(5, 10)", "b": "uniform(10, 20)", "c": "uniform(-0.1, 0.1)"},
        "expr": "(-b + sqrt(b^2 - 4*a*c)) / (2*a)",
    },
    "reduce": ["mean", "std", "min", "max", {"histogram": {"bins": 8, "range": [-0.01, 0.01]}}],
    "split": {"slices": 3, "threads": 1},
    "resources": {"time": "5m", "memory": "256MiB"},
}

# Every function and draw of the language, so the bits cover the vector math too.
EVERYTHING = """name: py-everything
seed: 11
compute:
  samples: 1_000_003
  vars:
    x: normal(0, 1)
    t: exponential(2)
    u: uniform(0.5, 4)
  expr: exp(-t) * sin(u) + cos(x) * tan(u / 3) + log(u) + log10(u) + atan2(x, u) + pow(u, 0.7) + sqrt(u)
reduce: [mean, std, min, max]
split:
  slices: 2
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def cli_json(binary: str, *arguments: str) -> dict:
    done = subprocess.run([binary, *arguments, "--json", "--quiet"], capture_output=True, text=True)
    return json.loads(done.stdout)


def test_the_api_runs_the_command_the_wheel_installed() -> None:
    binary = Path(hpcsub.binary())
    assert binary.is_absolute()
    assert binary.parent == Path(sys.executable).parent, "the wheel's command, in the environment's bin"
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    assert hpcsub.__version__ in version
    assert "build: default (no mpi)" in version


def test_the_wheels_command_gives_the_bits_of_the_cargo_build(tmp_path: Path, cargo_binary: str) -> None:
    job = write(tmp_path, "everything.yaml", EVERYTHING)
    for extra in ([], ["--threads", "1"]):
        wheel = cli_json(hpcsub.binary(), "run", str(job), *extra)
        cargo = cli_json(cargo_binary, "run", str(job), *extra)
        assert wheel["result"] == cargo["result"]
        assert json.dumps(wheel["result"]) == json.dumps(cargo["result"])


def test_run_of_a_path_and_of_a_dict_give_the_bits_of_the_command_line(tmp_path: Path, cargo_binary: str) -> None:
    path = write(tmp_path, "quadratic.json.yaml", json.dumps(QUADRATIC))
    expected = cli_json(cargo_binary, "run", str(path))
    from_path = hpcsub.run(path, progress=False)
    from_dict = hpcsub.run(QUADRATIC, progress=False)
    for result in (from_path, from_dict):
        assert result.result == expected["result"]
        # The same floats to the last bit: equal reprs, not just equal values.
        assert {k: repr(v) for k, v in result.result.items()} == {k: repr(v) for k, v in expected["result"].items()}
        assert result.histogram == expected["histogram"]
        assert result.json["samples"] == 3_000_001
    assert not list(Path.cwd().glob(".hpcsub-*")), "the dict's temporary job file is removed"


def test_the_yaml_job_file_and_the_dict_agree(cargo_binary: str) -> None:
    everything = {
        "name": "py-everything",
        "seed": 11,
        "compute": {
            "samples": 1_000_003,
            "vars": {"x": "normal(0, 1)", "t": "exponential(2)", "u": "uniform(0.5, 4)"},
            "expr": EVERYTHING.split("expr: ")[1].split("\n")[0],
        },
        "reduce": ["mean", "std", "min", "max"],
        "split": {"slices": 2},
    }
    from_dict = hpcsub.run(everything, threads=1, progress=False)
    from_yaml = hpcsub.run(write(Path.cwd(), ".everything-test.yaml", EVERYTHING), threads=2, progress=False)
    os.unlink(".everything-test.yaml")
    assert from_dict.result == from_yaml.result


def test_threads_samples_and_seed_are_passed_on() -> None:
    one = hpcsub.run(QUADRATIC, threads=1, samples="1M", seed=5, progress=False)
    two = hpcsub.run(QUADRATIC, threads=2, samples=1_000_000, seed=5, progress=False)
    assert one.json["threads"] == 1 and two.json["threads"] == 2
    assert one.result["count"] == 1_000_000 and one.json["seed"] == 5
    assert one.result == two.result
    assert hpcsub.run(QUADRATIC, samples="1M", seed=6, progress=False).result != one.result


def test_a_bad_job_file_raises_job_file_error_with_its_place(tmp_path: Path) -> None:
    text = "name: bad\ncompute:\n  samples: 10\n  vars:\n    a: uniform(0, 1)\n  expr: a +* 2\nreduce: [mean]\n"
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(hpcsub.JobFileError) as caught:
        hpcsub.run(path)
    error = caught.value
    assert (error.file, error.line, error.column) == (str(path), 6, 12)
    assert error.exit_code == 2
    assert "found `*`" in error.message
    rendered = subprocess.run([hpcsub.binary(), "run", str(path)], capture_output=True, text=True).stderr.strip()
    assert str(error) == rendered
    with pytest.raises(hpcsub.JobFileError):
        hpcsub.check(path)


def test_a_misspelt_key_in_a_dict_points_at_its_line_with_a_hint() -> None:
    job = json.loads(json.dumps(QUADRATIC))
    job["reduction"] = job.pop("reduce")
    with pytest.raises(hpcsub.JobFileError) as caught:
        hpcsub.run(job, progress=False)
    error = caught.value
    assert error.source is not None
    assert '"reduction"' in error.source.splitlines()[error.line - 1]
    assert error.hint and "reduce" in error.hint


def test_a_dict_must_hold_json_values() -> None:
    job = json.loads(json.dumps(QUADRATIC))
    job["seed"] = float("nan")
    with pytest.raises(TypeError, match="JSON values"):
        hpcsub.run(job)
    with pytest.raises(TypeError, match="path or a dict"):
        hpcsub.run(42)  # type: ignore[arg-type]


def test_check_returns_the_plan() -> None:
    plan = hpcsub.check(QUADRATIC)
    assert plan.job == "py-quadratic"
    assert len(plan.slices) == 3
    assert plan.code and plan.estimated_s and plan.estimated_s > 0
    assert plan["threads_per_submitted_slice"] == 1


def tasks_job(directory: Path, fail: bool = False) -> dict:
    write(directory, "square.py", "import sys\nn = int(sys.argv[1])\nsys.exit(3) if n == 2 and len(sys.argv) > 2 else print(n * n)\n")
    command = ["python3", "square.py", "{task}"] + (["fail"] if fail else [])
    return {
        "name": "py-squares",
        "tasks": {"count": 5, "command": command, "result": "number", "workdir": str(directory)},
        "reduce": ["sum", "mean", "max"],
    }


def test_a_task_job_gives_per_task_records(tmp_path: Path) -> None:
    result = hpcsub.run(tasks_job(tmp_path), progress=False)
    assert result.result["sum"] == 0 + 1 + 4 + 9 + 16
    assert [t["task"] for t in result.tasks] == [0, 1, 2, 3, 4]
    assert all(t["status"] == "succeeded" for t in result.tasks)
    assert [t["result"]["value"] for t in result.tasks] == [0, 1, 4, 9, 16]
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            result.to_pandas()
    else:
        frame = result.to_pandas()
        assert list(frame["value"]) == [0, 1, 4, 9, 16]


def test_failed_tasks_raise_run_error_with_the_others_result(tmp_path: Path) -> None:
    with pytest.raises(hpcsub.RunError) as caught:
        hpcsub.run(tasks_job(tmp_path, fail=True), progress=False)
    error = caught.value
    assert error.exit_code == 1 and error.kind == "failed"
    assert error.result is not None
    assert error.result.result["sum"] == 0 + 1 + 9 + 16
    assert [(t["task"], t["reason"]) for t in error.result.failed] == [(2, "exit status 3")]
    assert str(error) == "1 of 5 tasks failed"


def test_progress_is_shown_from_the_commands_json_lines(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # In a log (stderr is not a terminal), a call shorter than the interval writes nothing.
    hpcsub.run(QUADRATIC, samples="200M", progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(_progress, "_LOG_INTERVAL", 0.0)
    hpcsub.run(QUADRATIC, samples="200M", progress=True)
    err = capsys.readouterr().err
    assert "py-quadratic: " in err and "200M/200M samples (100%)" in err, err
    assert '{"progress"' not in err, "the JSON lines are read, not passed on"
    hpcsub.run(QUADRATIC, samples="1M", progress=False)
    assert capsys.readouterr().err == ""


def test_progress_lines_are_described_for_people() -> None:
    update = _progress.parse('{"progress":{"unit":"tasks","done":3,"total":10,"running":2,"failed":1}}\n')
    assert update == {"unit": "tasks", "done": 3, "total": 10, "running": 2, "failed": 1}
    assert _progress.describe(update, 3.0) == "3/10 tasks (30%), 2 running, 1 failed, ETA 7 s"
    assert _progress.parse("warning: something\n") is None


def test_a_result_displays_as_a_table() -> None:
    result = hpcsub.run(QUADRATIC, samples="100k", progress=False)
    page = result._repr_html_()
    assert "<table>" in page and "py-quadratic" in page
    assert f"{result.result['mean']!r} ± {result.result['sem']!r}" in page
    assert "histogram" in page


def test_condor_dry_run_then_reopened_status(tmp_path: Path) -> None:
    run = hpcsub.submit(QUADRATIC, to="condor", dry_run=True, run_dir=tmp_path / "run")
    assert run.commands == [["condor_submit_dag", "job.dag"]]
    status = hpcsub.Run(tmp_path / "run").status()
    assert (status.slices, status.missing, status.done) == (3, 3, 0)
    assert status.finished
    assert all("dry-run" in p["reason"] for p in status.problems)
    # The scripts call the installed command by its absolute path: it exists on the nodes.
    submit_file = (tmp_path / "run" / "job.sub").read_text()
    assert f"executable = {hpcsub.binary()}" in submit_file
    with pytest.raises(hpcsub.IncompleteRun) as caught:
        run.gather()
    assert caught.value.missing == [0, 1, 2] and caught.value.exit_code == 3
    assert "not submitted yet" in str(caught.value)
    with pytest.raises(hpcsub.RunError, match="nothing to wait for"):
        run.wait()
    with pytest.raises(hpcsub.RunError, match="nothing to cancel"):
        run.cancel()


def test_a_workflow_dry_run_reopens_with_every_steps_status(tmp_path: Path) -> None:
    run = hpcsub.submit(REPO / "jobs" / "pipeline.yaml", to="condor", dry_run=True, run_dir=tmp_path / "flow")
    assert run.commands == [["condor_submit_dag", "workflow.dag"]]
    status = hpcsub.Run(tmp_path / "flow").status()
    assert [step["step"] for step in status.steps] == ["simulate", "analyse", "report", "background"]
    assert (status.slices, status.missing, status.done) == (6, 6, 0)
    assert {p["step"] for p in status.problems} == {"simulate", "analyse", "report", "background"}
    with pytest.raises(hpcsub.RunError, match="4 of 4 steps"):
        run.gather()


def test_submit_refuses_what_cannot_be_submitted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="slurm"):
        hpcsub.submit(QUADRATIC, to="pbs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exclude"):
        hpcsub.submit(QUADRATIC, to="slurm", wait=True, dry_run=True)
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        hpcsub.Run(tmp_path)
    with pytest.raises(hpcsub.RunError) as caught:
        hpcsub.submit(QUADRATIC, to="condor", mode="mpi", dry_run=True, run_dir=tmp_path / "r")
    assert caught.value.exit_code == 2 and caught.value.kind == "usage"


def test_slurm_submit_wait_gather_status_give_the_local_bits(tmp_path: Path, slurm: None) -> None:
    local = hpcsub.run(QUADRATIC, threads=1, progress=False)
    run = hpcsub.submit(QUADRATIC, to="slurm", run_dir=tmp_path / "run")
    waited = run.wait(progress=False)
    assert waited.result == local.result and waited.histogram == local.histogram
    assert run.gather().result == local.result
    status = hpcsub.Run(run.run_dir).status()
    assert status.done == 3 and status.finished and len(status.job_ids) == 2
    assert status["result"] == "current"
    # Nothing failed or is missing: a resubmission submits nothing and gives the result.
    assert run.resubmit().gather().result == local.result
    assert hpcsub.submit(QUADRATIC, to="slurm", run_dir=tmp_path / "again", wait=True).gather().result == local.result


def test_ctrl_c_stops_the_command_and_its_tasks(tmp_path: Path) -> None:
    write(tmp_path, "sleeper.py", "import os, sys, time\nopen(f'pid-{sys.argv[1]}', 'w').write(str(os.getpid()))\ntime.sleep(120)\n")
    job = {
        "name": "py-sleepers",
        "tasks": {"count": 2, "command": ["python3", "sleeper.py", "{task}"], "workdir": str(tmp_path)},
        "split": {"threads": 2},
    }
    script = f"import hpcsub\nhpcsub.run({job!r}, progress=False)\n"
    python = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    pids = wait_for_pid_files([tmp_path / "pid-0", tmp_path / "pid-1"], python)
    python.send_signal(signal.SIGINT)
    _, err = python.communicate(timeout=30)
    assert python.returncode != 0 and "KeyboardInterrupt" in err, err
    for pid in pids:
        deadline = time.monotonic() + 10
        while alive(pid):
            assert time.monotonic() < deadline, f"task process {pid} outlived Ctrl-C"
            time.sleep(0.05)

