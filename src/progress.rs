//! Progress on stderr: samples done, rate and ETA. A bar when stderr is a terminal; on rank 0 of
//! an MPI job, whose stderr is a pipe to the launcher, a plain line every few seconds instead.
//! Workers count into an atomic; the display is refreshed from it by the waiting thread, so the
//! hot loop never touches the terminal.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::report::human_count;

/// How often a progress line is written when no bar can be drawn.
const LINE_INTERVAL: Duration = Duration::from_secs(2);

enum Display {
    Bar(ProgressBar),
    Lines {
        total: u64,
        started: Instant,
        last: Mutex<Instant>,
    },
    Hidden,
}

pub struct Progress {
    done: AtomicU64,
    /// Each sample counted here stands for this many of the job (rank 0 of an MPI job shows the
    /// whole job from its own share).
    scale: u64,
    display: Display,
}

impl Progress {
    /// A bar for `total` samples, shown only if `visible` and stderr is a terminal.
    pub fn new(total: u64, visible: bool) -> Progress {
        let display = if visible && std::io::stderr().is_terminal() {
            Display::Bar(bar(total))
        } else {
            Display::Hidden
        };
        Progress {
            done: AtomicU64::new(0),
            scale: 1,
            display,
        }
    }

    /// Progress of a whole MPI job on its rank 0, from that rank's share: each sample done here
    /// counts `scale` times. A bar on a terminal, otherwise a line every few seconds.
    pub fn for_rank_zero(total: u64, scale: u64, visible: bool) -> Progress {
        let display = match (visible, std::io::stderr().is_terminal()) {
            (false, _) => Display::Hidden,
            (true, true) => Display::Bar(bar(total)),
            (true, false) => Display::Lines {
                total,
                started: Instant::now(),
                last: Mutex::new(Instant::now()),
            },
        };
        Progress {
            done: AtomicU64::new(0),
            scale,
            display,
        }
    }

    pub fn hidden() -> Progress {
        Progress::new(0, false)
    }

    pub fn advance(&self, samples: u64) {
        self.done.fetch_add(samples, Ordering::Relaxed);
    }

    pub fn refresh(&self) {
        let done = self.done.load(Ordering::Relaxed).saturating_mul(self.scale);
        match &self.display {
            Display::Bar(bar) => bar.set_position(done),
            Display::Lines {
                total,
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
                    eprintln!(
                        "hpcsub: {:.0}% of {} samples, {}/s, ETA {:.0} s",
                        fraction * 100.0,
                        total,
                        human_count(rate),
                        eta
                    );
                }
            }
            Display::Hidden => {}
        }
    }

    pub fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}

fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} samples, {rate}/s, ETA {eta}",
        )
        .expect("the template is valid")
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}", human_count(state.per_sec()));
        }),
    );
    bar
}

/// Progress of command tasks: done (of which failed), running, and an ETA, from counters the
/// worker threads update and the waiting thread draws.
pub struct TaskProgress {
    done: AtomicU64,
    running: AtomicU64,
    failed: AtomicU64,
    bar: Option<ProgressBar>,
}

impl TaskProgress {
    /// A bar for `total` tasks, shown only if `visible` and stderr is a terminal.
    pub fn new(total: u64, visible: bool) -> TaskProgress {
        let bar = terminal_bar(
            total,
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} tasks done, {msg}, ETA {eta}",
            visible,
        );
        TaskProgress {
            done: AtomicU64::new(0),
            running: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bar,
        }
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
        if let Some(bar) = &self.bar {
            bar.set_position(self.done.load(Ordering::Relaxed));
            bar.set_message(format!(
                "{} running, {} failed",
                self.running.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed)
            ));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The bar of a submission in several pieces (arrays beyond `MaxArraySize`, then the gather):
/// each `sbatch` can take seconds on a busy controller.
pub struct SubmitProgress {
    bar: Option<ProgressBar>,
}

impl SubmitProgress {
    pub fn new(jobs: usize, visible: bool) -> SubmitProgress {
        let bar = terminal_bar(
            jobs as u64,
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} jobs submitted{msg}",
            visible,
        );
        if let Some(bar) = &bar {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        SubmitProgress { bar }
    }

    pub fn submitted(&self, job_id: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(", the latest {job_id}"));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The bar of `submit --wait`: slices done, running, pending and failed or missing, as the
/// run's survey says after each look at the queue.
pub struct WaitProgress {
    bar: Option<ProgressBar>,
}

impl WaitProgress {
    pub fn new(slices: u32, visible: bool) -> WaitProgress {
        let bar = terminal_bar(
            u64::from(slices),
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} slices done, {msg}",
            visible,
        );
        if let Some(bar) = &bar {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        WaitProgress { bar }
    }

    /// Whether anything is drawn (so the caller can skip computing what it would show).
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    pub fn show(&self, done: usize, running: usize, pending: usize, failed: usize) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(done as u64);
        bar.set_message(format!(
            "{running} running, {pending} pending, {failed} failed or missing"
        ));
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A bar of `len` steps drawn with `template` on stderr, if `visible` and stderr is a terminal.
fn terminal_bar(len: u64, template: &str, visible: bool) -> Option<ProgressBar> {
    (visible && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template(template).expect("the template is valid"));
        bar
    })
}
