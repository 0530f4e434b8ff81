"""Running the ``hpcsub`` command: finding the binary, writing a dict job to a file, reading
the one JSON object it prints and turning error objects into exceptions.

The API calls the command rather than binding the crate in-process: the Slurm and HTCondor
scripts need a binary on the compute nodes anyway (the absolute path of this one is what they
run), a run in a child process cannot take the notebook's kernel down with it, and Ctrl-C reaches
its task processes the way it does on the command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from . import _progress
from .errors import IncompleteRun, JobFileError, RunError

#: A job: the path of a job file, or a dict with the structure of one.
Job = Union[str, "os.PathLike[str]", "dict[str, Any]"]

_ENV_BINARY = "HPCSUB_BINARY"


def binary() -> str:
    """The absolute path of the ``hpcsub`` command this package runs.

    ``$HPCSUB_BINARY`` if set (for example an MPI build from source); else the command this
    package installed (found through the installed files, whatever the install scheme); else the
    first ``hpcsub`` on ``PATH``.
    """
    chosen = os.environ.get(_ENV_BINARY)
    if chosen:
        path = Path(chosen)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"${_ENV_BINARY} is {chosen}, which is not an executable file")
        return str(path.resolve())
    installed = _installed_binary()
    if installed is not None:
        return installed
    found = shutil.which("hpcsub")
    if found is None:
        raise FileNotFoundError(
            "no hpcsub command: install the wheel (pip install hpcsub), or set "
            f"${_ENV_BINARY} to the binary (for example target/release/hpcsub)"
        )
    return str(Path(found).resolve())


def _installed_binary() -> Optional[str]:
    try:
        files = distribution("hpcsub").files or []
    except PackageNotFoundError:
        return None
    for file in files:
        if file.name == "hpcsub" and file.parent.name in ("bin", "scripts"):
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


@contextlib.contextmanager
def job_file(job: Job) -> Iterator[tuple[str, Optional[str]]]:
    """The path of a job file for ``job``, and for a dict the text written for it.

    A dict is written as JSON (which is YAML), one key per line so that an error's line points
    at the key, into a hidden file in the current directory: relative paths in it (task
    commands, inputs, ``workdir``) then mean what they mean to the caller. The file is removed
    afterwards; a submitted run keeps its own frozen copy.
    """
    if isinstance(job, dict):
        try:
            text = json.dumps(job, indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as err:
            raise TypeError(f"a job given as a dict must hold only JSON values (str, int, finite float, bool, None, list, dict): {err}") from None
        name = str(job.get("name", "job"))
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40] or "job"
        try:
            handle = tempfile.NamedTemporaryFile(
                "w", dir=os.getcwd(), prefix=f".hpcsub-{safe}-", suffix=".yaml", delete=False
            )
        except OSError:
            handle = tempfile.NamedTemporaryFile("w", prefix=f"hpcsub-{safe}-", suffix=".yaml", delete=False)
        with handle:
            handle.write(text)
        try:
            yield handle.name, text
        finally:
            with contextlib.suppress(OSError):
                os.unlink(handle.name)
    elif isinstance(job, (str, os.PathLike)):
        yield os.fspath(job), None
    else:
        raise TypeError(f"a job is a path or a dict, not {type(job).__name__}")


def invoke(
    arguments: list[str],
    *,
    progress: bool = False,
    label: str = "hpcsub",
    source: Optional[str] = None,
) -> dict[str, Any]:
    """Runs ``hpcsub ARGUMENTS --json`` and returns its JSON object; an error object becomes
    the matching exception (the exit code is in the error).

    With ``progress``, the command's JSON progress lines drive a bar (in a notebook) or a line
    of text; anything else it writes on stderr is passed on to ``sys.stderr``.
    """
    command = [binary(), *arguments, "--json", "--progress", "json" if progress else "never"]
    display = _progress.display(label) if progress else None
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.append(process.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    # The last lines, for the error if no report comes; every line is passed on as it comes.
    others: deque[str] = deque(maxlen=20)
    try:
        for line in process.stderr:  # type: ignore[union-attr]
            update = _progress.parse(line)
            if update is not None:
                if display is not None:
                    display.update(update)
            else:
                others.append(line)
                sys.stderr.write(line)
        process.wait()
    except BaseException:
        # Ctrl-C in a notebook: stop the command as Ctrl-C would (it kills its tasks' process
        # groups), then let the interrupt go on.
        _stop(process)
        raise
    finally:
        if display is not None:
            display.close()
    reader.join()
    code = process.returncode
    text = "".join(stdout).strip()
    try:
        value = json.loads(text) if text else None
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        tail = "".join(others).strip()
        raise RunError(
            {
                "kind": "run",
                "exit_code": code,
                "message": f"{command[0]} {' '.join(arguments)} exited with {code} without a JSON report"
                + (f": {tail}" if tail else ""),
            }
        )
    return _checked(value, source)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _checked(value: dict[str, Any], source: Optional[str]) -> dict[str, Any]:
    error = value.get("error")
    if not isinstance(error, dict):
        return value
    kind = error.get("kind")
    if kind == "job_file":
        raise JobFileError(error, source=source)
    if kind == "incomplete":
        raise IncompleteRun(value)
    if kind == "failed":
        from .results import Result

        raise RunError(error, json=value, result=Result(value))
    raise RunError(error, json=value if len(value) > 1 else None)
