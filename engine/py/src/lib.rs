//! `sweep_magic._native`: the private Python binding of the engine. Every export is listed in
//! the `#[pymodule]` below and typed in `sweep_magic/_native.pyi`. Engine errors cross into
//! Python in exactly one place, [`to_py_err`], as subclasses of `sweep_magic.SweepError`.

mod python_kernel;

use pyo3::prelude::*;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use sweep_core::{
    Experiment, Limits, LocalStore, Registry, Run, RunInfo, Spec, SpecFormat, SweepError,
};

/// The built-in kernels plus any Python kernels registered in this process.
fn registry_lock() -> &'static RwLock<Registry> {
    static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(sim_experiments::registry()))
}

/// A snapshot of the registry (cheap: experiments are shared).
fn registry() -> Registry {
    registry_lock()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Converts an engine error into the exception of `sweep_magic.errors` for its kind (the
/// Python side keeps the one kind → class table, shared with the cloud client).
fn to_py_err(err: SweepError) -> PyErr {
    Python::attach(|py| {
        let made = py
            .import("sweep_magic.errors")
            .and_then(|m| m.getattr("error_for_kind"))
            .and_then(|f| f.call1((err.kind().as_str(), err.to_string(), err.path())));
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        }
    })
}

fn limits(max_rows: Option<u64>, max_spec_bytes: Option<usize>) -> Limits {
    let mut l = Limits::default();
    if let Some(m) = max_rows {
        l.max_rows = m;
    }
    if let Some(m) = max_spec_bytes {
        l.max_spec_bytes = m;
    }
    l
}

fn parse_spec(text: &str, format: &str, limits: &Limits) -> Result<Spec, SweepError> {
    let fmt = SpecFormat::from_name(format).ok_or_else(|| {
        sweep_core::SpecError::new(
            "",
            format!("unknown spec format {format:?}; use json, yaml or toml"),
        )
    })?;
    Ok(Spec::parse(text, fmt, &registry(), limits)?)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Converts a serializable engine value into plain Python objects (dicts, lists, numbers,
/// strings); the `.pyi` gives each its TypedDict from `sweep_magic._types`.
fn to_py<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    Ok(pythonize::pythonize(py, value)?)
}

/// The experiment registry: one dict per experiment.
#[pyfunction]
fn experiments(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &registry().to_json())
}

/// The JSON Schema of a spec (pretty JSON), for the built-in experiments or, with
/// `include_python`, also the Python kernels registered in this process.
#[pyfunction]
#[pyo3(signature = (include_python=false))]
fn spec_schema_json(include_python: bool) -> String {
    let reg = if include_python {
        registry()
    } else {
        sim_experiments::registry()
    };
    let schema = sweep_core::schema::spec_json_schema(&reg, &Limits::default());
    serde_json::to_string_pretty(&schema).expect("schema serializes") + "\n"
}

/// Validates spec text; returns the normalized spec, its hash and its plan.
#[pyfunction]
#[pyo3(signature = (text, format, max_rows=None, max_spec_bytes=None))]
fn check_spec<'py>(
    py: Python<'py>,
    text: &str,
    format: &str,
    max_rows: Option<u64>,
    max_spec_bytes: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = parse_spec(text, format, &limits(max_rows, max_spec_bytes)).map_err(to_py_err)?;
    let plan = sweep_core::Plan::for_spec(&spec);
    // Whether the author chose a shard size (the cloud backend sizes shards itself otherwise).
    let given = SpecFormat::from_name(format)
        .and_then(|fmt| sweep_core::spec::parse_document(text, fmt).ok())
        .is_some_and(|doc| doc.get("shard_size").is_some());
    let checked = serde_json::json!({
        "spec": spec.normalized(),
        "hash": spec.content_hash(),
        "plan": plan,
        "shard_size_given": given,
    });
    to_py(py, &checked)
}

/// Parameter values of points `start..start+count` of a spec (clipped to its size), as a
/// list of dicts in declaration order.
#[pyfunction]
#[pyo3(signature = (text, format, start, count, max_rows=None))]
fn preview_points<'py>(
    py: Python<'py>,
    text: &str,
    format: &str,
    start: u64,
    count: u64,
    max_rows: Option<u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = parse_spec(text, format, &limits(max_rows, None)).map_err(to_py_err)?;
    let end = start.saturating_add(count).min(spec.points());
    let names: Vec<&str> = spec.experiment.params().iter().map(|p| p.name).collect();
    let rows: Vec<serde_json::Value> = (start.min(end)..end)
        .map(|i| {
            let values = spec.decode(i);
            let mut row = serde_json::Map::new();
            row.insert("point".into(), serde_json::Value::from(i));
            for (name, v) in names.iter().zip(&values) {
                row.insert((*name).to_string(), v.to_json());
            }
            serde_json::Value::Object(row)
        })
        .collect();
    to_py(py, &rows)
}

/// Mean wall seconds per row of a spec, from up to `samples` rows spread over its points
/// (computed in memory, nothing written): the basis of time estimates.
#[pyfunction]
fn time_rows(py: Python<'_>, text: &str, format: &str, samples: u64) -> PyResult<f64> {
    let spec = parse_spec(text, format, &limits(None, None)).map_err(to_py_err)?;
    let points = spec.points();
    let n = samples.clamp(1, points.max(1));
    py.detach(|| {
        let started = std::time::Instant::now();
        for k in 0..n {
            let point = k * points / n;
            let params = spec.decode(point);
            let seed = sweep_core::seed::point_seed(spec.seed, point, 0);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                spec.experiment.run(&params, seed)
            }));
        }
        Ok(started.elapsed().as_secs_f64() / n as f64)
    })
}

/// A new run id: `YYYYMMDD-HHMMSS-xxxxxxxx` from the clock and `entropy`.
#[pyfunction]
fn new_run_id(entropy: u32) -> String {
    sweep_core::layout::new_run_id(now_secs(), entropy)
}

/// Creates run `run_id` under the local `root` from spec text; returns its manifest .
#[pyfunction]
#[pyo3(signature = (root, text, format, run_id, max_rows=None))]
fn create_run<'py>(
    py: Python<'py>,
    root: &str,
    text: &str,
    format: &str,
    run_id: &str,
    max_rows: Option<u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = parse_spec(text, format, &limits(max_rows, None)).map_err(to_py_err)?;
    let store = LocalStore::new(root);
    let created_at = sweep_core::layout::rfc3339(now_secs());
    // `shard_size: "auto"` is sized for this machine's cores.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let target = sweep_core::spec::ShardTarget::local(threads);
    let run = py
        .detach(|| Run::create_planned(&store, spec, run_id, &created_at, Some(&target)))
        .map_err(to_py_err)?;
    to_py(py, &run.manifest)
}

/// The shard size `shard_size: "auto"` chooses for `points` points of `replicates` rows at
/// `row_seconds` each (shards of about `shard_seconds`, at least `min_shard_seconds`, for
/// `parallelism` workers), and its reason.
#[pyfunction]
fn auto_shard_size(
    points: u64,
    replicates: u64,
    row_seconds: f64,
    shard_seconds: f64,
    min_shard_seconds: f64,
    parallelism: u64,
) -> (u64, String) {
    let target = sweep_core::spec::ShardTarget {
        shard_seconds,
        min_shard_seconds,
        parallelism,
        calibration: std::time::Duration::ZERO,
    };
    sweep_core::spec::auto_shard_size(
        points,
        replicates,
        row_seconds,
        &target,
        Limits::default().max_shard_size,
    )
}

/// The cloud's `shard_size: "auto"` target for `shards_per_invoke` and a `fleet` of
/// concurrent Lambdas: `(shard_seconds, min_shard_seconds, parallelism)`.
#[pyfunction]
fn cloud_shard_target(shards_per_invoke: u64, fleet: u64) -> (f64, f64, u64) {
    let t = sweep_core::spec::ShardTarget::cloud(shards_per_invoke, fleet);
    (t.shard_seconds, t.min_shard_seconds, t.parallelism)
}

/// Reads the manifest of run `run_id` under `root` .
#[pyfunction]
fn open_run<'py>(py: Python<'py>, root: &str, run_id: &str) -> PyResult<Bound<'py, PyAny>> {
    let run = RunInfo::open(&LocalStore::new(root), run_id).map_err(to_py_err)?;
    to_py(py, &run.manifest)
}

/// Shards of run `run_id` that have no marker yet. Opens the run to compute it, so a run
/// whose experiment (or kernel build) this process has not loaded is refused here, before a
/// resume changes anything.
#[pyfunction]
fn pending_shards(root: &str, run_id: &str) -> PyResult<Vec<u64>> {
    let store = LocalStore::new(root);
    let run = Run::open(&store, run_id, &registry()).map_err(to_py_err)?;
    run.pending_shards(&store).map_err(to_py_err)
}

/// Progress of run `run_id` under `root`, aggregated from its shard markers .
#[pyfunction]
fn run_status<'py>(py: Python<'py>, root: &str, run_id: &str) -> PyResult<Bound<'py, PyAny>> {
    let store = LocalStore::new(root);
    let run = RunInfo::open(&store, run_id).map_err(to_py_err)?;
    let status = run.status(&store).map_err(to_py_err)?;
    to_py(py, &status)
}

/// Why run `run_id`'s failure threshold stopped it, if it did.
#[pyfunction]
fn failure_reason(root: &str, run_id: &str) -> PyResult<Option<String>> {
    let store = LocalStore::new(root);
    let run = RunInfo::open(&store, run_id).map_err(to_py_err)?;
    run.failure_reason(&store).map_err(to_py_err)
}

/// Every run under `root`: a list of `{manifest, status}`, oldest first.
#[pyfunction]
fn list_runs<'py>(py: Python<'py>, root: &str) -> PyResult<Bound<'py, PyAny>> {
    let store = LocalStore::new(root);
    let mut out = Vec::new();
    let keys =
        sweep_core::Store::list(&store, sweep_core::layout::RUNS_PREFIX).map_err(to_py_err)?;
    for key in keys {
        let Some(run_id) = sweep_core::layout::run_id_of_manifest_key(&key) else {
            continue;
        };
        // Read the manifest as stored: listing must not need the run's kernel registered.
        let bytes = sweep_core::Store::get(&store, &key)
            .map_err(to_py_err)?
            .unwrap_or_default();
        let Ok(manifest) = serde_json::from_slice::<sweep_core::Manifest>(&bytes) else {
            continue;
        };
        if manifest.run_id != run_id {
            continue;
        }
        let status = sweep_core::status::status_of(&store, &manifest).map_err(to_py_err)?;
        out.push(serde_json::json!({"manifest": manifest, "status": status}));
    }
    to_py(py, &out)
}

/// Requests cancellation of run `run_id` (seen by every process running it).
#[pyfunction]
fn request_cancel(root: &str, run_id: &str) -> PyResult<()> {
    let store = LocalStore::new(root);
    let run = RunInfo::open(&store, run_id).map_err(to_py_err)?;
    run.request_cancel(&store).map_err(to_py_err)
}

/// Withdraws a cancel request of run `run_id` (before resuming it).
#[pyfunction]
fn clear_cancel(root: &str, run_id: &str) -> PyResult<()> {
    let store = LocalStore::new(root);
    let run = RunInfo::open(&store, run_id).map_err(to_py_err)?;
    run.clear_cancel(&store).map_err(to_py_err)
}

/// The orchestrator's defaults (shards per invocation, parallel invokes per dispatcher,
/// invocations per dispatcher, the payload's shard limit), for estimates and documentation.
#[pyfunction]
fn cloud_defaults() -> std::collections::HashMap<&'static str, u64> {
    let c = sweep_cloud::CloudConfig::default();
    std::collections::HashMap::from([
        ("shards_per_invoke", c.shards_per_invoke as u64),
        (
            "dispatch_concurrency",
            sweep_cloud::dispatch::DEFAULT_DISPATCH_CONCURRENCY as u64,
        ),
        ("invokes_per_dispatcher", c.invokes_per_dispatcher as u64),
        (
            "max_shards_per_invoke",
            sweep_cloud::contract::MAX_SHARDS_PER_INVOKE as u64,
        ),
    ])
}

/// The API's routes as `(method, path template)`.
#[pyfunction]
fn api_routes() -> Vec<(&'static str, &'static str)> {
    sweep_cloud::api::ROUTES.to_vec()
}

/// A run's state from its progress and what the caller knows of its execution: `unknown`
/// (read from storage), `running`, `ended`, `cancelled` (an execution that ended cancelled)
/// or `fleet` (the cloud fleet drives it).
#[pyfunction]
#[pyo3(signature = (shards_total, shards_done, cancel_requested, execution, failed=false))]
fn run_state(
    shards_total: u64,
    shards_done: u64,
    cancel_requested: bool,
    execution: &str,
    failed: bool,
) -> PyResult<&'static str> {
    use sweep_core::Execution;
    let execution = match execution {
        "unknown" => Execution::Unknown,
        "running" => Execution::Running,
        "ended" => Execution::Ended { cancelled: false },
        "cancelled" => Execution::Ended { cancelled: true },
        "fleet" => Execution::Fleet,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown execution {other:?}"
            )));
        }
    };
    let status = sweep_core::RunStatus {
        shards_total,
        shards_done,
        cancel_requested,
        failed,
        ..sweep_core::RunStatus::default()
    };
    Ok(status.state(execution).as_str())
}

/// Every key template of the result layout, by name.
#[pyfunction]
fn layout_templates() -> std::collections::HashMap<&'static str, &'static str> {
    sweep_core::layout::TEMPLATES.into_iter().collect()
}

/// The keys (relative to the root) of run `run_id` of `experiment` with `shards` shards:
/// `manifest`, `run`, `markers`, `cancel`, `results` and `failures` (the run's partitions).
#[pyfunction]
fn run_keys(
    run_id: &str,
    experiment: &str,
    shards: u64,
) -> PyResult<std::collections::HashMap<&'static str, String>> {
    let keys =
        sweep_core::RunKeys::new(run_id, experiment, sweep_core::layout::shard_width(shards))
            .map_err(|e| to_py_err(e.into()))?;
    Ok(std::collections::HashMap::from([
        ("manifest", keys.manifest()),
        ("run", keys.run_prefix()),
        ("markers", keys.markers_prefix()),
        ("cancel", keys.cancel()),
        ("results", keys.results_prefix()),
        ("failures", keys.failures_prefix()),
    ]))
}

/// `runs/<run_id>/manifest.json` for a valid run id.
#[pyfunction]
fn manifest_key(run_id: &str) -> PyResult<String> {
    sweep_core::layout::validate_run_id(run_id).map_err(|e| to_py_err(e.into()))?;
    Ok(sweep_core::layout::manifest_key(run_id))
}

/// The folder of `table` (`results` or `failures`) of `experiment`: `<table>/<experiment>/`.
#[pyfunction]
fn table_prefix(table: &str, experiment: &str) -> PyResult<String> {
    let table = sweep_core::Table::ALL
        .into_iter()
        .find(|t| t.name() == table)
        .ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!("unknown table {table:?}"))
        })?;
    Ok(table.prefix(experiment))
}

/// The run id of a partition folder name (`run_id=<id>`), or None.
#[pyfunction]
fn run_id_of_partition(name: &str) -> Option<String> {
    sweep_core::layout::run_id_of_partition(name).map(str::to_string)
}

/// Cancellation flag and live counters shared with a running run.
#[pyclass(frozen, module = "sweep_magic._native")]
struct RunControl {
    inner: Arc<sweep_core::RunControl>,
}

#[pymethods]
impl RunControl {
    #[new]
    fn new() -> Self {
        RunControl {
            inner: Arc::new(sweep_core::RunControl::new()),
        }
    }

    /// Asks the run to stop before its next point.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// Whether cancellation was asked for.
    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// Shards completed so far.
    #[getter]
    fn shards_done(&self) -> u64 {
        self.inner.shards_done()
    }

    /// Result rows written so far.
    #[getter]
    fn rows_ok(&self) -> u64 {
        self.inner.rows_ok()
    }

    /// Failure rows written so far.
    #[getter]
    fn rows_failed(&self) -> u64 {
        self.inner.rows_failed()
    }
}

/// Computes the pending shards (or `shards`) of run `run_id` under the local `root` on
/// `threads` threads, with the GIL released. Returns a report.
///
/// With `retry_kinds` (a list; empty = every kind), retries instead the failed rows of those
/// error kinds in `shards` (default: every shard with failures); see `retry_begin`.
#[pyfunction]
#[pyo3(signature = (root, run_id, threads, control, shards=None, retry_kinds=None))]
fn run_local<'py>(
    py: Python<'py>,
    root: &str,
    run_id: &str,
    threads: usize,
    control: &RunControl,
    shards: Option<Vec<u64>>,
    retry_kinds: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyAny>> {
    let store = LocalStore::new(root);
    let run = Run::open(&store, run_id, &registry()).map_err(to_py_err)?;
    let retry = retry_kinds.map(|error_kinds| sweep_core::RetryFilter {
        error_kinds,
        attempt: 0,
    });
    let shards = match (shards, &retry) {
        (Some(s), _) => s,
        (None, Some(_)) => run.failed_shards(&store).map_err(to_py_err)?,
        (None, None) => run.pending_shards(&store).map_err(to_py_err)?,
    };
    let inner = control.inner.clone();
    let options = sweep_core::ExecOptions {
        retry: retry.as_ref(),
        ..sweep_core::ExecOptions::threads(threads)
    };
    let report = py
        .detach(|| run.execute(&store, &shards, &options, &inner))
        .map_err(to_py_err)?;
    to_py(py, &report)
}

/// Starts a retry of run `run_id`'s failed rows of `error_kinds` (empty = all): records the
/// attempt (`runs/<id>/retries/<n>.json`) and returns it with the shards to retry. The run's
/// experiment (and kernel build) must be loaded, as for a resume.
#[pyfunction]
fn retry_begin<'py>(
    py: Python<'py>,
    root: &str,
    run_id: &str,
    error_kinds: Vec<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let store = LocalStore::new(root);
    let run = Run::open(&store, run_id, &registry()).map_err(to_py_err)?;
    let shards = run.failed_shards(&store).map_err(to_py_err)?;
    let filter = sweep_core::RetryFilter {
        error_kinds,
        attempt: 0,
    };
    let started = sweep_core::layout::rfc3339(now_secs());
    let record = run
        .begin_retry(&store, &filter, shards.len() as u64, &started)
        .map_err(to_py_err)?;
    to_py(py, &serde_json::json!({"record": record, "shards": shards}))
}

/// Records how retry `attempt` of run `run_id` ended.
#[pyfunction]
fn retry_finish<'py>(
    py: Python<'py>,
    root: &str,
    run_id: &str,
    attempt: u32,
    rows_retried: u64,
    rows_recovered: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let store = LocalStore::new(root);
    let run = RunInfo::open(&store, run_id).map_err(to_py_err)?;
    let record = run
        .retries(&store)
        .map_err(to_py_err)?
        .into_iter()
        .find(|r| r.attempt == attempt)
        .ok_or_else(|| to_py_err(SweepError::NotFound(format!("retry {attempt} of {run_id}"))))?;
    let counts = sweep_core::RetryCounts {
        retried: rows_retried,
        recovered: rows_recovered,
    };
    let finished = sweep_core::layout::rfc3339(now_secs());
    let record = run
        .finish_retry(&store, record, counts, &finished)
        .map_err(to_py_err)?;
    // A run its failure threshold stopped is no longer failed once the retry brought it back
    // under the threshold: its stop request goes, and a resume finishes it.
    if run.failure_reason(&store).map_err(to_py_err)?.is_some() {
        let status = run.status(&store).map_err(to_py_err)?;
        let limit = sweep_core::FailureLimit::of_normalized(&run.manifest.spec);
        if limit
            .exceeded(status.rows_failed, status.rows_total)
            .is_none()
        {
            run.clear_cancel(&store).map_err(to_py_err)?;
        }
    }
    to_py(py, &record)
}

/// The retries of run `run_id`'s failed rows, oldest first.
#[pyfunction]
fn run_retries<'py>(py: Python<'py>, root: &str, run_id: &str) -> PyResult<Bound<'py, PyAny>> {
    let store = LocalStore::new(root);
    let run = RunInfo::open(&store, run_id).map_err(to_py_err)?;
    to_py(py, &run.retries(&store).map_err(to_py_err)?)
}

/// Registers (or replaces) a Python kernel: `params_json` and `metrics_json` are lists of
/// declarations; `func(**params, seed=...)` returns a mapping or sequence of metrics.
#[pyfunction]
fn register_python_experiment(
    name: &str,
    description: &str,
    params_json: &str,
    metrics_json: &str,
    func: Py<PyAny>,
) -> PyResult<()> {
    if sim_experiments::registry().get(name).is_some() {
        return Err(to_py_err(SweepError::Spec(sweep_core::SpecError::new(
            "name",
            format!("{name:?} is a built-in experiment; choose another name"),
        ))));
    }
    let experiment =
        python_kernel::PyExperiment::new(name, description, params_json, metrics_json, func)
            .map_err(|m| {
                to_py_err(SweepError::Spec(sweep_core::SpecError::new(
                    "experiment",
                    m,
                )))
            })?;
    registry_lock()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .upsert(Arc::new(experiment))
        .map_err(|m| {
            to_py_err(SweepError::Spec(sweep_core::SpecError::new(
                "experiment",
                m,
            )))
        })
}

fn kernel_err(e: sweep_kernel_host::LoadError) -> PyErr {
    to_py_err(SweepError::Spec(sweep_core::SpecError::new("", e.0)))
}

fn register_kernel(
    py: Python<'_>,
    kernel: Arc<sweep_kernel_host::LoadedKernel>,
) -> PyResult<Bound<'_, PyAny>> {
    let name = kernel.name();
    {
        let mut registry = registry_lock()
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sweep_kernel_host::register(&mut registry, kernel).map_err(kernel_err)?;
    }
    let entry = registry()
        .to_json()
        .as_array()
        .and_then(|all| all.iter().find(|e| e["name"] == name).cloned())
        .expect("just registered");
    to_py(py, &entry)
}

/// Loads a kernel library built with the kernel SDK from `path`, registers it (replacing an
/// earlier build of the same name) and returns its registry entry.
#[pyfunction]
fn load_kernel<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
    let cache = sweep_kernel_host::default_cache_dir();
    let kernel = py
        .detach(|| sweep_kernel_host::load_file(std::path::Path::new(path), &cache))
        .map_err(kernel_err)?;
    register_kernel(py, kernel)
}

/// Loads a kernel library from its bytes (as shipped to a Ray worker); with `sha256`, other
/// bytes are refused. `origin` labels it in listings.
#[pyfunction]
#[pyo3(signature = (data, origin, sha256=None))]
fn load_kernel_bytes<'py>(
    py: Python<'py>,
    data: &[u8],
    origin: &str,
    sha256: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = sweep_kernel_host::default_cache_dir();
    let kernel = py
        .detach(|| sweep_kernel_host::load_bytes(data, origin, &cache, sha256))
        .map_err(kernel_err)?;
    register_kernel(py, kernel)
}

/// `(library path, sha256)` of the loaded kernel `name`, or `None` for a built-in or Python
/// kernel (or an unknown name).
#[pyfunction]
fn kernel_library(name: &str) -> Option<(String, String)> {
    let registry = registry();
    let experiment = registry.get(name)?;
    let build = experiment.build()?;
    let path = sweep_kernel_host::default_cache_dir().join(format!("{}.so", build.sha256));
    Some((path.display().to_string(), build.sha256.clone()))
}

/// Keeps kernel panics on shard threads off stderr: the runner catches them and records each
/// as a failure row (`error_kind` = `panic`, with the message), so printing them too would only
/// flood a notebook. Panics anywhere else still print as usual.
fn quiet_kernel_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_shard_thread =
                std::thread::current().name() == Some(sweep_core::executor::SHARD_THREAD_NAME);
            if !on_shard_thread {
                previous(info);
            }
        }));
    });
}

/// The private native module of sweep_magic.
#[pymodule]
mod _native {
    #[pymodule_export]
    use super::{
        RunControl, api_routes, auto_shard_size, check_spec, clear_cancel, cloud_defaults,
        cloud_shard_target, create_run, experiments, failure_reason, kernel_library,
        layout_templates, list_runs, load_kernel, load_kernel_bytes, manifest_key, new_run_id,
        open_run, pending_shards, preview_points, register_python_experiment, request_cancel,
        retry_begin, retry_finish, run_id_of_partition, run_keys, run_local, run_retries,
        run_state, run_status, spec_schema_json, table_prefix, time_rows,
    };

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        super::quiet_kernel_panics();
        m.add("ENGINE_VERSION", sweep_core::run::ENGINE_VERSION)
    }
}
