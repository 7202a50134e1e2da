//! Loads kernel libraries built with `sweep_kernel_sdk` and wraps each as an [`Experiment`]
//! the engine runs like a built-in.
//!
//! Loading is content-addressed: the library's bytes are hashed (SHA-256), copied to
//! `<cache>/<sha256>.so` and opened from there, so a rebuilt kernel is a new file (never the
//! stale mapping of the old one) and the same bytes are opened once per process. Every check
//! happens before the kernel is handed out: the file is an ELF shared library, it exports the
//! ABI symbols, its ABI version is this engine's, its declarations pass the registry's rules.

mod elf;
mod ffi;

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use sweep_core::{Experiment, KernelBuild, KernelError, MetricDecl, ParamDecl, Registry, Value};

/// Why a kernel library was refused; one line naming the library or kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where loaded libraries are kept: `$SWEEP_KERNEL_CACHE`, else
/// `$XDG_CACHE_HOME/sweep_magic/kernels`, else `~/.cache/sweep_magic/kernels`, else a folder
/// in the temporary directory (as in AWS Lambda, where only `/tmp` is writable).
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SWEEP_KERNEL_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    match base {
        Some(b) if std::fs::create_dir_all(&b).is_ok() => b.join("sweep_magic").join("kernels"),
        _ => std::env::temp_dir().join("sweep_magic_kernels"),
    }
}

/// A kernel from a library: its declarations and its entry point.
pub struct LoadedKernel {
    name: &'static str,
    description: &'static str,
    params: Vec<ParamDecl>,
    metrics: Vec<MetricDecl>,
    entry: ffi::Entry,
    build: KernelBuild,
    path: PathBuf,
}

impl LoadedKernel {
    /// The content-addressed copy the kernel was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_origin(&self, origin: &str) -> LoadedKernel {
        LoadedKernel {
            name: self.name,
            description: self.description,
            params: self.params.clone(),
            metrics: self.metrics.clone(),
            entry: self.entry,
            build: KernelBuild {
                sha256: self.build.sha256.clone(),
                origin: origin.to_string(),
            },
            path: self.path.clone(),
        }
    }
}

impl Experiment for LoadedKernel {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn params(&self) -> &[ParamDecl] {
        &self.params
    }

    fn metrics(&self) -> &[MetricDecl] {
        &self.metrics
    }

    fn run(&self, params: &[Value], seed: u64) -> Result<Vec<Value>, KernelError> {
        self.entry.run(params, seed, &self.metrics)
    }

    fn build(&self) -> Option<&KernelBuild> {
        Some(&self.build)
    }
}

/// Libraries opened by this process, by SHA-256.
fn opened() -> &'static Mutex<HashMap<String, Arc<LoadedKernel>>> {
    static OPENED: OnceLock<Mutex<HashMap<String, Arc<LoadedKernel>>>> = OnceLock::new();
    OPENED.get_or_init(Default::default)
}

/// The kernel with library hash `sha256`, if this process has opened it.
pub fn loaded(sha256: &str) -> Option<Arc<LoadedKernel>> {
    opened().lock().expect("not poisoned").get(sha256).cloned()
}

/// Loads the library at `path` (origin: the path).
pub fn load_file(path: &Path, cache_dir: &Path) -> Result<Arc<LoadedKernel>, LoadError> {
    let bytes = std::fs::read(path)
        .map_err(|e| LoadError(format!("kernel library {}: {e}", path.display())))?;
    let origin = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    load_bytes(&bytes, &origin.display().to_string(), cache_dir, None)
}

/// Loads a library from its bytes. With `expected_sha256`, bytes of any other hash are
/// refused before anything is written or opened.
pub fn load_bytes(
    bytes: &[u8],
    origin: &str,
    cache_dir: &Path,
    expected_sha256: Option<&str>,
) -> Result<Arc<LoadedKernel>, LoadError> {
    let sha = sha256_hex(bytes);
    if let Some(want) = expected_sha256
        && want != sha
    {
        return Err(LoadError(format!(
            "kernel library {origin} has sha256 {sha}, expected {want}: refusing it"
        )));
    }
    let mut opened = opened().lock().expect("not poisoned");
    if let Some(k) = opened.get(&sha) {
        return Ok(if k.build.origin == origin {
            Arc::clone(k)
        } else {
            Arc::new(k.with_origin(origin))
        });
    }
    elf::check(bytes).map_err(|what| LoadError(format!("kernel library {origin} {what}")))?;
    let path = store_copy(bytes, &sha, cache_dir)
        .map_err(|e| LoadError(format!("kernel library {origin}: cannot cache it: {e}")))?;
    let (entry, declaration) = ffi::open(&path, origin)?;
    let kernel = from_declaration(&declaration, entry, &sha, origin, path)?;
    let kernel = Arc::new(kernel);
    opened.insert(sha, Arc::clone(&kernel));
    Ok(kernel)
}

fn store_copy(bytes: &[u8], sha: &str, cache_dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(cache_dir)?;
    let path = cache_dir.join(format!("{sha}.so"));
    if std::fs::read(&path).is_ok_and(|have| sha256_hex(&have) == sha) {
        return Ok(path);
    }
    let tmp = cache_dir.join(format!(".{sha}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

fn from_declaration(
    json: &str,
    entry: ffi::Entry,
    sha: &str,
    origin: &str,
    path: PathBuf,
) -> Result<LoadedKernel, LoadError> {
    let bad = |what: String| LoadError(format!("kernel library {origin}: {what}"));
    let doc: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| bad(format!("its declarations are not valid JSON: {e}")))?;
    if let Some(e) = doc["error"].as_str() {
        return Err(bad(e.to_string()));
    }
    let name = doc["name"]
        .as_str()
        .ok_or_else(|| bad("its declarations have no name".into()))?;
    let named = |what: String| LoadError(format!("kernel {name} ({origin}): {what}"));
    let params = sweep_core::declare::params_from_json(&doc["params"]).map_err(named)?;
    let metrics = sweep_core::declare::metrics_from_json(&doc["metrics"]).map_err(named)?;
    let kernel = LoadedKernel {
        name: Box::leak(name.to_string().into_boxed_str()),
        description: Box::leak(
            doc["description"]
                .as_str()
                .unwrap_or_default()
                .to_string()
                .into_boxed_str(),
        ),
        params,
        metrics,
        entry,
        build: KernelBuild {
            sha256: sha.to_string(),
            origin: origin.to_string(),
        },
        path,
    };
    Registry::check(&kernel).map_err(|e| named(e.to_string()))?;
    Ok(kernel)
}

/// Adds `kernel` to `registry`, replacing an earlier build of the same name. A name taken
/// by a built-in or Python kernel is refused.
pub fn register(registry: &mut Registry, kernel: Arc<LoadedKernel>) -> Result<(), LoadError> {
    if let Some(existing) = registry.get(kernel.name())
        && existing.build().is_none()
    {
        return Err(LoadError(format!(
            "kernel {} ({}): the name is taken by the {} experiment {}; rename the kernel",
            kernel.name(),
            kernel.build.origin,
            existing.origin(),
            kernel.name()
        )));
    }
    registry.upsert(kernel).map_err(LoadError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> PathBuf {
        std::env::temp_dir().join(format!("sweep-kernel-host-test-{}", std::process::id()))
    }

    #[test]
    fn sha256_is_lower_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // pragma: allowlist secret (the SHA-256 test vector of "abc")
        );
    }

    #[test]
    fn what_is_refused_before_opening_anything() {
        let junk = b"#!/bin/sh\necho this is not a library, but it is long enough to check\n";
        let err = load_bytes(junk, "junk.so", &cache(), None).err().unwrap();
        assert_eq!(
            err.0,
            "kernel library junk.so is not a shared library (no ELF header): build one with \
             `sweep kernel build`"
        );
        let want = sha256_hex(b"something else");
        let err = load_bytes(junk, "junk.so", &cache(), Some(&want))
            .err()
            .unwrap();
        assert_eq!(
            err.0,
            format!(
                "kernel library junk.so has sha256 {}, expected {want}: refusing it",
                sha256_hex(junk)
            )
        );
        let err = load_file(Path::new("/nonexistent/k.so"), &cache())
            .err()
            .unwrap();
        assert!(
            err.0.starts_with("kernel library /nonexistent/k.so: "),
            "{}",
            err.0
        );
        assert!(!cache().join(format!("{}.so", sha256_hex(junk))).exists());
    }

    #[test]
    fn a_damaged_library_is_refused_before_it_is_opened() {
        let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
        bytes.resize(200, 0);
        let err = load_bytes(&bytes, "cut.so", &cache(), None).err().unwrap();
        assert!(
            err.0
                .starts_with("kernel library cut.so is an ELF file of type 0"),
            "{}",
            err.0
        );
    }
}
