//! Part files: the exact partial result of one slice of a submitted run (the accumulator of a
//! compute job, the task outcomes of a task job), written atomically (a temporary file renamed
//! into place), with the job's hash and a checksum, so a gather can tell a missing slice from a
//! corrupt one or from one left by another job; and reading them all back for a gather.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{RunDir, claims};
use crate::plan;
use crate::reduce::Accumulator;
use crate::reduce::task_results::{TaskOutcome, summarize};
use crate::spec::{Balance, HistogramSpec, TasksSpec};

const FORMAT: u32 = 2;
/// A part holds one accumulator or one outcome per task (with a bounded stdout tail each).
const MAX_PART_BYTES: u64 = 256 << 20;

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
    /// When the slice started and finished computing, in seconds since the Unix epoch.
    pub started: f64,
    pub finished: f64,
    /// The CPU time the slice's process and the tasks it waited for used, in seconds.
    pub cpu_s: f64,
    /// The largest resident memory of the slice's process or of one of its tasks, in KiB.
    pub peak_rss_kib: u64,
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
            "{FORMAT}:{}:{}:{}:{}:{}:{}:{tasks}:{}:{}:{}:{}",
            self.job_hash,
            self.slice,
            self.slices,
            self.start,
            self.end,
            self.accumulator,
            self.started.to_bits(),
            self.finished.to_bits(),
            self.cpu_s.to_bits(),
            self.peak_rss_kib
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    fn with_contents(
        expected: &Expected,
        accumulator: String,
        tasks: Vec<TaskOutcome>,
        started: f64,
    ) -> Part {
        let usage = Usage::now();
        let mut part = Part {
            format: FORMAT,
            job_hash: expected.job_hash.to_string(),
            slice: expected.slice,
            slices: expected.slices,
            start: expected.start,
            end: expected.end,
            accumulator,
            tasks,
            started,
            finished: unix_seconds(),
            cpu_s: usage.cpu_s,
            peak_rss_kib: usage.peak_rss_kib,
            checksum: String::new(),
        };
        part.checksum = part.checksum();
        part
    }

    /// The part of a compute slice that started at `started` ([`unix_seconds`]) and finishes now.
    pub fn of_accumulator(expected: &Expected, acc: &Accumulator, started: f64) -> Part {
        Part::with_contents(expected, hex::encode(acc.encode()), Vec::new(), started)
    }

    /// The part of a task slice that started at `started` and finishes now.
    pub fn of_tasks(expected: &Expected, outcomes: Vec<TaskOutcome>, started: f64) -> Part {
        Part::with_contents(expected, String::new(), outcomes, started)
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
    let file = path(parts_dir, expected.slice);
    // A part is a regular file the slice wrote; anything else (a symlink to a device, a pipe)
    // is not read at all.
    match std::fs::symlink_metadata(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Problem::Missing),
        Ok(m) if !m.file_type().is_file() => {
            return Err(Problem::Corrupt("not a regular file".into()));
        }
        _ => {}
    }
    let text = match crate::bounded_read::text(&file, MAX_PART_BYTES) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return Err(Problem::Missing),
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

/// What the parts of a run add up to: `total` from every valid part, and the slices without one.
pub struct Gathered<T> {
    pub total: T,
    /// Slices with a valid part, in order.
    pub present: Vec<u32>,
    pub missing: Vec<u32>,
    /// Slice and reason.
    pub corrupt: Vec<(u32, String)>,
    /// A dynamically balanced run: slices with no part that own no tasks (they found none
    /// left, or their batches were taken over), and how many tasks no slice has claimed.
    pub idle: Vec<u32>,
    pub unclaimed: u64,
    pub timing: Timing,
    /// SHA-256 over the checksums of the valid parts in slice order: `result.json` records it,
    /// so a result can be told apart from the parts present now.
    pub digest: String,
}

/// When the slices computed, from their parts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// The earliest start and the latest finish of a slice.
    pub span: Option<(f64, f64)>,
    /// The slices' computing times added up.
    pub slice_seconds: f64,
    /// The CPU time they used, added up.
    pub cpu_seconds: f64,
    /// The largest resident memory of any slice, in KiB.
    pub peak_rss_kib: u64,
}

impl Timing {
    fn add(&mut self, part: &Part) {
        let (started, finished) = (part.started, part.finished);
        self.cpu_seconds += part.cpu_s;
        self.peak_rss_kib = self.peak_rss_kib.max(part.peak_rss_kib);
        self.span = Some(match self.span {
            None => (started, finished),
            Some((start, end)) => (start.min(started), end.max(finished)),
        });
        self.slice_seconds += (finished - started).max(0.0);
    }

    /// Wall time from the first slice's start to the last one's finish.
    pub fn elapsed_s(&self) -> f64 {
        self.span.map_or(0.0, |(start, end)| (end - start).max(0.0))
    }
}

impl<T> Gathered<T> {
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty() && self.unclaimed == 0
    }

    /// Slices to run again: missing or corrupt, in order.
    pub fn unusable(&self) -> Vec<u32> {
        let mut slices: Vec<u32> = self
            .missing
            .iter()
            .copied()
            .chain(self.corrupt.iter().map(|(s, _)| *s))
            .collect();
        slices.sort_unstable();
        slices
    }
}

/// Reads every slice's part; `absorb` takes in a valid one or says why it cannot be used.
fn gather_parts<'a, T>(
    run_dir: &'a RunDir,
    total: T,
    expected: impl Fn(u32) -> Expected<'a>,
    mut absorb: impl FnMut(&mut T, Part) -> Result<(), String>,
) -> Gathered<T> {
    let mut gathered = Gathered {
        total,
        present: Vec::new(),
        missing: Vec::new(),
        corrupt: Vec::new(),
        idle: Vec::new(),
        unclaimed: 0,
        timing: Timing::default(),
        digest: String::new(),
    };
    let mut digest = Sha256::new();
    for index in 0..run_dir.slices() {
        match read(&run_dir.parts(), &expected(index)) {
            Ok(part) => {
                let mut timing = gathered.timing;
                timing.add(&part);
                let checksum = part.checksum.clone();
                match absorb(&mut gathered.total, part) {
                    Ok(()) => {
                        gathered.timing = timing;
                        digest.update(checksum.as_bytes());
                        gathered.present.push(index);
                    }
                    Err(reason) => gathered.corrupt.push((index, reason)),
                }
            }
            Err(Problem::Missing) => gathered.missing.push(index),
            Err(Problem::Corrupt(reason)) => gathered.corrupt.push((index, reason)),
        }
    }
    gathered.digest = hex::encode(digest.finalize());
    gathered
}

/// Merges the exact accumulators of a compute run.
pub fn gather(run_dir: &RunDir, samples: u64, shift: f64) -> Gathered<Accumulator> {
    let histogram = run_dir.spec.reduce.histogram;
    gather_parts(
        run_dir,
        Accumulator::new(shift, histogram),
        |index| expected_compute_part(run_dir, samples, index),
        |total, part| {
            let acc = part
                .accumulator(histogram)
                .map_err(|problem| match problem {
                    Problem::Corrupt(reason) => reason,
                    Problem::Missing => "no accumulator".into(),
                })?;
            if acc.shift.to_bits() != shift.to_bits() {
                return Err("computed with another shift".into());
            }
            consistent(&acc, part.end - part.start)?;
            total.merge(&acc);
            Ok(())
        },
    )
}

/// Whether an accumulator can be what a slice of `samples` samples computed: its checksum
/// shows the file is whole, this that its numbers agree with each other and with the plan.
fn consistent(acc: &Accumulator, samples: u64) -> Result<(), String> {
    let seen = acc.count.checked_add(acc.nan);
    if seen != Some(samples) {
        return Err(format!(
            "it counts {} samples and {} NaN, but its slice has {samples} samples",
            acc.count, acc.nan
        ));
    }
    if let Some(h) = &acc.histogram {
        let binned = h
            .counts
            .iter()
            .chain([&h.underflow, &h.overflow])
            .try_fold(0u64, |sum, n| sum.checked_add(*n));
        if binned != Some(acc.count) {
            return Err(format!(
                "its histogram holds {} values, but it counts {}",
                binned.map_or("too many".to_string(), |b| b.to_string()),
                acc.count
            ));
        }
    }
    // Min and max are tracked only when a reduction asks for them (else they stay at
    // +inf and -inf).
    if acc.count > 0 && acc.min <= acc.max {
        let mean = crate::reduce::Summary::from_accumulator(acc).mean;
        if let Some(mean) = mean.filter(|m| !(acc.min..=acc.max).contains(m)) {
            return Err(format!(
                "its mean {mean} lies outside its min {} and max {}",
                acc.min, acc.max
            ));
        }
    }
    Ok(())
}

/// Collects the task outcomes of a task run; a part must hold an outcome for each task its
/// slice owns: every `slices`-th task (`balance: static`), or the batches whose claims are its
/// (`balance: dynamic`). Outcomes a part holds of tasks now owned by another slice are left
/// out, so a task taken over from a slice that came back counts once.
pub fn gather_tasks(run_dir: &RunDir, tasks: &TasksSpec) -> Gathered<Vec<TaskOutcome>> {
    let slices = run_dir.slices();
    let assignment = (run_dir.spec.split.balance == Balance::Dynamic)
        .then(|| claims::Assignment::read(&run_dir.parts()));
    let owned = |slice| match &assignment {
        Some(assignment) => assignment.tasks_of(slice),
        None => plan::tasks_of_slice(tasks.count, slices, slice),
    };
    let mut gathered = gather_parts(
        run_dir,
        Vec::new(),
        |index| expected_task_part(run_dir, tasks, index),
        |total, mut part| {
            let owned = owned(part.slice);
            holds_its_tasks(&mut part, &owned)?;
            total.extend(part.tasks);
            Ok(())
        },
    );
    if let Some(assignment) = &assignment {
        let (idle, missing) = gathered
            .missing
            .iter()
            .partition(|&&slice| assignment.tasks_of(slice).is_empty());
        gathered.idle = idle;
        gathered.missing = missing;
        gathered.unclaimed = tasks.count - assignment.claimed_up_to().min(tasks.count);
    }
    gathered.total.sort_by_key(|o| o.task);
    gathered
}

/// Whether a task part holds one outcome for each task its slice owns (`owned`, in order);
/// the outcomes of other tasks are dropped.
fn holds_its_tasks(part: &mut Part, owned: &[u64]) -> Result<(), String> {
    part.tasks.retain(|o| owned.binary_search(&o.task).is_ok());
    let ids: Vec<u64> = part.tasks.iter().map(|o| o.task).collect();
    if ids.len() != owned.len() {
        return Err(format!(
            "it holds {} task outcomes, but its slice has {} tasks",
            ids.len(),
            owned.len()
        ));
    }
    if ids != owned {
        return Err("it holds the outcomes of other tasks than its slice's".into());
    }
    Ok(())
}

/// The log files of one slice (any job of the run: `logs/<job>_<slice>.out` and `.err`).
pub fn logs_of(run_dir: &RunDir, slice: u32) -> Vec<PathBuf> {
    let stem = format!("_{slice}.");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(run_dir.logs())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let name = n.to_string_lossy();
                name.strip_suffix("out")
                    .or_else(|| name.strip_suffix("err"))
                    .is_some_and(|rest| rest.ends_with(&stem))
            })
        })
        .collect();
    logs.sort();
    logs
}

/// A compute slice's progress: the exact accumulator of its blocks before `next_block`, written
/// atomically with a checksum beside its part (`<slice>.ckpt`) as the slice goes, so a slice
/// stopped midway (preempted, requeued, out of time) resumes where it was, to the same bits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub format: u32,
    pub job_hash: String,
    pub slice: u32,
    pub slices: u32,
    pub start: u64,
    pub end: u64,
    pub next_block: u64,
    /// [`Accumulator::encode`] as hex.
    pub accumulator: String,
    /// When the slice first started, in seconds since the Unix epoch.
    pub started: f64,
    pub checksum: String,
}

/// A task slice's journal: one finished task's outcome a line, as they finish.
pub fn journal_path(parts_dir: &Path, slice: u32) -> PathBuf {
    parts_dir.join(format!("{slice}.journal"))
}

/// The outcomes in a journal, in the order they finished (a torn last line is no record).
pub fn journaled(journal: &Path) -> Vec<TaskOutcome> {
    crate::bounded_read::text(journal, MAX_PART_BYTES)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

pub fn checkpoint_path(parts_dir: &Path, slice: u32) -> PathBuf {
    parts_dir.join(format!("{slice}.ckpt"))
}

impl Checkpoint {
    pub fn new(
        expected: &Expected,
        next_block: u64,
        acc: &Accumulator,
        started: f64,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            format: FORMAT,
            job_hash: expected.job_hash.to_string(),
            slice: expected.slice,
            slices: expected.slices,
            start: expected.start,
            end: expected.end,
            next_block,
            accumulator: hex::encode(acc.encode()),
            started,
            checksum: String::new(),
        };
        checkpoint.checksum = checkpoint.checksum();
        checkpoint
    }

    fn checksum(&self) -> String {
        let text = format!(
            "{FORMAT}:{}:{}:{}:{}:{}:{}:{}:{}",
            self.job_hash,
            self.slice,
            self.slices,
            self.start,
            self.end,
            self.next_block,
            self.accumulator,
            self.started.to_bits()
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    pub fn write_atomically(&self, parts_dir: &Path) -> std::io::Result<()> {
        let mut temporary = tempfile::NamedTempFile::new_in(parts_dir)?;
        serde_json::to_writer(&mut temporary, self)?;
        temporary.as_file().sync_all()?;
        temporary
            .persist(checkpoint_path(parts_dir, self.slice))
            .map_err(|e| e.error)?;
        Ok(())
    }

    /// The slice's checkpoint, if there is one of this very slice of this job, whole; and its
    /// accumulator.
    pub fn read(
        parts_dir: &Path,
        expected: &Expected,
        histogram: Option<HistogramSpec>,
    ) -> Option<(Checkpoint, Accumulator)> {
        let path = checkpoint_path(parts_dir, expected.slice);
        let is_file = std::fs::symlink_metadata(&path).ok()?.file_type().is_file();
        let text = crate::bounded_read::text(&path, MAX_PART_BYTES)
            .ok()
            .filter(|_| is_file)?;
        let checkpoint: Checkpoint = serde_json::from_str(&text).ok()?;
        let matches = checkpoint.format == FORMAT
            && checkpoint.checksum == checkpoint.checksum()
            && checkpoint.job_hash == expected.job_hash
            && (
                checkpoint.slice,
                checkpoint.slices,
                checkpoint.start,
                checkpoint.end,
            ) == (
                expected.slice,
                expected.slices,
                expected.start,
                expected.end,
            );
        let bytes = hex::decode(&checkpoint.accumulator).ok()?;
        let acc = Accumulator::decode(&bytes, histogram)?;
        matches.then_some((checkpoint, acc))
    }
}

/// How many tasks slice `slice` has finished (succeeded or failed): those of its part, else the
/// complete lines of its journal, while it runs or after it stopped.
pub fn tasks_finished(run_dir: &RunDir, tasks: &TasksSpec, slice: u32) -> u64 {
    let parts_dir = run_dir.parts();
    match read(&parts_dir, &expected_task_part(run_dir, tasks, slice)) {
        Ok(part) => part.tasks.len() as u64,
        Err(_) => crate::bounded_read::bytes(&journal_path(&parts_dir, slice), MAX_PART_BYTES)
            .map_or(0, |journal| {
                journal.iter().filter(|&&b| b == b'\n').count() as u64
            }),
    }
}

/// Each slice's finished tasks, of how many it owns: every `slices`-th task, or with
/// `balance: dynamic` the tasks of the batches it has claimed so far. `present` are the slices
/// whose valid parts a gather just read, if it did: such a part holds exactly its slice's tasks,
/// so it is not read again.
pub fn tasks_finished_by_slice(
    run_dir: &RunDir,
    tasks: &TasksSpec,
    present: Option<&[u32]>,
) -> Vec<[u64; 2]> {
    let assignment = (run_dir.spec.split.balance == Balance::Dynamic)
        .then(|| claims::Assignment::read(&run_dir.parts()));
    (0..run_dir.slices())
        .map(|slice| {
            let of = match &assignment {
                Some(assignment) => assignment.tasks_of(slice).len(),
                None => plan::tasks_of_slice(tasks.count, run_dir.slices(), slice).len(),
            } as u64;
            let finished = if present.is_some_and(|present| present.contains(&slice)) {
                of
            } else if assignment.is_some() && of == 0 {
                // A stopped slice's journal is no longer its own once its batches were taken
                // over: the slice that took them over counts them.
                0
            } else {
                tasks_finished(run_dir, tasks, slice)
            };
            [finished, of]
        })
        .collect()
}

/// What a task job's part covers: task ids `0..count`, every `slices`-th from the slice index.
pub fn expected_task_part<'a>(run_dir: &'a RunDir, tasks: &TasksSpec, slice: u32) -> Expected<'a> {
    Expected {
        job_hash: &run_dir.job_hash,
        slice,
        slices: run_dir.slices(),
        start: 0,
        end: tasks.count,
    }
}

/// What a compute job's part covers: its slice's samples.
pub fn expected_compute_part(run_dir: &RunDir, samples: u64, slice: u32) -> Expected<'_> {
    let range = plan::slice(samples, run_dir.slices(), slice);
    Expected {
        job_hash: &run_dir.job_hash,
        slice,
        slices: run_dir.slices(),
        start: range.start,
        end: range.end,
    }
}

/// What this process (and the tasks it waited for) used so far.
struct Usage {
    cpu_s: f64,
    peak_rss_kib: u64,
}

impl Usage {
    fn now() -> Usage {
        let of = |who| {
            // SAFETY: an all-zero rusage is valid for getrusage to fill in.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: getrusage writes only into `usage`.
            unsafe { libc::getrusage(who, &mut usage) };
            let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
            (
                seconds(usage.ru_utime) + seconds(usage.ru_stime),
                usage.ru_maxrss.max(0) as u64,
            )
        };
        let (own_cpu, own_peak) = of(libc::RUSAGE_SELF);
        let (tasks_cpu, tasks_peak) = of(libc::RUSAGE_CHILDREN);
        Usage {
            cpu_s: own_cpu + tasks_cpu,
            peak_rss_kib: own_peak.max(tasks_peak),
        }
    }
}

/// Now, in seconds since the Unix epoch.
pub fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The parts of a run of either kind, gathered.
pub enum Collected {
    Compute(Box<Gathered<Accumulator>>),
    Tasks(Gathered<Vec<TaskOutcome>>),
}

impl Collected {
    /// Gathers every part of `run_dir`; `shift` is the compute job's (see [`gather`]).
    pub fn gather(
        run_dir: &RunDir,
        shift: impl FnOnce(&crate::spec::ComputeSpec) -> f64,
    ) -> Collected {
        match &run_dir.spec.work {
            crate::spec::Work::Compute(compute) => {
                Collected::Compute(Box::new(gather(run_dir, compute.samples, shift(compute))))
            }
            crate::spec::Work::Tasks(tasks) => Collected::Tasks(gather_tasks(run_dir, tasks)),
        }
    }

    /// What a survey of `run_dir` needs to know of its parts. A task fails as the gather's
    /// reduction fails it (its own failure, or a result of another shape than the others').
    pub fn seen(&self, run_dir: &RunDir) -> PartsSeen {
        let slices = run_dir.slices();
        let (present, corrupt, digest, timing) = match self {
            Collected::Compute(g) => (&g.present, &g.corrupt, &g.digest, g.timing),
            Collected::Tasks(g) => (&g.present, &g.corrupt, &g.digest, g.timing),
        };
        let (idle, unclaimed) = match self {
            Collected::Compute(_) => (Vec::new(), 0),
            Collected::Tasks(g) => (g.idle.clone(), g.unclaimed),
        };
        let mut failed_tasks = std::collections::BTreeMap::new();
        if let (Collected::Tasks(g), Some(tasks)) = (self, run_dir.spec.tasks()) {
            let summary = summarize(&g.total, tasks.result, &run_dir.spec.reduce.statistics);
            for outcome in &summary.failed {
                // A failed task is in the part of the slice that ran it.
                let slice = outcome
                    .slice
                    .unwrap_or((outcome.task % u64::from(slices)) as u32);
                *failed_tasks.entry(slice).or_insert(0) += 1;
            }
        }
        PartsSeen {
            present: present.clone(),
            corrupt: corrupt.clone(),
            failed_tasks,
            idle,
            unclaimed,
            digest: digest.clone(),
            timing,
        }
    }
}

/// The parts found in a run directory, as a survey of the run needs them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartsSeen {
    /// Slices with a valid part.
    pub present: Vec<u32>,
    /// Slices whose part cannot be used, and why.
    pub corrupt: Vec<(u32, String)>,
    /// Task jobs: slices with a valid part in which tasks failed, and how many.
    pub failed_tasks: std::collections::BTreeMap<u32, usize>,
    /// Dynamically balanced task jobs: slices without a part that own no task, and how many
    /// tasks no slice claimed.
    pub idle: Vec<u32>,
    pub unclaimed: u64,
    pub digest: String,
    pub timing: Timing,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reduce::accumulator::Histogram;

    /// The accumulator of `values` as a slice would have it, before anyone tampers with it.
    fn accumulator_of(values: &[f64], histogram: Option<HistogramSpec>) -> Accumulator {
        let mut acc = Accumulator::new(0.0, None);
        acc.histogram = histogram.map(|spec| {
            let mut h = Histogram::new(spec);
            h.observe(values, values.len());
            h
        });
        for &x in values {
            acc.count += 1;
            acc.shifted_sum.add(x);
            acc.shifted_squares.add(x * x);
            acc.min = acc.min.min(x);
            acc.max = acc.max.max(x);
        }
        acc
    }

    #[test]
    fn a_part_whose_numbers_contradict_each_other_or_the_plan_is_refused() {
        let spec = HistogramSpec {
            bins: 4,
            low: 0.0,
            high: 4.0,
        };
        let acc = accumulator_of(&[1.0, 2.0, 3.0], Some(spec));
        assert_eq!(consistent(&acc, 3), Ok(()));

        let short = consistent(&acc, 4).unwrap_err();
        assert!(short.contains("counts 3 samples and 0 NaN"), "{short}");

        let mut huge_mean = acc.clone();
        huge_mean.shifted_sum.add(-1.3e238);
        let outside = consistent(&huge_mean, 3).unwrap_err();
        assert!(
            outside.contains("lies outside its min 1 and max 3"),
            "{outside}"
        );

        let mut binned = acc.clone();
        binned.histogram.as_mut().unwrap().overflow += 1;
        let bins = consistent(&binned, 3).unwrap_err();
        assert!(bins.contains("histogram holds 4 values"), "{bins}");

        let mut overflowing = acc;
        overflowing.nan = u64::MAX;
        assert!(consistent(&overflowing, 3).is_err());
    }

    #[test]
    fn a_task_part_must_hold_exactly_its_slices_tasks() {
        let outcome = |task| TaskOutcome {
            task,
            attempts: 1,
            values: Default::default(),
            failure: None,
            log: String::new(),
            stdout: String::new(),
            elapsed_s: 0.0,
            stderr_tail: Vec::new(),
            outputs: Vec::new(),
            slice: None,
            node: None,
        };
        let expected = Expected {
            job_hash: "h",
            slice: 1,
            slices: 2,
            start: 0,
            end: 80,
        };
        let part_of =
            |ids: &[u64]| Part::of_tasks(&expected, ids.iter().map(|&t| outcome(t)).collect(), 0.0);
        let whole: Vec<u64> = (1..80).step_by(2).collect();
        assert_eq!(holds_its_tasks(&mut part_of(&whole), &whole), Ok(()));
        let short = holds_its_tasks(&mut part_of(&whole[..39]), &whole).unwrap_err();
        assert!(
            short.contains("holds 39 task outcomes, but its slice has 40"),
            "{short}"
        );
        let mut shifted = whole.clone();
        shifted[0] = 0;
        assert!(holds_its_tasks(&mut part_of(&shifted), &whole).is_err());
        let mut doubled = whole.clone();
        doubled[1] = 1;
        assert!(holds_its_tasks(&mut part_of(&doubled), &whole).is_err());
        // A task taken over by another slice is that slice's to report.
        let mut with_extra = part_of(&(0..80).collect::<Vec<_>>());
        assert_eq!(holds_its_tasks(&mut with_extra, &whole), Ok(()));
        assert_eq!(with_extra.tasks.len(), 40);
    }
}
