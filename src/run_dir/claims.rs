//! The claims of a dynamically balanced task job (`split.balance: dynamic`): its slices take
//! batches of task ids from the run directory as their threads come free, so a slice that
//! starts late, runs on a slow node or stops midway holds back nothing, with no daemon.
//!
//! They live in `parts/claims/`. The batch of tasks `start..end`, claimed for the `g`-th time,
//! is the file `<start>.<g>` holding `{"start", "end", "slice"}`. It is written as a private
//! temporary file and then hard-linked to its name: link(2) fails when the name exists, so of
//! two slices claiming the same batch exactly one wins. That is atomic on NFS (the way open(2)'s
//! manual gives for taking a lock there) and on Lustre, where `flock` works only when the site
//! mounts it with `-o flock`; and the claim is whole the moment its name appears. The slice that
//! lost reads the winner's claim and claims from its end, so gen-0 batches tile `0..count`.
//!
//! A batch belongs to the slice of its highest generation. Each slice keeps `alive-<slice>`:
//! `running` with its modification time touched every [`HEARTBEAT`], `released` once a signal
//! stopped it, `finished` once its part is written. A slice that runs out of new batches takes
//! over the batches of a released slice, or of one silent for [`SILENT`] (killed outright, its
//! node lost): it claims their next generation, adopts what the old owner's journal says
//! succeeded, and runs the rest. The gather reads each task from the part of its batch's owner,
//! so a silent owner that comes back counts nothing twice.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How often a running slice shows it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// How long a slice may stay silent before others take over its batches: many heartbeats, so
/// a loaded file server or a few seconds of clock skew between nodes never fakes a death.
pub const SILENT: Duration = Duration::from_secs(120);

/// A claim file is a line of JSON; anything longer is not one.
const MAX_CLAIM_BYTES: u64 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub start: u64,
    pub end: u64,
    /// The slice that claimed it.
    pub slice: u32,
}

pub fn dir(parts_dir: &Path) -> PathBuf {
    parts_dir.join("claims")
}

fn claim_path(dir: &Path, start: u64, generation: u32) -> PathBuf {
    dir.join(format!("{start}.{generation}"))
}

fn alive_path(dir: &Path, slice: u32) -> PathBuf {
    dir.join(format!("alive-{slice}"))
}

/// A claim's file name: `<start>.<generation>`.
fn parse_name(name: &str) -> Option<(u64, u32)> {
    let (start, generation) = name.split_once('.')?;
    Some((start.parse().ok()?, generation.parse().ok()?))
}

fn read_claim(path: &Path) -> Option<Batch> {
    let is_file = std::fs::symlink_metadata(path).ok()?.file_type().is_file();
    let text = crate::bounded_read::text(path, MAX_CLAIM_BYTES).ok()?;
    serde_json::from_str(&text).ok().filter(|_| is_file)
}

/// Links a file holding `batch` to `target`; `Ok(false)` if another slice holds that name.
fn link_claim(dir: &Path, target: &Path, batch: &Batch) -> std::io::Result<bool> {
    let mut temporary = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut temporary, batch)?;
    temporary.as_file().sync_all()?;
    match std::fs::hard_link(temporary.path(), target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Over NFS a retransmitted link can fail although the first one made it; the
            // temporary file's link count tells (the open(2) manual's advice).
            use std::os::unix::fs::MetadataExt;
            Ok(temporary.as_file().metadata()?.nlink() == 2)
        }
        Err(e) => Err(e),
    }
}

/// Every batch claimed so far, each under its owner: the slice of its highest generation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Assignment {
    /// By start: the highest generation and its claim.
    batches: BTreeMap<u64, (u32, Batch)>,
}

impl Assignment {
    /// The claims in `parts_dir` (none for a statically balanced run). A claim file that cannot
    /// be read is skipped: its batch is then someone's at the generation before, or unclaimed.
    pub fn read(parts_dir: &Path) -> Assignment {
        let dir = dir(parts_dir);
        let mut batches: BTreeMap<u64, (u32, Batch)> = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some((start, generation)) = name.to_str().and_then(parse_name) else {
                continue;
            };
            if batches.get(&start).is_some_and(|(g, _)| *g >= generation) {
                continue;
            }
            if let Some(batch) = read_claim(&entry.path()).filter(|b| b.start == start) {
                batches.insert(start, (generation, batch));
            }
        }
        Assignment { batches }
    }

    /// The task ids that slice `slice` owns, in order.
    pub fn tasks_of(&self, slice: u32) -> Vec<u64> {
        self.batches
            .values()
            .filter(|(_, b)| b.slice == slice)
            .flat_map(|(_, b)| b.start..b.end)
            .collect()
    }

    /// Where the chain of claims from task 0 ends: the tasks from here on are unclaimed.
    pub fn claimed_up_to(&self) -> u64 {
        let mut end = 0;
        while let Some((_, batch)) = self.batches.get(&end) {
            if batch.end <= end {
                break;
            }
            end = batch.end;
        }
        end
    }

    /// Each batch with its generation, by start.
    pub fn batches(&self) -> impl Iterator<Item = (u32, &Batch)> {
        self.batches.values().map(|(g, b)| (*g, b))
    }
}

/// Where a slice stands, as its `alive-<slice>` file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Running,
    /// Its part holds its batches.
    Finished,
    /// Released by a signal, silent for [`SILENT`], or never seen: its batches are free.
    Gone,
}

pub fn liveness(parts_dir: &Path, slice: u32) -> Liveness {
    let path = alive_path(&dir(parts_dir), slice);
    let Ok(text) = crate::bounded_read::text(&path, MAX_CLAIM_BYTES) else {
        return Liveness::Gone;
    };
    match text.trim() {
        "finished" => Liveness::Finished,
        "running" => {
            let silent = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|touched| SystemTime::now().duration_since(touched).ok())
                .is_some_and(|silence| silence > SILENT);
            if silent {
                Liveness::Gone
            } else {
                Liveness::Running
            }
        }
        _ => Liveness::Gone,
    }
}

/// Says where slice `slice` stands: `running`, `released` or `finished` (written whole, by a
/// rename, so a reader never sees half a word).
pub fn mark(parts_dir: &Path, slice: u32, state: &str) -> std::io::Result<()> {
    let dir = dir(parts_dir);
    let mut temporary = tempfile::NamedTempFile::new_in(&dir)?;
    temporary.write_all(state.as_bytes())?;
    temporary.as_file().sync_all()?;
    temporary
        .persist(alive_path(&dir, slice))
        .map_err(|e| e.error)?;
    Ok(())
}

/// One slice's side of the claims.
pub struct Claimer {
    parts_dir: PathBuf,
    dir: PathBuf,
    slice: u32,
    count: u64,
    /// No batch starts before this one unclaimed.
    cursor: u64,
}

impl Claimer {
    /// Marks slice `slice` running, and keeps it so with a heartbeat for as long as this
    /// process lives.
    pub fn start(parts_dir: &Path, slice: u32, count: u64) -> std::io::Result<Claimer> {
        let dir = dir(parts_dir);
        std::fs::create_dir_all(&dir)?;
        mark(parts_dir, slice, "running")?;
        let alive = alive_path(&dir, slice);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(HEARTBEAT);
                if let Ok(file) = std::fs::File::options().append(true).open(&alive) {
                    let _ = file.set_modified(SystemTime::now());
                }
            }
        });
        Ok(Claimer {
            parts_dir: parts_dir.to_path_buf(),
            dir,
            slice,
            count,
            cursor: 0,
        })
    }

    pub fn slice(&self) -> u32 {
        self.slice
    }

    /// Claims the next unclaimed batch, of `size(remaining)` tasks (at least one); `None` when
    /// every task is claimed.
    pub fn claim(&mut self, size: impl Fn(u64) -> u64) -> std::io::Result<Option<Batch>> {
        while self.cursor < self.count {
            let remaining = self.count - self.cursor;
            let batch = Batch {
                start: self.cursor,
                end: self.cursor + size(remaining).clamp(1, remaining),
                slice: self.slice,
            };
            let target = claim_path(&self.dir, batch.start, 0);
            if link_claim(&self.dir, &target, &batch)? {
                self.cursor = batch.end;
                return Ok(Some(batch));
            }
            match read_claim(&target) {
                Some(theirs) if theirs.end > self.cursor => self.cursor = theirs.end,
                _ => {
                    return Err(std::io::Error::other(format!(
                        "the claim {} cannot be read",
                        target.display()
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Takes over one batch whose owner is gone (and that is not this slice's already), with
    /// the owner it had; `None` when there is none.
    pub fn take_over(&self) -> std::io::Result<Option<(Batch, u32)>> {
        let assignment = Assignment::read(&self.parts_dir);
        let mut seen: BTreeMap<u32, Liveness> = BTreeMap::new();
        for (generation, batch) in assignment.batches() {
            if batch.slice == self.slice {
                continue;
            }
            let owner = *seen
                .entry(batch.slice)
                .or_insert_with(|| liveness(&self.parts_dir, batch.slice));
            if owner != Liveness::Gone {
                continue;
            }
            let mine = Batch {
                slice: self.slice,
                ..*batch
            };
            let target = claim_path(&self.dir, batch.start, generation + 1);
            if link_claim(&self.dir, &target, &mine)? {
                return Ok(Some((mine, batch.slice)));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn racing_claimers_tile_the_tasks_exactly_once() {
        let parts = tempfile::tempdir().unwrap();
        let count = 5_000;
        let claimed: Vec<Vec<Batch>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|slice| {
                    let parts = parts.path();
                    scope.spawn(move || {
                        let mut claimer = Claimer::start(parts, slice, count).unwrap();
                        let mut mine = Vec::new();
                        while let Some(batch) = claimer.claim(|_| u64::from(slice) * 3 + 1).unwrap()
                        {
                            mine.push(batch);
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<u64> = claimed
            .iter()
            .flatten()
            .flat_map(|b| b.start..b.end)
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..count).collect::<Vec<_>>());
        let assignment = Assignment::read(parts.path());
        assert_eq!(assignment.claimed_up_to(), count);
        for (slice, batches) in claimed.iter().enumerate() {
            let ids: Vec<u64> = batches.iter().flat_map(|b| b.start..b.end).collect();
            assert_eq!(assignment.tasks_of(slice as u32), ids);
        }
    }

    #[test]
    fn only_the_batches_of_a_gone_slice_are_taken_over_once() {
        let parts = tempfile::tempdir().unwrap();
        let mut zero = Claimer::start(parts.path(), 0, 10).unwrap();
        let mut one = Claimer::start(parts.path(), 1, 10).unwrap();
        let two = Claimer::start(parts.path(), 2, 10).unwrap();
        let first = zero.claim(|_| 4).unwrap().unwrap();
        let second = one.claim(|_| 4).unwrap().unwrap();
        assert_eq!((first.start, second.start), (0, 4));
        assert_eq!(two.take_over().unwrap(), None, "every owner is running");

        mark(parts.path(), 1, "released").unwrap();
        let (taken, from) = two.take_over().unwrap().unwrap();
        assert_eq!((taken.start, taken.end, taken.slice, from), (4, 8, 2, 1));
        assert_eq!(two.take_over().unwrap(), None, "taken over once only");
        let assignment = Assignment::read(parts.path());
        assert_eq!(assignment.tasks_of(1), Vec::<u64>::new());
        assert_eq!(assignment.tasks_of(2), [4, 5, 6, 7]);
        assert_eq!(assignment.claimed_up_to(), 8);

        mark(parts.path(), 0, "finished").unwrap();
        assert_eq!(
            one.take_over().unwrap(),
            None,
            "a finished slice keeps its batches"
        );
        assert_eq!(one.claim(|_| 100).unwrap().unwrap().end, 10);
        assert_eq!(one.claim(|_| 1).unwrap(), None);
    }

    #[test]
    fn a_silent_slice_is_gone_and_a_missing_one_never_ran() {
        let parts = tempfile::tempdir().unwrap();
        Claimer::start(parts.path(), 0, 1).unwrap();
        assert_eq!(liveness(parts.path(), 0), Liveness::Running);
        let alive = alive_path(&dir(parts.path()), 0);
        let long_ago = SystemTime::now() - SILENT - Duration::from_secs(1);
        std::fs::File::options()
            .append(true)
            .open(&alive)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        assert_eq!(liveness(parts.path(), 0), Liveness::Gone);
        assert_eq!(liveness(parts.path(), 7), Liveness::Gone);
    }
}
