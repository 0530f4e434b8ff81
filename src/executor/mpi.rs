//! The MPI executor: each rank computes its slice with local threads, then one MPI reduce of the
//! exact accumulator to rank 0.
//!
//! The accumulator travels as one element of an opaque datatype (its byte encoding), and the
//! reduce operation decodes two of them, merges them exactly and encodes the result. Summing
//! doubles with MPI_SUM would make the answer depend on the reduction tree; merging exact
//! accumulators does not, so any number of ranks gives the bits of a one-thread run.

use mpi::Count;
use mpi::collective::UserOperation;
use mpi::datatype::{MutView, PartitionMut, UserDatatype, View};
use mpi::traits::*;

use crate::diagnostic::AppError;
use crate::executor::command::{self, TaskContext};
use crate::executor::local;
use crate::kernel::Kernel;
use crate::plan;
use crate::progress::{Progress, Show, TaskProgress};
use crate::reduce::Accumulator;
use crate::reduce::task_results::TaskOutcome;
use crate::spec::JobSpec;

/// The result of an MPI run, on rank 0 only.
pub struct MpiOutcome {
    pub rank: u32,
    pub size: u32,
    pub accumulator: Option<Accumulator>,
}

/// MPI, initialised once per process (a workflow runs several steps in one): MPI is finalised
/// when the session is dropped.
pub struct Session {
    universe: mpi::environment::Universe,
    pub rank: u32,
    pub size: u32,
}

impl Session {
    /// Initialises MPI, with a panic on any rank aborting the whole job.
    pub fn start() -> Result<Session, AppError> {
        let universe =
            mpi::initialize().ok_or_else(|| AppError::Run("MPI was already initialised".into()))?;
        abort_job_on_panic();
        let world = universe.world();
        let (rank, size) = (world.rank() as u32, world.size() as u32);
        Ok(Session {
            universe,
            rank,
            size,
        })
    }

    /// Rank 0's `bytes` on every rank.
    pub fn broadcast(&self, bytes: Vec<u8>) -> Vec<u8> {
        let world = self.universe.world();
        let root = world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        let mut buffer = if self.rank == 0 {
            bytes
        } else {
            vec![0u8; len as usize]
        };
        root.broadcast_into(&mut buffer[..]);
        buffer
    }
}

/// Runs this process's slice and reduces to rank 0.
pub fn run(
    spec: &JobSpec,
    samples: u64,
    kernel: &Kernel,
    threads: usize,
    show_progress: Show,
) -> Result<MpiOutcome, AppError> {
    run_in(
        &Session::start()?,
        spec,
        samples,
        kernel,
        threads,
        show_progress,
    )
}

/// [`run`] in a session already started.
pub fn run_in(
    session: &Session,
    spec: &JobSpec,
    samples: u64,
    kernel: &Kernel,
    threads: usize,
    show_progress: Show,
) -> Result<MpiOutcome, AppError> {
    let (rank, size) = (session.rank, session.size);
    let world = session.universe.world();
    let slice = plan::slice(samples, size, rank);
    // Rank 0 draws the bar for the whole job from its own share, scaled by the number of ranks.
    let progress = if rank == 0 {
        Progress::for_rank_zero(samples, u64::from(size), show_progress)
    } else {
        Progress::hidden()
    };
    let acc = local::run_slice(kernel, spec.reduce.histogram, &slice, threads, &progress);
    progress.finish();

    let histogram = spec.reduce.histogram;
    let len = Accumulator::encoded_len(histogram);
    let element = UserDatatype::contiguous(len as mpi::Count, &u8::equivalent_datatype());
    let merge = UserOperation::commutative(move |incoming, mut inout| {
        // SAFETY: MPI hands the operation `len()` elements of `element`, `len` bytes each.
        let (incoming, inout) = unsafe {
            (
                std::slice::from_raw_parts(incoming.as_ptr() as *const u8, incoming.len() * len),
                std::slice::from_raw_parts_mut(inout.as_mut_ptr() as *mut u8, inout.len() * len),
            )
        };
        for (theirs, ours) in incoming.chunks_exact(len).zip(inout.chunks_exact_mut(len)) {
            let (Some(theirs), Some(mut merged)) = (
                Accumulator::decode(theirs, histogram),
                Accumulator::decode(ours, histogram),
            ) else {
                panic!("a rank sent a malformed accumulator");
            };
            merged.merge(&theirs);
            ours.copy_from_slice(&merged.encode());
        }
    });
    // Fault injection for the test suite: one rank panics where the others wait in the reduce,
    // which proves the job still ends.
    if std::env::var("HPCSUB_PANIC_ON_RANK")
        .ok()
        .and_then(|r| r.parse().ok())
        == Some(rank)
    {
        panic!("injected failure on rank {rank} (HPCSUB_PANIC_ON_RANK)");
    }
    let mine = acc.encode();
    let root = world.process_at_rank(0);
    // SAFETY: each buffer holds exactly one `element` of `len` bytes.
    let send = unsafe { View::with_count_and_datatype(&mine[..], 1, &element) };
    let accumulator = if rank == 0 {
        let mut total = vec![0u8; len];
        {
            // SAFETY: as above.
            let mut receive =
                unsafe { MutView::with_count_and_datatype(&mut total[..], 1, &element) };
            root.reduce_into_root(&send, &mut receive, &merge);
        }
        Some(Accumulator::decode(&total, histogram).ok_or_else(|| {
            AppError::Run("the MPI reduce returned a malformed accumulator".into())
        })?)
    } else {
        root.reduce_into(&send, &merge);
        None
    };
    Ok(MpiOutcome {
        rank,
        size,
        accumulator,
    })
}

/// The outcomes of an MPI task run, on rank 0 only.
pub struct MpiTaskOutcome {
    pub size: u32,
    pub outcomes: Option<Vec<TaskOutcome>>,
    /// Whether a task of this rank failed (its logs are then worth keeping).
    pub own_failures: bool,
}

/// Runs this rank's share of the tasks (every size-th task id) with local threads, then gathers
/// every rank's outcomes on rank 0, where they are reduced in task-id order.
pub fn run_tasks(
    context: &TaskContext,
    threads: usize,
    show_progress: Show,
) -> Result<MpiTaskOutcome, AppError> {
    run_tasks_in(&Session::start()?, context, threads, show_progress)
}

/// [`run_tasks`] in a session already started.
pub fn run_tasks_in(
    session: &Session,
    context: &TaskContext,
    threads: usize,
    show_progress: Show,
) -> Result<MpiTaskOutcome, AppError> {
    let (rank, size) = (session.rank, session.size);
    let world = session.universe.world();
    let ids = plan::tasks_of_slice(context.tasks.count, size, rank);
    let progress = TaskProgress::new(
        ids.len() as u64,
        if rank == 0 {
            show_progress
        } else {
            Show::Never
        },
    );
    let node = command::node_name();
    let context = TaskContext {
        ran_by: Some((rank, &node)),
        ..*context
    };
    let mine = command::run_tasks(&context, &ids, threads, &progress);
    progress.finish();
    let own_failures = mine.iter().any(|o| o.failure.is_some());
    let bytes = serde_json::to_vec(&mine).expect("outcomes always serialize");
    let length = Count::try_from(bytes.len())
        .map_err(|_| AppError::Run("a rank's task outcomes exceed 2 GiB".into()))?;
    let root = world.process_at_rank(0);
    if rank != 0 {
        root.gather_into(&length);
        root.gather_varcount_into(&bytes[..]);
        return Ok(MpiTaskOutcome {
            size,
            outcomes: None,
            own_failures,
        });
    }
    let mut lengths = vec![0 as Count; size as usize];
    root.gather_into_root(&length, &mut lengths[..]);
    let offsets: Vec<Count> = lengths
        .iter()
        .scan(0, |next, &len| {
            let offset = *next;
            *next += len;
            Some(offset)
        })
        .collect();
    let total: usize = lengths.iter().map(|&len| len as usize).sum();
    let mut received = vec![0u8; total];
    {
        let mut partition = PartitionMut::new(&mut received[..], &lengths[..], &offsets[..]);
        root.gather_varcount_into_root(&bytes[..], &mut partition);
    }
    let mut outcomes = Vec::new();
    for (&offset, &len) in offsets.iter().zip(&lengths) {
        let part = &received[offset as usize..(offset + len) as usize];
        let theirs: Vec<TaskOutcome> = serde_json::from_slice(part)
            .map_err(|e| AppError::Run(format!("a rank sent malformed task outcomes: {e}")))?;
        outcomes.extend(theirs);
    }
    Ok(MpiTaskOutcome {
        size,
        outcomes: Some(outcomes),
        own_failures,
    })
}

/// A rank that panics must take the whole job down. Unwinding would drop the MPI universe,
/// whose `MPI_Finalize` leaves the other ranks waiting in the reduce forever (measured with Open
/// MPI and MPICH), so the process exits at once, without finalising, and the launcher ends the
/// job. `MPI_Abort` and `abort()` were tried first: Open MPI 4.1's mpirun hung in 1 of 10 and
/// 2 of 8 trials here while reporting them; with a plain non-zero exit, 12 of 12 ended within
/// 3 s.
fn abort_job_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(70);
    }));
}
