//! The plan: how samples `[0, N)` are cut into slices (one per rank or array task) and
//! processed by threads in blocks. Slices are cut only at block boundaries, because a block's
//! partial sums are computed in a fixed order by one thread; that is what makes every split give
//! the same bits.

use serde::Serialize;

use crate::kernel::eval::Evaluator;
use crate::kernel::program::CHUNK;
use crate::kernel::rng::BLOCK_SAMPLES;
use crate::kernel::{Isa, Kernel, Program};
use crate::spec::{Balance, ComputeSpec, JobSpec, TasksSpec, Work};

/// The CPUs this process may use (its affinity mask and CPU quota).
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The one thread policy: what `check` prints is what `run`, a slice and the scheduler
/// requests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Threads {
    /// `hpcsub run` here: `split.threads`, else every CPU this process may use.
    pub here: usize,
    /// Each slice of a submitted run asks the scheduler for this many CPUs and runs as many
    /// threads: `split.threads`, else 1 (hpcsub cannot know the nodes' size).
    pub per_slice: usize,
}

pub fn threads(spec: &JobSpec) -> Threads {
    Threads {
        here: spec.split.threads.unwrap_or_else(available_cpus),
        per_slice: spec.split.threads.unwrap_or(1),
    }
}

/// The threads of one running slice: `--threads`, else the CPUs Slurm gave it, else what the
/// run asked for each slice.
pub fn threads_of_slice(given: Option<usize>, per_slice: usize) -> usize {
    given
        .or_else(|| std::env::var("SLURM_CPUS_PER_TASK").ok()?.parse().ok())
        .unwrap_or(per_slice)
}

/// The plan of either kind of job.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum JobPlan {
    Compute(Plan),
    Tasks(TaskPlan),
}

/// The plan of `spec` with `threads` per slice.
pub fn of_job(spec: &JobSpec, threads: usize) -> JobPlan {
    match &spec.work {
        Work::Compute(compute) => {
            let kernel = Kernel::new(spec, compute, Isa::Portable);
            JobPlan::Compute(make(
                spec,
                compute,
                &kernel.program,
                threads,
                spec.split.slices,
            ))
        }
        Work::Tasks(tasks) => {
            JobPlan::Tasks(make_for_tasks(spec, tasks, threads, spec.split.slices))
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Slice {
    pub index: u32,
    /// First sample (inclusive).
    pub start: u64,
    /// Last sample (exclusive).
    pub end: u64,
    pub first_block: u64,
    /// One past the last block.
    pub end_block: u64,
}

impl Slice {
    pub fn samples(&self) -> u64 {
        self.end - self.start
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub job: String,
    pub samples: u64,
    pub seed: u64,
    pub block_samples: u64,
    pub chunk_samples: usize,
    pub blocks: u64,
    pub threads: usize,
    pub slices: Vec<Slice>,
    pub registers: usize,
    pub random_streams: usize,
    /// Working memory of one slice: the threads' registers and the histogram, independent of
    /// the number of samples.
    pub memory_bytes: u64,
}

/// Blocks needed for `samples` samples.
pub fn block_count(samples: u64) -> u64 {
    samples.div_ceil(BLOCK_SAMPLES)
}

/// Slice `index` of `slices` over `samples` samples: a contiguous run of whole blocks, the runs
/// as even as whole blocks allow.
pub fn slice(samples: u64, slices: u32, index: u32) -> Slice {
    let blocks = block_count(samples);
    let boundary = |i: u32| (u128::from(blocks) * u128::from(i) / u128::from(slices)) as u64;
    let (first_block, end_block) = (boundary(index), boundary(index + 1));
    let sample_at = |block: u64| block.saturating_mul(BLOCK_SAMPLES).min(samples);
    Slice {
        index,
        start: sample_at(first_block),
        end: sample_at(end_block),
        first_block,
        end_block,
    }
}

/// The task ids of slice `index` of `slices` over tasks `0..count`: every `slices`-th id, so
/// that tasks whose cost grows with their id spread evenly over the slices.
pub fn tasks_of_slice(count: u64, slices: u32, index: u32) -> Vec<u64> {
    (u64::from(index)..count).step_by(slices as usize).collect()
}

/// The plan of a task job: which task ids each slice runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskPlan {
    pub job: String,
    pub tasks: u64,
    pub threads: usize,
    pub balance: Balance,
    pub slices: Vec<TaskSlice>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskSlice {
    pub index: u32,
    /// Known in advance with `balance: static` only; dynamically balanced slices claim their
    /// tasks as they run.
    pub tasks: Vec<u64>,
}

pub fn make_for_tasks(spec: &JobSpec, tasks: &TasksSpec, threads: usize, slices: u32) -> TaskPlan {
    TaskPlan {
        job: spec.name.clone(),
        tasks: tasks.count,
        threads,
        balance: spec.split.balance,
        slices: (0..slices)
            .map(|index| TaskSlice {
                index,
                tasks: match spec.split.balance {
                    Balance::Static => tasks_of_slice(tasks.count, slices, index),
                    Balance::Dynamic => Vec::new(),
                },
            })
            .collect(),
    }
}

pub fn make(
    spec: &JobSpec,
    compute: &ComputeSpec,
    program: &Program,
    threads: usize,
    slices: u32,
) -> Plan {
    let histogram_bytes = spec.reduce.histogram.map_or(0, |h| u64::from(h.bins) * 8);
    let per_thread = Evaluator::memory_bytes(program) as u64 + histogram_bytes;
    Plan {
        job: spec.name.clone(),
        samples: compute.samples,
        seed: spec.seed,
        block_samples: BLOCK_SAMPLES,
        chunk_samples: CHUNK,
        blocks: block_count(compute.samples),
        threads,
        slices: (0..slices)
            .map(|i| slice(compute.samples, slices, i))
            .collect(),
        registers: program.registers(),
        random_streams: program.stream_keys.len(),
        memory_bytes: per_thread * threads as u64 + histogram_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slices_cover_everything_at_block_boundaries() {
        let s: Vec<Slice> = (0..3).map(|i| slice(8_000, 3, i)).collect();
        assert_eq!((s[0].start, s[0].end), (0, 0));
        assert_eq!((s[1].start, s[1].end), (0, 4096));
        assert_eq!((s[2].start, s[2].end), (4096, 8_000));
        let s: Vec<Slice> = (0..3).map(|i| slice(10_000, 3, i)).collect();
        assert_eq!((s[1].start, s[2].start, s[2].end), (4096, 8192, 10_000));
    }

    #[test]
    fn largest_sample_count_does_not_overflow() {
        let last = slice(u64::MAX, 7, 6);
        assert_eq!(last.end, u64::MAX);
        assert_eq!(last.end_block, block_count(u64::MAX));
    }

    #[test]
    fn task_slices_take_every_nth_task() {
        assert_eq!(tasks_of_slice(10, 3, 0), [0, 3, 6, 9]);
        assert_eq!(tasks_of_slice(10, 3, 2), [2, 5, 8]);
        assert!(tasks_of_slice(2, 3, 2).is_empty());
    }

    proptest! {
        #[test]
        fn task_slices_partition_the_tasks(count in 0u64..5_000, slices in 1u32..300) {
            let mut all: Vec<u64> = (0..slices).flat_map(|i| tasks_of_slice(count, slices, i)).collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..count).collect::<Vec<_>>());
        }

        #[test]
        fn slices_partition_the_samples(samples in 1u64..10_000_000_000, slices in 1u32..600) {
            let mut next = 0;
            for i in 0..slices {
                let s = slice(samples, slices, i);
                prop_assert_eq!(s.start, next);
                prop_assert!(s.start.is_multiple_of(BLOCK_SAMPLES));
                prop_assert!(s.end >= s.start);
                next = s.end;
            }
            prop_assert_eq!(next, samples);
        }
    }
}
