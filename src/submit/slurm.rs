//! Slurm scripts. Design rule: no value from the job file is pasted into a shell command. The
//! scripts hold `#SBATCH` lines built from validated values (the job name's alphabet is
//! restricted, numbers are numbers) and the shell-quoted paths of the binary and the run
//! directory; `hpcsub task` reads everything else from the frozen job file.

use std::path::Path;
use std::time::Duration;

use crate::spec::JobSpec;

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
