//! The local executor: one process, `threads` threads taking whole blocks from a shared counter
//! (dynamic scheduling), each folding its blocks into its own exact accumulator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::kernel::rng::BLOCK_SAMPLES;
use crate::kernel::{Evaluator, Kernel};
use crate::plan::Slice;
use crate::progress::Progress;
use crate::reduce::Accumulator;
use crate::spec::HistogramSpec;

/// Computes the blocks of `slice` on `threads` threads and returns their exact reduction.
pub fn run_slice(
    kernel: &Kernel,
    histogram: Option<HistogramSpec>,
    slice: &Slice,
    threads: usize,
    progress: &Progress,
) -> Accumulator {
    let next_block = AtomicU64::new(slice.first_block);
    let workers = threads.clamp(1, (slice.end_block - slice.first_block).max(1) as usize);
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let next_block = &next_block;
            scope.spawn(move || {
                let mut evaluator = Evaluator::for_kernel(kernel);
                let mut acc = Accumulator::new(kernel.shift, histogram);
                loop {
                    let block = next_block.fetch_add(1, Ordering::Relaxed);
                    if block >= slice.end_block {
                        break;
                    }
                    let start = block * BLOCK_SAMPLES;
                    let end = start.saturating_add(BLOCK_SAMPLES).min(slice.end);
                    evaluator.run_block(block, start..end, &mut acc);
                    progress.advance(end - start);
                }
                // The receiver outlives every worker inside this scope.
                let _ = sender.send(acc);
            });
        }
        drop(sender);
        let mut total = Accumulator::new(kernel.shift, histogram);
        let mut finished = 0;
        while finished < workers {
            match receiver.recv_timeout(Duration::from_millis(100)) {
                Ok(acc) => {
                    total.merge(&acc);
                    finished += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => progress.refresh(),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        total
    })
}

/// Samples timed to estimate a run's duration: a few blocks, some milliseconds.
const CALIBRATION_SAMPLES: u64 = 16 * BLOCK_SAMPLES;

/// How long `samples` samples take on `threads` threads here, from timing a few blocks on one
/// (assuming threads scale, which they nearly do: see BENCHMARKS.md).
pub fn estimate(
    kernel: &Kernel,
    histogram: Option<HistogramSpec>,
    samples: u64,
    threads: usize,
) -> Duration {
    let timed = samples.min(CALIBRATION_SAMPLES);
    let slice = crate::plan::slice(timed, 1, 0);
    let started = std::time::Instant::now();
    run_slice(kernel, histogram, &slice, 1, &Progress::hidden());
    let per_sample = started.elapsed().as_secs_f64() / timed.max(1) as f64;
    Duration::from_secs_f64(per_sample * samples as f64 / threads.max(1) as f64)
}

/// A duration for people: `0.15 s`, `3.2 min`, `5.1 h`, `2.3 days`.
pub fn readable(duration: Duration) -> String {
    let s = duration.as_secs_f64();
    match s {
        s if s < 120.0 => format!("{s:.2} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}
