//! Reading and deleting messages of an SQS queue (the functions' on-failure queue, which the
//! supervisor drains), over SQS's JSON protocol.

use crate::http::{AwsClient, Endpoint};
use serde_json::{Value, json};

/// A message received from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// What deletes it (valid until its visibility timeout ends).
    pub receipt: String,
    /// The body.
    pub body: String,
}

/// One SQS queue, by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: AwsClient,
    endpoint: Endpoint,
    url: String,
}

impl SqsQueue {
    /// The queue at `url` (`https://sqs.<region>.amazonaws.com/<account>/<name>`); requests go
    /// to `endpoint` if given (the emulation), else to the URL's own host.
    pub fn new(client: AwsClient, endpoint: Option<Endpoint>, url: &str) -> Result<Self, String> {
        let endpoint = match endpoint {
            Some(e) => e,
            None => {
                let (scheme, rest) = url
                    .split_once("://")
                    .ok_or_else(|| format!("queue URL {url:?} has no scheme"))?;
                let host = rest.split('/').next().unwrap_or_default();
                Endpoint::parse(&format!("{scheme}://{host}"))
                    .map_err(|e| format!("queue URL {url:?}: {e}"))?
            }
        };
        Ok(SqsQueue {
            client,
            endpoint,
            url: url.into(),
        })
    }

    fn call(&self, action: &str, body: &Value) -> Result<Value, String> {
        let headers = [
            (
                "content-type".to_string(),
                "application/x-amz-json-1.0".to_string(),
            ),
            ("x-amz-target".to_string(), format!("AmazonSQS.{action}")),
        ];
        let bytes = serde_json::to_vec(body).expect("json serializes");
        let reply = self
            .client
            .send("sqs", &self.endpoint, "POST", "/", &[], &headers, &bytes)?;
        let answer: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        if reply.status != 200 {
            return Err(format!(
                "sqs {action} answered HTTP {}: {}",
                reply.status,
                answer
                    .get("__type")
                    .or(answer.get("message"))
                    .unwrap_or(&answer)
            ));
        }
        Ok(answer)
    }

    /// Up to `max` (1 to 10) messages, hidden from other readers for `visibility_s` seconds;
    /// empty when the queue is empty (no long polling: a supervisor pass must not wait).
    pub fn receive(&self, max: u32, visibility_s: u32) -> Result<Vec<Message>, String> {
        let answer = self.call(
            "ReceiveMessage",
            &json!({
                "QueueUrl": self.url,
                "MaxNumberOfMessages": max.clamp(1, 10),
                "VisibilityTimeout": visibility_s,
                "WaitTimeSeconds": 0,
            }),
        )?;
        Ok(answer["Messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some(Message {
                    receipt: m["ReceiptHandle"].as_str()?.to_string(),
                    body: m["Body"].as_str()?.to_string(),
                })
            })
            .collect())
    }

    /// Deletes a received message.
    pub fn delete(&self, receipt: &str) -> Result<(), String> {
        self.call(
            "DeleteMessage",
            &json!({"QueueUrl": self.url, "ReceiptHandle": receipt}),
        )
        .map(|_| ())
    }
}
