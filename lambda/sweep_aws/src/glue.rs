//! Registering a run's partitions in the Glue catalog, so Athena sees a new run at once
//! and a query naming one run reads only that run's objects.

use crate::http::{AwsClient, Endpoint};
use serde_json::{Value, json};
use sweep_cloud::{Catalog, CatalogError};
use sweep_core::{Experiment, Table};

/// The Glue catalog database holding `results_<experiment>` and `failures_<experiment>`.
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: AwsClient,
    endpoint: Endpoint,
    database: String,
    /// `s3://bucket/prefix/`: where the tables' folders are (for tables this catalog creates).
    location: String,
}

impl GlueCatalog {
    /// A catalog over `database`; the endpoint defaults to the region's.
    pub fn new(client: AwsClient, endpoint: Option<Endpoint>, database: &str) -> Self {
        let endpoint = endpoint.unwrap_or_else(|| Endpoint {
            scheme: "https".into(),
            host: format!("glue.{}.amazonaws.com", client.region()),
        });
        GlueCatalog {
            client,
            endpoint,
            database: database.into(),
            location: String::new(),
        }
    }

    /// Sets where the tables' folders are, `s3://bucket/prefix`, for the tables of kernels
    /// loaded at run time (which this catalog creates).
    pub fn with_location(mut self, root: &str) -> Self {
        self.location = format!("{}/", root.trim_end_matches('/'));
        self
    }

    /// The `TableInput` of `table` for `experiment`, shaped like the tables Terraform makes for
    /// the built-ins: Parquet, partitioned by `run_id` with a partition index.
    pub fn table_input(&self, table: Table, experiment: &dyn Experiment) -> Value {
        let described: std::collections::HashMap<&str, String> = experiment
            .params()
            .iter()
            .map(|p| (p.name, comment(p.description, p.unit)))
            .chain(
                experiment
                    .metrics()
                    .iter()
                    .map(|m| (m.name, comment(m.description, m.unit))),
            )
            .collect();
        let columns = match table {
            Table::Results => sweep_core::table::results_columns(experiment),
            Table::Failures => sweep_core::table::failures_columns(experiment),
        };
        let columns: Vec<Value> = columns
            .iter()
            .map(|c| {
                json!({
                    "Name": c.name,
                    "Type": c.ty.athena_name(),
                    "Comment": described.get(c.name.as_str()).cloned().unwrap_or_default(),
                })
            })
            .collect();
        json!({
            "Name": table.catalog_name(experiment.name()),
            "Description": comment(experiment.description(), ""),
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "EXTERNAL": "TRUE",
                "classification": "parquet",
                "partition_filtering.enabled": "true",
            },
            "PartitionKeys": [{"Name": "run_id", "Type": "string"}],
            "StorageDescriptor": {
                "Location": format!("{}{}", self.location, table.prefix(experiment.name())),
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {
                    "Name": "parquet",
                    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                    "Parameters": {"serialization.format": "1"},
                },
                "Columns": columns,
            },
        })
    }

    /// Creates `table` for `experiment` unless it exists.
    pub fn create_table(&self, table: Table, experiment: &dyn Experiment) -> Result<(), String> {
        let name = table.catalog_name(experiment.name());
        let exists = self.call(
            "GetTable",
            &json!({"DatabaseName": self.database, "Name": name}),
        );
        match exists {
            Ok(_) => return Ok(()),
            Err(e) if e.contains("EntityNotFoundException") => {}
            Err(e) => return Err(e),
        }
        if self.location.is_empty() {
            return Err(format!(
                "cannot create glue table {name}: no table location configured"
            ));
        }
        let created = self.call(
            "CreateTable",
            &json!({
                "DatabaseName": self.database,
                "TableInput": self.table_input(table, experiment),
                "PartitionIndexes": [{"Keys": ["run_id"], "IndexName": "run_id"}],
            }),
        );
        match created {
            // A concurrent submit of the same new kernel created it first.
            Err(e) if e.contains("AlreadyExistsException") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    fn call(&self, action: &str, body: &Value) -> Result<Value, String> {
        let headers = [
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            ("x-amz-target".to_string(), format!("AWSGlue.{action}")),
        ];
        let bytes = serde_json::to_vec(body).expect("json serializes");
        let reply = self
            .client
            .send("glue", &self.endpoint, "POST", "/", &[], &headers, &bytes)?;
        let answer: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        if reply.status != 200 {
            return Err(format!(
                "glue {action} answered HTTP {}: {}{}",
                reply.status,
                answer
                    .get("__type")
                    .or(answer.get("message"))
                    .unwrap_or(&answer),
                if reply.attempts > 1 {
                    format!(" (after {} attempts)", reply.attempts)
                } else {
                    String::new()
                }
            ));
        }
        Ok(answer)
    }

    /// The storage descriptor of `table`, or [`CatalogError::MissingTable`].
    fn descriptor(&self, table: &str) -> Result<Value, CatalogError> {
        match self.call(
            "GetTable",
            &json!({"DatabaseName": self.database, "Name": table}),
        ) {
            Ok(answer) => Ok(answer["Table"]["StorageDescriptor"].clone()),
            Err(e) if e.contains("EntityNotFoundException") => Err(CatalogError::MissingTable {
                table: table.into(),
                database: self.database.clone(),
            }),
            Err(e) => Err(CatalogError::Failed(e)),
        }
    }

    /// Adds partition `run_id=<run_id>` to `table` (whose storage descriptor is
    /// `descriptor`), at the descriptor's location. An existing partition is left as it is.
    fn add_partition(
        &self,
        table: &str,
        mut descriptor: Value,
        run_id: &str,
    ) -> Result<(), String> {
        let location = descriptor["Location"]
            .as_str()
            .ok_or_else(|| format!("glue table {table} has no location"))?;
        let location = format!(
            "{}/{}/",
            location.trim_end_matches('/'),
            sweep_core::layout::partition_name(run_id)
        );
        descriptor["Location"] = json!(location);
        let answer = self.call(
            "BatchCreatePartition",
            &json!({
                "DatabaseName": self.database,
                "TableName": table,
                "PartitionInputList": [{"Values": [run_id], "StorageDescriptor": descriptor}],
            }),
        )?;
        for error in answer["Errors"].as_array().into_iter().flatten() {
            let code = error["ErrorDetail"]["ErrorCode"].as_str().unwrap_or("");
            if code != "AlreadyExistsException" {
                return Err(format!(
                    "glue could not add partition run_id={run_id} to {table}: {error}"
                ));
            }
        }
        Ok(())
    }
}

/// A column or table comment: the description, with the unit in brackets, at most the 255
/// characters Glue keeps.
fn comment(description: &str, unit: &str) -> String {
    let mut text = description.split_whitespace().collect::<Vec<_>>().join(" ");
    if !unit.is_empty() {
        text = if text.is_empty() {
            format!("[{unit}]")
        } else {
            format!("{text} [{unit}]")
        };
    }
    if text.chars().count() > 255 {
        text = text
            .chars()
            .take(252)
            .collect::<String>()
            .trim_end()
            .to_string()
            + "...";
    }
    text
}

impl Catalog for GlueCatalog {
    fn ensure_tables(&self, experiment: &dyn Experiment) -> Result<(), CatalogError> {
        for table in Table::ALL {
            self.create_table(table, experiment)?;
        }
        Ok(())
    }

    fn register_run(&self, experiment: &str, run_id: &str) -> Result<(), CatalogError> {
        // Both tables are read before either partition is added: a missing table leaves
        // nothing registered.
        let tables = [
            format!("results_{experiment}"),
            format!("failures_{experiment}"),
        ];
        let mut descriptors = Vec::with_capacity(tables.len());
        for table in &tables {
            descriptors.push(self.descriptor(table)?);
        }
        for (table, descriptor) in tables.iter().zip(descriptors) {
            self.add_partition(table, descriptor, run_id)?;
        }
        Ok(())
    }
}
