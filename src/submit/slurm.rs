//! Slurm scripts. Design rule: no value from the job file is pasted into a shell command. The
//! scripts hold `#SBATCH` lines built from validated values (the job name's alphabet is
//! restricted, numbers are numbers) and the shell-quoted paths of the binary and the run
//! directory; `hpcsub task` reads everything else from the frozen job file.

use std::path::Path;
use std::time::Duration;

use super::{Scheduler, run_in, slurm_mode};
use crate::diagnostic::AppError;
use crate::run_dir::RunDir;
use crate::spec::{JobSpec, SlurmMode};

/// A string as one single-quoted shell word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Slurm's `D-HH:MM:SS`.
pub fn slurm_time(duration: Duration) -> String {
    let s = duration.as_secs();
    format!(
        "{}-{:02}:{:02}:{:02}",
        s / 86_400,
        s % 86_400 / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Threads per array task: `split.threads`, or one.
pub fn cpus_per_task(spec: &JobSpec) -> usize {
    spec.split.threads.unwrap_or(1)
}

/// The array job: one task per slice. Paths in `#SBATCH` lines are relative to the run
/// directory, which is where `sbatch` is run.
pub fn job_script(spec: &JobSpec, binary: &Path, run_dir: &Path) -> String {
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}", spec.name),
        format!("#SBATCH --array=0-{}", spec.split.ranks - 1),
        format!("#SBATCH --cpus-per-task={}", cpus_per_task(spec)),
    ];
    if let Some(time) = spec.resources.time {
        lines.push(format!("#SBATCH --time={}", slurm_time(time)));
    }
    if let Some(bytes) = spec.resources.memory {
        lines.push(format!("#SBATCH --mem={}M", bytes.div_ceil(1 << 20)));
    }
    if let Some(bytes) = spec.resources.disk {
        lines.push(format!("#SBATCH --tmp={}M", bytes.div_ceil(1 << 20)));
    }
    lines.push("#SBATCH --output=logs/%A_%a.out".into());
    lines.push("#SBATCH --open-mode=append".into());
    lines.extend(site_directives(spec));
    // Arrays above MaxArraySize are submitted in pieces whose indices start again at 0; hpcsub
    // passes each piece's first slice as HPCSUB_SLICE_OFFSET (a number it writes itself).
    lines.push(format!(
        "exec {} task {} --slice \"$((SLURM_ARRAY_TASK_ID + ${{HPCSUB_SLICE_OFFSET:-0}}))\"",
        shell_quote(&binary.to_string_lossy()),
        shell_quote(&run_dir.to_string_lossy())
    ));
    lines.join("\n") + "\n"
}

/// `slurm.partition`, `account`, `qos` and `extra`, validated when the job file was read.
fn site_directives(spec: &JobSpec) -> Vec<String> {
    let slurm = &spec.slurm;
    [
        ("partition", &slurm.partition),
        ("account", &slurm.account),
        ("qos", &slurm.qos),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some(format!("#SBATCH --{key}={}", value.as_ref()?)))
    .chain(slurm.extra.iter().map(|option| format!("#SBATCH {option}")))
    .collect()
}

/// MPI mode: one job of `ranks` tasks; `srun --mpi=pmix` starts the MPI build of hpcsub once
/// per task, the ranks reduce with MPI, and rank 0's JSON becomes `result.json` (renamed into
/// place only once complete).
pub fn mpi_script(spec: &JobSpec, binary: &Path, run_dir: &Path) -> String {
    let threads = cpus_per_task(spec);
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}", spec.name),
        format!("#SBATCH --ntasks={}", spec.split.ranks),
        format!("#SBATCH --cpus-per-task={threads}"),
    ];
    if let Some(time) = spec.resources.time {
        lines.push(format!("#SBATCH --time={}", slurm_time(time)));
    }
    if let Some(bytes) = spec.resources.memory {
        let per_cpu = bytes.div_ceil(threads as u64).div_ceil(1 << 20);
        lines.push(format!("#SBATCH --mem-per-cpu={per_cpu}M"));
    }
    lines.push("#SBATCH --output=logs/%j.out".into());
    lines.extend(site_directives(spec));
    let quoted = |path: &Path| shell_quote(&path.to_string_lossy());
    let logs = if spec.tasks().is_some() {
        format!(" --logs {}", quoted(&run_dir.join("logs")))
    } else {
        String::new()
    };
    lines.push(format!(
        "srun --mpi=pmix {} run --json --quiet{logs} {} > {} && mv {} {}",
        quoted(binary),
        quoted(&run_dir.join(crate::run_dir::JOB_FILE)),
        quoted(&run_dir.join("result.partial")),
        quoted(&run_dir.join("result.partial")),
        quoted(&run_dir.join(crate::run_dir::RESULT_FILE)),
    ));
    lines.join("\n") + "\n"
}

/// The gather job, submitted to run after the whole array succeeded.
pub fn gather_script(spec: &JobSpec, binary: &Path, run_dir: &Path) -> String {
    [
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}-gather", spec.name),
        "#SBATCH --cpus-per-task=1".into(),
        "#SBATCH --time=0-00:10:00".into(),
        "#SBATCH --output=logs/gather-%j.out".into(),
        format!(
            "exec {} gather {}",
            shell_quote(&binary.to_string_lossy()),
            shell_quote(&run_dir.to_string_lossy())
        ),
    ]
    .join("\n")
        + "\n"
}

/// Writes the run's scripts: `job.sbatch` (the array, or the MPI job) and `gather.sbatch`;
/// returns the commands that submit them.
pub fn write_scripts(
    spec: &JobSpec,
    binary: &Path,
    run_dir: &RunDir,
) -> Result<Vec<Vec<String>>, AppError> {
    let sbatch = |args: &[&str]| -> Vec<String> {
        ["sbatch", "--parsable"]
            .iter()
            .chain(args)
            .map(|a| a.to_string())
            .collect()
    };
    if spec.slurm.mode == SlurmMode::Mpi {
        run_dir.write("job.sbatch", &mpi_script(spec, binary, &run_dir.path))?;
        return Ok(vec![sbatch(&["job.sbatch"])]);
    }
    run_dir.write("job.sbatch", &job_script(spec, binary, &run_dir.path))?;
    run_dir.write("gather.sbatch", &gather_script(spec, binary, &run_dir.path))?;
    Ok(vec![
        sbatch(&["job.sbatch"]),
        gather_command("<array job id>"),
    ])
}

fn gather_command(array_ids: &str) -> Vec<String> {
    [
        "sbatch",
        "--parsable",
        &format!("--dependency=afterok:{array_ids}"),
        "--kill-on-invalid-dep=yes",
        "gather.sbatch",
    ]
    .map(String::from)
    .to_vec()
}

/// The `sbatch` arguments of each array piece that together cover `slices`.
fn array_arguments(run_dir: &RunDir, slices: &[u32], max_array_size: u32) -> Vec<[String; 3]> {
    array_pieces(slices, max_array_size)
        .into_iter()
        .map(|(offset, indices)| {
            let array = match run_dir.spec.slurm.array_limit {
                Some(limit) => format!("--array={indices}%{limit}"),
                None => format!("--array={indices}"),
            };
            [
                array,
                format!("--export=ALL,HPCSUB_SLICE_OFFSET={offset}"),
                "job.sbatch".to_string(),
            ]
        })
        .collect()
}

/// The commands that would submit `slices` again, for Slurm's default MaxArraySize (the real
/// submission asks the cluster for it).
pub fn resubmit_commands(run_dir: &RunDir, slices: &[u32]) -> Vec<Vec<String>> {
    let mut commands: Vec<Vec<String>> = array_arguments(run_dir, slices, 1001)
        .into_iter()
        .map(|args| {
            ["sbatch".to_string(), "--parsable".to_string()]
                .into_iter()
                .chain(args)
                .collect()
        })
        .collect();
    commands.push(gather_command("<array job ids>"));
    commands
}

/// Submits the array (all slices, or only `slices`), then a gather that runs once every one of
/// them has succeeded. Above MaxArraySize the array goes in several pieces, each with its index
/// offset, and the gather depends on them all. Returns the job ids (arrays, then the gather).
/// An MPI-mode run is one job.
pub fn submit(run_dir: &RunDir, slices: Option<&[u32]>) -> Result<Vec<String>, AppError> {
    let sbatch = |args: &[&str]| -> Result<String, AppError> {
        let mut all = vec!["--parsable"];
        all.extend_from_slice(args);
        // --parsable prints "id" or "id;cluster".
        Ok(run_in(&run_dir.path, Scheduler::Slurm, "sbatch", &all)?
            .split(';')
            .next()
            .unwrap_or("")
            .to_string())
    };
    if slurm_mode(run_dir) == SlurmMode::Mpi {
        let _ = std::fs::remove_file(run_dir.path.join(crate::run_dir::RESULT_FILE));
        return Ok(vec![sbatch(&["job.sbatch"])?]);
    }
    let every: Vec<u32> = (0..run_dir.spec.split.ranks).collect();
    let slices = slices.unwrap_or(&every);
    let config = run_in(
        &run_dir.path,
        Scheduler::Slurm,
        "scontrol",
        &["show", "config"],
    )?;
    let max_array_size = max_array_size(&config).unwrap_or(1001);
    let mut ids = Vec::new();
    for args in array_arguments(run_dir, slices, max_array_size) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ids.push(sbatch(&args)?);
    }
    let gather = gather_command(&ids.join(":"));
    let args: Vec<&str> = gather[2..].iter().map(String::as_str).collect();
    ids.push(sbatch(&args)?);
    Ok(ids)
}

/// The queue state of every array task and gather of the run still in the queue:
/// (job id, state), one line per array task.
pub fn queue_states(job_ids: &[String]) -> Result<Vec<(String, String)>, AppError> {
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    let output = std::process::Command::new("squeue")
        .args(["-h", "-r", "-o", "%i %T", "-j", &job_ids.join(",")])
        .output()
        .map_err(|e| AppError::Run(format!("cannot run squeue: {e}")))?;
    Ok(parse_states(&String::from_utf8_lossy(&output.stdout)))
}

/// Slurm's MaxArraySize (array indices run from 0 to one less), from `scontrol show config`.
pub fn max_array_size(config: &str) -> Option<u32> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
    })
}

/// Pieces of an array submission that respect MaxArraySize: (index offset, `--array` list of
/// indices below `max_array_size`), covering exactly `slices` (sorted).
pub fn array_pieces(slices: &[u32], max_array_size: u32) -> Vec<(u32, String)> {
    let mut pieces: Vec<(u32, Vec<u32>)> = Vec::new();
    for &slice in slices {
        let offset = slice / max_array_size * max_array_size;
        match pieces.last_mut() {
            Some((last, indices)) if *last == offset => indices.push(slice - offset),
            _ => pieces.push((offset, vec![slice - offset])),
        }
    }
    pieces
        .into_iter()
        .map(|(offset, indices)| (offset, ranges(&indices)))
        .collect()
}

/// `0-3,7,9-10` for sorted indices.
fn ranges(indices: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut start = 0;
    while start < indices.len() {
        let mut end = start;
        while end + 1 < indices.len() && indices[end + 1] == indices[end] + 1 {
            end += 1;
        }
        parts.push(if end == start {
            indices[start].to_string()
        } else {
            format!("{}-{}", indices[start], indices[end])
        });
        start = end + 1;
    }
    parts.join(",")
}

/// `squeue -o "%i %T"` lines as (job id, state).
fn parse_states(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.trim().split_once(' '))
        .map(|(id, state)| (id.to_string(), state.to_string()))
        .collect()
}

/// Waits until none of `job_ids` is in the queue any more: one `squeue` call per poll for the
/// whole run, with back-off. Leaving the queue says nothing about success; the caller looks at
/// `parts/` and `result.json` for that.
/// `on_poll` gets the queue states of the run's array tasks and jobs after each poll.
pub fn wait_for_queue(
    job_ids: &[String],
    on_poll: impl Fn(&[(String, String)]),
) -> Result<(), AppError> {
    const MAX_FAILURES_IN_A_ROW: u32 = 5;
    let mut interval = std::time::Duration::from_millis(250);
    let mut failures = 0;
    loop {
        let output = std::process::Command::new("squeue")
            .args(["-h", "-r", "-o", "%i %T", "-j", &job_ids.join(",")])
            .output()
            .map_err(|e| AppError::Run(format!("cannot run squeue: {e}")))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            failures = 0;
            let states = parse_states(&String::from_utf8_lossy(&output.stdout));
            on_poll(&states);
            if states.is_empty() {
                return Ok(());
            }
        } else if stderr.contains("Invalid job id") {
            // Slurm has forgotten the jobs: they left the queue long ago.
            return Ok(());
        } else {
            failures += 1;
            if failures >= MAX_FAILURES_IN_A_ROW {
                return Err(AppError::Run(format!(
                    "squeue failed {failures} times in a row: {}",
                    stderr.trim()
                )));
            }
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(std::time::Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_split_at_max_array_size() {
        assert_eq!(
            array_pieces(&[0, 1, 2, 3, 4], 1001),
            vec![(0, "0-4".to_string())]
        );
        assert_eq!(
            array_pieces(&[0, 1, 2, 3, 4], 3),
            vec![(0, "0-2".to_string()), (3, "0-1".to_string())]
        );
        assert_eq!(
            array_pieces(&[1, 4, 5, 9], 3),
            vec![
                (0, "1".to_string()),
                (3, "1-2".to_string()),
                (9, "0".to_string())
            ]
        );
        assert_eq!(
            max_array_size("Foo = 1\nMaxArraySize            = 1001\n"),
            Some(1001)
        );
        assert_eq!(max_array_size("Foo = 1\n"), None);
    }

    #[test]
    fn quoting_keeps_every_character_literal() {
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's $(x) `y`"), r"'it'\''s $(x) `y`'");
    }

    #[test]
    fn times_in_slurm_format() {
        assert_eq!(slurm_time(Duration::from_secs(600)), "0-00:10:00");
        assert_eq!(slurm_time(Duration::from_secs(129_600 + 61)), "1-12:01:01");
    }
}
