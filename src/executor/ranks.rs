//! The one place that decides whether a run is an MPI run, and that refuses one in a build
//! without MPI: running the whole job once per rank would waste the allocation and print R
//! answers.

use crate::diagnostic::AppError;
use crate::executor::command::TaskContext;
use crate::executor::launcher::{self, Launch};
use crate::kernel::Kernel;
use crate::progress::Show;
use crate::reduce::Accumulator;
use crate::reduce::task_results::TaskOutcome;
use crate::spec::JobSpec;

/// How a `run` is spread: this process alone, or one rank of an MPI job.
pub enum Ranks<'a> {
    One,
    /// `launch` is `None` for `--mpi` without a launcher (a singleton).
    Mpi(Option<Launch>),
    /// One rank of an MPI job whose session is already started (a workflow's step).
    Session(&'a Session),
}

/// MPI initialised once for several runs (the steps of a workflow).
#[cfg(feature = "mpi")]
pub use super::mpi::Session;

/// Without MPI there is no session to have.
#[cfg(not(feature = "mpi"))]
pub enum Session {}

/// Starts MPI for the steps of a workflow.
#[cfg(feature = "mpi")]
pub fn start(_launch: Option<&Launch>) -> Result<Session, AppError> {
    Session::start()
}

#[cfg(not(feature = "mpi"))]
pub fn start(launch: Option<&Launch>) -> Result<Session, AppError> {
    Err(mpi_missing(launch))
}

/// This process's rank in `session`.
#[cfg(feature = "mpi")]
pub fn rank(session: &Session) -> u32 {
    session.rank
}

#[cfg(not(feature = "mpi"))]
pub fn rank(session: &Session) -> u32 {
    match *session {}
}

/// Rank 0's `bytes` on every rank.
#[cfg(feature = "mpi")]
pub fn broadcast(session: &Session, bytes: Vec<u8>) -> Vec<u8> {
    session.broadcast(bytes)
}

#[cfg(not(feature = "mpi"))]
pub fn broadcast(session: &Session, _: Vec<u8>) -> Vec<u8> {
    match *session {}
}

/// A launch of one process (mpirun -n 1, a one-task Slurm step) needs no MPI.
pub fn decide(force_mpi: bool) -> Ranks<'static> {
    match launcher::current().filter(|l| l.size > 1) {
        Some(launch) => Ranks::Mpi(Some(launch)),
        None if force_mpi => Ranks::Mpi(None),
        None => Ranks::One,
    }
}

/// Whether this process is a rank other than 0 of a launched job: such ranks stay quiet about
/// problems every rank finds alike (a bad job file), so the user sees one message, not one per
/// rank.
pub fn is_secondary_rank() -> bool {
    launcher::current().is_some_and(|l| l.size > 1 && l.rank > 0)
}

/// The whole MPI run of a compute job (in `session`, else in one of its own): `Some((ranks,
/// total))` on rank 0, `None` elsewhere.
#[cfg(feature = "mpi")]
pub fn run_compute(
    spec: &JobSpec,
    kernel: &Kernel,
    samples: u64,
    threads: usize,
    show_progress: Show,
    launch: Option<&Launch>,
    session: Option<&Session>,
) -> Result<Option<(u32, Accumulator)>, AppError> {
    warn_if_bound(threads, launch);
    let outcome = match session {
        Some(session) => {
            super::mpi::run_in(session, spec, samples, kernel, threads, show_progress)?
        }
        None => super::mpi::run(spec, samples, kernel, threads, show_progress)?,
    };
    Ok(outcome.accumulator.map(|acc| (outcome.size, acc)))
}

#[cfg(not(feature = "mpi"))]
pub fn run_compute(
    _: &JobSpec,
    _: &Kernel,
    _: u64,
    _: usize,
    _: Show,
    launch: Option<&Launch>,
    _: Option<&Session>,
) -> Result<Option<(u32, Accumulator)>, AppError> {
    Err(mpi_missing(launch))
}

/// The MPI run of a task job (in `session`, else in one of its own): (ranks, every outcome on
/// rank 0, whether this rank had a failure).
#[cfg(feature = "mpi")]
pub fn run_tasks(
    context: &TaskContext,
    threads: usize,
    show_progress: Show,
    launch: Option<&Launch>,
    session: Option<&Session>,
) -> Result<(u32, Option<Vec<TaskOutcome>>, bool), AppError> {
    warn_if_bound(threads, launch);
    let outcome = match session {
        Some(session) => super::mpi::run_tasks_in(session, context, threads, show_progress)?,
        None => super::mpi::run_tasks(context, threads, show_progress)?,
    };
    Ok((outcome.size, outcome.outcomes, outcome.own_failures))
}

#[cfg(not(feature = "mpi"))]
pub fn run_tasks(
    _: &TaskContext,
    _: usize,
    _: Show,
    launch: Option<&Launch>,
    _: Option<&Session>,
) -> Result<(u32, Option<Vec<TaskOutcome>>, bool), AppError> {
    Err(mpi_missing(launch))
}

/// Warns on rank 0 when the launcher bound a rank to fewer CPUs than its threads.
#[cfg(feature = "mpi")]
fn warn_if_bound(threads: usize, launch: Option<&Launch>) {
    let cpus = crate::plan::available_cpus();
    if launch.is_none_or(|l| l.rank == 0) && threads > cpus {
        eprintln!(
            "warning: each rank runs {threads} threads but may use only {cpus} CPU{}: the launcher bound it \
             (Open MPI binds each rank to one core when there are 2 or fewer). Run `mpirun --bind-to none ...`, \
             or give each rank cores with `--map-by slot:PE={threads}`.",
            if cpus == 1 { "" } else { "s" }
        );
    }
}

#[cfg(not(feature = "mpi"))]
fn mpi_missing(launch: Option<&Launch>) -> AppError {
    let why = match launch {
        Some(l) => format!(
            "it is running as rank {} of {} ({}={})",
            l.rank, l.size, l.source, l.size
        ),
        None => "--mpi was given".into(),
    };
    AppError::Usage(format!(
        "this hpcsub was built without MPI support, but {why}; it will not run the whole job once \
         per rank. Build the MPI version with `cargo build --release --features mpi` (it needs \
         `apt-get install openmpi-bin libopenmpi-dev libclang-dev`)"
    ))
}
