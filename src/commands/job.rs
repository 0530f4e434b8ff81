//! The job-file arguments that `run` and `check` share, and loading a job with them.

use std::path::{Path, PathBuf};

use crate::diagnostic::AppError;
use crate::jobfile::inputs::Resolved;
use crate::jobfile::{self, quantity};
use crate::spec::{Document, JobSpec, MAX_THREADS, Work};

#[derive(clap::Args, Clone, Debug)]
pub struct JobArgs {
    /// The job file (YAML).
    pub job: PathBuf,
    /// Threads per slice (default: split.threads, else every CPU this process may use).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Number of samples, e.g. 2e8, 200M, 200_000_000 (default: compute.samples).
    #[arg(long)]
    pub samples: Option<String>,
    /// Random seed (default: seed, else 0).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A job file of one job or a workflow, each task job or step resolved.
pub struct LoadedDocument {
    pub document: Document,
    pub source: String,
    /// One per job or step, in the order of the steps.
    pub resolved: Vec<Option<Resolved>>,
}

pub fn load_document(path: &Path) -> Result<LoadedDocument, AppError> {
    let (document, source, resolved) = jobfile::load_resolved_document(path)?;
    Ok(LoadedDocument {
        document,
        source,
        resolved,
    })
}

/// Loads and validates a job of one step (a task job's inputs resolved), then applies the
/// command line's values with the same checks.
pub fn load(
    path: &Path,
    threads: Option<usize>,
    samples: Option<&str>,
    seed: Option<u64>,
) -> Result<JobSpec, AppError> {
    let (mut spec, _, _) = jobfile::load_resolved(path)?;
    apply(&mut spec, threads, samples, seed)?;
    Ok(spec)
}

/// The command line's values, with the checks the job file's get.
pub fn apply(
    spec: &mut JobSpec,
    threads: Option<usize>,
    samples: Option<&str>,
    seed: Option<u64>,
) -> Result<(), AppError> {
    if let Some(text) = samples {
        let samples =
            quantity::parse_count(text).map_err(|m| AppError::Usage(format!("--samples: {m}")))?;
        if samples == 0 {
            return Err(AppError::Usage("--samples must be at least 1".into()));
        }
        match &mut spec.work {
            Work::Compute(compute) => compute.samples = samples,
            Work::Tasks(_) => {
                return Err(AppError::Usage(
                    "--samples is for compute jobs; this job runs `tasks:`".into(),
                ));
            }
        }
    }
    if let Some(seed) = seed {
        spec.seed = seed;
    }
    if let Some(threads) = threads {
        if threads == 0 || threads > MAX_THREADS {
            return Err(AppError::Usage(format!(
                "--threads must be between 1 and {MAX_THREADS}, got {threads}"
            )));
        }
        spec.split.threads = Some(threads);
    }
    Ok(())
}
