//! Cloud orchestration for sweep_magic, with no AWS dependency.
//!
//! The orchestrator Lambda (behind API Gateway) and the worker Lambda are thin adapters over
//! this crate: they parse events, build an object store and an [`dispatch::Invoker`] from
//! their environment once, and call the functions here, which are unit-tested against an
//! in-memory store and a recording invoker.
//!
//! Every operation is idempotent, because Lambda's asynchronous delivery is at-least-once:
//! a worker that finds a shard's marker skips it, and a shard computed twice writes the same
//! rows to the same keys.

pub mod api;
pub mod contract;
pub mod dispatch;
pub mod kernels;
pub mod orchestrator;
pub mod worker;

pub use contract::{CONTRACT_VERSION, ContractError, WorkerPayload};
pub use orchestrator::{
    Catalog, CatalogError, CloudConfig, FanoutPlan, NoCatalog, Orchestrator, RetryResponse,
    RunSummary, Settlement, SubmitResponse, SuperviseReport,
};
