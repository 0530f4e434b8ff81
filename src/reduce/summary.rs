//! Final statistics, derived once from the exact accumulator in double-double precision.

use super::Accumulator;
use super::double_double::DoubleDouble;

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub count: u64,
    /// Samples whose value was NaN; they are left out of every other statistic.
    pub nan: u64,
    pub sum: f64,
    /// `None` when there is no value to average.
    pub mean: Option<f64>,
    /// Sample variance (n - 1); `None` for fewer than two values.
    pub var: Option<f64>,
    pub std: Option<f64>,
    /// Standard error of the mean, `sqrt(var / n)`; `None` for fewer than two values.
    pub sem: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Summary {
    pub fn from_accumulator(acc: &Accumulator) -> Summary {
        let n = acc.count;
        let count = DoubleDouble::from(n as f64);
        let shifted = acc.shifted_sum.to_double_double();
        let shift = DoubleDouble::from(acc.shift);
        let sum = shift * count + shifted;
        let mean = (n > 0).then(|| (shift + shifted / count).to_f64());
        let variance = (n > 1).then(|| {
            let squares = acc.shifted_squares.to_double_double();
            let centred = squares - shifted * shifted / count;
            let var = centred / DoubleDouble::from((n - 1) as f64);
            // Rounding in the per-block sums can leave a tiny negative for constant data.
            if var.to_f64() < 0.0 {
                DoubleDouble::ZERO
            } else {
                var
            }
        });
        Summary {
            count: n,
            nan: acc.nan,
            sum: sum.to_f64(),
            mean,
            var: variance.map(DoubleDouble::to_f64),
            std: variance.map(|v| v.sqrt().to_f64()),
            sem: variance.map(|v| (v / count).sqrt().to_f64()),
            min: (n > 0).then_some(acc.min),
            max: (n > 0).then_some(acc.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reduce::{LaneStats, Tracked};

    fn summary_of(values: &[f64], shift: f64) -> Summary {
        let mut acc = Accumulator::new(shift, None);
        let mut lanes = LaneStats::new(Tracked::ALL);
        lanes.observe::<true>(values, values.len(), shift);
        acc.absorb_block(&mut lanes);
        Summary::from_accumulator(&acc)
    }

    #[test]
    fn textbook_values() {
        let s = summary_of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 3.0);
        assert_eq!(s.count, 8);
        assert_eq!(s.mean, Some(5.0));
        assert_eq!(s.var, Some(32.0 / 7.0));
        assert_eq!(s.min, Some(2.0));
        assert_eq!(s.max, Some(9.0));
        assert_eq!(s.sum, 40.0);
    }

    #[test]
    fn variance_stays_accurate_when_mean_dwarfs_spread() {
        let values: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 2) as f64 * 1e-3).collect();
        let s = summary_of(&values, values[0]);
        let step = (1e9 + 1e-3) - 1e9;
        let expected = step * step / 4.0 * 1000.0 / 999.0;
        let relative_error = (s.var.unwrap() - expected).abs() / expected;
        assert!(relative_error < 1e-12, "var {:?} vs {expected}", s.var);
    }

    #[test]
    fn too_few_values() {
        let s = summary_of(&[f64::NAN], 0.0);
        assert_eq!(
            (s.count, s.nan, s.mean, s.var, s.min),
            (0, 1, None, None, None)
        );
        let s = summary_of(&[3.0], 0.0);
        assert_eq!((s.mean, s.var, s.std), (Some(3.0), None, None));
    }
}
