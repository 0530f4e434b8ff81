//! Slurm: `sbatch` scripts, submission in array pieces, `squeue` and `scancel`. Design rule: no
//! value from the job file is pasted into a shell command. The scripts hold `#SBATCH` lines built
//! from validated values (the job name's alphabet is restricted, numbers are numbers) and the
//! shell-quoted paths of the binary and the run directory; `hpcsub slice` reads everything else
//! from the frozen job file. The parsers of Slurm's output are pure functions, tested on output
//! captured from a real cluster (`tests/fixtures/slurm/`).

use std::path::Path;
use std::time::Duration;

use super::backend::{Backend, File, RenderInput};
use super::queue::{Poll, QueueEntry, QueueState};
use crate::diagnostic::AppError;
use crate::process;
use crate::progress::{Show, SubmitProgress};
use crate::run_dir::manifest::{Piece, Scheduler, Submission, ranges};
use crate::run_dir::{JOB_FILE, RESULT_FILE, RunDir};
use crate::spec::{JobSpec, SlurmMode};

pub struct Slurm;

/// What to do when a Slurm command is not there.
const NOT_INSTALLED: &str = "is Slurm installed here? With `--dry-run`, hpcsub writes the run \
                             directory and prints the commands instead";

/// Slurm's default MaxArraySize, for dry runs (a real submission asks the cluster).
const DEFAULT_MAX_ARRAY_SIZE: u32 = 1001;

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

fn quoted(path: &Path) -> String {
    shell_quote(&path.to_string_lossy())
}

/// The array job: one element per slice. Paths in `#SBATCH` lines are relative to the run
/// directory, which is where `sbatch` is run.
pub fn job_script(input: &RenderInput) -> String {
    let spec = input.spec;
    let manifest = input.manifest;
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}", spec.name),
        format!("#SBATCH --array=0-{}", manifest.slices - 1),
        format!("#SBATCH --cpus-per-task={}", manifest.threads_per_slice),
    ];
    lines.extend(resource_directives(spec, None));
    lines.push("#SBATCH --output=logs/%A_%a.out".into());
    lines.push("#SBATCH --open-mode=append".into());
    if spec.compute().is_some() {
        // A slice saves its progress and stops when preempted or requeued (SIGTERM), and
        // shortly before its time limit (SIGUSR1, then it asks to be queued again); queued
        // again, it resumes from its checkpoint.
        lines.push("#SBATCH --requeue".into());
        if let Some(time) = spec.resources.time {
            let grace = (time.as_secs() / 10).clamp(10, 300);
            lines.push(format!("#SBATCH --signal=B:USR1@{grace}"));
        }
    }
    lines.extend(site_directives(spec));
    // Arrays above MaxArraySize are submitted in pieces whose indices start again at 0; hpcsub
    // passes each piece's first slice as HPCSUB_SLICE_OFFSET (a number it writes itself).
    lines.push(format!(
        "exec {} slice {} --index \"$((SLURM_ARRAY_TASK_ID + ${{HPCSUB_SLICE_OFFSET:-0}}))\"",
        quoted(&manifest.binary),
        quoted(input.run_dir)
    ));
    lines.join("\n") + "\n"
}

/// `--time`, and memory and scratch disk per slice (`--mem-per-cpu` when a job holds several
/// slices, each with `threads` CPUs).
fn resource_directives(spec: &JobSpec, mpi_threads: Option<usize>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(time) = spec.resources.time {
        lines.push(format!("#SBATCH --time={}", slurm_time(time)));
    }
    if let Some(bytes) = spec.resources.memory {
        lines.push(match mpi_threads {
            Some(threads) => format!(
                "#SBATCH --mem-per-cpu={}M",
                bytes.div_ceil(threads as u64).div_ceil(1 << 20)
            ),
            None => format!("#SBATCH --mem={}M", bytes.div_ceil(1 << 20)),
        });
    }
    if let (Some(bytes), None) = (spec.resources.disk, mpi_threads) {
        lines.push(format!("#SBATCH --tmp={}M", bytes.div_ceil(1 << 20)));
    }
    lines
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

/// MPI mode: one job of one Slurm task per slice; `srun --mpi=pmix` starts the MPI build of
/// hpcsub once per task, the ranks reduce with MPI, and rank 0's JSON becomes `result.json`
/// (renamed into place only once complete).
pub fn mpi_script(input: &RenderInput) -> String {
    let spec = input.spec;
    let manifest = input.manifest;
    let threads = manifest.threads_per_slice;
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}", spec.name),
        format!("#SBATCH --ntasks={}", manifest.slices),
        format!("#SBATCH --cpus-per-task={threads}"),
    ];
    lines.extend(resource_directives(spec, Some(threads)));
    lines.push("#SBATCH --output=logs/%j.out".into());
    lines.extend(site_directives(spec));
    let run_dir = input.run_dir;
    let logs = if spec.tasks().is_some() {
        format!(" --logs {}", quoted(&run_dir.join("logs")))
    } else {
        String::new()
    };
    lines.push(format!(
        "srun --mpi=pmix {} run --json --quiet --threads {threads}{logs} {} > {} && mv {} {}",
        quoted(&manifest.binary),
        quoted(&run_dir.join(JOB_FILE)),
        quoted(&run_dir.join("result.partial")),
        quoted(&run_dir.join("result.partial")),
        quoted(&run_dir.join(RESULT_FILE)),
    ));
    lines.join("\n") + "\n"
}

/// The gather job, submitted to run after the whole array succeeded.
pub fn gather_script(input: &RenderInput) -> String {
    [
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}-gather", input.spec.name),
        "#SBATCH --cpus-per-task=1".into(),
        "#SBATCH --time=0-00:10:00".into(),
        "#SBATCH --output=logs/gather-%j.out".into(),
        format!(
            "exec {} gather --quiet {}",
            quoted(&input.manifest.binary),
            quoted(input.run_dir)
        ),
    ]
    .join("\n")
        + "\n"
}

fn sbatch_command(args: &[String]) -> Vec<String> {
    ["sbatch".to_string(), "--parsable".to_string()]
        .into_iter()
        .chain(args.iter().cloned())
        .collect()
}

fn gather_arguments(array_ids: &str) -> Vec<String> {
    vec![
        format!("--dependency=afterok:{array_ids}"),
        "--kill-on-invalid-dep=yes".into(),
        "gather.sbatch".into(),
    ]
}

/// The `sbatch` arguments of each array piece that together cover `slices`, with its offset.
fn array_arguments(run: &RunDir, slices: &[u32], max_array_size: u32) -> Vec<(u32, Vec<String>)> {
    array_pieces(slices, max_array_size)
        .into_iter()
        .map(|(offset, indices)| {
            let array = match run.spec.slurm.array_limit {
                Some(limit) => format!("--array={indices}%{limit}"),
                None => format!("--array={indices}"),
            };
            (
                offset,
                vec![
                    array,
                    format!("--export=ALL,HPCSUB_SLICE_OFFSET={offset}"),
                    "job.sbatch".to_string(),
                ],
            )
        })
        .collect()
}

fn is_mpi(run: &RunDir) -> bool {
    run.manifest.mode == SlurmMode::Mpi
}

impl Slurm {
    fn sbatch(run: &RunDir, args: &[String]) -> Result<String, AppError> {
        let args: Vec<&str> = std::iter::once("--parsable")
            .chain(args.iter().map(String::as_str))
            .collect();
        let output = process::run_scheduler("sbatch", &args, &run.path)
            .map_err(|failure| failure.into_error(NOT_INSTALLED))?;
        parse_sbatch_parsable(&output).ok_or_else(|| {
            AppError::Run(format!(
                "sbatch printed no job id (expected `ID` or `ID;CLUSTER`): {output:?}"
            ))
        })
    }

    /// Submits, recording each job id in `submission` and the manifest as it comes.
    fn submit_pieces(
        run: &mut RunDir,
        slices: &[u32],
        after: &[String],
        show: Show,
    ) -> Result<(), AppError> {
        // Jobs that wait for the gathers of the steps they need, and are cancelled if one fails.
        let waiting = |mut args: Vec<String>| -> Vec<String> {
            if !after.is_empty() {
                args.splice(
                    0..0,
                    [
                        format!("--dependency=afterok:{}", after.join(":")),
                        "--kill-on-invalid-dep=yes".to_string(),
                    ],
                );
            }
            args
        };
        if is_mpi(run) {
            let _ = std::fs::remove_file(run.path.join(RESULT_FILE));
            let id = Slurm::sbatch(run, &waiting(vec!["job.sbatch".to_string()]))?;
            record(run, |s| {
                s.pieces.push(Piece {
                    job_id: id,
                    offset: 0,
                })
            })?;
            return Ok(());
        }
        let config = process::run_scheduler("scontrol", &["show", "config"], &run.path)
            .map_err(|failure| failure.into_error(NOT_INSTALLED))?;
        let max_array_size = max_array_size(&config).unwrap_or(DEFAULT_MAX_ARRAY_SIZE);
        let pieces = array_arguments(run, slices, max_array_size);
        let progress = SubmitProgress::new(
            pieces.len() + 1,
            if pieces.len() > 1 { show } else { Show::Never },
        );
        let mut ids = Vec::new();
        for (offset, args) in pieces {
            let id = Slurm::sbatch(run, &waiting(args)).inspect_err(|_| progress.finish())?;
            progress.submitted(&id);
            ids.push(id.clone());
            record(run, |s| s.pieces.push(Piece { job_id: id, offset }))?;
        }
        let gather = Slurm::sbatch(run, &gather_arguments(&ids.join(":")))
            .inspect_err(|_| progress.finish())?;
        progress.submitted(&gather);
        progress.finish();
        record(run, |s| s.gather = Some(gather))
    }
}

/// Changes the latest submission and saves the manifest at once.
fn record(run: &mut RunDir, change: impl FnOnce(&mut Submission)) -> Result<(), AppError> {
    if let Some(submission) = run.manifest.submissions.last_mut() {
        change(submission);
    }
    run.save_manifest()
}

impl Backend for Slurm {
    fn scheduler(&self) -> Scheduler {
        Scheduler::Slurm
    }

    fn render(&self, input: &RenderInput) -> Result<Vec<File>, AppError> {
        Ok(if input.manifest.mode == SlurmMode::Mpi {
            vec![File::new("job.sbatch", mpi_script(input))]
        } else {
            vec![
                File::new("job.sbatch", job_script(input)),
                File::new("gather.sbatch", gather_script(input)),
            ]
        })
    }

    fn commands(&self, run: &RunDir, slices: &[u32]) -> Result<Vec<Vec<String>>, AppError> {
        if is_mpi(run) {
            return Ok(vec![sbatch_command(&["job.sbatch".to_string()])]);
        }
        let every = slices.len() == run.slices() as usize;
        let mut commands: Vec<Vec<String>> = if every && run.slices() <= DEFAULT_MAX_ARRAY_SIZE {
            vec![sbatch_command(&["job.sbatch".to_string()])]
        } else {
            array_arguments(run, slices, DEFAULT_MAX_ARRAY_SIZE)
                .into_iter()
                .map(|(_, args)| sbatch_command(&args))
                .collect()
        };
        commands.push(sbatch_command(&gather_arguments("<array job ids>")));
        Ok(commands)
    }

    fn submit(
        &self,
        run: &mut RunDir,
        slices: &[u32],
        after: &[String],
        show: Show,
    ) -> Result<(), AppError> {
        run.manifest.submissions.push(Submission {
            slices: ranges(slices),
            ..Submission::default()
        });
        run.save_manifest()?;
        Slurm::submit_pieces(run, slices, after, show).inspect_err(|err| {
            let _ = record(run, |s| s.failed = Some(err.to_string()));
        })
    }

    fn poll(&self, run: &RunDir, waited: &[String]) -> Result<Poll, AppError> {
        let ids = run.manifest.job_ids();
        if ids.is_empty() {
            return Ok(Poll {
                entries: Vec::new(),
                ended: true,
            });
        }
        let list = ids.join(",");
        // `-t all`: jobs that ended too, while Slurm remembers them, for why a slice failed.
        let args = ["-h", "-r", "-t", "all", "-o", "%i %T %r", "-j", &list];
        let entries = match process::run_scheduler("squeue", &args, &run.path) {
            Ok(output) => parse_squeue(&output)
                .into_iter()
                .map(|mut entry| {
                    entry.slice = entry
                        .slice
                        .and_then(|index| run.manifest.slice_of(&entry.job_id, index));
                    entry
                })
                .collect(),
            // Slurm has forgotten every one of the jobs: they left the queue long ago.
            Err(failure) if failure.started && failure.stderr.contains("Invalid job id") => {
                Vec::new()
            }
            Err(failure) => return Err(failure.into_error(NOT_INSTALLED)),
        };
        let ended = !entries
            .iter()
            .any(|e| waited.contains(&e.job_id) && e.state.queued());
        Ok(Poll { entries, ended })
    }

    fn reason_in_logs(&self, run: &RunDir, slice: u32) -> Option<String> {
        crate::run_dir::parts::logs_of(run, slice)
            .iter()
            .rev()
            .find_map(|log| {
                let text = crate::bounded_read::bytes(log, MAX_LOG_BYTES).ok()?;
                reason_in_log(&String::from_utf8_lossy(&text))
            })
    }

    fn cancel(&self, run: &RunDir) -> Result<(), AppError> {
        let ids = run.manifest.job_ids();
        let args: Vec<&str> = ids.iter().map(String::as_str).collect();
        process::run_scheduler("scancel", &args, &run.path)
            .map(|_| ())
            .map_err(|failure| failure.into_error(NOT_INSTALLED))
    }
}

/// A slice's log is read for why it ended; slurmstepd's note is near its end, but the log is
/// the slice's own output and may be long.
const MAX_LOG_BYTES: u64 = 64 << 20;

/// Why a job ended, from the note slurmstepd writes into its output: `*** JOB 12 ON node
/// CANCELLED AT 2026-12-01T05:14:53 DUE TO TIME LIMIT ***`, and the like.
pub fn reason_in_log(text: &str) -> Option<String> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("slurmstepd") && (l.contains("***") || l.contains("oom")))?;
    Some(
        if line.contains("DUE TO TIME LIMIT") {
            "TIMEOUT: it ran past its time limit (resources.time)"
        } else if line.contains("DUE TO PREEMPTION") {
            "PREEMPTED"
        } else if line.contains("DUE TO NODE FAILURE") {
            "NODE_FAIL: its node failed"
        } else if line.contains("oom") || line.contains("Out Of Memory") {
            "OUT_OF_MEMORY: it ran past its memory (resources.memory)"
        } else if line.contains("CANCELLED") {
            "CANCELLED"
        } else {
            return None;
        }
        .to_string(),
    )
}

/// Slurm's MaxArraySize (array indices run from 0 to one less), from `scontrol show config`.
pub fn max_array_size(config: &str) -> Option<u32> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
    })
}

/// The job id in `sbatch --parsable`'s output: `ID` or `ID;CLUSTER`.
pub fn parse_sbatch_parsable(output: &str) -> Option<String> {
    let id = output.lines().last()?.split(';').next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
}

/// `squeue -h -r -o "%i %T %r"` lines: `JOB STATE REASON`, or `JOB_INDEX STATE REASON` for array
/// elements, whose array index is given as the slice (the caller adds the piece's offset). A
/// pending job held by a user or an admin (`JobHeldUser`, `JobHeldAdmin`) is held.
pub fn parse_squeue(text: &str) -> Vec<QueueEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (id, state) = (fields.next()?, fields.next()?);
            let reason = fields.next().unwrap_or_default();
            let (job_id, index) = match id.split_once('_') {
                Some((job, index)) => (job, Some(index.parse().ok()?)),
                None => (id, None),
            };
            Some(QueueEntry {
                job_id: job_id.to_string(),
                slice: index,
                state: match QueueState::from_slurm(state) {
                    QueueState::Pending if reason.starts_with("JobHeld") => {
                        QueueState::Held(reason.to_string())
                    }
                    queued => queued,
                },
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Output captured from Slurm 22.05 on the private cluster of `slurm/start-cluster.sh`: a
    /// 6-element array (element 0 running) and a job depending on it.
    const SQUEUE: &str = include_str!("../../tests/fixtures/slurm/squeue-r.txt");
    const SBATCH: &str = include_str!("../../tests/fixtures/slurm/sbatch-parsable.txt");
    const CONFIG: &str = include_str!("../../tests/fixtures/slurm/scontrol-show-config.txt");
    const INVALID_JOB: &str = include_str!("../../tests/fixtures/slurm/squeue-invalid-job.stderr");

    #[test]
    fn squeue_output_gives_each_array_element_and_job() {
        let entries = parse_squeue(SQUEUE);
        assert_eq!(entries.len(), 7);
        let running: Vec<_> = entries
            .iter()
            .filter(|e| e.state == QueueState::Running)
            .collect();
        assert_eq!(running.len(), 1);
        assert_eq!(
            (running[0].job_id.as_str(), running[0].slice),
            ("1", Some(0))
        );
        let gather = entries.iter().find(|e| e.job_id == "2").unwrap();
        assert_eq!((gather.slice, &gather.state), (None, &QueueState::Pending));
        assert!(
            INVALID_JOB.contains("Invalid job id"),
            "what poll() looks for"
        );
    }

    /// Captured on the private cluster: an array submitted with `--hold`, a running job and
    /// one waiting for the array.
    const SQUEUE_HELD: &str = include_str!("../../tests/fixtures/slurm/squeue-held.txt");

    #[test]
    fn held_jobs_are_held_with_slurms_reason() {
        let entries = parse_squeue(SQUEUE_HELD);
        let states: Vec<(&str, Option<u32>, QueueState)> = entries
            .iter()
            .map(|e| (e.job_id.as_str(), e.slice, e.state.clone()))
            .collect();
        assert_eq!(
            states,
            [
                ("54", None, QueueState::Pending),
                ("52", Some(0), QueueState::Held("JobHeldUser".into())),
                ("52", Some(1), QueueState::Held("JobHeldUser".into())),
                ("53", None, QueueState::Running),
            ]
        );
    }

    /// Captured too: a 2-element array past its 1-minute limit and a cancelled job, while
    /// Slurm remembers them, and the array's output, where slurmstepd says why it ended.
    const SQUEUE_ALL: &str = include_str!("../../tests/fixtures/slurm/squeue-t-all.txt");
    const TIMEOUT_LOG: &str = include_str!("../../tests/fixtures/slurm/timeout.out");

    #[test]
    fn ended_jobs_say_why_in_the_queue_and_in_their_logs() {
        let entries = parse_squeue(SQUEUE_ALL);
        let states: Vec<&QueueState> = entries.iter().map(|e| &e.state).collect();
        assert_eq!(
            states,
            [
                &QueueState::Ended("CANCELLED".into()),
                &QueueState::Ended("TIMEOUT".into()),
                &QueueState::Ended("TIMEOUT".into())
            ]
        );
        assert!(entries.iter().all(|e| !e.state.queued()));
        assert_eq!(
            reason_in_log(TIMEOUT_LOG).as_deref(),
            Some("TIMEOUT: it ran past its time limit (resources.time)")
        );
        assert_eq!(reason_in_log("started\nall went well\n"), None);
        let cancelled = "slurmstepd: error: *** JOB 7 ON n1 CANCELLED AT 2026-12-01T05:00:00 ***";
        assert_eq!(reason_in_log(cancelled).as_deref(), Some("CANCELLED"));
    }

    #[test]
    fn sbatch_parsable_and_scontrol_show_config_as_captured() {
        let ids: Vec<_> = SBATCH.lines().filter_map(parse_sbatch_parsable).collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(parse_sbatch_parsable("123;cluster\n"), Some("123".into()));
        assert_eq!(parse_sbatch_parsable("sbatch: error"), None);
        assert_eq!(max_array_size(CONFIG), Some(1001));
    }

    proptest::proptest! {
        #[test]
        fn any_squeue_text_parses_without_panicking(text in "[0-9_ A-Z\\[\\]\n-]{0,200}") {
            let _ = parse_squeue(&text);
            let _ = parse_sbatch_parsable(&text);
        }
    }

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
