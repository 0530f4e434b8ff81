//! What a workflow's commands report: how each step ended, and what was handed to a scheduler.

use serde::Serialize;

use super::outcome::Status;
use crate::report::{RunReport, TaskReport};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Computed in this run.
    Ran,
    /// Kept from an earlier run: nothing it depends on changed.
    Cached,
    Failed,
    /// Not run, because a step it needs failed.
    Skipped,
}

#[derive(Serialize)]
pub struct StepOutcome {
    pub step: String,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<StepReport>,
}

/// A step's report: what the step, a job of one step, reported.
#[derive(Serialize)]
#[serde(untagged)]
pub enum StepReport {
    Compute(RunReport),
    Tasks(TaskReport),
}

impl StepReport {
    pub fn text(&self) -> String {
        match self {
            StepReport::Compute(report) => report.to_table(),
            StepReport::Tasks(report) => report.to_table(),
        }
    }
}

#[derive(Serialize)]
pub struct WorkflowReport {
    pub job: String,
    pub run_dir: String,
    pub steps: Vec<StepOutcome>,
    pub elapsed_s: f64,
}

impl WorkflowReport {
    fn count(&self, status: StepStatus) -> usize {
        self.steps.iter().filter(|s| s.status == status).count()
    }

    pub fn text(&self) -> String {
        let mut text = format!(
            "{}: {} steps in {}, {:.3} s: {} ran, {} cached, {} failed, {} skipped\n",
            self.job,
            self.steps.len(),
            self.run_dir,
            self.elapsed_s,
            self.count(StepStatus::Ran),
            self.count(StepStatus::Cached),
            self.count(StepStatus::Failed),
            self.count(StepStatus::Skipped),
        );
        for step in &self.steps {
            let status = serde_json::to_value(step.status).expect("JSON");
            text.push_str(&format!(
                "step {}: {}{}{}\n",
                step.step,
                status.as_str().unwrap_or_default(),
                step.elapsed_s
                    .map_or(String::new(), |s| format!(", {s:.3} s")),
                step.reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({r})"))
            ));
            if let Some(report) = &step.report {
                for line in report.text().lines() {
                    text.push_str(&format!("  {line}\n"));
                }
            }
        }
        text
    }

    pub fn status(&self) -> Status {
        let failed = self.count(StepStatus::Failed) + self.count(StepStatus::Skipped);
        if failed == 0 {
            Status::Success
        } else {
            Status::Failed(format!(
                "{} of {} steps failed or were skipped",
                failed,
                self.steps.len()
            ))
        }
    }
}

/// A workflow handed to a scheduler: each step's run directory, and its jobs or commands.
#[derive(Serialize)]
pub struct WorkflowHanded {
    pub run_dir: String,
    pub steps: Vec<StepHanded>,
    /// What submits the whole workflow at once (HTCondor's DAG), for a dry run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Vec<String>>,
}

#[derive(Serialize)]
pub struct StepHanded {
    pub step: String,
    pub run_dir: String,
    pub job_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Vec<String>>,
}

impl WorkflowHanded {
    pub fn text(&self) -> String {
        let dry_run = self.steps.iter().all(|s| s.job_ids.is_empty());
        let mut text = format!("{}\n", self.run_dir);
        if !self.commands.is_empty() {
            text.push_str("to submit the workflow's DAG (dry run):\n");
            for command in &self.commands {
                text.push_str(&format!(
                    "  (cd {} && {})\n",
                    self.run_dir,
                    command.join(" ")
                ));
            }
        }
        for step in &self.steps {
            if dry_run {
                text.push_str(&format!(
                    "step {} ({}), to submit (dry run):\n",
                    step.step, step.run_dir
                ));
                for command in &step.commands {
                    text.push_str(&format!("  {}\n", command.join(" ")));
                }
            } else {
                text.push_str(&format!(
                    "step {}: jobs {}\n",
                    step.step,
                    step.job_ids.join(", ")
                ));
            }
        }
        if !dry_run {
            text.push_str(&format!("follow it: hpcsub status {}\n", self.run_dir));
        }
        text
    }
}

/// What submitting (or resubmitting) a workflow gave.
pub enum Submitted {
    Handed(WorkflowHanded),
    /// `--wait`, or nothing left to submit: every step gathered.
    Finished(WorkflowReport),
}
