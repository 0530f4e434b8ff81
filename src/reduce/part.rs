//! Part files: the exact partial result of one slice of a submitted run (the accumulator of a
//! compute job, the task outcomes of a task job), written atomically (a temporary file renamed
//! into place), with the job's hash and a checksum, so a gather can tell a missing slice from a
//! corrupt one or from one left by another job.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Accumulator;
use super::task_results::TaskOutcome;
use crate::spec::HistogramSpec;

const FORMAT: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Part {
    pub format: u32,
    pub job_hash: String,
    pub slice: u32,
    pub slices: u32,
    /// The samples `start..end` of a compute slice; for a task job, the task ids `start..end`
    /// that the slice takes every `slices`-th of.
    pub start: u64,
    pub end: u64,
    /// [`Accumulator::encode`] as hex (compute jobs).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub accumulator: String,
    /// One outcome per task of the slice, by task id (task jobs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskOutcome>,
    pub checksum: String,
}

/// What a part file should be, for the slice a gather looks at.
pub struct Expected<'a> {
    pub job_hash: &'a str,
    pub slice: u32,
    pub slices: u32,
    pub start: u64,
    pub end: u64,
}

impl Part {
    fn checksum(&self) -> String {
        let tasks = serde_json::to_string(&self.tasks).expect("outcomes always serialize");
        let text = format!(
            "{FORMAT}:{}:{}:{}:{}:{}:{}:{tasks}",
            self.job_hash, self.slice, self.slices, self.start, self.end, self.accumulator
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    fn with_contents(expected: &Expected, accumulator: String, tasks: Vec<TaskOutcome>) -> Part {
        let mut part = Part {
            format: FORMAT,
            job_hash: expected.job_hash.to_string(),
            slice: expected.slice,
            slices: expected.slices,
            start: expected.start,
            end: expected.end,
            accumulator,
            tasks,
            checksum: String::new(),
        };
        part.checksum = part.checksum();
        part
    }

    pub fn of_accumulator(expected: &Expected, acc: &Accumulator) -> Part {
        Part::with_contents(expected, hex::encode(acc.encode()), Vec::new())
    }

    pub fn of_tasks(expected: &Expected, outcomes: Vec<TaskOutcome>) -> Part {
        Part::with_contents(expected, String::new(), outcomes)
    }

    /// Writes the part so that readers see either nothing or the whole file.
    pub fn write_atomically(&self, parts_dir: &Path) -> std::io::Result<PathBuf> {
        let target = path(parts_dir, self.slice);
        let mut temporary = tempfile::NamedTempFile::new_in(parts_dir)?;
        serde_json::to_writer(&mut temporary, self)?;
        temporary.as_file().sync_all()?;
        temporary.persist(&target).map_err(|e| e.error)?;
        Ok(target)
    }

    /// The accumulator of a compute part.
    pub fn accumulator(&self, histogram: Option<HistogramSpec>) -> Result<Accumulator, Problem> {
        let corrupt = |why: &str| Problem::Corrupt(why.to_string());
        let bytes =
            hex::decode(&self.accumulator).map_err(|_| corrupt("accumulator is not hex"))?;
        Accumulator::decode(&bytes, histogram)
            .ok_or_else(|| corrupt("accumulator has the wrong size"))
    }
}

pub fn path(parts_dir: &Path, slice: u32) -> PathBuf {
    parts_dir.join(format!("{slice}.json"))
}

/// Why a part file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Missing,
    Corrupt(String),
}

/// Reads the part of one slice and checks its checksum, job hash and range.
pub fn read(parts_dir: &Path, expected: &Expected) -> Result<Part, Problem> {
    let text = match std::fs::read_to_string(path(parts_dir, expected.slice)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Problem::Missing),
        Err(e) => return Err(Problem::Corrupt(format!("unreadable: {e}"))),
    };
    let corrupt = |why: &str| Problem::Corrupt(why.to_string());
    let part: Part = serde_json::from_str(&text)
        .map_err(|e| Problem::Corrupt(format!("not a part file: {e}")))?;
    if part.format != FORMAT {
        return Err(corrupt("unknown part-file format"));
    }
    if part.checksum != part.checksum() {
        return Err(corrupt("bad checksum"));
    }
    if part.job_hash != expected.job_hash {
        return Err(corrupt("written for another job file (different job hash)"));
    }
    if (part.slice, part.slices, part.start, part.end)
        != (
            expected.slice,
            expected.slices,
            expected.start,
            expected.end,
        )
    {
        return Err(corrupt("covers other work than this slice"));
    }
    Ok(part)
}
