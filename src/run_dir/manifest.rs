//! The run manifest: one typed file that says what a run directory is (scheduler, mode, slices,
//! threads) and what was submitted (every job id, recorded the moment the scheduler returned
//! it). It is written atomically and read once, by [`super::RunDir::open`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::spec::SlurmMode;

pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest format this hpcsub writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Slurm,
    Condor,
}

impl Scheduler {
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Slurm => "Slurm",
            Scheduler::Condor => "HTCondor",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The hpcsub that prepared the run.
    pub hpcsub: String,
    pub job: String,
    pub job_hash: String,
    pub scheduler: Scheduler,
    pub mode: SlurmMode,
    pub slices: u32,
    /// The CPUs each slice asks the scheduler for, and the threads it runs.
    pub threads_per_slice: usize,
    /// Where command tasks run: the directory the run was submitted from.
    pub workdir: PathBuf,
    /// The binary the scripts run.
    pub binary: PathBuf,
    /// UTC, `20261124T113500Z`.
    pub created: String,
    /// The step of the workflow frozen in `job.yaml` that this directory runs, if it is one
    /// (`<workflow run dir>/steps/<step>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub submissions: Vec<Submission>,
}

/// One `submit` or `resubmit`: the slices it covers and the jobs it made, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The slices submitted, as `0-3,7`.
    pub slices: String,
    /// Each array piece (Slurm) or DAG (HTCondor), with the slice its index 0 stands for.
    pub pieces: Vec<Piece>,
    /// The gather job (Slurm), once submitted.
    pub gather: Option<String>,
    /// The DAG file submitted (HTCondor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag: Option<String>,
    /// Why the submission stopped before every job was submitted.
    pub failed: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    pub job_id: String,
    /// The slice of array index 0.
    pub offset: u32,
}

impl Manifest {
    pub fn is_current_format(&self) -> bool {
        self.format == FORMAT
    }

    /// Every job id of the run, oldest first: array pieces, then each submission's gather.
    pub fn job_ids(&self) -> Vec<String> {
        self.submissions
            .iter()
            .flat_map(|s| {
                s.pieces
                    .iter()
                    .map(|p| p.job_id.clone())
                    .chain(s.gather.clone())
            })
            .collect()
    }

    /// The job ids of the latest submission.
    pub fn latest_job_ids(&self) -> Vec<String> {
        self.submissions
            .last()
            .map(|s| {
                s.pieces
                    .iter()
                    .map(|p| p.job_id.clone())
                    .chain(s.gather.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The slice that array index `index` of job `job_id` computes, if that job is an array
    /// piece of this run.
    pub fn slice_of(&self, job_id: &str, index: u32) -> Option<u32> {
        let piece = self
            .submissions
            .iter()
            .flat_map(|s| &s.pieces)
            .find(|p| p.job_id == job_id)?;
        piece.offset.checked_add(index)
    }

    /// Whether `job_id` is a gather job of this run.
    pub fn is_gather(&self, job_id: &str) -> bool {
        self.submissions
            .iter()
            .any(|s| s.gather.as_deref() == Some(job_id))
    }
}

/// The indices of [`ranges`]'s text.
pub fn parse_ranges(text: &str) -> Option<Vec<u32>> {
    let mut indices = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => indices.extend(first.parse::<u32>().ok()?..=last.parse().ok()?),
            None => indices.push(part.parse().ok()?),
        }
    }
    Some(indices)
}

/// `0-3,7,9-10` for sorted indices.
pub fn ranges(indices: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut start = 0;
    while start < indices.len() {
        let mut end = start;
        while end + 1 < indices.len() && indices[end + 1] == indices[end] + 1 {
            end += 1;
        }
        parts.push(if end == start {
            indices[start].to_string()
        } else {
            format!("{}-{}", indices[start], indices[end])
        });
        start = end + 1;
    }
    parts.join(",")
}

/// A manifest of `slices` slices, not yet submitted, for the tests of what reads manifests.
#[cfg(test)]
pub fn unsubmitted(slices: u32) -> Manifest {
    Manifest {
        format: FORMAT,
        hpcsub: "test".into(),
        job: "q".into(),
        job_hash: "abc".into(),
        scheduler: Scheduler::Slurm,
        mode: SlurmMode::Array,
        slices,
        threads_per_slice: 1,
        workdir: PathBuf::from("/w"),
        binary: PathBuf::from("/b"),
        created: "20261124T113500Z".into(),
        step: None,
        submissions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let mut m = unsubmitted(5);
        m.submissions.push(Submission {
            slices: "0-4".into(),
            pieces: vec![
                Piece {
                    job_id: "10".into(),
                    offset: 0,
                },
                Piece {
                    job_id: "11".into(),
                    offset: 3,
                },
            ],
            gather: Some("12".into()),
            dag: None,
            failed: None,
        });
        m
    }

    #[test]
    fn array_indices_map_to_slices_through_piece_offsets() {
        let m = manifest();
        assert_eq!(m.slice_of("10", 2), Some(2));
        assert_eq!(m.slice_of("11", 1), Some(4));
        assert_eq!(m.slice_of("12", 0), None);
        assert!(m.is_gather("12"));
        assert_eq!(m.job_ids(), ["10", "11", "12"]);
    }

    #[test]
    fn the_manifest_round_trips_through_json() {
        let m = manifest();
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(ranges(&[]), "");
        assert_eq!(parse_ranges("0-3,7,9-10"), Some(vec![0, 1, 2, 3, 7, 9, 10]));
        assert_eq!(parse_ranges(""), Some(vec![]));
        assert_eq!(parse_ranges("x"), None);
    }
}
