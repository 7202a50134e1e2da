//! Registering a run's partitions in the Glue catalog, so Athena sees a new run at once
//! and a query naming one run reads only that run's objects.

use crate::http::{AwsClient, Endpoint};
use serde_json::{Value, json};
use sweep_cloud::Catalog;

/// The Glue catalog database holding `results_<experiment>` and `failures_<experiment>`.
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: AwsClient,
    endpoint: Endpoint,
    database: String,
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
                "glue {action} answered HTTP {}: {}",
                reply.status,
                answer
                    .get("__type")
                    .or(answer.get("message"))
                    .unwrap_or(&answer)
            ));
        }
        Ok(answer)
    }

    /// Adds partition `run_id=<run_id>` to `table`, copying the table's storage descriptor
    /// with the partition's location. An existing partition is left as it is.
    pub fn add_partition(&self, table: &str, run_id: &str) -> Result<(), String> {
        let answer = self.call(
            "GetTable",
            &json!({"DatabaseName": self.database, "Name": table}),
        )?;
        let mut descriptor = answer["Table"]["StorageDescriptor"].clone();
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

impl Catalog for GlueCatalog {
    fn register_run(&self, experiment: &str, run_id: &str) -> Result<(), String> {
        self.add_partition(&format!("results_{experiment}"), run_id)?;
        self.add_partition(&format!("failures_{experiment}"), run_id)
    }
}
