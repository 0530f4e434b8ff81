//! One truth about a submitted run: where each slice stands, from the manifest, the parts and
//! the queue. `status`, `gather`, `--wait` and `resubmit` all say what this says.

use std::collections::BTreeMap;

use serde::Serialize;

use super::queue::{QueueEntry, QueueState};
use crate::run_dir::ResultSeen;
use crate::run_dir::manifest::Manifest;
use crate::run_dir::parts::PartsSeen;
use crate::spec::SlurmMode;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SliceState {
    /// A valid part, with no failed task.
    Done,
    Running,
    /// Waiting in the queue (held or suspended ones too).
    Pending,
    /// Left the queue with a part that cannot be used or that holds failed tasks.
    Failed,
    /// Not in the queue and no part.
    Missing,
}

impl SliceState {
    pub fn name(&self) -> &'static str {
        match self {
            SliceState::Done => "done",
            SliceState::Running => "running",
            SliceState::Pending => "pending",
            SliceState::Failed => "failed",
            SliceState::Missing => "missing",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SliceStatus {
    pub slice: u32,
    pub state: SliceState,
    /// Why a slice failed or is missing, or what the queue says beyond running/pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether `result.json` is the reduction of the parts present now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultState {
    /// Written from exactly the parts there now, all of them done.
    Current,
    /// There, but the parts changed since (one was removed, replaced or is missing).
    Stale,
    Absent,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Survey {
    pub slices: Vec<SliceStatus>,
    pub result: ResultState,
    /// The gather jobs still in the queue, by state.
    pub gather_queued: BTreeMap<String, usize>,
}

impl Survey {
    pub fn count(&self, state: &SliceState) -> usize {
        self.slices.iter().filter(|s| &s.state == state).count()
    }

    /// Every slice state with its count, in a fixed order, zeros included.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        [
            SliceState::Done,
            SliceState::Running,
            SliceState::Pending,
            SliceState::Failed,
            SliceState::Missing,
        ]
        .iter()
        .map(|state| (state.name(), self.count(state)))
        .collect()
    }

    /// The slices to submit again: failed or missing, never those still queued.
    pub fn to_rerun(&self) -> Vec<u32> {
        self.slices
            .iter()
            .filter(|s| matches!(s.state, SliceState::Failed | SliceState::Missing))
            .map(|s| s.slice)
            .collect()
    }
}

/// Why a slice with no part is not in the queue either.
fn missing_reason(manifest: &Manifest) -> String {
    match manifest.submissions.last() {
        None => "not submitted yet: the run was prepared with --dry-run".into(),
        Some(s) if s.failed.is_some() => format!(
            "its submission failed: {}",
            s.failed.as_deref().unwrap_or_default()
        ),
        Some(_) => "not in the queue, and no part was written (see its logs)".into(),
    }
}

fn queue_state(entry: &QueueEntry) -> (SliceState, Option<String>) {
    match &entry.state {
        QueueState::Running => (SliceState::Running, None),
        QueueState::Pending => (SliceState::Pending, None),
        QueueState::Held(why) => (
            SliceState::Pending,
            Some(format!("held in the queue: {why}")),
        ),
        QueueState::Other(name) => (SliceState::Pending, Some(format!("queue state {name}"))),
        QueueState::Ended(name) => (SliceState::Missing, Some(ended_reason(name))),
    }
}

/// Why a slice whose job ended left no part.
fn ended_reason(state: &str) -> String {
    match state {
        "COMPLETED" => "its job completed but wrote no part (see its log)".into(),
        "TIMEOUT" => "TIMEOUT: it ran past its time limit (resources.time)".into(),
        "OUT_OF_MEMORY" => "OUT_OF_MEMORY: it ran past its memory (resources.memory)".into(),
        "CANCELLED" => "CANCELLED".into(),
        "NODE_FAIL" => "NODE_FAIL: its node failed".into(),
        "PREEMPTED" => "PREEMPTED".into(),
        other => other.to_string(),
    }
}

/// Where every slice stands. `parts` is `None` for an MPI-mode run, which writes no parts:
/// its one job computes every slice and writes `result.json`, or fails.
pub fn survey(
    manifest: &Manifest,
    parts: Option<&PartsSeen>,
    result: &ResultSeen,
    queue: &[QueueEntry],
    log_reason: &dyn Fn(u32) -> Option<String>,
) -> Survey {
    let mut gather_queued = BTreeMap::new();
    let mut queued: BTreeMap<u32, &QueueEntry> = BTreeMap::new();
    let mut whole_job: Option<&QueueEntry> = None;
    for entry in queue {
        match entry.slice {
            Some(slice) => {
                queued.insert(slice, entry);
            }
            None if manifest.is_gather(&entry.job_id) => {
                if !entry.state.queued() {
                    continue;
                }
                *gather_queued
                    .entry(entry.state.name().to_string())
                    .or_insert(0) += 1;
            }
            None => whole_job = Some(entry),
        }
    }
    let Some(parts) = parts.filter(|_| manifest.mode == SlurmMode::Array) else {
        let done = matches!(result, ResultSeen::Present(_));
        let slices = (0..manifest.slices)
            .map(|slice| {
                let (state, reason) = match (done, whole_job) {
                    (true, _) => (SliceState::Done, None),
                    (false, Some(entry)) => queue_state(entry),
                    (false, None) => (
                        SliceState::Missing,
                        Some(match manifest.submissions.last() {
                            Some(s) if !s.pieces.is_empty() => {
                                "the MPI job ended without writing result.json (see its log)".into()
                            }
                            _ => missing_reason(manifest),
                        }),
                    ),
                };
                SliceStatus {
                    slice,
                    state,
                    reason,
                }
            })
            .collect();
        return Survey {
            slices,
            result: if done {
                ResultState::Current
            } else {
                ResultState::Absent
            },
            gather_queued,
        };
    };
    let corrupt: BTreeMap<u32, &str> = parts
        .corrupt
        .iter()
        .map(|(slice, reason)| (*slice, reason.as_str()))
        .collect();
    let mut slices: Vec<SliceStatus> = (0..manifest.slices)
        .map(|slice| {
            let idle = parts.idle.contains(&slice);
            let (state, reason) = if let Some(entry) = queued.get(&slice).filter(|e| {
                e.state.queued() || (parts.present.binary_search(&slice).is_err() && !idle)
            }) {
                queue_state(entry)
            } else if idle && parts.unclaimed > 0 {
                (
                    SliceState::Missing,
                    Some(format!(
                        "{} tasks were never claimed, and it left no part",
                        parts.unclaimed
                    )),
                )
            } else if idle {
                (
                    SliceState::Done,
                    Some("it owns no tasks: the other slices ran them".into()),
                )
            } else if let Some(reason) = corrupt.get(&slice) {
                (SliceState::Failed, Some(format!("corrupt part: {reason}")))
            } else if let Some(&failed) = parts.failed_tasks.get(&slice) {
                (
                    SliceState::Failed,
                    Some(format!(
                        "{failed} task{} failed",
                        if failed == 1 { "" } else { "s" }
                    )),
                )
            } else if parts.present.binary_search(&slice).is_ok() {
                (SliceState::Done, None)
            } else {
                (
                    SliceState::Missing,
                    Some(log_reason(slice).unwrap_or_else(|| missing_reason(manifest))),
                )
            };
            SliceStatus {
                slice,
                state,
                reason,
            }
        })
        .collect();
    let someone_left = slices.iter().any(|s| s.state != SliceState::Done);
    if parts.unclaimed > 0 && !someone_left {
        // Every slice stopped claiming (it could not write its claims) with tasks left.
        for status in &mut slices {
            status.state = SliceState::Failed;
            status.reason = Some(format!(
                "{} tasks were never claimed (see its log)",
                parts.unclaimed
            ));
        }
    }
    let all_done = slices.iter().all(|s| s.state == SliceState::Done);
    let result = match result {
        ResultSeen::Absent => ResultState::Absent,
        ResultSeen::Present(Some(digest)) if all_done && *digest == parts.digest => {
            ResultState::Current
        }
        ResultSeen::Present(_) => ResultState::Stale,
    };
    Survey {
        slices,
        result,
        gather_queued,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_dir::manifest::{Piece, Submission};

    fn manifest(slices: u32) -> Manifest {
        let mut m = crate::run_dir::manifest::unsubmitted(slices);
        m.submissions.push(Submission {
            slices: format!("0-{}", slices - 1),
            pieces: vec![Piece {
                job_id: "7".into(),
                offset: 0,
            }],
            gather: Some("8".into()),
            ..Submission::default()
        });
        m
    }

    fn parts(present: &[u32]) -> PartsSeen {
        PartsSeen {
            present: present.to_vec(),
            digest: "d".into(),
            ..PartsSeen::default()
        }
    }

    fn states(survey: &Survey) -> Vec<&'static str> {
        survey.slices.iter().map(|s| s.state.name()).collect()
    }

    #[test]
    fn a_deleted_part_makes_the_result_stale_and_the_slice_missing() {
        let m = manifest(3);
        let seen = parts(&[0, 2]);
        let survey = survey(
            &m,
            Some(&seen),
            &ResultSeen::Present(Some("d".into())),
            &[],
            &|_| None,
        );
        assert_eq!(states(&survey), ["done", "missing", "done"]);
        assert_eq!(survey.result, ResultState::Stale);
        assert_eq!(survey.to_rerun(), [1]);
    }

    #[test]
    fn the_result_is_current_only_for_the_parts_it_was_gathered_from() {
        let m = manifest(2);
        let seen = parts(&[0, 1]);
        let current = survey(
            &m,
            Some(&seen),
            &ResultSeen::Present(Some("d".into())),
            &[],
            &|_| None,
        );
        assert_eq!(current.result, ResultState::Current);
        let other = survey(
            &m,
            Some(&seen),
            &ResultSeen::Present(Some("e".into())),
            &[],
            &|_| None,
        );
        assert_eq!(other.result, ResultState::Stale);
    }

    #[test]
    fn failed_tasks_and_corrupt_parts_fail_their_slice() {
        let m = manifest(3);
        let mut seen = parts(&[0, 1]);
        seen.failed_tasks.insert(1, 2);
        seen.corrupt.push((2, "bad checksum".into()));
        let survey = survey(&m, Some(&seen), &ResultSeen::Absent, &[], &|_| None);
        assert_eq!(states(&survey), ["done", "failed", "failed"]);
        assert_eq!(survey.slices[1].reason.as_deref(), Some("2 tasks failed"));
        assert_eq!(survey.to_rerun(), [1, 2]);
    }

    #[test]
    fn queued_slices_are_running_or_pending_never_to_rerun() {
        let m = manifest(3);
        let queue = [
            QueueEntry {
                job_id: "7".into(),
                slice: Some(1),
                state: QueueState::Running,
            },
            QueueEntry {
                job_id: "7".into(),
                slice: Some(2),
                state: QueueState::Held("SUSPENDED".into()),
            },
            QueueEntry {
                job_id: "8".into(),
                slice: None,
                state: QueueState::Pending,
            },
        ];
        let survey = survey(&m, Some(&parts(&[0])), &ResultSeen::Absent, &queue, &|_| {
            None
        });
        assert_eq!(states(&survey), ["done", "running", "pending"]);
        assert_eq!(
            survey.slices[2].reason.as_deref(),
            Some("held in the queue: SUSPENDED")
        );
        assert!(survey.to_rerun().is_empty());
        assert_eq!(survey.gather_queued["pending"], 1);
    }

    #[test]
    fn a_dynamic_slice_without_tasks_is_done_unless_tasks_were_never_claimed() {
        let m = manifest(3);
        let cancelled = [QueueEntry {
            job_id: "7".into(),
            slice: Some(1),
            state: QueueState::Ended("CANCELLED".into()),
        }];
        let mut seen = parts(&[0, 2]);
        seen.idle = vec![1];
        let covered = survey(&m, Some(&seen), &ResultSeen::Absent, &cancelled, &|_| None);
        assert_eq!(states(&covered), ["done", "done", "done"]);
        assert_eq!(
            covered.slices[1].reason.as_deref(),
            Some("it owns no tasks: the other slices ran them")
        );
        seen.unclaimed = 5;
        let short = survey(&m, Some(&seen), &ResultSeen::Absent, &cancelled, &|_| None);
        assert_eq!(states(&short), ["done", "missing", "done"]);
        assert_eq!(short.to_rerun(), [1]);
        seen.idle.clear();
        seen.present = vec![0, 1, 2];
        let stuck = survey(&m, Some(&seen), &ResultSeen::Absent, &[], &|_| None);
        assert_eq!(states(&stuck), ["failed", "failed", "failed"]);
        assert_eq!(stuck.to_rerun(), [0, 1, 2]);
    }

    #[test]
    fn a_run_never_submitted_says_so() {
        let mut m = manifest(1);
        m.submissions.clear();
        let survey = survey(&m, Some(&parts(&[])), &ResultSeen::Absent, &[], &|_| None);
        assert_eq!(
            survey.slices[0].reason.as_deref(),
            Some("not submitted yet: the run was prepared with --dry-run")
        );
    }
}
