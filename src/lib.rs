//! hpcsub: one YAML job, run the same way on threads, MPI ranks, Slurm or HTCondor arrays,
//! with the same bits everywhere.
//!
//! The pipeline, one module per stage: [`jobfile`] (text -> [`spec`]), [`plan`] (slices and
//! blocks), [`kernel`] (the compiled program and random streams), [`executor`] (who computes
//! which blocks), [`reduce`] (exact partial results and final statistics), [`report`];
//! [`submit`] renders and drives the schedulers; [`run_dir`] owns what a run leaves on disk;
//! [`workflow`] binds a workflow's steps to what the steps they need left; [`commands`] are the
//! subcommands, each returning a typed outcome.

pub mod bounded_read;
pub mod commands;
pub mod diagnostic;
pub mod executor;
pub mod expr;
pub mod graph;
pub mod jobfile;
pub mod kernel;
pub mod math;
pub mod plan;
pub mod process;
pub mod progress;
pub mod reduce;
pub mod report;
pub mod run_dir;
pub mod scale;
pub mod spec;
pub mod submit;
pub mod workflow;
