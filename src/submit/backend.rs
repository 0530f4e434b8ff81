//! The seam between hpcsub and a scheduler: what every scheduler must do for a run.

use std::path::Path;

use crate::diagnostic::AppError;
use crate::progress::Show;
use crate::run_dir::RunDir;
use crate::run_dir::manifest::{Manifest, Scheduler};
use crate::spec::JobSpec;

use super::queue::Poll;

/// What the files of a run are rendered from.
pub struct RenderInput<'a> {
    pub spec: &'a JobSpec,
    pub manifest: &'a Manifest,
    /// The run directory's absolute path, which the scripts name.
    pub run_dir: &'a Path,
}

/// A file of the run directory, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub contents: String,
}

impl File {
    pub fn new(name: impl Into<String>, contents: String) -> File {
        File {
            name: name.into(),
            contents,
        }
    }
}

pub trait Backend {
    fn scheduler(&self) -> Scheduler;

    /// The scripts or submit files of a run: a pure function of the job and the manifest.
    fn render(&self, input: &RenderInput) -> Result<Vec<File>, AppError>;

    /// What submitting `slices` would run (for `--dry-run`), after writing any file that
    /// submission needs beyond the rendered ones.
    fn commands(&self, run: &RunDir, slices: &[u32]) -> Result<Vec<Vec<String>>, AppError>;

    /// Submits `slices` and a gather after them, the slices to start only once the jobs `after`
    /// have succeeded (the gathers of the workflow steps this one needs). Every job id goes into
    /// the manifest the moment the scheduler returns it; a failure is recorded there too before
    /// returning. `show`: how a submission of several pieces shows its progress.
    fn submit(
        &self,
        run: &mut RunDir,
        slices: &[u32],
        after: &[String],
        show: Show,
    ) -> Result<(), AppError>;

    /// The run's jobs still in the queue, and whether the jobs `waited` for have all ended.
    fn poll(&self, run: &RunDir, waited: &[String]) -> Result<Poll, AppError>;

    /// Cancels every job of the run.
    fn cancel(&self, run: &RunDir) -> Result<(), AppError>;

    /// Why a slice that left no part ended, as its logs say (once the queue has forgotten it).
    fn reason_in_logs(&self, _run: &RunDir, _slice: u32) -> Option<String> {
        None
    }
}
