//! The unsafe part: opening a library, reading its symbols, and calling its `run`.
#![allow(unsafe_code)]

use crate::LoadError;
use std::borrow::Cow;
use std::ffi::{CStr, c_char};
use std::mem::MaybeUninit;
use std::path::Path;
use sweep_core::{KernelError, MetricDecl, Value, ValueType};
use sweep_kernel_sdk::ABI_VERSION;
use sweep_kernel_sdk::abi::{RUN_OK, RawError, RawValue, TAG_BOOL, TAG_FLOAT, TAG_INT, TAG_STR};

type AbiVersionFn = unsafe extern "C" fn() -> u32;
type DeclareFn = unsafe extern "C" fn() -> *const c_char;
type RunFn =
    unsafe extern "C" fn(*const RawValue, usize, u64, *mut RawValue, usize, *mut RawError) -> i32;

/// A library's `sweep_kernel_run`. The library is never unloaded, so the pointer stays valid
/// for the life of the process.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    run: RunFn,
}

/// Opens the library at `path` and returns its entry point and declarations JSON.
pub(crate) fn open(path: &Path, origin: &str) -> Result<(Entry, String), LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: opening runs the library's initialisers. The library is one the user asked to
    // run (a kernel they built or uploaded); the trust model is theirs, as for any code they
    // execute. RTLD_NOW resolves every symbol now, so a missing dependency fails here.
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| LoadError(format!("kernel library {origin} could not be loaded: {e}")))?;
    let missing = |symbol: &str| {
        LoadError(format!(
            "kernel library {origin} does not export {symbol}: it was not built with \
             sweep_kernel_sdk::export_kernel!"
        ))
    };
    // SAFETY: the symbols are declared by the SDK with exactly these signatures; a library
    // exporting the names with other types breaks the ABI contract documented in the SDK.
    // The version is read first, so a library of another ABI is named as such.
    let abi: AbiVersionFn = *unsafe { lib.get::<AbiVersionFn>(b"sweep_kernel_abi_version\0") }
        .map_err(|_| missing("sweep_kernel_abi_version"))?;
    // SAFETY: a function of no arguments returning an integer.
    let version = unsafe { abi() };
    if version != ABI_VERSION {
        return Err(LoadError(format!(
            "kernel library {origin} was built for kernel ABI version {version}; this \
             sweep_magic speaks version {ABI_VERSION}: rebuild it with this sweep_magic's SDK"
        )));
    }
    // SAFETY: as above.
    let (declare, run) = unsafe {
        let declare: DeclareFn = *lib
            .get::<DeclareFn>(b"sweep_kernel_declare\0")
            .map_err(|_| missing("sweep_kernel_declare"))?;
        let run: RunFn = *lib
            .get::<RunFn>(b"sweep_kernel_run\0")
            .map_err(|_| missing("sweep_kernel_run"))?;
        (declare, run)
    };
    // SAFETY: the SDK returns a NUL-terminated string that lives as long as the library.
    let json = unsafe {
        let ptr = declare();
        if ptr.is_null() {
            return Err(LoadError(format!(
                "kernel library {origin} returned no declarations"
            )));
        }
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    };
    // Never unloaded: the entry point (and any thread-local state of the library) must
    // outlive every experiment handle; a process loads a bounded number of builds.
    std::mem::forget(lib);
    Ok((Entry { run }, json))
}

/// Rows with at most this many parameters or metrics use buffers on the stack.
const INLINE: usize = 16;

fn raw(v: &Value) -> RawValue {
    match v {
        Value::Float(x) => RawValue::float(*x),
        Value::Int(i) => RawValue::int(*i),
        Value::Bool(b) => RawValue::bool(*b),
        Value::Str(s) => RawValue::str(s),
    }
}

impl Entry {
    /// Calls the kernel for one row.
    pub(crate) fn run(
        &self,
        params: &[Value],
        seed: u64,
        metrics: &[MetricDecl],
    ) -> Result<Vec<Value>, KernelError> {
        let (n_in, n_out) = (params.len(), metrics.len());
        if n_in > INLINE || n_out > INLINE {
            let input: Vec<RawValue> = params.iter().map(raw).collect();
            let mut out = vec![RawValue::EMPTY; n_out];
            return self.call(&input, seed, &mut out, metrics);
        }
        // Stack buffers, filled only as far as the row needs (no per-row allocation).
        let mut input = [MaybeUninit::<RawValue>::uninit(); INLINE];
        for (slot, v) in input.iter_mut().zip(params) {
            slot.write(raw(v));
        }
        let mut out = [MaybeUninit::<RawValue>::uninit(); INLINE];
        // SAFETY: the first `n_in` inputs were written above. The outputs are only read after
        // the library reports success, when it has written all `n_out` of them (ABI contract).
        let (input, out) = unsafe {
            (
                std::slice::from_raw_parts(input.as_ptr().cast::<RawValue>(), n_in),
                std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<RawValue>(), n_out),
            )
        };
        self.call(input, seed, out, metrics)
    }

    fn call(
        &self,
        input: &[RawValue],
        seed: u64,
        out: &mut [RawValue],
        metrics: &[MetricDecl],
    ) -> Result<Vec<Value>, KernelError> {
        let mut error = RawError::EMPTY;
        // SAFETY: `input` holds the row's values (strings borrowed from the caller's `params`,
        // alive for the call), `out` has room for every metric, `error` is writable: the ABI
        // contract.
        let code = unsafe {
            (self.run)(
                input.as_ptr(),
                input.len(),
                seed,
                out.as_mut_ptr(),
                out.len(),
                &mut error,
            )
        };
        if code != RUN_OK {
            // SAFETY: on failure the library filled `error` with its own strings, valid until
            // its next call on this thread; they are copied here.
            let (kind, message) = unsafe {
                (
                    text(error.kind_ptr, error.kind_len),
                    text(error.message_ptr, error.message_len),
                )
            };
            return Err(KernelError::new(
                if kind.is_empty() {
                    "kernel_error".into()
                } else {
                    kind
                },
                message,
            ));
        }
        let mut values = Vec::with_capacity(out.len());
        for (v, m) in out.iter().zip(metrics) {
            values.push(match (m.ty, v.tag) {
                (ValueType::Float, TAG_FLOAT) => Value::Float(v.float),
                (ValueType::Int, TAG_INT) => Value::Int(v.int),
                (ValueType::Bool, TAG_BOOL) => Value::Bool(v.int != 0),
                // SAFETY: as for the error strings above.
                (ValueType::Str, TAG_STR) => Value::Str(Cow::Owned(unsafe { text(v.ptr, v.len) })),
                _ => {
                    return Err(KernelError::new(
                        "kernel_contract",
                        format!("metric {}: the library returned tag {}", m.name, v.tag),
                    ));
                }
            });
        }
        Ok(values)
    }
}

/// Copies `len` bytes at `ptr` as text (lossy UTF-8).
///
/// # Safety
/// `ptr` points to `len` readable bytes (or `len` is 0).
unsafe fn text(ptr: *const u8, len: usize) -> String {
    if ptr.is_null() || len == 0 {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ptr, len) }).into_owned()
}
