//! Kernel libraries uploaded by clients: `kernels/<sha256>.so` in the run store. The
//! orchestrator loads one to validate a spec that pins it; workers load it to compute shards.
//! The bytes are hashed again after download and refused unless they match their key, and a
//! warm process loads each build once.

use std::path::PathBuf;
use std::sync::Arc;
use sweep_core::{Experiment, KernelBuild, KernelResolver, SpecError, Store, SweepError};

/// Loads kernels from the store, or refuses every one when uploads are turned off.
pub struct StoreKernels<'a> {
    store: &'a dyn Store,
    cache_dir: PathBuf,
    enabled: bool,
}

impl<'a> StoreKernels<'a> {
    /// Kernels from `store`, cached in `cache_dir` (in Lambda, under `/tmp`).
    pub fn new(store: &'a dyn Store, cache_dir: PathBuf, enabled: bool) -> Self {
        StoreKernels {
            store,
            cache_dir,
            enabled,
        }
    }

    /// Loads build `sha256` (checking that it declares `name`, when given).
    pub fn load(
        &self,
        name: Option<&str>,
        sha256: &str,
    ) -> Result<Arc<dyn Experiment>, SweepError> {
        let refuse = |message: String| SweepError::Spec(SpecError::new("kernel_sha256", message));
        if !self.enabled {
            return Err(refuse(
                "kernel uploads are turned off in this deployment (allow_kernel_uploads = false): \
                 only built-in experiments run here"
                    .into(),
            ));
        }
        let key = sweep_core::layout::kernel_key(sha256).ok_or_else(|| {
            refuse(format!(
                "{sha256:?} is not a sha256 (64 lower-case hex digits)"
            ))
        })?;
        let kernel = match sweep_kernel_host::loaded(sha256) {
            Some(k) => k,
            None => {
                let bytes = self.store.get(&key)?.ok_or_else(|| {
                    refuse(format!(
                        "no kernel library at {key}: upload it before submitting"
                    ))
                })?;
                sweep_kernel_host::load_bytes(&bytes, &key, &self.cache_dir, Some(sha256))
                    .map_err(|e| refuse(e.0))?
            }
        };
        if let Some(name) = name
            && kernel.name() != name
        {
            return Err(refuse(format!(
                "the library at {key} is kernel {}, not {name}",
                kernel.name()
            )));
        }
        Ok(kernel)
    }
}

impl KernelResolver for StoreKernels<'_> {
    fn resolve(&self, name: &str, build: &KernelBuild) -> sweep_core::Result<Arc<dyn Experiment>> {
        self.load(Some(name), &build.sha256)
    }
}
