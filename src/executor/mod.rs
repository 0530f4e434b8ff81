//! Executors: how the blocks of a plan get computed. `local` uses threads in one process; `mpi`
//! (with the `mpi` feature) makes each MPI rank run one slice locally, then reduces.

pub mod launcher;
pub mod local;
#[cfg(feature = "mpi")]
pub mod mpi;
