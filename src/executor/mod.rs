//! Executors: how the blocks of a plan get computed. `local` uses threads in one process; `mpi`
//! (with the `mpi` feature) makes each MPI rank run one slice locally, then reduces; `ranks`
//! decides whether a run is an MPI run and refuses one without the feature; `slice` runs one
//! slice of a submitted run and leaves its part file; `command` runs the programs of a task job.

pub mod claiming;
pub mod command;
pub mod descendants;
pub mod environment;
pub mod launcher;
pub mod local;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod ranks;
pub mod slice;
