//! `hpcsub gather`: reduce the parts of a submitted run into `result.json`.

use std::path::PathBuf;

use serde::Serialize;

use super::outcome::{Global, Outcome, Status};
use super::steps;
use super::submitted::{self, Gathered};
use super::workflow_report::WorkflowReport;
use crate::diagnostic::AppError;

/// Reduce the parts of a submitted run; exit 3 and list the slices that are not done, and why.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  hpcsub gather runs/quadratic-20261124T113500Z\n  hpcsub gather runs/quadratic-20261124T113500Z --json"
)]
pub struct Args {
    run_dir: PathBuf,
}

/// What gathering gave: one run's result, or every step's of a workflow.
#[derive(Serialize)]
#[serde(untagged)]
pub enum GatherOutcome {
    Run(Box<Gathered>),
    Workflow(WorkflowReport),
}

impl Outcome for GatherOutcome {
    fn text(&self) -> String {
        match self {
            GatherOutcome::Run(gathered) => gathered.text(),
            GatherOutcome::Workflow(report) => report.text(),
        }
    }

    fn status(&self) -> Status {
        match self {
            GatherOutcome::Run(gathered) => gathered.status(),
            GatherOutcome::Workflow(report) => report.status(),
        }
    }
}

pub fn gather(args: &Args, global: Global) -> Result<GatherOutcome, AppError> {
    if let Some((workflow, dir)) = steps::open_workflow(&args.run_dir)? {
        return steps::gather_workflow(&workflow, &dir, global).map(GatherOutcome::Workflow);
    }
    let run = submitted::open(&args.run_dir, true)?;
    let (queue, note) = submitted::queue_or_note(&run);
    if let Some(note) = note.filter(|_| !global.quiet && !global.json) {
        eprintln!("note: {note}");
    }
    submitted::gather(&run, &queue).map(|g| GatherOutcome::Run(Box::new(g)))
}
