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
    lines.push(format!(
        "exec {} task {} --slice \"$SLURM_ARRAY_TASK_ID\"",
        shell_quote(&binary.to_string_lossy()),
        shell_quote(&run_dir.to_string_lossy())
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

#[cfg(test)]
mod tests {
    use super::*;

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
