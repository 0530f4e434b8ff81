//! The run directory of a submitted job, and everything a run leaves on disk: the frozen job
//! file and its hash, the [`manifest`], the rendered scripts, `logs/`, the [`parts`] of the
//! slices and, once gathered, `result.json`. Slices and the gather read the frozen job file, so
//! nothing from it ever needs to appear in a script.

pub mod claims;
pub mod manifest;
pub mod parts;
pub mod workflow;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::diagnostic::AppError;
use crate::jobfile::{self, inputs};
use crate::spec::{Document, JobSpec, StepSpec};
use inputs::Resolved;
use manifest::{MANIFEST_FILE, Manifest};

pub const JOB_FILE: &str = "job.yaml";
pub const HASH_FILE: &str = "job.sha256";
pub const PLAN_FILE: &str = "plan.json";
pub const RESULT_FILE: &str = "result.json";
/// A task job's inputs as resolved at submission.
pub const INPUTS_FILE: &str = "inputs.json";

pub struct RunDir {
    /// Absolute.
    pub path: PathBuf,
    pub spec: JobSpec,
    /// SHA-256 of the frozen job file, hex.
    pub job_hash: String,
    pub manifest: Manifest,
    /// The workflow step this directory runs, as written (not yet bound to what the steps it
    /// needs left: see `workflow::bind`).
    pub step: Option<StepSpec>,
    /// Whether this process made the directory itself (so a failed submission removes it
    /// whole rather than emptying it).
    created_here: bool,
}

pub fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> AppError {
    AppError::Run(format!("cannot {what} {}: {error}", path.display()))
}

/// `runs/<name>-<UTC timestamp>`.
pub fn default_path(spec: &JobSpec) -> PathBuf {
    PathBuf::from("runs").join(format!(
        "{}-{}",
        spec.name,
        utc_timestamp(SystemTime::now())
    ))
}

impl RunDir {
    /// Creates the run directory with the frozen job file, its hash, the manifest, `logs/` and
    /// `parts/`. The manifest is created exclusively first, so of two processes preparing the
    /// same directory exactly one owns it; the other gets exit 2.
    pub fn create(
        path: &Path,
        spec: &JobSpec,
        source: &str,
        manifest: impl FnOnce(&str) -> Manifest,
    ) -> Result<RunDir, AppError> {
        let created_here = !path.exists();
        std::fs::create_dir_all(path).map_err(|e| io_error("create", path, e))?;
        let taken = || {
            AppError::Usage(format!(
                "{} already exists and is not empty; choose another --run-dir",
                path.display()
            ))
        };
        if path.read_dir().map_or(true, |mut d| d.next().is_some()) {
            return Err(taken());
        }
        let path = path
            .canonicalize()
            .map_err(|e| io_error("resolve", path, e))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path.join(MANIFEST_FILE))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => taken(),
                _ => io_error("create", &path.join(MANIFEST_FILE), e),
            })?;
        let job_hash = hash(source);
        let manifest = manifest(&job_hash);
        let run_dir = RunDir {
            step: None,
            manifest,
            path,
            spec: spec.clone(),
            job_hash,
            created_here,
        };
        let prepared = (|| {
            for dir in [run_dir.logs(), run_dir.parts()] {
                std::fs::create_dir(&dir).map_err(|e| io_error("create", &dir, e))?;
            }
            run_dir.write(JOB_FILE, source)?;
            run_dir.write(HASH_FILE, &format!("{}\n", run_dir.job_hash))?;
            run_dir.save_manifest()
        })();
        match prepared {
            Ok(()) => Ok(run_dir),
            Err(err) => {
                run_dir.discard();
                Err(err)
            }
        }
    }

    /// Opens a run directory, checking that the frozen job file still has its recorded hash.
    pub fn open(path: &Path) -> Result<RunDir, AppError> {
        let path = path.canonicalize().map_err(|e| {
            AppError::Usage(format!("{} is not a run directory: {e}", path.display()))
        })?;
        let not_a_run = |what: String| {
            AppError::Usage(format!(
                "{} is not a run directory of this hpcsub: {what}",
                path.display()
            ))
        };
        let manifest_path = path.join(MANIFEST_FILE);
        let text = crate::bounded_read::text(&manifest_path, MAX_MANIFEST_BYTES)
            .map_err(|e| not_a_run(format!("{MANIFEST_FILE}: {e}")))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| not_a_run(format!("{MANIFEST_FILE} is not a manifest: {e}")))?;
        if !manifest.is_current_format() {
            return Err(not_a_run(format!(
                "{MANIFEST_FILE} has format {}, which this hpcsub does not read",
                manifest.format
            )));
        }
        let job_file = path.join(JOB_FILE);
        let (document, source) = jobfile::load_document(&job_file)?;
        let (mut spec, step) = match (document, &manifest.step) {
            (Document::Job(spec), None) => (*spec, None),
            (Document::Workflow(workflow), Some(name)) => {
                let step = workflow
                    .step(name)
                    .cloned()
                    .ok_or_else(|| not_a_run(format!("its workflow has no step `{name}`")))?;
                (step.job.clone(), Some(step))
            }
            (Document::Job(_), Some(name)) => {
                return Err(not_a_run(format!(
                    "{MANIFEST_FILE} names step `{name}`, but {} is not a workflow",
                    job_file.display()
                )));
            }
            (Document::Workflow(_), None) => {
                return Err(not_a_run(format!(
                    "{} is a workflow: open one of its steps, {}/steps/<step>",
                    job_file.display(),
                    path.display()
                )));
            }
        };
        let job_hash = hash(&source);
        if job_hash != manifest.job_hash {
            return Err(AppError::Usage(format!(
                "{} was changed after submission (its hash is not the one in {MANIFEST_FILE}); \
                 submit the changed job as a new run",
                path.join(JOB_FILE).display()
            )));
        }
        if let Some(tasks) = spec
            .tasks_mut()
            .filter(|t| !t.inputs.is_empty() || t.from.is_some())
        {
            let frozen = frozen_inputs(&path)?;
            inputs::apply(tasks, &frozen).map_err(|e| not_a_run(format!("{INPUTS_FILE}: {e}")))?;
        }
        Ok(RunDir {
            path,
            spec,
            job_hash,
            manifest,
            step,
            created_here: false,
        })
    }

    /// Records a task job's inputs as resolved now, for every slice to run the same tasks.
    pub fn freeze_inputs(&self, resolved: &Resolved) -> Result<(), AppError> {
        let text = serde_json::to_string(resolved).expect("inputs serialize");
        self.write(INPUTS_FILE, &text).map(|_| ())
    }

    /// The inputs of a task job that changed since submission.
    pub fn changed_inputs(&self) -> Vec<String> {
        match self.spec.tasks().filter(|t| !t.inputs.is_empty()) {
            Some(_) => frozen_inputs(&self.path)
                .map_or_else(|e| vec![e.to_string()], |frozen| inputs::changed(&frozen)),
            None => Vec::new(),
        }
    }

    pub fn parts(&self) -> PathBuf {
        self.path.join("parts")
    }

    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// Where each task's `{outdir}` is made.
    pub fn outputs(&self) -> PathBuf {
        self.path.join("outputs")
    }

    pub fn slices(&self) -> u32 {
        self.manifest.slices
    }

    /// What `result.json` says about the parts it was gathered from.
    pub fn result_seen(&self) -> ResultSeen {
        let Ok(text) = crate::bounded_read::text(&self.path.join(RESULT_FILE), MAX_RESULT_BYTES)
        else {
            return ResultSeen::Absent;
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) => ResultSeen::Present(value[PARTS_DIGEST_KEY].as_str().map(str::to_string)),
            Err(_) => ResultSeen::Absent,
        }
    }

    /// Writes the manifest as it stands, atomically.
    pub fn save_manifest(&self) -> Result<(), AppError> {
        let text = serde_json::to_string_pretty(&self.manifest).expect("a manifest serializes");
        self.write(MANIFEST_FILE, &text).map(|_| ())
    }

    /// Removes what [`RunDir::create`] made, after a submission that left nothing queued.
    pub fn discard(&self) {
        if self.created_here {
            let _ = std::fs::remove_dir_all(&self.path);
        } else if let Ok(entries) = self.path.read_dir() {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }

    /// Writes `contents` to `name` in the run directory atomically.
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf, AppError> {
        let target = self.path.join(name);
        let mut temporary = tempfile::NamedTempFile::new_in(&self.path)
            .map_err(|e| io_error("write", &target, e))?;
        temporary
            .write_all(contents.as_bytes())
            .map_err(|e| io_error("write", &target, e))?;
        temporary
            .persist(&target)
            .map_err(|e| io_error("write", &target, e.error))?;
        Ok(target)
    }
}

/// The inputs frozen at submission.
fn frozen_inputs(path: &Path) -> Result<Resolved, AppError> {
    let file = path.join(INPUTS_FILE);
    let text = crate::bounded_read::text(&file, MAX_INPUTS_BYTES)
        .map_err(|e| AppError::Usage(format!("cannot read {}: {e}", file.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| AppError::Usage(format!("{} is not a list of inputs: {e}", file.display())))
}

/// Inputs are a path, a size and a time per file, or a line each.
const MAX_INPUTS_BYTES: u64 = 1 << 30;

/// What `result.json` says about the parts it was gathered from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultSeen {
    /// Not there, or not JSON.
    Absent,
    /// Its `parts_digest` (none for an MPI-mode result, which has no parts).
    Present(Option<String>),
}

/// The key of `result.json` that records the digest of the parts it was gathered from.
pub const PARTS_DIGEST_KEY: &str = "parts_digest";
/// A result holds a histogram at most (10M bins, some 20 bytes each).
const MAX_RESULT_BYTES: u64 = 1 << 30;

/// A run directory held by one process: while it lives, another `submit` or `resubmit` into
/// the directory fails at once (exit 2). The kernel drops it when the process ends, however it
/// ends.
pub struct Lock {
    _file: std::fs::File,
}

const LOCK_FILE: &str = ".lock";

/// Takes `dir`'s lock, or says who has it.
pub fn lock(dir: &Path) -> Result<Lock, AppError> {
    use std::os::fd::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("open", &path, e))?;
    // SAFETY: flock() only reads the descriptor, which `file` keeps open.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if taken != 0 {
        return Err(AppError::Usage(format!(
            "{} is being submitted by another hpcsub right now; wait for it, then look with \
             `hpcsub status {0}`",
            dir.display()
        )));
    }
    Ok(Lock { _file: file })
}

/// A manifest is a few hundred bytes per submission.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// The current time as [`utc_timestamp`] writes it.
pub fn now_utc() -> String {
    utc_timestamp(SystemTime::now())
}

/// `20261124T113500Z`: sortable, and free of characters that need quoting.
fn utc_timestamp(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_run_directory_has_one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let err = lock(dir.path()).err().expect("the second lock is refused");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("another hpcsub"), "{err}");
        drop(held);
        assert!(lock(dir.path()).is_ok());
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_433_745);
        assert_eq!(utc_timestamp(t), "20261123T113545Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_timestamp(leap), "20000229T000000Z");
    }
}
