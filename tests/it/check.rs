//! `hpcsub check` and `hpcsub schema`.

use crate::common::*;
use serde_json::Value;

#[test]
fn check_prints_the_plan() {
    let output = output_of(hpcsub().arg("check").arg(repo_path("jobs/quadratic.yaml")));
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("quadratic is valid"), "{text}");
    assert!(text.contains("4 slices"), "{text}");
    assert!(text.contains("149999616"), "{text}");
}

#[test]
fn check_json_describes_slices_that_cover_the_samples() {
    let output = output_of(
        hpcsub()
            .args(["check", "--json", "--threads", "3", "--samples", "1e6"])
            .arg(repo_path("jobs/quadratic.yaml")),
    );
    assert!(output.status.success());
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["threads"], 3);
    assert_eq!(plan["samples"], 1_000_000);
    let slices = plan["slices"].as_array().unwrap();
    assert_eq!(slices.len(), 4);
    assert_eq!(slices[0]["start"], 0);
    assert_eq!(slices[3]["end"], 1_000_000);
    for pair in slices.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"]);
    }
    assert!(plan["memory_bytes"].as_u64().unwrap() < 1 << 20);
}

#[test]
fn schema_is_json_schema() {
    let output = output_of(hpcsub().arg("schema"));
    assert!(output.status.success());
    let schema: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["type"], "object");
    assert!(schema["properties"]["compute"]["properties"]["expr"].is_object());
}

#[test]
fn check_names_the_code_path_and_why_a_job_is_not_machine_code() {
    let dir = tempfile::tempdir().unwrap();
    let code_line = |job: &std::path::Path, isa: &str| {
        let output = output_of(hpcsub().env("HPCSUB_ISA", isa).arg("check").arg(job));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.success())
            .then(|| {
                text.lines()
                    .find(|line| line.starts_with("code on this machine:"))
                    .unwrap_or_else(|| panic!("{text}"))
                    .to_string()
            })
            .ok_or(stderr)
    };
    let quadratic = repo_path("jobs/quadratic.yaml");
    assert!(
        code_line(&quadratic, "portable")
            .unwrap()
            .ends_with("portable loops")
    );
    let Ok(native) = code_line(&quadratic, "native") else {
        return; // no AVX-512 here
    };
    assert!(native.contains("native: AVX-512 machine code"), "{native}");
    // Eight streams' generators take all 32 vector registers.
    let vars: String = (0..8)
        .map(|k| format!("    v{k}: uniform(0, {})\n", k + 1))
        .collect();
    let sum = (0..8)
        .map(|k| format!("v{k}"))
        .collect::<Vec<_>>()
        .join(" + ");
    let text = format!("name: many\ncompute:\n  samples: 1000\n  vars:\n{vars}  expr: {sum}\n");
    let job = write_job(dir.path(), "many.yaml", &text);
    let fallback = code_line(&job, "native").unwrap();
    assert!(
        fallback.contains("avx512 loops (not compiled to machine code: it does not handle more values at once than the 32 vector registers"),
        "{fallback}"
    );
}
