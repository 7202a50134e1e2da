//! Uploaded kernel libraries: what the orchestrator and the workers refuse before loading
//! anything (the loading itself is tested end to end with real libraries from Python).

use sweep_cloud::kernels::StoreKernels;
use sweep_cloud::{CloudConfig, Orchestrator};
use sweep_core::{MemoryStore, Store};

fn sha(bytes: &[u8]) -> String {
    sweep_kernel_host::sha256_hex(bytes)
}

#[test]
fn bytes_that_do_not_match_their_key_are_refused() {
    let store = MemoryStore::new();
    let cache = std::env::temp_dir().join(format!("sweep-kernels-test-{}", std::process::id()));
    let claimed = sha(b"the library the client built");
    store
        .put(
            &format!("kernels/{claimed}.so"),
            b"other bytes put there later",
        )
        .unwrap();
    let kernels = StoreKernels::new(&store, cache.clone(), true);
    let err = kernels
        .load(Some("ou"), &claimed)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!("expected {claimed}"))
            && err.contains(&sha(b"other bytes put there later")),
        "{err}"
    );
    assert!(
        !cache.join(format!("{claimed}.so")).exists(),
        "nothing cached"
    );
}

#[test]
fn missing_malformed_and_disabled_kernels_are_refused() {
    let store = MemoryStore::new();
    let cache = std::env::temp_dir();
    let kernels = StoreKernels::new(&store, cache.clone(), true);
    let absent = sha(b"never uploaded");
    let err = kernels.load(None, &absent).err().unwrap().to_string();
    assert_eq!(
        err,
        format!(
            "kernel_sha256: no kernel library at kernels/{absent}.so: upload it before submitting"
        )
    );
    let err = kernels
        .load(None, "../../etc/passwd")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("is not a sha256"), "{err}");
    let off = StoreKernels::new(&store, cache, false);
    let err = off.load(None, &absent).err().unwrap().to_string();
    assert!(err.contains("kernel uploads are turned off"), "{err}");
}

#[test]
fn a_submit_pinning_a_missing_kernel_writes_nothing() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let kernels = StoreKernels::new(&store, std::env::temp_dir(), true);
    let orch = Orchestrator::new(&store, &registry, CloudConfig::default()).with_kernels(&kernels);
    let body = format!(
        r#"{{"experiment": "ou", "kernel_sha256": "{}", "params": {{}}}}"#,
        sha(b"x")
    );
    let err = orch
        .submit(body.as_bytes(), "r1", "2026-12-03T00:00:00Z")
        .unwrap_err();
    assert_eq!(err.status, 400);
    assert_eq!(err.path, "kernel_sha256");
    assert!(
        err.message.contains("upload it before submitting"),
        "{}",
        err.message
    );
    assert!(store.is_empty());
    // Without a kernel loader, a pinned kernel is refused the same way.
    let plain = Orchestrator::new(&store, &registry, CloudConfig::default());
    let err = plain
        .submit(body.as_bytes(), "r2", "2026-12-03T00:00:00Z")
        .unwrap_err();
    assert_eq!((err.status, err.path.as_str()), (400, "kernel_sha256"));
    // A built-in experiment cannot be pinned to a build.
    let kernels_body = format!(
        r#"{{"experiment": "diag_sleep", "kernel_sha256": "{}"}}"#,
        "a".repeat(64)
    );
    let err = plain
        .submit(kernels_body.as_bytes(), "r3", "2026-12-03T00:00:00Z")
        .unwrap_err();
    assert_eq!((err.status, err.path.as_str()), (400, "kernel_sha256"));
    assert!(store.is_empty());
}
