//! Bad input: exit code 2 and `file:line:column: message`, never a panic.

use crate::common::*;

fn fails_with(job_text: &[u8], line_col: &str, fragment: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, job_text).unwrap();
    for command in ["run", "check"] {
        let output = output_of(hpcsub().arg(command).arg(&path));
        assert_eq!(output.status.code(), Some(2), "{command}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = format!("{}:{line_col}: error:", path.display());
        assert!(
            stderr.starts_with(&expected),
            "{command}: expected {expected}, got:\n{stderr}"
        );
        assert!(
            stderr.contains(fragment),
            "{command}: {fragment} missing:\n{stderr}"
        );
    }
}

#[test]
fn job_file_errors_exit_2_with_a_location() {
    fails_with(
        b"name: q\ncompute:\n  samples: 10\n  expr: (a +\n",
        "4:13",
        "expected a number",
    );
    fails_with(
        b"name: q\ncompute:\n  sampels: 10\n  expr: 1\n",
        "3:3",
        "did you mean `samples`",
    );
    fails_with(b"", "1:1", "empty");
    fails_with(b"\x7fELF\x02\x01\x01\x00\x00", "1:8", "binary");
    fails_with(
        b"name: q\ncompute:\n  samples: 0\n  expr: 1\n",
        "3:12",
        "at least 1",
    );
    fails_with(
        b"name: ../etc\ncompute:\n  samples: 1\n  expr: 1\n",
        "1:7",
        "`/`",
    );
}

#[test]
fn the_error_shows_the_line_and_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_job(
        dir.path(),
        "j.yaml",
        "name: q\ncompute:\n  samples: 10\n  expr: 2 * zz\n",
    );
    let output = output_of(hpcsub().arg("check").arg(&path));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("4 |   expr: 2 * zz"), "{stderr}");
    assert!(stderr.contains("  |             ^"), "{stderr}");
}

#[test]
fn missing_file_and_bad_overrides_exit_2() {
    let output = output_of(hpcsub().args(["run", "/nonexistent/job.yaml"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
    let job = repo_path("jobs/pi.yaml");
    for args in [
        vec!["--threads", "0"],
        vec!["--samples", "0"],
        vec!["--samples", "lots"],
        vec!["--seed", "-1"],
    ] {
        let output = output_of(hpcsub().arg("run").arg(&job).args(&args));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    let output = output_of(hpcsub().arg("run").arg(&job).env("HPCSUB_ISA", "sse9"));
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn every_subcommand_help_has_an_example() {
    for command in ["run", "check", "schema"] {
        let output = output_of(hpcsub().args([command, "--help"]));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Example"), "{command} --help:\n{text}");
    }
}
