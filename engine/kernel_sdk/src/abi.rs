//! The C ABI between a kernel library and the engine, version [`crate::ABI_VERSION`].
//!
//! A kernel library exports three symbols (the [`crate::export_kernel`] macro writes them):
//!
//! - `u32 sweep_kernel_abi_version(void)` — the version it was built for; the engine reads
//!   it first and refuses any other.
//! - `const char *sweep_kernel_declare(void)` — its declarations as NUL-terminated UTF-8
//!   JSON (`{"abi", "name", "description", "params": [...], "metrics": [...]}`), valid for the
//!   library's lifetime.
//! - `int32_t sweep_kernel_run(const RawValue *params, size_t n_params, uint64_t seed,
//!   RawValue *out, size_t n_out, RawError *error)` — computes one row. Returns [`RUN_OK`]
//!   with `n_out` metrics written to `out`, or [`RUN_FAILED`] with `error` filled (a kernel
//!   error, a panic caught at the boundary, or a broken contract). String data written to
//!   `out` and `error` belongs to the library and stays valid until the next call on the same
//!   thread; the engine copies it at once.

use crate::decl::{Declaration, KernelError, Params, Value, ValueType};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The row was computed.
pub const RUN_OK: i32 = 0;
/// The row failed; `error` says why.
pub const RUN_FAILED: i32 = 1;

/// Tag of a [`RawValue`] holding a float.
pub const TAG_FLOAT: u32 = 0;
/// Tag of a [`RawValue`] holding an integer.
pub const TAG_INT: u32 = 1;
/// Tag of a [`RawValue`] holding a boolean (in `int`, 0 or 1).
pub const TAG_BOOL: u32 = 2;
/// Tag of a [`RawValue`] holding a UTF-8 string (`ptr`, `len`).
pub const TAG_STR: u32 = 3;

/// One value across the boundary: `tag` says which field holds it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawValue {
    /// One of the `TAG_*` constants.
    pub tag: u32,
    /// The integer or boolean.
    pub int: i64,
    /// The float.
    pub float: f64,
    /// UTF-8 bytes of a string (not NUL-terminated).
    pub ptr: *const u8,
    /// Length of the string in bytes.
    pub len: usize,
}

impl RawValue {
    /// A placeholder to fill.
    pub const EMPTY: RawValue = RawValue {
        tag: TAG_FLOAT,
        int: 0,
        float: 0.0,
        ptr: std::ptr::null(),
        len: 0,
    };

    /// A float.
    pub fn float(x: f64) -> Self {
        RawValue {
            float: x,
            ..Self::EMPTY
        }
    }

    /// An integer.
    pub fn int(i: i64) -> Self {
        RawValue {
            tag: TAG_INT,
            int: i,
            ..Self::EMPTY
        }
    }

    /// A boolean.
    pub fn bool(b: bool) -> Self {
        RawValue {
            tag: TAG_BOOL,
            int: b as i64,
            ..Self::EMPTY
        }
    }

    /// A string borrowing `s`: valid only while `s` is.
    pub fn str(s: &str) -> Self {
        RawValue {
            tag: TAG_STR,
            ptr: s.as_ptr(),
            len: s.len(),
            ..Self::EMPTY
        }
    }

    /// The float (an integer widened), if numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self.tag {
            TAG_FLOAT => Some(self.float),
            TAG_INT => Some(self.int as f64),
            _ => None,
        }
    }

    /// The integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        (self.tag == TAG_INT).then_some(self.int)
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        (self.tag == TAG_BOOL).then_some(self.int != 0)
    }

    /// The string, if it is one and valid UTF-8.
    ///
    /// # Safety
    /// For a string value, `ptr` must point to `len` readable bytes that outlive `'a`.
    pub unsafe fn as_str<'a>(&self) -> Option<&'a str> {
        if self.tag != TAG_STR {
            return None;
        }
        if self.len == 0 {
            return Some("");
        }
        // SAFETY: guaranteed by the caller.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).ok()
    }
}

/// Why a row failed: `kind` and `message` as UTF-8 (pointers into the library).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawError {
    /// Error kind bytes.
    pub kind_ptr: *const u8,
    /// Error kind length.
    pub kind_len: usize,
    /// Message bytes.
    pub message_ptr: *const u8,
    /// Message length.
    pub message_len: usize,
}

impl RawError {
    /// An empty error to fill.
    pub const EMPTY: RawError = RawError {
        kind_ptr: std::ptr::null(),
        kind_len: 0,
        message_ptr: std::ptr::null(),
        message_len: 0,
    };
}

thread_local! {
    /// Strings handed to the engine from the last call on this thread.
    static OUT_STRINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn quiet_panics() {
    // The library has its own copy of std and so its own panic hook: panics are reported as
    // failure rows, not printed once per row.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the kernel panicked".to_string()
    }
}

fn wrong_type(m: &crate::decl::Metric, v: &Value) -> KernelError {
    KernelError::new(
        "kernel_contract",
        format!(
            "metric {}: the kernel returned a {}, it declares {}",
            m.name(),
            v.value_type().name(),
            m.value_type().name()
        ),
    )
}

/// The body of `sweep_kernel_run`: calls `run` with the row's parameters, catching panics,
/// and writes the metrics or the error.
///
/// # Safety
/// `params` points to `n_params` values (strings valid UTF-8 for the call), `out` to `n_out`
/// writable values, `error` to one writable [`RawError`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn run(
    decl: &Declaration,
    run: fn(&Params, u64) -> Result<Vec<Value>, KernelError>,
    params: *const RawValue,
    n_params: usize,
    seed: u64,
    out: *mut RawValue,
    n_out: usize,
    error: *mut RawError,
) -> i32 {
    quiet_panics();
    let result = if n_params != decl.params.len() || n_out != decl.metrics.len() {
        Err(KernelError::new(
            "kernel_contract",
            format!(
                "the engine passed {n_params} parameters and room for {n_out} metrics; the \
                 kernel declares {} and {}",
                decl.params.len(),
                decl.metrics.len()
            ),
        ))
    } else {
        // SAFETY: `params` holds `n_params` values (the caller's contract).
        let raw = if n_params == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(params, n_params) }
        };
        let p = Params { decl, raw };
        match catch_unwind(AssertUnwindSafe(|| run(&p, seed))) {
            Ok(Ok(values)) if values.len() == n_out => Ok(values),
            Ok(Ok(values)) => Err(KernelError::new(
                "kernel_contract",
                format!(
                    "the kernel returned {} values, it declares {} metrics",
                    values.len(),
                    n_out
                ),
            )),
            Ok(Err(e)) => Err(e),
            Err(payload) => Err(KernelError::new("panic", panic_message(payload.as_ref()))),
        }
    };
    let values = match result {
        Ok(values) => values,
        Err(e) => return fail(e, error),
    };
    // Numbers and booleans go straight to `out`; strings are kept alive in this thread's
    // buffer (touched only when there is one) until the next call.
    let mut kept = false;
    for (i, (v, m)) in values.into_iter().zip(&decl.metrics).enumerate() {
        let raw = match (v, m.value_type()) {
            (Value::Float(x), ValueType::Float) => RawValue::float(x),
            (Value::Int(n), ValueType::Float) => RawValue::float(n as f64),
            (Value::Int(n), ValueType::Int) => RawValue::int(n),
            (Value::Bool(b), ValueType::Bool) => RawValue::bool(b),
            (Value::Str(s), ValueType::Str) => OUT_STRINGS.with(|cell| {
                let mut strings = cell.borrow_mut();
                if !kept {
                    strings.clear();
                    kept = true;
                }
                strings.push(s);
                RawValue::str(strings.last().expect("just pushed"))
            }),
            (v, _) => return fail(wrong_type(m, &v), error),
        };
        // SAFETY: `out` holds `n_out` == metrics.len() writable values.
        unsafe { out.add(i).write(raw) };
    }
    RUN_OK
}

/// Computes one row through the same boundary the engine calls, from safe code: what a
/// kernel's own tests use (the `export_kernel!` macro wraps it as `sweep_kernel_call`).
/// Parameters come in declaration order.
pub fn call(
    decl: &Declaration,
    run_fn: fn(&Params, u64) -> Result<Vec<Value>, KernelError>,
    params: &[Value],
    seed: u64,
) -> Result<Vec<Value>, KernelError> {
    let input: Vec<RawValue> = params
        .iter()
        .map(|v| match v {
            Value::Float(x) => RawValue::float(*x),
            Value::Int(i) => RawValue::int(*i),
            Value::Bool(b) => RawValue::bool(*b),
            Value::Str(s) => RawValue::str(s),
        })
        .collect();
    let mut out = vec![RawValue::EMPTY; decl.metrics.len()];
    let mut error = RawError::EMPTY;
    // SAFETY: `input` borrows `params` for the call, `out` has a slot per metric.
    let code = unsafe {
        run(
            decl,
            run_fn,
            input.as_ptr(),
            input.len(),
            seed,
            out.as_mut_ptr(),
            out.len(),
            &mut error,
        )
    };
    let text = |ptr: *const u8, len: usize| -> String {
        if len == 0 {
            return String::new();
        }
        // SAFETY: the strings live in this thread's buffer until the next call.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ptr, len) }).into_owned()
    };
    if code != RUN_OK {
        return Err(KernelError::new(
            text(error.kind_ptr, error.kind_len),
            text(error.message_ptr, error.message_len),
        ));
    }
    Ok(out
        .iter()
        .map(|v| match v.tag {
            TAG_INT => Value::Int(v.int),
            TAG_BOOL => Value::Bool(v.int != 0),
            TAG_STR => Value::Str(text(v.ptr, v.len)),
            _ => Value::Float(v.float),
        })
        .collect())
}

/// Writes `e` to `error` (its strings kept in this thread's buffer) and returns RUN_FAILED.
fn fail(e: KernelError, error: *mut RawError) -> i32 {
    OUT_STRINGS.with(|cell| {
        let mut strings = cell.borrow_mut();
        strings.clear();
        strings.push(e.kind);
        strings.push(e.message);
        let raw = RawError {
            kind_ptr: strings[0].as_ptr(),
            kind_len: strings[0].len(),
            message_ptr: strings[1].as_ptr(),
            message_len: strings[1].len(),
        };
        // SAFETY: `error` points to one writable RawError (the caller's contract).
        unsafe { error.write(raw) };
    });
    RUN_FAILED
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decl::{Metric, Param};

    fn kernel(p: &Params, seed: u64) -> Result<Vec<Value>, KernelError> {
        match p.str("mode") {
            "ok" => Ok(vec![
                Value::from(p.f64("x") * 2.0),
                Value::from(format!("s{seed}")),
            ]),
            "error" => Err(KernelError::new("diverged", "too big")),
            "panic" => panic!("boom {}", p.i64("n")),
            "wrong" => Ok(vec![Value::from(true), Value::from("x")]),
            _ => Ok(vec![Value::from(p.f64("undeclared"))]),
        }
    }

    fn call(mode: &str) -> Result<(f64, String), (String, String)> {
        let decl = Declaration::new(
            "k",
            "",
            vec![Param::float("x"), Param::str("mode"), Param::int("n")],
            vec![Metric::float("y"), Metric::str("label")],
        );
        let params = [RawValue::float(1.5), RawValue::str(mode), RawValue::int(7)];
        let mut out = [RawValue::EMPTY; 2];
        let mut err = RawError::EMPTY;
        let code = unsafe {
            run(
                &decl,
                kernel,
                params.as_ptr(),
                3,
                42,
                out.as_mut_ptr(),
                2,
                &mut err,
            )
        };
        let text = |p: *const u8, n: usize| {
            String::from_utf8(unsafe { std::slice::from_raw_parts(p, n) }.to_vec()).unwrap()
        };
        if code == RUN_OK {
            Ok((
                out[0].float,
                unsafe { out[1].as_str() }.unwrap().to_string(),
            ))
        } else {
            Err((
                text(err.kind_ptr, err.kind_len),
                text(err.message_ptr, err.message_len),
            ))
        }
    }

    #[test]
    fn call_is_the_safe_way_through() {
        let decl = Declaration::new(
            "k",
            "",
            vec![Param::float("x"), Param::str("mode"), Param::int("n")],
            vec![Metric::float("y"), Metric::str("label")],
        );
        let row =
            |mode: &str| super::call(&decl, kernel, &[1.5.into(), mode.into(), 7i64.into()], 42);
        assert_eq!(row("ok"), Ok(vec![Value::Float(3.0), Value::from("s42")]));
        assert_eq!(row("error"), Err(KernelError::new("diverged", "too big")));
        assert_eq!(row("panic").unwrap_err().kind, "panic");
    }

    #[test]
    fn rows_errors_and_panics_cross_the_boundary() {
        assert_eq!(call("ok"), Ok((3.0, "s42".to_string())));
        assert_eq!(
            call("error"),
            Err(("diverged".to_string(), "too big".to_string()))
        );
        assert_eq!(
            call("panic"),
            Err(("panic".to_string(), "boom 7".to_string()))
        );
        let (kind, message) = call("wrong").unwrap_err();
        assert_eq!(kind, "kernel_contract");
        assert_eq!(
            message,
            "metric y: the kernel returned a bool, it declares float"
        );
        let (kind, message) = call("undeclared").unwrap_err();
        assert_eq!(kind, "panic");
        assert!(message.contains("\"undeclared\""), "{message}");
    }
}
