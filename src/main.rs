use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hpcsub::commands::{self, Output, Overrides};
use hpcsub::spec::SlurmMode;
use hpcsub::submit::Scheduler;

/// Run one YAML job the same way on threads, MPI ranks, Slurm or HTCondor, with the same answer
/// to the last bit.
#[derive(Parser)]
#[command(
    name = "hpcsub",
    version,
    about,
    after_help = "Examples:\n  hpcsub run jobs/quadratic.yaml\n  hpcsub check jobs/quadratic.yaml\n  hpcsub submit jobs/pi.yaml --to slurm --wait\n  hpcsub scale jobs/quadratic.yaml --threads 1,2 --plot scaling.svg\n  hpcsub graph jobs/quadratic.yaml | dot -Tsvg > quadratic.svg\n  hpcsub schema > job.schema.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job here, on all cores (or --threads).
    #[command(
        after_help = "Examples:\n  hpcsub run jobs/quadratic.yaml\n  hpcsub run jobs/pi.yaml --threads 1 --samples 10M --json\n  mpirun -n 4 hpcsub run jobs/quadratic.yaml --threads 2   # MPI build: 4 ranks x 2 threads"
    )]
    Run {
        #[command(flatten)]
        job: JobArgs,
        /// Print one JSON object on stdout instead of a table.
        #[arg(long)]
        json: bool,
        /// Do not show the progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Run as an MPI rank even if no MPI launcher is detected (needs the `mpi` build).
        #[arg(long)]
        mpi: bool,
        /// Task jobs: keep each task's stdout and stderr in DIR (default: a temporary directory,
        /// kept only if a task fails).
        #[arg(long, value_name = "DIR")]
        logs: Option<PathBuf>,
    },
    /// Validate a job file and print its plan: slices, threads, blocks, memory.
    #[command(
        after_help = "Examples:\n  hpcsub check jobs/quadratic.yaml\n  hpcsub check jobs/quadratic.yaml --json"
    )]
    Check {
        #[command(flatten)]
        job: JobArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a run directory and its scripts, and submit them to Slurm or HTCondor.
    #[command(
        after_help = "Examples:\n  hpcsub submit jobs/quadratic.yaml --to slurm --wait\n  hpcsub submit jobs/pi.yaml --to condor --dry-run --run-dir runs/pi-test"
    )]
    Submit {
        /// The job file (YAML).
        job: PathBuf,
        /// The scheduler.
        #[arg(long = "to", value_enum)]
        scheduler: Scheduler,
        /// Slurm: a job array and a gather (default), or one MPI job under `srun --mpi=pmix`
        /// (needs the MPI build). Overrides `slurm.mode`.
        #[arg(long, value_enum)]
        mode: Option<SlurmMode>,
        /// The run directory (default: runs/<name>-<UTC timestamp>).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        #[command(flatten)]
        how: Handing,
    },
    /// Compute one slice of a submitted run (what each array task runs).
    #[command(after_help = "Example:\n  hpcsub task runs/quadratic-20261124T113500Z --slice 3")]
    Task {
        run_dir: PathBuf,
        /// The slice to compute, 0-based.
        #[arg(long)]
        slice: u32,
        /// Threads (default: SLURM_CPUS_PER_TASK, else the CPUs each slice asked for: split.threads, else 1).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Reduce the parts of a submitted run; exit 3 and list the slices that are missing or corrupt.
    #[command(
        after_help = "Examples:\n  hpcsub gather runs/quadratic-20261124T113500Z\n  hpcsub gather runs/quadratic-20261124T113500Z --json"
    )]
    Gather {
        run_dir: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Submit again only the slices whose parts are missing or corrupt, and a new gather.
    #[command(after_help = "Example:\n  hpcsub resubmit runs/quadratic-20261124T113500Z --wait")]
    Resubmit {
        run_dir: PathBuf,
        #[command(flatten)]
        how: Handing,
    },
    /// Show a submitted run: slices done, missing or corrupt, and what is still queued.
    #[command(after_help = "Example:\n  hpcsub status runs/quadratic-20261124T113500Z --json")]
    Status {
        run_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Cancel every job of a submitted run.
    #[command(after_help = "Example:\n  hpcsub cancel runs/quadratic-20261124T113500Z")]
    Cancel { run_dir: PathBuf },
    /// Time the job at several thread (and rank) counts: speed-up, efficiency, Karp-Flatt, a plot.
    #[command(
        after_help = "Examples:\n  hpcsub scale jobs/quadratic.yaml --threads 1,2 --repeat 5\n  hpcsub scale jobs/quadratic.yaml --threads 1,2 --ranks 1,2 --plot scaling.svg   # ranks: the MPI build"
    )]
    Scale {
        /// The job file (YAML).
        job: PathBuf,
        /// Threads per rank to try, e.g. 1,2,4 (default: 1, 2, 4, ... up to the CPUs available).
        #[arg(long)]
        threads: Option<String>,
        /// Ranks to try, e.g. 1,2 (more than 1 runs `mpirun`; needs the MPI build).
        #[arg(long)]
        ranks: Option<String>,
        /// Number of samples, e.g. 50M (default: compute.samples).
        #[arg(long)]
        samples: Option<String>,
        /// Runs per configuration; the table shows the best and the median.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// Draw speed-up against workers, with the ideal line and an Amdahl fit (.svg or .png).
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show the job as a graph: its variables and operations, then slices, threads and reduce.
    #[command(
        after_help = "Examples:\n  hpcsub graph jobs/quadratic.yaml | dot -Tpng > quadratic.png\n  hpcsub graph jobs/quadratic.yaml --optimized --format svg > program.svg"
    )]
    Graph {
        /// The job file (YAML).
        job: PathBuf,
        /// dot (default), or svg through Graphviz's `dot`.
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
        /// Show the compiled program after constant folding and fusion.
        #[arg(long)]
        optimized: bool,
        /// Threads per rank in the plan (default: split.threads, else the CPUs available).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Print the JSON Schema of job files, for editors.
    #[command(after_help = "Example:\n  hpcsub schema > hpcsub-job.schema.json")]
    Schema,
}

/// How `submit` and `resubmit` hand a run to the scheduler.
#[derive(Args)]
struct Handing {
    /// Write the files the submission needs and print its commands, without submitting.
    #[arg(long)]
    dry_run: bool,
    /// Wait until the run has left the queue, then gather and print the result as `run` does.
    #[arg(long, conflicts_with = "dry_run")]
    wait: bool,
    /// Print one JSON object (with the run directory and the job ids).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    Dot,
    Svg,
}

#[derive(Args)]
struct JobArgs {
    /// The job file (YAML).
    job: PathBuf,
    /// Threads per rank (default: split.threads, else every CPU this process may use).
    #[arg(long)]
    threads: Option<usize>,
    /// Number of samples, e.g. 2e8, 200M, 200_000_000 (default: compute.samples).
    #[arg(long)]
    samples: Option<String>,
    /// Random seed (default: seed, else 0).
    #[arg(long)]
    seed: Option<u64>,
}

impl JobArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            threads: self.threads,
            samples: self.samples.clone(),
            seed: self.seed,
            logs: None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Run {
            job,
            json,
            quiet,
            mpi,
            logs,
        } => commands::run(
            &job.job,
            &Overrides {
                logs: logs.clone(),
                ..job.overrides()
            },
            Output {
                json: *json,
                quiet: *quiet,
                force_mpi: *mpi,
            },
        ),
        Command::Check { job, json } => commands::check(&job.job, &job.overrides(), *json),
        Command::Submit {
            job,
            scheduler,
            mode,
            run_dir,
            how,
        } => commands::submit(
            job,
            *scheduler,
            *mode,
            run_dir.as_deref(),
            how.dry_run,
            how.wait,
            how.json,
        ),
        Command::Task {
            run_dir,
            slice,
            threads,
        } => commands::task(run_dir, *slice, *threads),
        Command::Gather { run_dir, json } => commands::gather(run_dir, *json),
        Command::Resubmit { run_dir, how } => {
            commands::resubmit(run_dir, how.dry_run, how.wait, how.json)
        }
        Command::Status { run_dir, json } => commands::status(run_dir, *json),
        Command::Cancel { run_dir } => commands::cancel(run_dir),
        Command::Scale {
            job,
            threads,
            ranks,
            samples,
            repeat,
            plot,
            json,
        } => commands::scale(&commands::ScaleRequest {
            job,
            threads: threads.as_deref(),
            ranks: ranks.as_deref(),
            samples: samples.clone(),
            repeat: *repeat,
            plot: plot.as_deref(),
            json: *json,
        }),
        Command::Graph {
            job,
            format,
            optimized,
            threads,
        } => commands::graph(
            job,
            *threads,
            *optimized,
            matches!(format, GraphFormat::Svg),
        ),
        Command::Schema => Ok(commands::schema().to_string()),
    };
    match outcome {
        Ok(text) => {
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            match err.report() {
                Some(report) => println!("{}", report.trim_end()),
                None if !commands::is_secondary_rank() => eprintln!("{err}"),
                None => {}
            }
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
