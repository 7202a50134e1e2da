//! Shared parts of the two Lambda binaries: configuration read once from the environment
//! into typed values (a clear message, never a panic, when something is missing), the
//! storage and invokers built from it, and structured log lines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use sweep_aws::{AwsClient, Endpoint, GlueCatalog, LambdaInvoker, S3Store, SqsQueue};
use sweep_cloud::CloudConfig;
use sweep_core::Limits;

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One JSON log line on stderr (CloudWatch keeps each as an event).
pub fn log(level: &str, message: &str, fields: serde_json::Value) {
    let mut line = serde_json::json!({"level": level, "msg": message});
    if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
        obj.extend(extra);
    }
    eprintln!("{line}");
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> Result<String, String> {
    var(name).ok_or_else(|| format!("{name} is not set"))
}

fn number<T>(name: &str, default: T, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match var(name) {
        None => Ok(default),
        Some(text) => match text.trim().parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(format!("{name}={text:?}: want a number in [{min}, {max}]")),
        },
    }
}

/// The storage every function uses: `SWEEP_BUCKET`, `SWEEP_PREFIX`, and the S3 endpoint. An
/// S3 request times out after `SWEEP_S3_TIMEOUT_MS` (default 30 s; then it is retried).
pub fn store_from_env(client: &AwsClient) -> Result<S3Store, String> {
    let bucket = required("SWEEP_BUCKET")?;
    let prefix = var("SWEEP_PREFIX").unwrap_or_default();
    let client = match var("SWEEP_S3_TIMEOUT_MS") {
        None => client.clone(),
        Some(_) => AwsClient::from_env(Duration::from_millis(number(
            "SWEEP_S3_TIMEOUT_MS",
            30_000,
            100,
            900_000,
        )?))?,
    };
    Ok(S3Store::new(
        client,
        Endpoint::from_env("S3")?,
        &bucket,
        &prefix,
    ))
}

/// The HTTP client (credentials and region from the environment).
pub fn client_from_env() -> Result<AwsClient, String> {
    AwsClient::from_env(Duration::from_secs(30))
}

/// How the orchestrator sends its own dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfInvoke {
    /// `InvocationType=Event` and wait for the 202 (real Lambda queues the event at once).
    Event,
    /// Send from a background thread and answer without waiting: for the local emulator,
    /// which runs an `Event` invoke to completion before answering. Only valid where the
    /// process is not frozen after answering (the emulator), never in AWS.
    Detached,
}

/// The orchestrator's settings.
pub struct OrchestratorEnv {
    /// Spec limits, body limit, batching and straggler settings.
    pub cloud: CloudConfig,
    /// Worker invocations in flight at once per dispatcher.
    pub dispatch_concurrency: usize,
    /// The worker function.
    pub worker: LambdaInvoker,
    /// This function (for its asynchronous dispatches).
    pub this: LambdaInvoker,
    /// How dispatches are sent.
    pub self_invoke: SelfInvoke,
    /// The Glue catalog, when `SWEEP_GLUE_DATABASE` is set.
    pub catalog: Option<GlueCatalog>,
    /// The runs' storage.
    pub store: S3Store,
    /// Whether specs may pin uploaded kernel libraries (`SWEEP_KERNEL_UPLOADS`, default on).
    pub kernel_uploads: bool,
    /// The functions' on-failure queue, drained by the supervisor (`SWEEP_FAILURE_QUEUE_URL`;
    /// none: nothing to drain).
    pub failure_queue: Option<SqsQueue>,
}

/// Where kernel libraries downloaded from `kernels/` are kept: `SWEEP_KERNEL_CACHE`, else a
/// folder under the temporary directory (`/tmp`, the only writable place in Lambda), so a
/// warm container downloads each build once.
pub fn kernel_cache_dir() -> std::path::PathBuf {
    var("SWEEP_KERNEL_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("sweep_kernels"))
}

impl OrchestratorEnv {
    /// Reads the orchestrator's configuration from the environment.
    pub fn from_env() -> Result<Self, String> {
        let client = client_from_env()?;
        let lambda_endpoint = Endpoint::from_env("LAMBDA")?;
        let worker = LambdaInvoker::new(
            client.clone(),
            lambda_endpoint.clone(),
            &required("SWEEP_WORKER_FUNCTION")?,
        );
        let this = LambdaInvoker::new(
            client.clone(),
            lambda_endpoint,
            &required("AWS_LAMBDA_FUNCTION_NAME")?,
        );
        let self_invoke = match var("SWEEP_SELF_INVOKE").as_deref() {
            None | Some("event") => SelfInvoke::Event,
            Some("detached") => SelfInvoke::Detached,
            Some(other) => {
                return Err(format!(
                    "SWEEP_SELF_INVOKE={other:?}: want event or detached"
                ));
            }
        };
        let defaults = CloudConfig::default();
        let limits = Limits {
            max_rows: number("SWEEP_MAX_POINTS", Limits::default().max_rows, 1, u64::MAX)?,
            ..Limits::default()
        };
        let cloud = CloudConfig {
            limits,
            max_body_bytes: number("SWEEP_MAX_BODY_BYTES", defaults.max_body_bytes, 1, 6 << 20)?,
            shards_per_invoke: number(
                "SWEEP_SHARDS_PER_INVOKE",
                defaults.shards_per_invoke,
                1,
                64,
            )?,
            straggler_factor: number(
                "SWEEP_STRAGGLER_FACTOR",
                defaults.straggler_factor,
                1.0,
                1e6,
            )?,
            straggler_min_ms: number(
                "SWEEP_STRAGGLER_MIN_MS",
                defaults.straggler_min_ms,
                0,
                u64::MAX,
            )?,
            invokes_per_dispatcher: number(
                "SWEEP_INVOKES_PER_DISPATCHER",
                defaults.invokes_per_dispatcher,
                1,
                100_000,
            )?,
            unstarted_ms: number("SWEEP_UNSTARTED_MS", defaults.unstarted_ms, 0, u64::MAX)?,
            supervise_max_runs: number(
                "SWEEP_SUPERVISE_MAX_RUNS",
                defaults.supervise_max_runs,
                1,
                100_000,
            )?,
            fleet_concurrency: number(
                "SWEEP_FLEET_CONCURRENCY",
                defaults.fleet_concurrency,
                1,
                1_000_000,
            )?,
            worker_timeout_ms: number(
                "SWEEP_WORKER_TIMEOUT_MS",
                defaults.worker_timeout_ms,
                0,
                u64::MAX,
            )?,
        };
        let store = store_from_env(&client)?;
        let catalog = match var("SWEEP_GLUE_DATABASE") {
            Some(db) => Some(
                GlueCatalog::new(client.clone(), Endpoint::from_env("GLUE")?, &db)
                    .with_location(&format!("s3://{}/{}", store.bucket(), store.prefix())),
            ),
            None => None,
        };
        let kernel_uploads = match var("SWEEP_KERNEL_UPLOADS").as_deref() {
            None | Some("1") => true,
            Some("0") => false,
            Some(other) => return Err(format!("SWEEP_KERNEL_UPLOADS={other:?}: want 1 or 0")),
        };
        let failure_queue = match var("SWEEP_FAILURE_QUEUE_URL") {
            Some(url) => Some(SqsQueue::new(
                client.clone(),
                Endpoint::from_env("SQS")?,
                &url,
            )?),
            None => None,
        };
        Ok(OrchestratorEnv {
            failure_queue,
            cloud,
            dispatch_concurrency: number(
                "SWEEP_DISPATCH_CONCURRENCY",
                sweep_cloud::dispatch::DEFAULT_DISPATCH_CONCURRENCY,
                1,
                256,
            )?,
            worker,
            this,
            self_invoke,
            catalog,
            store,
            kernel_uploads,
        })
    }
}

/// Reads the configuration or exits with the reason (Lambda reports an init error).
pub fn or_exit<T>(what: &str, result: Result<T, String>) -> T {
    result.unwrap_or_else(|e| {
        log(
            "error",
            &format!("{what}: configuration error"),
            serde_json::json!({"error": e}),
        );
        std::process::exit(2)
    })
}
