//! Part files: the exact accumulator of one slice of a submitted run, written atomically (a
//! temporary file renamed into place), with the job's hash and a checksum, so a gather can tell
//! a missing slice from a corrupt one or from one left by another job.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Accumulator;
use crate::spec::HistogramSpec;

const FORMAT: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Part {
    pub format: u32,
    pub job_hash: String,
    pub slice: u32,
    pub slices: u32,
    pub start: u64,
    pub end: u64,
    /// [`Accumulator::encode`] as hex.
    pub accumulator: String,
    pub checksum: String,
}

/// What a part file should be, for the slice a gather looks at.
pub struct Expected<'a> {
    pub job_hash: &'a str,
    pub slice: u32,
    pub slices: u32,
    pub start: u64,
    pub end: u64,
    pub histogram: Option<HistogramSpec>,
}

fn checksum(
    job_hash: &str,
    slice: u32,
    slices: u32,
    start: u64,
    end: u64,
    accumulator: &str,
) -> String {
    let text = format!("{FORMAT}:{job_hash}:{slice}:{slices}:{start}:{end}:{accumulator}");
    hex::encode(Sha256::digest(text.as_bytes()))
}

pub fn path(parts_dir: &Path, slice: u32) -> PathBuf {
    parts_dir.join(format!("{slice}.json"))
}

impl Part {
    pub fn new(expected: &Expected, acc: &Accumulator) -> Part {
        let accumulator = hex::encode(acc.encode());
        let Expected {
            job_hash,
            slice,
            slices,
            start,
            end,
            ..
        } = *expected;
        Part {
            format: FORMAT,
            job_hash: job_hash.to_string(),
            slice,
            slices,
            start,
            end,
            checksum: checksum(job_hash, slice, slices, start, end, &accumulator),
            accumulator,
        }
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
}

/// Why a part file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Missing,
    Corrupt(String),
}

/// Reads and checks the part of one slice.
pub fn read(parts_dir: &Path, expected: &Expected) -> Result<Accumulator, Problem> {
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
    if part.checksum
        != checksum(
            &part.job_hash,
            part.slice,
            part.slices,
            part.start,
            part.end,
            &part.accumulator,
        )
    {
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
        return Err(corrupt("covers other samples than this slice"));
    }
    let bytes = hex::decode(&part.accumulator).map_err(|_| corrupt("accumulator is not hex"))?;
    Accumulator::decode(&bytes, expected.histogram)
        .ok_or_else(|| corrupt("accumulator has the wrong size"))
}
