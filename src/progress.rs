//! The progress bar: samples done, rate and ETA on stderr, only when stderr is a terminal.
//! Workers count into an atomic; the bar is redrawn from it by the waiting thread, so the hot
//! loop never touches the terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::report::human_count;

pub struct Progress {
    done: AtomicU64,
    /// Each sample counted here stands for this many of the job (rank 0 of an MPI job shows the
    /// whole job from its own share).
    scale: u64,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` samples, shown only if `visible` and stderr is a terminal.
    pub fn new(total: u64, visible: bool) -> Progress {
        Progress::scaled(total, 1, visible)
    }

    /// A bar for `total` samples that counts each sample done here `scale` times.
    pub fn scaled(total: u64, scale: u64, visible: bool) -> Progress {
        let bar = (visible && std::io::stderr().is_terminal()).then(|| {
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
        });
        Progress {
            done: AtomicU64::new(0),
            scale,
            bar,
        }
    }

    pub fn hidden() -> Progress {
        Progress::new(0, false)
    }

    pub fn advance(&self, samples: u64) {
        self.done.fetch_add(samples, Ordering::Relaxed);
    }

    pub fn refresh(&self) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.done.load(Ordering::Relaxed).saturating_mul(self.scale));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
