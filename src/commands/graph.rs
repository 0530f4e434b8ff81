//! `hpcsub graph`: the job as a Graphviz graph, as DOT or rendered to SVG by `dot`.

use std::path::PathBuf;

use serde::Serialize;

use super::job;
use super::outcome::Outcome;
use crate::diagnostic::AppError;
use crate::plan;
use crate::spec::Document;

/// Show the job as a graph: its variables and operations, then slices, threads and reduce.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  hpcsub graph jobs/quadratic.yaml | dot -Tpng > quadratic.png\n  hpcsub graph jobs/quadratic.yaml --optimized --format svg > program.svg"
)]
pub struct Args {
    /// The job file (YAML).
    job: PathBuf,
    /// dot (default), or svg through Graphviz's `dot`.
    #[arg(long, value_enum, default_value = "dot")]
    format: Format,
    /// Show the compiled program after constant folding and fusion.
    #[arg(long)]
    optimized: bool,
    /// Threads per slice in the plan (default: split.threads, else the CPUs available).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    Dot,
    Svg,
}

#[derive(Serialize)]
pub struct Graph {
    format: Format,
    graph: String,
}

impl Outcome for Graph {
    fn text(&self) -> String {
        self.graph.clone()
    }
}

pub fn graph(args: &Args) -> Result<Graph, AppError> {
    let loaded = job::load_document(&args.job)?;
    let mut spec = match loaded.document {
        Document::Job(spec) => *spec,
        Document::Workflow(workflow) => {
            if args.optimized {
                return Err(AppError::Usage(
                    "--optimized shows the compiled program of one `compute:` job; a workflow's graph shows its steps".into(),
                ));
            }
            let dot = crate::graph::workflow_dot(&workflow, |job| {
                args.threads.unwrap_or_else(|| plan::threads(job).here)
            });
            return finish(dot, args.format);
        }
    };
    job::apply(&mut spec, args.threads, None, None)?;
    if args.optimized && spec.compute().is_none() {
        return Err(AppError::Usage(
            "--optimized shows the compiled program of a `compute:` job; this job runs `tasks:`"
                .into(),
        ));
    }
    finish(
        crate::graph::dot(&spec, plan::threads(&spec).here, args.optimized),
        args.format,
    )
}

fn finish(dot: String, format: Format) -> Result<Graph, AppError> {
    let graph = match format {
        Format::Dot => dot,
        Format::Svg => to_svg(&dot)?,
    };
    Ok(Graph { format, graph })
}

/// DOT rendered by Graphviz's `dot -Tsvg`.
fn to_svg(dot: &str) -> Result<String, AppError> {
    crate::process::run("dot", &["-Tsvg"], None, Some(dot.as_bytes())).map_err(|failure| {
        failure.into_error(
            "install Graphviz (`apt-get install graphviz`), or use `--format dot` and render the \
             DOT elsewhere",
        )
    })
}
