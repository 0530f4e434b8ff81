//! `hpcsub check` and `hpcsub schema`.

mod common;

use common::*;
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
