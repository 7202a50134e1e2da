//! The committed JSON Schema of the spec must equal the one generated from the registry.
//! Regenerate with `SWEEP_UPDATE_SCHEMA=1 cargo test -p sim_experiments --test schema`.

use std::path::PathBuf;
use sweep_core::Limits;
use sweep_core::schema::spec_json_schema;

#[test]
fn committed_spec_schema_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/spec.schema.json");
    let generated = serde_json::to_string_pretty(&spec_json_schema(
        &sim_experiments::registry(),
        &Limits::default(),
    ))
    .unwrap()
        + "\n";
    if std::env::var_os("SWEEP_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the experiment registry; regenerate it with \
         SWEEP_UPDATE_SCHEMA=1 cargo test -p sim_experiments --test schema",
        path.display()
    );
}
