//! The run directory of a workflow: the frozen job file, `workflow.json` (what each step was
//! computed from, for resuming), and one directory per step under `steps/`, holding what the
//! step leaves: `result.json`, `tasks.jsonl`, `tasks.csv`, `logs/`, `outputs/` (and, when
//! submitted, the step's own run files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{JOB_FILE, RESULT_FILE, hash};
use crate::diagnostic::AppError;

pub const WORKFLOW_FILE: &str = "workflow.json";
const MAX_STATE_BYTES: u64 = 64 << 20;

/// What each step of a workflow run was last computed from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    pub job: String,
    pub steps: BTreeMap<String, StepRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The hash of the step's definition, its inputs and the results of the steps it needs.
    pub hash: String,
    pub done: bool,
}

pub struct WorkflowDir {
    /// Absolute.
    pub path: PathBuf,
}

fn io_error(what: &str, path: &Path, error: impl std::fmt::Display) -> AppError {
    AppError::Run(format!("cannot {what} {}: {error}", path.display()))
}

impl WorkflowDir {
    /// The workflow run directory a step's run directory (`<it>/steps/<step>`) belongs to.
    pub fn of_step(step_dir: &Path) -> WorkflowDir {
        WorkflowDir {
            path: step_dir
                .parent()
                .and_then(Path::parent)
                .unwrap_or(step_dir)
                .to_path_buf(),
        }
    }

    /// Opens the workflow run directory at `path`, creating it if needed, and freezes `source`
    /// as its job file (a resumed run records the job file it ran).
    pub fn prepare(path: &Path, job: &str, source: &str) -> Result<WorkflowDir, AppError> {
        std::fs::create_dir_all(path.join("steps")).map_err(|e| io_error("create", path, e))?;
        let path = path
            .canonicalize()
            .map_err(|e| io_error("resolve", path, e))?;
        let dir = WorkflowDir { path };
        let state = dir.state()?;
        if !state.job.is_empty() && state.job != job {
            return Err(AppError::Usage(format!(
                "{} holds a run of `{}`, not of `{job}`; choose another --run-dir",
                dir.path.display(),
                state.job
            )));
        }
        dir.write(JOB_FILE, source)?;
        Ok(dir)
    }

    /// Creates the run directory of a submitted workflow: it must not exist yet or be empty, and
    /// of two processes creating it, one gets it (the state file is created exclusively).
    pub fn create(path: &Path, job: &str, source: &str) -> Result<WorkflowDir, AppError> {
        let taken = || {
            AppError::Usage(format!(
                "{} already exists and is not empty; choose another --run-dir",
                path.display()
            ))
        };
        std::fs::create_dir_all(path).map_err(|e| io_error("create", path, e))?;
        if path.read_dir().map_or(true, |mut d| d.next().is_some()) {
            return Err(taken());
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path.join(WORKFLOW_FILE))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => taken(),
                _ => io_error("create", path, e),
            })?;
        let dir = WorkflowDir {
            path: path
                .canonicalize()
                .map_err(|e| io_error("resolve", path, e))?,
        };
        dir.save_state(&WorkflowState {
            job: job.to_string(),
            steps: BTreeMap::new(),
        })?;
        std::fs::create_dir_all(dir.path.join("steps")).map_err(|e| io_error("create", path, e))?;
        dir.write(JOB_FILE, source)?;
        Ok(dir)
    }

    /// An existing workflow run directory, if `path` is one.
    pub fn at(path: &Path) -> Option<WorkflowDir> {
        path.join(WORKFLOW_FILE).is_file().then(|| WorkflowDir {
            path: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
        })
    }

    pub fn step(&self, name: &str) -> PathBuf {
        self.path.join("steps").join(name)
    }

    pub fn result(&self, step: &str) -> PathBuf {
        self.step(step).join(RESULT_FILE)
    }

    pub fn tasks(&self, step: &str) -> PathBuf {
        self.step(step).join("tasks.jsonl")
    }

    pub fn outputs(&self, step: &str) -> PathBuf {
        self.step(step).join("outputs")
    }

    pub fn logs(&self, step: &str) -> PathBuf {
        self.step(step).join("logs")
    }

    /// The hash of a step's `result.json`, if it has one.
    pub fn result_hash(&self, step: &str) -> Option<String> {
        let text = crate::bounded_read::text(&self.result(step), 1 << 30).ok()?;
        Some(hash(&text))
    }

    pub fn state(&self) -> Result<WorkflowState, AppError> {
        let file = self.path.join(WORKFLOW_FILE);
        match crate::bounded_read::text(&file, MAX_STATE_BYTES) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                AppError::Usage(format!("{} is not a workflow state: {e}", file.display()))
            }),
            Err(e) if e.is_not_found() => Ok(WorkflowState::default()),
            Err(e) => Err(io_error("read", &file, e)),
        }
    }

    pub fn save_state(&self, state: &WorkflowState) -> Result<(), AppError> {
        let text = serde_json::to_string_pretty(state).expect("a state serializes");
        self.write(WORKFLOW_FILE, &text)
    }

    /// Writes a step's result atomically.
    pub fn write_result(&self, step: &str, contents: &str) -> Result<(), AppError> {
        let dir = self.step(step);
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        write_atomically(&dir, RESULT_FILE, contents)
    }

    /// Writes a file of the workflow's run directory atomically.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<(), AppError> {
        write_atomically(&self.path, name, contents)
    }

    fn write(&self, name: &str, contents: &str) -> Result<(), AppError> {
        self.write_file(name, contents)
    }
}

fn write_atomically(dir: &Path, name: &str, contents: &str) -> Result<(), AppError> {
    let target = dir.join(name);
    let mut temporary =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error("write", &target, e))?;
    std::io::Write::write_all(&mut temporary, contents.as_bytes())
        .map_err(|e| io_error("write", &target, e))?;
    temporary
        .persist(&target)
        .map_err(|e| io_error("write", &target, e.error))?;
    Ok(())
}
