//! Object keys of the result layout, identical on a local disk and in S3:
//!
//! ```text
//! runs/<run_id>/manifest.json
//! runs/<run_id>/shards/<shard>.json          a shard's outcome (written last)
//! runs/<run_id>/started/<shard>.json         when a cloud worker began a shard
//! runs/<run_id>/claims/<shard>               locked while a local process computes it
//! runs/<run_id>/redispatched/<shard>.json    a straggler's one re-dispatch
//! runs/<run_id>/cancel
//! runs/<run_id>/retries/<attempt>.json      one retry of the run's failed rows
//! runs/<run_id>/retries/<attempt>/<shard>    a shard that retry handled
//! results/<experiment>/run_id=<run_id>/part-<shard>.parquet
//! failures/<experiment>/run_id=<run_id>/part-<shard>.parquet
//! ```
//!
//! This module is the only place these keys are spelled: the engine, the Lambdas and (through
//! the native module) Python build every key with it, and a test checks Terraform's IAM
//! prefixes against [`TEMPLATES`]. Run ids and experiment names are validated before they
//! reach a key, so no key can leave its prefix.

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
    let t = utc(unix_secs);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{entropy:08x}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// RFC 3339 UTC timestamp (`2026-11-28T07:16:39Z`) for `unix_secs`.
pub fn rfc3339(unix_secs: u64) -> String {
    let t = utc(unix_secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp written by [`rfc3339`].
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let format = time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text, &format).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

fn utc(unix_secs: u64) -> time::OffsetDateTime {
    i64::try_from(unix_secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Folder of every run's manifest and markers.
pub const RUNS_PREFIX: &str = "runs/";
const MANIFEST_FILE: &str = "manifest.json";
const PARTITION_KEY: &str = "run_id=";

/// The two tables of every experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// `results/<experiment>/`: rows whose kernel succeeded.
    Results,
    /// `failures/<experiment>/`: rows whose kernel failed.
    Failures,
}

impl Table {
    /// Both tables.
    pub const ALL: [Table; 2] = [Table::Results, Table::Failures];

    /// The table's top-level folder name (also the first word of its catalog table name).
    pub fn name(self) -> &'static str {
        match self {
            Table::Results => "results",
            Table::Failures => "failures",
        }
    }

    /// `results/<experiment>/`: the table's folder, holding one partition per run.
    pub fn prefix(self, experiment: &str) -> String {
        format!("{}/{experiment}/", self.name())
    }

    /// The catalog's name for the table: `results_<experiment>`.
    pub fn catalog_name(self, experiment: &str) -> String {
        format!("{}_{experiment}", self.name())
    }
}

/// Every key of the layout as a template with `{run_id}`, `{experiment}` and `{shard}`
/// placeholders (for documentation and for checking IAM policies against the layout).
pub const TEMPLATES: [(&str, &str); 14] = [
    ("manifest", "runs/{run_id}/manifest.json"),
    ("marker", "runs/{run_id}/shards/{shard}.json"),
    (
        "done",
        "runs/{run_id}/done/{shard}-{rows_failed}-{elapsed_ms}",
    ),
    ("started", "runs/{run_id}/started/{shard}.json"),
    ("claim", "runs/{run_id}/claims/{shard}"),
    ("redispatched", "runs/{run_id}/redispatched/{shard}.json"),
    ("cancel", "runs/{run_id}/cancel"),
    ("retry", "runs/{run_id}/retries/{attempt}.json"),
    ("retried", "runs/{run_id}/retries/{attempt}/{shard}"),
    (
        "results",
        "results/{experiment}/run_id={run_id}/part-{shard}.parquet",
    ),
    (
        "failures",
        "failures/{experiment}/run_id={run_id}/part-{shard}.parquet",
    ),
    ("kernel", "kernels/{sha256}.so"),
    ("summary", "runs/{run_id}/summary.json"),
    ("active", "active/{run_id}"),
];

/// `active/`: one empty object per cloud run the supervisor still watches.
pub const ACTIVE_PREFIX: &str = "active/";

/// `active/<run_id>`.
pub fn active_key(run_id: &str) -> String {
    format!("{ACTIVE_PREFIX}{run_id}")
}

/// `kernels/<sha256>.so`: an uploaded kernel library, named by the SHA-256 of its bytes (which
/// every reader recomputes). `None` unless `sha256` is 64 lower-case hex digits.
pub fn kernel_key(sha256: &str) -> Option<String> {
    let ok = sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then(|| format!("kernels/{sha256}.so"))
}

/// The run id of a manifest key (`runs/<run_id>/manifest.json`), if `key` is one.
pub fn run_id_of_manifest_key(key: &str) -> Option<&str> {
    let run_id = key
        .strip_prefix(RUNS_PREFIX)?
        .strip_suffix(MANIFEST_FILE)?
        .strip_suffix('/')?;
    validate_run_id(run_id).ok().map(|()| run_id)
}

/// A run's partition folder name: `run_id=<run_id>` (the run id must already be validated).
pub fn partition_name(run_id: &str) -> String {
    format!("{PARTITION_KEY}{run_id}")
}

/// The run id of a partition folder name (`run_id=<run_id>`), if `name` is one.
pub fn run_id_of_partition(name: &str) -> Option<&str> {
    let run_id = name.trim_end_matches('/').strip_prefix(PARTITION_KEY)?;
    validate_run_id(run_id).ok().map(|()| run_id)
}

/// The shard number of a data file or marker name (`part-00007.parquet`, `00007.json`).
pub fn shard_of_file(name: &str) -> Option<u64> {
    let stem = name.rsplit('/').next()?;
    let stem = stem.strip_prefix("part-").unwrap_or(stem);
    let digits = stem.split('.').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The shard of a started-marker key (`runs/<run_id>/started/<shard>.json`), if `key` is one.
pub fn shard_of_started_key(key: &str) -> Option<u64> {
    let (_, name) = key.strip_prefix(RUNS_PREFIX)?.split_once("/started/")?;
    shard_of_file(name)
}

/// `(shard, rows_failed, elapsed_ms)` of a done tally's key (or its last path segment).
pub fn parse_done_key(key: &str) -> Option<(u64, u64, u64)> {
    let name = key.rsplit('/').next()?;
    let mut parts = name.split('-');
    let mut number = || -> Option<u64> {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let parsed = (number()?, number()?, number()?);
    parts.next().is_none().then_some(parsed)
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

    /// The experiment.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// `runs/<run_id>/`: the folder of the manifest and every marker.
    pub fn run_prefix(&self) -> String {
        run_prefix(&self.run_id)
    }

    /// `runs/<run_id>/manifest.json`.
    pub fn manifest(&self) -> String {
        manifest_key(&self.run_id)
    }

    /// `runs/<run_id>/shards/`: the prefix of every marker.
    pub fn markers_prefix(&self) -> String {
        format!("{}shards/", self.run_prefix())
    }

    /// `runs/<run_id>/shards/<shard>.json`.
    pub fn marker(&self, shard: u64) -> String {
        format!("{}{}.json", self.markers_prefix(), self.shard_name(shard))
    }

    /// `runs/<run_id>/done/`: the prefix of every done tally.
    pub fn done_prefix(&self) -> String {
        format!("{}done/", self.run_prefix())
    }

    /// `runs/<run_id>/done/<shard>-<rows_failed>-<elapsed_ms>`: an empty object whose name
    /// carries what status needs of a finished shard, so status reads names, never bodies.
    pub fn done(&self, shard: u64, rows_failed: u64, elapsed_ms: u64) -> String {
        format!(
            "{}{}-{rows_failed}-{elapsed_ms}",
            self.done_prefix(),
            self.shard_name(shard)
        )
    }

    /// `runs/<run_id>/claims/<shard>`: locked (on a local disk) while a process computes the
    /// shard, so concurrent executions of the run split its shards.
    pub fn claim(&self, shard: u64) -> String {
        format!("{}claims/{}", self.run_prefix(), self.shard_name(shard))
    }

    /// `runs/<run_id>/started/`: the prefix of every started marker.
    pub fn started_prefix(&self) -> String {
        format!("{}started/", self.run_prefix())
    }

    /// `runs/<run_id>/started/<shard>.json`.
    pub fn started(&self, shard: u64) -> String {
        format!("{}{}.json", self.started_prefix(), self.shard_name(shard))
    }

    /// `runs/<run_id>/redispatched/<shard>.json`.
    pub fn redispatched(&self, shard: u64) -> String {
        format!(
            "{}redispatched/{}.json",
            self.run_prefix(),
            self.shard_name(shard)
        )
    }

    /// `runs/<run_id>/summary.json`: written once by the supervisor when the run completes.
    pub fn summary(&self) -> String {
        format!("{}summary.json", self.run_prefix())
    }

    /// `runs/<run_id>/retries/`: the prefix of the retry records.
    pub fn retries_prefix(&self) -> String {
        format!("{}retries/", self.run_prefix())
    }

    /// `runs/<run_id>/retries/<attempt>.json`: one retry of the run's failed rows.
    pub fn retry(&self, attempt: u32) -> String {
        format!("{}{attempt:04}.json", self.retries_prefix())
    }

    /// `runs/<run_id>/retries/<attempt>/`: the shards retry `attempt` has handled.
    pub fn retried_prefix(&self, attempt: u32) -> String {
        format!("{}{attempt:04}/", self.retries_prefix())
    }

    /// `runs/<run_id>/retries/<attempt>/<shard>`: an empty object, retry `attempt` handled
    /// `shard`.
    pub fn retried(&self, attempt: u32, shard: u64) -> String {
        format!("{}{}", self.retried_prefix(attempt), self.shard_name(shard))
    }

    /// `runs/<run_id>/cancel`.
    pub fn cancel(&self) -> String {
        format!("{}cancel", self.run_prefix())
    }

    /// `<table>/<experiment>/run_id=<run_id>/` (the run's partition of `table`).
    pub fn partition(&self, table: Table) -> String {
        format!(
            "{}{}/",
            table.prefix(&self.experiment),
            partition_name(&self.run_id)
        )
    }

    /// `results/<experiment>/run_id=<run_id>/` (the run's partition).
    pub fn results_prefix(&self) -> String {
        self.partition(Table::Results)
    }

    /// `failures/<experiment>/run_id=<run_id>/`.
    pub fn failures_prefix(&self) -> String {
        self.partition(Table::Failures)
    }

    /// The data file of `shard` in `table`.
    pub fn part(&self, table: Table, shard: u64) -> String {
        format!(
            "{}part-{}.parquet",
            self.partition(table),
            self.shard_name(shard)
        )
    }

    /// The results file of `shard`.
    pub fn results(&self, shard: u64) -> String {
        self.part(Table::Results, shard)
    }

    /// The failures file of `shard`.
    pub fn failures(&self, shard: u64) -> String {
        self.part(Table::Failures, shard)
    }
}

/// `runs/<run_id>/` (the run id must already be validated).
pub fn run_prefix(run_id: &str) -> String {
    format!("{RUNS_PREFIX}{run_id}/")
}

/// `runs/<run_id>/manifest.json` (the run id must already be validated).
pub fn manifest_key(run_id: &str) -> String {
    format!("{}{MANIFEST_FILE}", run_prefix(run_id))
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
        assert_eq!(parse_rfc3339("2026-11-28T07:16:39Z"), Some(1_795_850_199));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn keys_follow_the_templates() {
        let k = RunKeys::new("r1", "gbm", shard_width(3)).unwrap();
        let fill = |t: &str| {
            t.replace("{run_id}", "r1")
                .replace("{experiment}", "gbm")
                .replace("{shard}", "00002")
                .replace("{sha256}", &"ab".repeat(32))
                .replace("{rows_failed}", "3")
                .replace("{elapsed_ms}", "1500")
                .replace("{attempt}", "0002")
        };
        for (name, template) in TEMPLATES {
            let key = match name {
                "manifest" => k.manifest(),
                "marker" => k.marker(2),
                "done" => k.done(2, 3, 1500),
                "started" => k.started(2),
                "claim" => k.claim(2),
                "redispatched" => k.redispatched(2),
                "cancel" => k.cancel(),
                "retry" => k.retry(2),
                "retried" => k.retried(2, 2),
                "results" => k.results(2),
                "failures" => k.failures(2),
                "kernel" => kernel_key(&"ab".repeat(32)).unwrap(),
                "summary" => k.summary(),
                "active" => active_key("r1"),
                other => panic!("no key for template {other}"),
            };
            assert_eq!(key, fill(template), "{name}");
        }
    }

    #[test]
    fn keys_parse_back() {
        let k = RunKeys::new("r1", "gbm", shard_width(3)).unwrap();
        assert_eq!(run_id_of_manifest_key(&k.manifest()), Some("r1"));
        assert_eq!(run_id_of_manifest_key("runs/manifest.json"), None);
        assert_eq!(run_id_of_manifest_key("runs/A/manifest.json"), None);
        assert_eq!(run_id_of_partition("run_id=r1"), Some("r1"));
        assert_eq!(run_id_of_partition("run_id=../x"), None);
        assert_eq!(shard_of_file(&k.results(12)), Some(12));
        assert_eq!(shard_of_file(&k.marker(3)), Some(3));
        assert_eq!(shard_of_file("part-.parquet"), None);
        assert_eq!(shard_of_started_key(&k.started(4)), Some(4));
        assert_eq!(shard_of_started_key(&k.marker(4)), None);
        assert_eq!(Table::Results.catalog_name("gbm"), "results_gbm");
        assert_eq!(parse_done_key(&k.done(12, 0, 5)), Some((12, 0, 5)));
        assert_eq!(parse_done_key("00012-1-x"), None);
        assert_eq!(parse_done_key("00012-1-2-3"), None);
        assert_eq!(kernel_key("../../x"), None);
        assert_eq!(kernel_key(&"AB".repeat(32)), None);
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
