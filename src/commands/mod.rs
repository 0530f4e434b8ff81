//! The subcommands, one file each with its clap arguments beside its handler. A handler returns
//! a typed outcome; [`outcome::print`] shows it as text or JSON. `main.rs` only calls [`main`].

mod cancel;
mod check;
mod gather;
mod graph;
mod job;
mod local;
mod outcome;
mod resubmit;
mod run;
mod scale;
mod schema;
mod slice;
mod status;
mod steps;
mod submit;
mod submitted;
mod wait;
mod workflow_report;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::executor::ranks::is_secondary_rank;
use outcome::{Global, print};

/// Run one YAML job the same way on threads, MPI ranks, Slurm or HTCondor, with the same answer
/// to the last bit.
#[derive(Parser)]
#[command(
    name = "hpcsub",
    about,
    after_help = "Examples:\n  hpcsub run jobs/quadratic.yaml\n  hpcsub check jobs/quadratic.yaml\n  hpcsub submit jobs/pi.yaml --to slurm --wait\n  hpcsub wait runs/pi-20261124T113500Z\n  hpcsub scale jobs/quadratic.yaml --threads 1,2 --plot scaling.svg\n  hpcsub graph jobs/quadratic.yaml | dot -Tsvg > quadratic.svg\n  hpcsub schema > job.schema.json"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(run::Args),
    Check(check::Args),
    Submit(submit::Args),
    Slice(slice::Args),
    Gather(gather::Args),
    Resubmit(resubmit::Args),
    Status(status::Args),
    Cancel(cancel::Args),
    Wait(wait::Args),
    Scale(scale::Args),
    Graph(graph::Args),
    Schema(schema::Args),
}

/// `hpcsub --version`: the version, the build's features and the code path of this CPU.
fn version() -> String {
    let features = if cfg!(feature = "mpi") {
        "mpi"
    } else {
        "default (no mpi)"
    };
    let code = match crate::kernel::Isa::detect() {
        crate::kernel::Isa::Native => "native AVX-512 machine code".to_string(),
        isa => format!("{} loops", isa.name()),
    };
    format!(
        "{} (build: {features}; code on this CPU: {code})",
        env!("CARGO_PKG_VERSION")
    )
}

pub fn main() -> ExitCode {
    let wants_json = std::env::args().any(|a| a == "--json");
    // clap keeps the version for the life of the program.
    let command = Cli::command().version(&*Box::leak(version().into_boxed_str()));
    let cli = match command
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(err) if wants_json && err.use_stderr() => {
            let usage = crate::diagnostic::AppError::Usage(err.render().to_string());
            println!("{}", outcome::error_json(&usage));
            return ExitCode::from(2);
        }
        Err(err) => err.exit(),
    };
    let global = cli.global;
    // Ranks other than 0 stay quiet about problems every rank finds alike (a bad job file).
    let quiet_errors = is_secondary_rank();
    match &cli.command {
        Command::Run(args) => print(run::run(args, global), global, quiet_errors),
        Command::Check(args) => print(check::check(args), global, quiet_errors),
        Command::Submit(args) => print(submit::submit(args, global), global, quiet_errors),
        Command::Slice(args) => print(slice::slice(args), global, quiet_errors),
        Command::Gather(args) => print(gather::gather(args, global), global, quiet_errors),
        Command::Resubmit(args) => print(resubmit::resubmit(args, global), global, quiet_errors),
        Command::Status(args) => print(status::status(args), global, quiet_errors),
        Command::Cancel(args) => print(cancel::cancel(args), global, quiet_errors),
        Command::Wait(args) => print(wait::wait(args, global), global, quiet_errors),
        Command::Scale(args) => print(scale::scale(args, global), global, quiet_errors),
        Command::Graph(args) => print(graph::graph(args), global, quiet_errors),
        Command::Schema(args) => print(schema::schema(args), global, quiet_errors),
    }
}
