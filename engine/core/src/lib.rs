//! The pure core of sweep_magic: spec, planning, deterministic seeds, the shard runner, the
//! Parquet result writer and storage. It knows nothing of Python or AWS; the PyO3 binding and
//! the Lambda crates are thin layers over it.
//!
//! The rule everything leans on: point `i` of a run is a pure function of the normalized spec
//! and `i` — its parameters by mixed-radix decoding of `i`, its seed by a counter-based
//! function of the run seed, `i` and the replicate. Shard size, thread count, backend and
//! retries never change a result value.

pub mod declare;
pub mod error;
/// The random stream every kernel draws from, defined once in the kernel SDK so built-in and
/// loaded kernels are bit-identical.
pub use sweep_kernel_sdk::rng;
pub mod executor;
pub mod experiment;
pub mod layout;
pub mod math;
pub mod memory_store;
pub mod run;
pub mod sample;
pub mod schema;
pub mod seed;
mod sobol_table;
pub mod spec;
pub mod status;
pub mod store;
pub mod table;

pub use error::{ErrorKind, Result, SpecError, SweepError};
pub use executor::{ExecOptions, RetryCounts, RetryFilter, RunControl, RunReport};
pub use experiment::{
    Bound, Bounds, Experiment, KernelBuild, KernelError, MetricDecl, ParamDecl, Registry, Value,
    ValueType,
};
pub use layout::{RunKeys, Table};
pub use memory_store::MemoryStore;
pub use run::{KernelResolver, Manifest, Plan, RetryRecord, Run, RunInfo, ShardMarker};
pub use spec::{FailureLimit, Limits, Spec, SpecFormat};
pub use status::{Execution, RunState, RunStatus};
pub use store::{Claim, LocalStore, Store};
pub use table::ColumnType;
