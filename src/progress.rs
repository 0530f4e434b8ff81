//! Progress on stderr: samples, tasks, submitted jobs or slices done, with rate and ETA. A bar
//! when stderr is a terminal; on rank 0 of an MPI job, whose stderr is a pipe to the launcher, a
//! plain line every few seconds instead; with `--progress json`, one JSON object per line for a
//! program to read (the Python package draws its notebook bar from them). Workers count into
//! atomics; the display is refreshed from them by the waiting thread, so the hot loop never
//! touches the terminal.

use std::cell::RefCell;
use std::io::{IsTerminal, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde_json::{Value, json};

use crate::report::human_count;

/// How often a progress line is written when no bar can be drawn.
const LINE_INTERVAL: Duration = Duration::from_secs(2);
/// How often a JSON progress line is written: often enough for a smooth bar, rarely enough that
/// reading them costs nothing.
const JSON_INTERVAL: Duration = Duration::from_millis(200);

/// How progress is shown (`--progress`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Show {
    /// A bar when stderr is a terminal (a line every few seconds on rank 0 of an MPI job whose
    /// stderr is a pipe), else nothing.
    #[default]
    Auto,
    /// One JSON object per line on stderr, `{"progress": {"unit": ..., "done": ..., "total":
    /// ...}}`, for programs.
    Json,
    /// Nothing.
    Never,
}

/// JSON progress lines of one unit (samples, tasks, jobs, slices, runs): the latest counts are
/// kept, and written at most once per [`JSON_INTERVAL`] until the last line.
struct JsonLines {
    unit: &'static str,
    total: u64,
    /// The workflow step these lines count for.
    step: Option<String>,
    latest: Mutex<Latest>,
}

struct Latest {
    written: Option<Instant>,
    done: u64,
    more: Value,
}

impl JsonLines {
    fn new(unit: &'static str, total: u64, step: Option<String>) -> JsonLines {
        JsonLines {
            unit,
            total,
            step,
            latest: Mutex::new(Latest {
                written: None,
                done: 0,
                more: json!({}),
            }),
        }
    }

    /// Keeps `done` and the counts in `more` (an object), and writes them unless a line was
    /// written just now.
    fn update(&self, done: u64, more: Value) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.done = done;
        latest.more = more;
        if latest
            .written
            .is_none_or(|at| at.elapsed() >= JSON_INTERVAL)
        {
            self.write(&mut latest);
        }
    }

    /// Writes the latest counts, whenever the line before was written.
    fn finish(&self) {
        self.write(&mut self.latest.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn write(&self, latest: &mut Latest) {
        latest.written = Some(Instant::now());
        let mut progress =
            json!({"unit": self.unit, "done": latest.done.min(self.total), "total": self.total});
        if let (Value::Object(progress), Value::Object(more)) = (&mut progress, &latest.more) {
            progress.extend(more.clone());
            if let Some(step) = &self.step {
                progress.insert("step".into(), step.as_str().into());
            }
        }
        // A reader that went away is not a reason to stop the work.
        let _ = writeln!(std::io::stderr(), "{}", json!({ "progress": progress }));
    }
}

/// A count shown as a bar on a terminal, as JSON lines, or not at all.
enum Steps {
    Bar(ProgressBar),
    Json(JsonLines),
    Hidden,
}

impl Steps {
    /// `len` of `unit`, drawn with the bar `template` on a terminal: as a line of the workflow's
    /// board, prefixed with the step's name, while this thread runs a step.
    fn new(unit: &'static str, len: u64, template: &str, show: Show) -> Steps {
        let step = STEP.with(|step| step.borrow().clone());
        match show {
            Show::Auto if std::io::stderr().is_terminal() => match step {
                Some(StepLine {
                    name,
                    multi: Some(multi),
                }) => {
                    let bar = multi.add(ProgressBar::new(len));
                    bar.set_style(style(&format!("{{prefix:.bold}} {template}")));
                    bar.set_prefix(name);
                    Steps::Bar(bar)
                }
                _ => {
                    let bar =
                        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
                    bar.set_style(style(template));
                    Steps::Bar(bar)
                }
            },
            Show::Json => Steps::Json(JsonLines::new(unit, len, step.map(|s| s.name))),
            Show::Auto | Show::Never => Steps::Hidden,
        }
    }

    fn is_visible(&self) -> bool {
        !matches!(self, Steps::Hidden)
    }

    fn tick(&self) {
        if let Steps::Bar(bar) = self {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
    }

    /// Shows `done`; `counts` is an object of the other counts, which `message` says for people.
    fn show(&self, done: u64, counts: Value, message: impl FnOnce() -> String) {
        match self {
            Steps::Bar(bar) => {
                bar.set_position(done);
                bar.set_message(message());
            }
            Steps::Json(lines) => lines.update(done, counts),
            Steps::Hidden => {}
        }
    }

    /// Clears the bar, or writes the last JSON line with the latest counts shown.
    fn finish(&self) {
        match self {
            Steps::Bar(bar) => bar.finish_and_clear(),
            Steps::Json(lines) => lines.finish(),
            Steps::Hidden => {}
        }
    }
}

/// A bar's style; `{rate}` is a rate for people (`12.3M`).
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the template is valid")
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", human_count(state.per_sec()));
            },
        )
}

/// The step of a workflow that this thread runs, and the board its bar joins.
#[derive(Clone)]
struct StepLine {
    name: String,
    multi: Option<MultiProgress>,
}

thread_local! {
    /// Which step the progress made on this thread belongs to. A thread-local, as a tracing
    /// span is: the step is a matter of display only, and the executors below it should not
    /// have to carry it through every call.
    static STEP: RefCell<Option<StepLine>> = const { RefCell::new(None) };
}

/// The bars of a workflow's steps: on a terminal one line per running step, each prefixed with
/// its name (indicatif's MultiProgress); with `--progress json`, lines that name their step.
pub struct Board {
    multi: Option<MultiProgress>,
}

impl Board {
    pub fn new(show: Show) -> Board {
        let drawn = show == Show::Auto && std::io::stderr().is_terminal();
        Board {
            multi: drawn.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Runs `work` as the step `name`: the progress it shows on this thread is that step's.
    pub fn in_step<T>(&self, name: &str, work: impl FnOnce() -> T) -> T {
        struct Restore(Option<StepLine>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let outer = self.0.take();
                STEP.with(|step| *step.borrow_mut() = outer);
            }
        }
        let line = StepLine {
            name: name.to_string(),
            multi: self.multi.clone(),
        };
        let _restore = Restore(STEP.with(|step| step.borrow_mut().replace(line)));
        work()
    }

    /// A line of text above the bars.
    pub fn note(&self, text: &str) {
        match &self.multi {
            // A terminal that went away is not a reason to stop the work.
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }
}

enum Display {
    Steps(Steps),
    /// Rank 0 of an MPI job whose stderr is a pipe: a plain line every few seconds.
    Lines {
        total: u64,
        /// The workflow step being run, named at the start of each line.
        step: Option<String>,
        started: Instant,
        last: Mutex<Instant>,
    },
}

pub struct Progress {
    done: AtomicU64,
    /// Each sample counted here stands for this many of the job (rank 0 of an MPI job shows the
    /// whole job from its own share).
    scale: u64,
    display: Display,
}

impl Progress {
    /// Progress of `total` samples: a bar if stderr is a terminal, or JSON lines.
    pub fn new(total: u64, show: Show) -> Progress {
        Progress {
            done: AtomicU64::new(0),
            scale: 1,
            display: Display::Steps(samples(total, show)),
        }
    }

    /// Progress of a whole MPI job on its rank 0, from that rank's share: each sample done here
    /// counts `scale` times. A bar on a terminal, otherwise a line every few seconds.
    pub fn for_rank_zero(total: u64, scale: u64, show: Show) -> Progress {
        let display = if show == Show::Auto && !std::io::stderr().is_terminal() {
            Display::Lines {
                total,
                step: STEP.with(|step| step.borrow().as_ref().map(|s| s.name.clone())),
                started: Instant::now(),
                last: Mutex::new(Instant::now()),
            }
        } else {
            Display::Steps(samples(total, show))
        };
        Progress {
            done: AtomicU64::new(0),
            scale,
            display,
        }
    }

    pub fn hidden() -> Progress {
        Progress::new(0, Show::Never)
    }

    pub fn advance(&self, samples: u64) {
        self.done.fetch_add(samples, Ordering::Relaxed);
    }

    pub fn refresh(&self) {
        let done = self.done.load(Ordering::Relaxed).saturating_mul(self.scale);
        match &self.display {
            Display::Steps(steps) => steps.show(done, json!({}), String::new),
            Display::Lines {
                total,
                step,
                started,
                last,
            } => {
                let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if last.elapsed() >= LINE_INTERVAL {
                    *last = Instant::now();
                    let elapsed = started.elapsed().as_secs_f64();
                    let fraction = (done as f64 / *total as f64).min(1.0);
                    let rate = done as f64 / elapsed.max(1e-9);
                    let eta = (*total as f64 - done as f64).max(0.0) / rate.max(1e-9);
                    let step = step
                        .as_ref()
                        .map(|name| format!("step {name}: "))
                        .unwrap_or_default();
                    eprintln!(
                        "hpcsub: {step}{:.0}% of {} samples, {}/s, ETA {:.0} s",
                        fraction * 100.0,
                        total,
                        human_count(rate),
                        eta
                    );
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Display::Steps(steps) = &self.display {
            self.refresh();
            steps.finish();
        }
    }
}

/// The display of `total` samples: done, rate and ETA.
fn samples(total: u64, show: Show) -> Steps {
    Steps::new(
        "samples",
        total,
        "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} samples, {rate}/s, ETA {eta}",
        show,
    )
}

/// Progress of command tasks: done (of which failed), running, and an ETA, from counters the
/// worker threads update and the waiting thread draws.
pub struct TaskProgress {
    done: AtomicU64,
    running: AtomicU64,
    failed: AtomicU64,
    display: Steps,
}

impl TaskProgress {
    /// Progress of `total` tasks.
    pub fn new(total: u64, show: Show) -> TaskProgress {
        let display = Steps::new(
            "tasks",
            total,
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} tasks done, {msg}, ETA {eta}",
            show,
        );
        let progress = TaskProgress {
            done: AtomicU64::new(0),
            running: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            display,
        };
        progress.refresh();
        progress
    }

    pub fn started(&self) {
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finished(&self, failed: bool) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn refresh(&self) {
        let (done, running, failed) = (
            self.done.load(Ordering::Relaxed),
            self.running.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        );
        self.display
            .show(done, json!({"running": running, "failed": failed}), || {
                format!("{running} running, {failed} failed")
            });
    }

    pub fn finish(&self) {
        self.refresh();
        self.display.finish();
    }
}

/// The progress of a submission in several pieces (arrays beyond `MaxArraySize`, then the
/// gather): each `sbatch` can take seconds on a busy controller.
pub struct SubmitProgress {
    submitted: AtomicU64,
    display: Steps,
}

impl SubmitProgress {
    pub fn new(jobs: usize, show: Show) -> SubmitProgress {
        let display = Steps::new(
            "jobs",
            jobs as u64,
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} jobs submitted{msg}",
            show,
        );
        display.tick();
        SubmitProgress {
            submitted: AtomicU64::new(0),
            display,
        }
    }

    pub fn submitted(&self, job_id: &str) {
        let done = self.submitted.fetch_add(1, Ordering::Relaxed) + 1;
        self.display.show(done, json!({"latest": job_id}), || {
            format!(", the latest {job_id}")
        });
    }

    pub fn finish(&self) {
        self.display.finish();
    }
}

/// The progress of `scale`: runs done of all its configurations and repeats, and the
/// configuration running now.
pub struct RunsProgress {
    done: AtomicU64,
    display: Steps,
}

impl RunsProgress {
    pub fn new(runs: u64, show: Show) -> RunsProgress {
        let display = Steps::new(
            "runs",
            runs,
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} runs, {msg}",
            show,
        );
        RunsProgress {
            done: AtomicU64::new(0),
            display,
        }
    }

    /// A run of the configuration `label` starts.
    pub fn starting(&self, label: &str) {
        self.display.show(
            self.done.load(Ordering::Relaxed),
            json!({"running": label}),
            || label.to_string(),
        );
    }

    pub fn finished_one(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.display.show(done, json!({}), String::new);
    }

    pub fn finish(&self) {
        self.display.finish();
    }
}

/// The progress of waiting for a submitted run: slices done, running, pending and failed or
/// missing, as the run's survey says after each look at the queue.
pub struct WaitProgress {
    display: Steps,
}

impl WaitProgress {
    pub fn new(slices: u32, show: Show) -> WaitProgress {
        let display = Steps::new(
            "slices",
            u64::from(slices),
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} slices done, {msg}",
            show,
        );
        display.tick();
        WaitProgress { display }
    }

    /// Whether anything is shown (so the caller can skip computing what it would show).
    pub fn is_visible(&self) -> bool {
        self.display.is_visible()
    }

    /// `tasks`: a task job's finished tasks slice by slice, of how many (see
    /// `parts::tasks_finished_by_slice`).
    pub fn show(
        &self,
        done: usize,
        running: usize,
        pending: usize,
        failed: usize,
        tasks: Option<&[[u64; 2]]>,
    ) {
        self.display.show(
            done as u64,
            json!({"running": running, "pending": pending, "failed": failed, "tasks_by_slice": tasks}),
            || wait_message(running, pending, failed, tasks),
        );
    }

    pub fn finish(&self) {
        self.display.finish();
    }
}

/// The `--wait` bar's text: slices by state, and for a task job the finished tasks of the
/// first few slices, so a straggler or an idle slice shows without `status`.
fn wait_message(
    running: usize,
    pending: usize,
    failed: usize,
    tasks: Option<&[[u64; 2]]>,
) -> String {
    const SLICES_SHOWN: usize = 4;
    let mut message = format!("{running} running, {pending} pending, {failed} failed or missing");
    if let Some(by_slice) = tasks {
        let finished: u64 = by_slice.iter().map(|[finished, _]| finished).sum();
        let shown: Vec<String> = by_slice
            .iter()
            .take(SLICES_SHOWN)
            .enumerate()
            .map(|(slice, [finished, of])| format!("{slice}: {finished}/{of}"))
            .collect();
        let more = if by_slice.len() > SLICES_SHOWN {
            ", ..."
        } else {
            ""
        };
        message.push_str(&format!(
            "; {finished} tasks finished (by slice {}{more})",
            shown.join(", ")
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::wait_message;

    #[test]
    fn the_wait_message_counts_tasks_slice_by_slice_and_elides_past_four_slices() {
        assert_eq!(
            wait_message(1, 0, 0, None),
            "1 running, 0 pending, 0 failed or missing"
        );
        assert_eq!(
            wait_message(2, 0, 0, Some(&[[3, 5], [0, 2]])),
            "2 running, 0 pending, 0 failed or missing; 3 tasks finished (by slice 0: 3/5, 1: 0/2)"
        );
        let five = [[1, 1]; 5];
        assert!(
            wait_message(5, 0, 0, Some(&five))
                .ends_with("5 tasks finished (by slice 0: 1/1, 1: 1/1, 2: 1/1, 3: 1/1, ...)")
        );
    }
}
