//! Executors: how the blocks of a plan get computed. `local` uses threads in one process.

pub mod local;
