//! Object keys of the result layout, identical on a local disk and in S3:
//!
//! ```text
//! runs/<run_id>/manifest.json
//! runs/<run_id>/shards/<shard>.json
//! runs/<run_id>/cancel
//! results/<experiment>/run_id=<run_id>/part-<shard>.parquet
//! failures/<experiment>/run_id=<run_id>/part-<shard>.parquet
//! ```
//!
//! Run ids and experiment names are validated before they reach a key, so no key can leave
//! its prefix.

use crate::error::SpecError;
use crate::experiment::is_snake_case;

/// Checks that `run_id` is 1–64 characters of `[a-z0-9_-]`, starting with a letter or digit.
pub fn validate_run_id(run_id: &str) -> Result<(), SpecError> {
    let mut chars = run_id.chars();
    let ok = matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
        && run_id.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(
            "run_id",
            format!(
                "{:?} is not a run id (1-64 characters of a-z, 0-9, '_' and '-', starting with a letter or digit)",
                run_id.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// A new run id from the time (UTC seconds since the epoch) and 32 bits of entropy:
/// `YYYYMMDD-HHMMSS-xxxxxxxx`, so ids sort by creation time.
pub fn new_run_id(unix_secs: u64, entropy: u32) -> String {
    let (date, time) = utc_parts(unix_secs);
    format!("{date}-{time}-{entropy:08x}")
}

/// RFC 3339 UTC timestamp (`2026-11-28T07:16:39Z`) for `unix_secs`.
pub fn rfc3339(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let rem = unix_secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn utc_parts(unix_secs: u64) -> (String, String) {
    let (y, m, d) = civil_from_days((unix_secs / 86_400) as i64);
    let rem = unix_secs % 86_400;
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Keys of one run.
#[derive(Debug, Clone)]
pub struct RunKeys {
    run_id: String,
    experiment: String,
    shard_width: usize,
}

impl RunKeys {
    /// Keys for `run_id` of `experiment` whose shard numbers are padded to `shard_width`.
    pub fn new(run_id: &str, experiment: &str, shard_width: usize) -> Result<Self, SpecError> {
        validate_run_id(run_id)?;
        if !is_snake_case(experiment) {
            return Err(SpecError::new("experiment", "not a snake_case name"));
        }
        Ok(RunKeys {
            run_id: run_id.to_string(),
            experiment: experiment.to_string(),
            shard_width,
        })
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The zero-padded name of shard `shard`.
    pub fn shard_name(&self, shard: u64) -> String {
        format!("{shard:0width$}", width = self.shard_width)
    }

    /// `runs/<run_id>/manifest.json`.
    pub fn manifest(&self) -> String {
        manifest_key(&self.run_id)
    }

    /// `runs/<run_id>/shards/`: the prefix of every marker.
    pub fn markers_prefix(&self) -> String {
        format!("runs/{}/shards/", self.run_id)
    }

    /// `runs/<run_id>/shards/<shard>.json`.
    pub fn marker(&self, shard: u64) -> String {
        format!("{}{}.json", self.markers_prefix(), self.shard_name(shard))
    }

    /// `runs/<run_id>/cancel`.
    pub fn cancel(&self) -> String {
        format!("runs/{}/cancel", self.run_id)
    }

    /// `results/<experiment>/run_id=<run_id>/` (the run's partition).
    pub fn results_prefix(&self) -> String {
        format!("results/{}/run_id={}/", self.experiment, self.run_id)
    }

    /// `failures/<experiment>/run_id=<run_id>/`.
    pub fn failures_prefix(&self) -> String {
        format!("failures/{}/run_id={}/", self.experiment, self.run_id)
    }

    /// The results file of `shard`.
    pub fn results(&self, shard: u64) -> String {
        format!(
            "{}part-{}.parquet",
            self.results_prefix(),
            self.shard_name(shard)
        )
    }

    /// The failures file of `shard`.
    pub fn failures(&self, shard: u64) -> String {
        format!(
            "{}part-{}.parquet",
            self.failures_prefix(),
            self.shard_name(shard)
        )
    }
}

/// `runs/<run_id>/manifest.json` (the run id must already be validated).
pub fn manifest_key(run_id: &str) -> String {
    format!("runs/{run_id}/manifest.json")
}

/// Digits used for shard numbers in a run of `shards` shards (at least 5).
pub fn shard_width(shards: u64) -> usize {
    shards.saturating_sub(1).to_string().len().max(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_checked() {
        for good in ["a", "20261128-071639-0000abcd", "x_y-z"] {
            assert!(validate_run_id(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "..",
            "../x",
            "a/b",
            "A",
            "-a",
            "a b",
            "ａ",
            "a%2f",
            &"a".repeat(65),
        ] {
            assert!(validate_run_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_850_199), "2026-11-28T07:16:39Z");
        assert_eq!(new_run_id(1_795_850_199, 0xabc), "20261128-071639-00000abc");
    }

    #[test]
    fn keys_follow_the_layout() {
        let k = RunKeys::new("r1", "gbm_option", shard_width(120)).unwrap();
        assert_eq!(k.marker(7), "runs/r1/shards/00007.json");
        assert_eq!(
            k.results(7),
            "results/gbm_option/run_id=r1/part-00007.parquet"
        );
        assert_eq!(
            k.failures(7),
            "failures/gbm_option/run_id=r1/part-00007.parquet"
        );
        assert_eq!(shard_width(1_000_001), 7);
    }
}
