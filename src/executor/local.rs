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

/// How long the calibration times the kernel: long enough for the clock to ramp up and the
/// timer to be exact, short enough that `check` answers at once.
const CALIBRATION: Duration = Duration::from_millis(30);

/// Blocks per timed round of the calibration.
const ROUND_BLOCKS: u64 = 4;

/// How long `samples` samples take on `threads` threads here (assuming threads scale, which
/// they nearly do: see BENCHMARKS.md). Times rounds of a few blocks on this thread and keeps the
/// fastest: the first round pays for page faults, cold caches and the clock's ramp, which a run
/// pays once, not per block, so a cold pass made short jobs look five times slower than they are.
pub fn estimate(
    kernel: &Kernel,
    histogram: Option<HistogramSpec>,
    samples: u64,
    threads: usize,
) -> Duration {
    let blocks = samples.div_ceil(BLOCK_SAMPLES).max(1);
    let mut evaluator = Evaluator::for_kernel(kernel);
    let mut acc = Accumulator::new(kernel.shift, histogram);
    let mut fastest_per_sample = f64::INFINITY;
    let mut block = 0;
    let calibration = std::time::Instant::now();
    while calibration.elapsed() < CALIBRATION || fastest_per_sample.is_infinite() {
        let round = std::time::Instant::now();
        let mut timed = 0;
        for _ in 0..ROUND_BLOCKS {
            let start = block * BLOCK_SAMPLES;
            let end = start.saturating_add(BLOCK_SAMPLES).min(samples);
            evaluator.run_block(block, start..end, &mut acc);
            timed += end - start;
            block = (block + 1) % blocks;
        }
        let per_sample = round.elapsed().as_secs_f64() / timed.max(1) as f64;
        fastest_per_sample = fastest_per_sample.min(per_sample);
    }
    Duration::from_secs_f64(fastest_per_sample * samples as f64 / threads.max(1) as f64)
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
