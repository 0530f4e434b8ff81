//! The end-to-end tests: one binary that drives the real `hpcsub`, with shared fixtures.

mod check;
mod common;
mod condor;
mod errors;
mod fuzz;
mod inputs;
mod interface;
mod mpi;
mod python;
mod robustness;
mod run;
mod scale_graph;
mod slurm;
mod submit;
mod tasks;
mod vector_math;
mod workers;
mod workflows;
