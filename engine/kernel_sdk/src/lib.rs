//! Write a sweep_magic kernel in Rust and load it at run time, with no fork of sweep_magic.
//!
//! A kernel is four items and one macro call:
//!
//! ```
//! use sweep_kernel_sdk::prelude::*;
//!
//! const DESCRIPTION: &str = "Sum of `steps` fair ±1 steps.";
//!
//! fn params() -> Vec<Param> {
//!     vec![Param::int("steps").default(100).range(1.0, 1e6).describe("Number of steps.")]
//! }
//!
//! fn metrics() -> Vec<Metric> {
//!     vec![Metric::float("position").describe("Where the walk ends.")]
//! }
//!
//! fn run(p: &Params, seed: u64) -> Result<Vec<Value>, KernelError> {
//!     let mut rng = Rng::new(seed);
//!     let steps = p.i64("steps");
//!     let x: i64 = (0..steps).map(|_| if rng.uniform() < 0.5 { -1 } else { 1 }).sum();
//!     Ok(vec![Value::from(x as f64)])
//! }
//!
//! sweep_kernel_sdk::export_kernel!(
//!     name: "walk", description: DESCRIPTION, params: params, metrics: metrics, run: run
//! );
//! # fn main() {}
//! ```
//!
//! Built as a `cdylib`, the crate exports the three C symbols of [`abi`]; sweep_magic loads it
//! with `sweep run --kernel`, `sm.load_kernel` or a `%%sweep kernel` cell. `run` must be a pure
//! function of its parameters and `seed`, drawing randomness only from [`Rng`] (the engine's
//! own generator, so a kernel gives the same bits on every machine and backend). A panic in
//! `run` is caught at the boundary and becomes a failure row of kind `panic`.

pub mod abi;
mod decl;
pub mod rng;

pub use decl::{Declaration, KernelError, Metric, Param, Params, Value, ValueType};
pub use rng::Rng;

/// Version of the C ABI between a kernel library and the engine. A library built for another
/// version is refused by the loader with a message naming both.
pub const ABI_VERSION: u32 = 1;

/// Everything a kernel's source needs: `use sweep_kernel_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{KernelError, Metric, Param, Params, Rng, Value, ValueType};
}

/// Exports a kernel through the C ABI: `name` (snake_case, unique among experiments),
/// `description` (a `&'static str`), and three functions: `params() -> Vec<Param>`,
/// `metrics() -> Vec<Metric>` and `run(&Params, u64) -> Result<Vec<Value>, KernelError>`.
/// Use it once per library.
#[macro_export]
macro_rules! export_kernel {
    (name: $name:expr, description: $description:expr, params: $params:path,
     metrics: $metrics:path, run: $run:path $(,)?) => {
        fn __sweep_kernel_declaration() -> &'static $crate::Declaration {
            static DECLARATION: ::std::sync::OnceLock<$crate::Declaration> =
                ::std::sync::OnceLock::new();
            DECLARATION.get_or_init(|| {
                $crate::Declaration::new($name, $description, $params(), $metrics())
            })
        }

        /// Computes one row through the C boundary from safe code, parameters in declaration
        /// order: for the kernel's own tests.
        #[allow(dead_code)]
        pub fn sweep_kernel_call(
            params: &[$crate::Value],
            seed: u64,
        ) -> ::std::result::Result<::std::vec::Vec<$crate::Value>, $crate::KernelError> {
            $crate::abi::call(__sweep_kernel_declaration(), $run, params, seed)
        }

        /// The ABI version this library was built for.
        #[unsafe(no_mangle)]
        pub extern "C" fn sweep_kernel_abi_version() -> u32 {
            $crate::ABI_VERSION
        }

        /// The declarations as NUL-terminated JSON, valid for the library's lifetime.
        #[unsafe(no_mangle)]
        pub extern "C" fn sweep_kernel_declare() -> *const ::std::ffi::c_char {
            __sweep_kernel_declaration().json_ptr()
        }

        /// Computes one row; see `sweep_kernel_sdk::abi::run`.
        ///
        /// # Safety
        /// The pointers must satisfy the contract of `sweep_kernel_sdk::abi::run`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sweep_kernel_run(
            params: *const $crate::abi::RawValue,
            n_params: usize,
            seed: u64,
            out: *mut $crate::abi::RawValue,
            n_out: usize,
            error: *mut $crate::abi::RawError,
        ) -> i32 {
            // SAFETY: forwarded unchanged; the caller upholds the documented contract.
            unsafe {
                $crate::abi::run(
                    __sweep_kernel_declaration(),
                    $run,
                    params,
                    n_params,
                    seed,
                    out,
                    n_out,
                    error,
                )
            }
        }
    };
}
