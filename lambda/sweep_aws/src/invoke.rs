//! Asynchronous Lambda invokes (`InvocationType=Event`).

use crate::http::{AwsClient, Endpoint, encode_component};
use crate::retry;
use sweep_cloud::contract::WorkerPayload;
use sweep_cloud::dispatch::{InvokeError, Invoker};

/// Invokes one function asynchronously.
#[derive(Debug, Clone)]
pub struct LambdaInvoker {
    client: AwsClient,
    endpoint: Endpoint,
    function: String,
}

impl LambdaInvoker {
    /// An invoker of `function` (name or ARN); the endpoint defaults to the region's.
    pub fn new(client: AwsClient, endpoint: Option<Endpoint>, function: &str) -> Self {
        let endpoint = endpoint.unwrap_or_else(|| Endpoint {
            scheme: "https".into(),
            host: format!("lambda.{}.amazonaws.com", client.region()),
        });
        LambdaInvoker {
            client,
            endpoint,
            function: function.into(),
        }
    }

    /// The function invoked.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// Sends `payload` as an `Event` invoke. Real Lambda answers 202 once the event is
    /// queued. The local emulator runs the function before answering (200, or 500 with a
    /// function error): the event was delivered either way, and its failure is the
    /// function's, handled as Lambda's own retries are — by resume.
    pub fn invoke_bytes(&self, payload: &[u8]) -> Result<(), InvokeError> {
        let path = invocation_path(&self.function);
        let headers = [
            ("x-amz-invocation-type".to_string(), "Event".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        let reply = self
            .client
            .send(
                "lambda",
                &self.endpoint,
                "POST",
                &path,
                &[],
                &headers,
                payload,
            )
            .map_err(|message| InvokeError {
                message,
                retryable: true,
            })?;
        match reply.status {
            200 | 202 | 204 => Ok(()),
            _ if reply.function_error.is_some() || is_function_error(&reply.body) => {
                eprintln!(
                    "{{\"level\":\"warn\",\"msg\":\"invoked function failed\",\"function\":{:?},\"status\":{}}}",
                    self.function, reply.status
                );
                Ok(())
            }
            status => Err(InvokeError {
                message: format!(
                    "invoke {} answered HTTP {status}{}: {}{}",
                    self.function,
                    if reply.error_code.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", reply.error_code)
                    },
                    String::from_utf8_lossy(&reply.body)
                        .chars()
                        .take(300)
                        .collect::<String>(),
                    if reply.attempts > 1 {
                        format!(" (after {} attempts)", reply.attempts)
                    } else {
                        String::new()
                    }
                ),
                retryable: retry::is_retryable(status, &reply.error_code),
            }),
        }
    }
}

/// The Invoke API's path for `function` (a name, `name:alias`, `name:version` or an ARN),
/// encoded once as sent — `arn:aws:lambda:…` as `arn%3Aaws%3Alambda%3A…`, as botocore sends
/// it. (The signer encodes it once more for the signature, as Lambda expects.)
pub fn invocation_path(function: &str) -> String {
    format!(
        "/2015-03-31/functions/{}/invocations",
        encode_component(function)
    )
}

/// Whether an error body is a function's error (`errorType`/`errorMessage`), as the
/// emulator sends it, rather than the invoke service's own.
pub(crate) fn is_function_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.get("errorType").is_some() || v.get("errorMessage").is_some())
        .unwrap_or(false)
}

impl Invoker for LambdaInvoker {
    fn invoke(&self, payload: &WorkerPayload) -> Result<(), InvokeError> {
        self.invoke_bytes(&payload.to_bytes())
    }
}
