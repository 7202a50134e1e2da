//! `shard_size: "auto"`: shards sized from a short calibration of the kernel, so each takes
//! about a target time and the workers available are all used. The size never changes a
//! result (the determinism rule); it only changes how the work is cut.

use super::Spec;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// What an automatic shard size aims at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardTarget {
    /// Wall time one shard should take, in seconds.
    pub shard_seconds: f64,
    /// Shards are never cut shorter than this to spread a small run, in seconds.
    pub min_shard_seconds: f64,
    /// Workers that can compute shards at once (threads, Ray workers, Lambdas).
    pub parallelism: u64,
    /// Longest the calibration may run.
    pub calibration: Duration,
}

impl ShardTarget {
    /// The cloud: invocations of about 5 s (at least 1 s) for up to `fleet` concurrent
    /// Lambdas, each carrying `shards_per_invoke` shards (the unit of resume); 300 ms of
    /// calibration inside the submit request.
    pub fn cloud(shards_per_invoke: u64, fleet: u64) -> ShardTarget {
        let per = shards_per_invoke.max(1) as f64;
        ShardTarget {
            shard_seconds: 5.0 / per,
            min_shard_seconds: 1.0 / per,
            parallelism: fleet.max(1) * shards_per_invoke.max(1),
            calibration: Duration::from_millis(300),
        }
    }

    /// This machine: 1 s shards (cancel and progress stay responsive), at least 0.1 s, for
    /// `threads` workers.
    pub fn local(threads: u64) -> ShardTarget {
        ShardTarget {
            shard_seconds: 1.0,
            min_shard_seconds: 0.1,
            parallelism: threads.max(1),
            calibration: Duration::from_millis(300),
        }
    }
}

/// The shard size for `points` points of `replicates` rows at `row_seconds` each, and the
/// reason in one line: shards of about `shard_seconds`; smaller (down to `min_shard_seconds`)
/// when that leaves fewer shards than workers.
pub fn auto_shard_size(
    points: u64,
    replicates: u64,
    row_seconds: f64,
    target: &ShardTarget,
    max_shard_size: u64,
) -> (u64, String) {
    let per_point = (row_seconds * replicates.max(1) as f64).max(1e-9);
    let points = points.max(1);
    let by_time = ((target.shard_seconds / per_point).ceil() as u64).max(1);
    let mut size = by_time;
    if points.div_ceil(by_time) < target.parallelism {
        let spread = points.div_ceil(target.parallelism);
        let floor = ((target.min_shard_seconds / per_point).ceil() as u64).max(1);
        size = spread.max(floor).min(by_time);
    }
    let size = size.min(points).clamp(1, max_shard_size.max(1));
    let shards = points.div_ceil(size);
    let reason = format!(
        "shard_size {size} (auto): {:.3} ms per point measured; {shards} shards of about {:.2} s \
         for {} workers (target {} s per shard)",
        per_point * 1e3,
        per_point * size as f64,
        target.parallelism,
        target.shard_seconds
    );
    (size, reason)
}

impl Spec {
    /// Mean seconds per row over rows spread across the points, stopping after `budget`
    /// (at least one row); and how many rows that was. Panics and kernel errors count as
    /// rows (they cost time too); nothing is written.
    pub fn seconds_per_row(&self, budget: Duration, max_rows: u64) -> (f64, u64) {
        let points = self.points().max(1);
        let n = max_rows.clamp(1, points);
        let started = Instant::now();
        let mut rows = 0;
        for k in 0..n {
            let point = k * points / n;
            let params = self.decode(point);
            let seed = crate::seed::point_seed(self.seed, point, 0);
            let _ = catch_unwind(AssertUnwindSafe(|| self.experiment.run(&params, seed)));
            rows += 1;
            if started.elapsed() >= budget {
                break;
            }
        }
        (started.elapsed().as_secs_f64() / rows as f64, rows)
    }

    /// For `shard_size: "auto"`: measures the kernel and sets the shard size for `target`;
    /// returns the reason (also what the manifest records). `None` for any other spec.
    pub fn choose_shard_size(
        &mut self,
        target: &ShardTarget,
        max_shard_size: u64,
    ) -> Option<String> {
        if !self.auto_shards {
            return None;
        }
        let (row_seconds, rows) = self.seconds_per_row(target.calibration, 1_000);
        let (size, reason) = auto_shard_size(
            self.points(),
            self.replicates,
            row_seconds,
            target,
            max_shard_size,
        );
        self.shard_size = size;
        self.auto_shards = false;
        Some(format!("{reason}; calibrated on {rows} rows"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_the_target_time_and_use_the_workers() {
        // 10^6 points of 10.8 ms (the gbm sweep of ~3 CPU-hours): 463-point shards of 5 s,
        // 2,160 of them for 1,000 Lambdas.
        let (size, reason) = auto_shard_size(
            1_000_000,
            1,
            0.0108,
            &ShardTarget::cloud(1, 1_000),
            1_000_000,
        );
        assert_eq!(size, 463);
        assert!(
            reason.starts_with("shard_size 463 (auto): 10.800 ms per point"),
            "{reason}"
        );
        assert!(reason.contains("2160 shards of about 5.00 s"), "{reason}");
        // A small run is spread over the fleet, but no shard gets shorter than 1 s.
        let (size, _) =
            auto_shard_size(10_000, 1, 0.0108, &ShardTarget::cloud(1, 1_000), 1_000_000);
        assert_eq!(size, 93); // 1 s / 10.8 ms
        let (size, _) = auto_shard_size(5_000, 1, 0.5, &ShardTarget::cloud(1, 1_000), 1_000_000);
        assert_eq!(size, 5); // 500 shards of 5 s would leave half the fleet idle: 1,000 of 2.5 s
        let (size, _) = auto_shard_size(10_000, 1, 0.5, &ShardTarget::cloud(1, 1_000), 1_000_000);
        assert_eq!(size, 10); // 1,000 shards of 5 s already use every Lambda
        // With 8 shards per invocation, invocations are what take 5 s: shards of 0.625 s.
        let (size, reason) = auto_shard_size(
            1_000_000,
            1,
            0.0108,
            &ShardTarget::cloud(8, 1_000),
            1_000_000,
        );
        assert_eq!(size, 58);
        assert!(reason.contains("for 8000 workers"), "{reason}");
        // Trivial kernels are capped by the limit; replicates count.
        assert_eq!(
            auto_shard_size(10, 1, 0.0, &ShardTarget::cloud(1, 1_000), 1_000_000).0,
            10
        );
        assert_eq!(
            auto_shard_size(1e9 as u64, 1, 1e-9, &ShardTarget::local(2), 1_000).0,
            1_000
        );
        let (one, _) = auto_shard_size(1_000_000, 1, 0.001, &ShardTarget::local(2), 1_000_000);
        let (four, _) = auto_shard_size(1_000_000, 4, 0.001, &ShardTarget::local(2), 1_000_000);
        assert_eq!((one, four), (1_000, 250));
    }
}

#[cfg(test)]
mod run_tests {
    use super::*;
    use crate::spec::tests::registry;
    use crate::{Limits, MemoryStore, Run, SpecFormat};

    #[test]
    fn auto_stays_auto_until_a_run_resolves_it_and_the_manifest_says_how() {
        let text = r#"{"experiment": "probe", "shard_size": "auto", "params": {"a": {"linspace": [0, 10, 500]}}}"#;
        let spec = Spec::parse(text, SpecFormat::Json, &registry(), &Limits::default()).unwrap();
        assert!(spec.auto_shards);
        assert_eq!(spec.normalized()["shard_size"], "auto");
        let store = MemoryStore::new();
        let target = ShardTarget::local(4);
        let run = Run::create_planned(&store, spec, "r1", "t", Some(&target)).unwrap();
        let size = run.manifest.spec["shard_size"]
            .as_u64()
            .expect("a number in the manifest");
        assert_eq!(run.plan().shard_size, size);
        let choice = run
            .manifest
            .shard_choice
            .clone()
            .expect("the choice is recorded");
        assert!(
            choice.starts_with(&format!("shard_size {size} (auto): ")),
            "{choice}"
        );
        assert!(choice.contains("calibrated on"), "{choice}");
        // A trivial kernel: shards are spread over the 4 workers, never below one point.
        assert!(run.plan().shards >= 1 && run.plan().shards <= 500);
        // The resolved spec reopens as it is (no second calibration).
        let reopened = Run::open(&store, "r1", &registry()).unwrap();
        assert_eq!(reopened.plan(), run.plan());
    }
}
