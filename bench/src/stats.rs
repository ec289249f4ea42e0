//! Latency statistics over every sample: nearest-rank percentiles and the points of the
//! distribution that the plot draws.

/// Latency samples in microseconds, sorted once and then queried.
#[derive(Debug, Default)]
pub struct Latencies {
    sorted: Vec<u32>,
}

impl Latencies {
    /// Takes the samples of every receiver and sorts them.
    pub fn new(mut samples: Vec<u32>) -> Latencies {
        samples.sort_unstable();
        Latencies { sorted: samples }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The nearest-rank `p`-th percentile (0 < p <= 100), in ms: the smallest sample with at
    /// least p% of all samples at or below it. 0 without samples.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * n as f64).ceil().clamp(1.0, n as f64) as usize;
        f64::from(self.sorted[rank - 1]) / 1000.0
    }

    /// The largest sample, in ms.
    pub fn max_ms(&self) -> f64 {
        self.sorted.last().map_or(0.0, |&v| f64::from(v) / 1000.0)
    }

    /// Up to about `points` points (latency in ms, percent of samples at or below it) of the
    /// cumulative distribution, denser in the tail where the interest is.
    pub fn cdf(&self, points: usize) -> Vec<(f64, f64)> {
        let n = self.sorted.len();
        if n == 0 {
            return Vec::new();
        }
        // Half the points evenly spaced in q, half evenly spaced in -log10(1 - q) (as many
        // between 99% and 99.9% as between 0 and 90%), merged in order.
        let nines = (n as f64).log10().max(1.0);
        let half = (points / 2).max(1);
        let mut qs: Vec<f64> = (0..=half).map(|i| i as f64 / half as f64).collect();
        qs.extend((0..=half).map(|i| 1.0 - 10f64.powf(-nines * i as f64 / half as f64)));
        qs.sort_by(f64::total_cmp);
        let mut out: Vec<(f64, f64)> = Vec::with_capacity(qs.len() + 1);
        for q in qs {
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            let point = (
                f64::from(self.sorted[rank - 1]) / 1000.0,
                100.0 * rank as f64 / n as f64,
            );
            if out.last() != Some(&point) {
                out.push(point);
            }
        }
        let end = (self.max_ms(), 100.0);
        if out.last() != Some(&end) {
            out.push(end);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let l = Latencies::new((1..=100).rev().map(|v| v * 1000).collect());
        assert_eq!(l.percentile_ms(50.0), 50.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.percentile_ms(99.5), 100.0);
        assert_eq!(l.percentile_ms(0.1), 1.0);
        assert_eq!(l.max_ms(), 100.0);
        let one = Latencies::new(vec![1500]);
        assert_eq!(one.percentile_ms(99.0), 1.5);
        assert_eq!(Latencies::default().percentile_ms(99.0), 0.0);
    }

    #[test]
    fn cdf_is_monotonic_and_ends_at_the_max() {
        let l = Latencies::new((0..10_000).map(|v| (v * 37) % 10_007).collect());
        let cdf = l.cdf(100);
        assert!(cdf.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        let last = cdf.last().unwrap();
        assert_eq!(last.1, 100.0);
        assert_eq!(last.0, l.max_ms());
    }
}
