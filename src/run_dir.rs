//! The run directory of a submitted job: the frozen job file and its hash, the plan, the
//! rendered scripts, `logs/`, `parts/` and, once gathered, `result.json`. Array tasks and the
//! gather read the frozen job file, so nothing from it ever needs to appear in a script.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::diagnostic::AppError;
use crate::jobfile;
use crate::spec::JobSpec;

pub const JOB_FILE: &str = "job.yaml";
pub const HASH_FILE: &str = "job.sha256";
pub const PLAN_FILE: &str = "plan.json";
pub const RESULT_FILE: &str = "result.json";
/// The scheduler's job ids of the run.
pub const JOBS_FILE: &str = "jobs.json";
/// The directory the run was submitted from, where command tasks run (so relative paths in
/// `command` mean what they mean for `hpcsub run`).
pub const WORKDIR_FILE: &str = "workdir";

pub struct RunDir {
    /// Absolute.
    pub path: PathBuf,
    pub spec: JobSpec,
    /// SHA-256 of the frozen job file, hex.
    pub job_hash: String,
}

pub fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> AppError {
    AppError::Run(format!("cannot {what} {}: {error}", path.display()))
}

impl RunDir {
    /// Creates the run directory (`runs/<name>-<UTC timestamp>` unless `path` is given) with the
    /// frozen job file, its hash, `logs/` and `parts/`.
    pub fn create(path: Option<&Path>, spec: &JobSpec, source: &str) -> Result<RunDir, AppError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from("runs").join(format!(
                "{}-{}",
                spec.name,
                utc_timestamp(SystemTime::now())
            )),
        };
        if path.exists() && path.read_dir().map_or(true, |mut d| d.next().is_some()) {
            return Err(AppError::Usage(format!(
                "{} already exists and is not empty; choose another --run-dir",
                path.display()
            )));
        }
        for dir in [path.clone(), path.join("logs"), path.join("parts")] {
            std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        }
        let path = path
            .canonicalize()
            .map_err(|e| io_error("resolve", &path, e))?;
        let job_hash = hash(source);
        std::fs::write(path.join(JOB_FILE), source).map_err(|e| io_error("write", &path, e))?;
        std::fs::write(path.join(HASH_FILE), format!("{job_hash}\n"))
            .map_err(|e| io_error("write", &path, e))?;
        let workdir =
            std::env::current_dir().map_err(|e| io_error("resolve", Path::new("."), e))?;
        std::fs::write(
            path.join(WORKDIR_FILE),
            workdir.as_os_str().as_encoded_bytes(),
        )
        .map_err(|e| io_error("write", &path, e))?;
        Ok(RunDir {
            path,
            spec: spec.clone(),
            job_hash,
        })
    }

    /// Opens a run directory, checking that the frozen job file still has its recorded hash.
    pub fn open(path: &Path) -> Result<RunDir, AppError> {
        let path = path.canonicalize().map_err(|e| {
            AppError::Usage(format!("{} is not a run directory: {e}", path.display()))
        })?;
        let recorded = std::fs::read_to_string(path.join(HASH_FILE)).map_err(|e| {
            AppError::Usage(format!(
                "{} is not a run directory (no {HASH_FILE}): {e}",
                path.display()
            ))
        })?;
        let (spec, source) = jobfile::load(&path.join(JOB_FILE))?;
        let job_hash = hash(&source);
        if job_hash != recorded.trim() {
            return Err(AppError::Usage(format!(
                "{} was changed after submission (its hash is not the one in {HASH_FILE}); \
                 submit the changed job as a new run",
                path.join(JOB_FILE).display()
            )));
        }
        Ok(RunDir {
            path,
            spec,
            job_hash,
        })
    }

    pub fn parts(&self) -> PathBuf {
        self.path.join("parts")
    }

    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// Where command tasks run: the directory the run was submitted from.
    pub fn workdir(&self) -> Result<PathBuf, AppError> {
        let file = self.path.join(WORKDIR_FILE);
        let bytes = std::fs::read(&file).map_err(|e| io_error("read", &file, e))?;
        Ok(PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Writes `contents` to `name` in the run directory atomically.
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf, AppError> {
        let target = self.path.join(name);
        let mut temporary = tempfile::NamedTempFile::new_in(&self.path)
            .map_err(|e| io_error("write", &target, e))?;
        std::io::Write::write_all(&mut temporary, contents.as_bytes())
            .map_err(|e| io_error("write", &target, e))?;
        temporary
            .persist(&target)
            .map_err(|e| io_error("write", &target, e.error))?;
        Ok(target)
    }
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
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_433_745);
        assert_eq!(utc_timestamp(t), "20261123T113545Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_timestamp(leap), "20000229T000000Z");
    }
}
