//! Sending worker payloads with bounded concurrency.

use crate::contract::WorkerPayload;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Starts a worker asynchronously (Lambda `InvocationType=Event` in production).
pub trait Invoker: Send + Sync {
    /// Sends one payload; an error says whether retrying can help.
    fn invoke(&self, payload: &WorkerPayload) -> Result<(), InvokeError>;
}

/// A failed invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvokeError {
    /// What failed.
    pub message: String,
    /// Whether the same invocation may succeed if retried (throttling, 5xx).
    pub retryable: bool,
}

/// What a dispatch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DispatchReport {
    /// Payloads sent.
    pub sent: usize,
    /// Payloads that could not be sent after retries: their shards stay pending, and a
    /// resume sends them again.
    pub failed: Vec<WorkerPayload>,
}

/// Worker invocations a dispatcher keeps in flight at once, unless configured otherwise.
pub const DEFAULT_DISPATCH_CONCURRENCY: usize = 16;

/// Sends `payloads` on at most `concurrency` threads, retrying retryable errors up to
/// `retries` times each.
pub fn dispatch(
    invoker: &dyn Invoker,
    payloads: &[WorkerPayload],
    concurrency: usize,
    retries: u32,
) -> DispatchReport {
    let next = AtomicUsize::new(0);
    let sent = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, payloads.len().max(1)) {
            scope.spawn(|| {
                while let Some(payload) = payloads.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut attempt = 0;
                    loop {
                        match invoker.invoke(payload) {
                            Ok(()) => {
                                sent.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(e) if e.retryable && attempt < retries => attempt += 1,
                            Err(_) => {
                                failed.lock().expect("not poisoned").push(payload.clone());
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    DispatchReport {
        sent: sent.into_inner(),
        failed: failed.into_inner().expect("not poisoned"),
    }
}
