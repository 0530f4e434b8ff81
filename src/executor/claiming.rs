//! The tasks of a dynamically balanced slice, as its threads come free: first what is left of
//! the batches it claimed in an earlier start, then new batches claimed from the run directory
//! ([`claims`]), then the batches of slices that are gone.

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use crate::executor::command::TaskSource;
use crate::reduce::task_results::TaskOutcome;
use crate::run_dir::claims::{Batch, Claimer};
use crate::run_dir::parts;

/// A batch should keep a slice's threads busy about this long: claiming then costs a
/// thousandth of the time even on a slow file server, and the slices finish within about
/// this much of each other.
const BATCH_SECONDS: f64 = 1.0;
/// Tasks faster than this are timed as this, so a batch of near-instant tasks stays bounded.
const FASTEST_TASK_S: f64 = 1e-4;

pub struct Claiming<'a> {
    parts_dir: &'a Path,
    threads: usize,
    slices: u32,
    state: Mutex<State>,
}

struct State {
    claimer: Claimer,
    queue: VecDeque<u64>,
    /// Every task is claimed by some slice.
    claimed_all: bool,
    /// And no gone slice's batch is left to take over.
    exhausted: bool,
    timed_tasks: u64,
    timed_seconds: f64,
    /// What went wrong claiming, which stops this slice claiming more.
    error: Option<String>,
}

impl<'a> Claiming<'a> {
    /// Slice `slice` of `slices`, which runs `leftover` first: the tasks of its own batches
    /// that an earlier start did not finish.
    pub fn new(
        claimer: Claimer,
        parts_dir: &'a Path,
        slices: u32,
        threads: usize,
        leftover: Vec<u64>,
    ) -> Claiming<'a> {
        Claiming {
            parts_dir,
            threads: threads.max(1),
            slices,
            state: Mutex::new(State {
                claimer,
                queue: leftover.into(),
                claimed_all: false,
                exhausted: false,
                timed_tasks: 0,
                timed_seconds: 0.0,
                error: None,
            }),
        }
    }

    /// Why claiming stopped early, if it did: the tasks this slice did not claim are left to
    /// the other slices or to `resubmit`.
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The size of the next batch: [`BATCH_SECONDS`] of work for every thread at the speed
    /// measured so far (one task a thread before anything is measured), and never more than a
    /// share of what is left that lets every slice still get some (guided self-scheduling).
    fn batch_size(&self, (timed_tasks, timed_seconds): (u64, f64), remaining: u64) -> u64 {
        let by_time = if timed_tasks == 0 {
            self.threads as u64
        } else {
            let mean = (timed_seconds / timed_tasks as f64).max(FASTEST_TASK_S);
            (BATCH_SECONDS * self.threads as f64 / mean).ceil() as u64
        };
        let share = remaining.div_ceil(2 * u64::from(self.slices));
        by_time.min(share).max(1)
    }

    /// Queues the tasks of `batch`, taken over from slice `from`: those its journal says
    /// succeeded are adopted as they are, the others run here.
    fn take(&self, state: &mut State, batch: Batch, from: u32, adopt: &mut dyn FnMut(TaskOutcome)) {
        let journal = parts::journal_path(self.parts_dir, from);
        let mut done = BTreeSet::new();
        for outcome in parts::journaled(&journal) {
            if (batch.start..batch.end).contains(&outcome.task)
                && outcome.failure.is_none()
                && done.insert(outcome.task)
            {
                adopt(outcome);
            }
        }
        eprintln!(
            "hpcsub: slice {}: took over tasks {}..{} of slice {from}, which is gone; {} of them had finished",
            state.claimer.slice(),
            batch.start,
            batch.end,
            done.len()
        );
        state
            .queue
            .extend((batch.start..batch.end).filter(|t| !done.contains(t)));
    }
}

impl TaskSource for Claiming<'_> {
    fn next(&self, adopt: &mut dyn FnMut(TaskOutcome)) -> Option<u64> {
        let mut state = self.lock();
        loop {
            if let Some(task) = state.queue.pop_front() {
                return Some(task);
            }
            if state.exhausted {
                return None;
            }
            if !state.claimed_all {
                let timed = (state.timed_tasks, state.timed_seconds);
                match state
                    .claimer
                    .claim(|remaining| self.batch_size(timed, remaining))
                {
                    Ok(Some(batch)) => state.queue.extend(batch.start..batch.end),
                    Ok(None) => state.claimed_all = true,
                    Err(e) => state.stop(e),
                }
                continue;
            }
            match state.claimer.take_over() {
                Ok(Some((batch, from))) => self.take(&mut state, batch, from, adopt),
                Ok(None) => state.exhausted = true,
                Err(e) => state.stop(e),
            }
        }
    }

    fn finished(&self, elapsed_s: f64) {
        let mut state = self.lock();
        state.timed_tasks += 1;
        state.timed_seconds += elapsed_s;
    }

    fn most(&self) -> usize {
        usize::MAX
    }
}

impl State {
    fn stop(&mut self, error: std::io::Error) {
        self.error = Some(error.to_string());
        self.exhausted = true;
    }
}
