//! Turning the raw 64-bit outputs of a stream into uniform values. Each value uses exactly one
//! output, so sample `i` of a var always uses output `i` of its stream; the normal and
//! exponential transforms that follow are program instructions (`math`).

use super::instruction::Draw;
use super::rng::{Lanes, Stepping, open_unit_interval, unit_interval};

/// Fills `out` with the next values of `draw` from `lanes`.
#[inline(always)]
pub fn draw(draw: Draw, lanes: &mut Lanes, stepping: Stepping, out: &mut [f64]) {
    match draw {
        Draw::Uniform { low, high } => {
            let width = high - low;
            lanes.fill(stepping, out, |x| low + width * unit_interval(x));
        }
        Draw::OpenUnit => lanes.fill(stepping, out, open_unit_interval),
    }
}
