"""HTCondor's text conventions that the harness needs outside the bindings: splitting the
new-style Arguments and Environment of a job ClassAd, and writing job event log entries in the
default text format (which htcondor2.JobEventLog reads back in the tests)."""

import time


def split_arguments(text):
    """Splits a job ad's Arguments (HTCondor's "new" syntax, as the ad holds it): arguments are
    separated by whitespace, single quotes group, and '' inside quotes is one literal quote."""
    arguments, current, quoted, started, i = [], [], False, False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "'" and text[i + 1 : i + 2] == "'":
                current.append("'")
                i += 1
            elif c == "'":
                quoted = False
            else:
                current.append(c)
        elif c == "'":
            quoted, started = True, True
        elif c.isspace():
            if started:
                arguments.append("".join(current))
                current, started = [], False
        else:
            current.append(c)
            started = True
        i += 1
    if quoted:
        raise ValueError(f"unbalanced quote in arguments: {text!r}")
    if started:
        arguments.append("".join(current))
    return arguments


def split_environment(text):
    """A job ad's Environment (new syntax): NAME=VALUE entries quoted like arguments."""
    environment = {}
    for entry in split_arguments(text or ""):
        name, _, value = entry.partition("=")
        environment[name] = value
    return environment


def event(code, cluster, proc, message, lines=()):
    """One event of a job event log."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    body = "".join(f"{line}\n" for line in lines)
    return f"{code:03d} ({cluster:03d}.{proc:03d}.000) {stamp} {message}\n{body}...\n"


def terminated(cluster, proc, return_value):
    usage = "Usr 0 00:00:00, Sys 0 00:00:00"
    return event(
        5,
        cluster,
        proc,
        "Job terminated.",
        [f"\t(1) Normal termination (return value {return_value})"]
        + [f"\t\t{usage}  -  {what}" for what in ("Run Remote Usage", "Run Local Usage",
                                                  "Total Remote Usage", "Total Local Usage")]
        + [f"\t0  -  {what}" for what in ("Run Bytes Sent By Job", "Run Bytes Received By Job",
                                          "Total Bytes Sent By Job", "Total Bytes Received By Job")],
    )
