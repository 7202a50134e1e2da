//! A signed request to an AWS service, with retries of transient failures.
//!
//! Requests are signed with AWS's own SigV4 implementation (`aws-sigv4`, the signer of the
//! AWS SDK for Rust), with the settings the SDKs use per service: S3 signs the path exactly
//! as sent and the payload's SHA-256 in `x-amz-content-sha256`; every other service signs the
//! path percent-encoded once more (a Lambda function named by ARN or `name:alias` is sent as
//! `arn%3Aaws%3A…` and signed as `arn%253Aaws%253A…`, as botocore does).

use crate::retry::{self, Jitter, RetryPolicy};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::time::{Duration, Instant, SystemTime};

/// Bytes AWS wants percent-encoded in a query name or value, or in one path segment: all
/// but RFC 3986's unreserved `A-Z a-z 0-9 - . _ ~` (non-ASCII bytes are always encoded).
const AWS_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// As [`AWS_COMPONENT`], keeping `/` (an S3 object key is sent as path segments).
const AWS_PATH: &AsciiSet = &AWS_COMPONENT.remove(b'/');

/// Percent-encodes `s` (as UTF-8) for a query name or value or a single path segment.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, AWS_COMPONENT).to_string()
}

/// Percent-encodes `s` (as UTF-8) for a URI path, keeping `/`.
pub fn encode_path(s: &str) -> String {
    utf8_percent_encode(s, AWS_PATH).to_string()
}

/// Where a service is: scheme, host (with port) and an optional base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// Host, with `:port` if not the scheme's default.
    pub host: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port]` (a trailing `/` is allowed; no path). The scheme's
    /// default port is dropped, as the signer leaves it out of the signed `host`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("endpoint {url:?} has no scheme (want http:// or https://)"))?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("endpoint {url:?}: scheme must be http or https"));
        }
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(format!(
                "endpoint {url:?} must be scheme://host[:port] with no path"
            ));
        }
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let host = host.strip_suffix(default_port).unwrap_or(host);
        Ok(Endpoint {
            scheme: scheme.into(),
            host: host.into(),
        })
    }

    /// The endpoint for `service` from the environment (`AWS_ENDPOINT_URL_<SERVICE>`, then
    /// `AWS_ENDPOINT_URL`), if one is set.
    pub fn from_env(service_env: &str) -> Result<Option<Self>, String> {
        for name in [
            format!("AWS_ENDPOINT_URL_{service_env}"),
            "AWS_ENDPOINT_URL".into(),
        ] {
            if let Ok(url) = std::env::var(&name)
                && !url.is_empty()
            {
                return Endpoint::parse(&url)
                    .map(Some)
                    .map_err(|e| format!("{name}: {e}"));
            }
        }
        Ok(None)
    }
}

/// Credentials, read from the standard environment variables.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN` (always present inside Lambda).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Result<Self, String> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
                access_key_id,
                secret_access_key,
                session_token: get("AWS_SESSION_TOKEN"),
            }),
            _ => Err("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set \
                      (Lambda sets them from the function's role)"
                .into()),
        }
    }

    fn identity(&self) -> Identity {
        aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "environment",
        )
        .into()
    }
}

/// A response: status, selected headers, body.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The `x-amz-function-error` header, if any.
    pub function_error: Option<String>,
    /// The AWS error code of an error answer (`SlowDown`, `ThrottlingException`, ...), or
    /// empty.
    pub error_code: String,
    /// How many times the request was sent to get this answer.
    pub attempts: u32,
    /// Whether an earlier send of the request failed without telling whether the service
    /// carried it out (no answer, or a 5xx): a write may then already have been applied.
    pub earlier_outcome_unknown: bool,
}

/// A failed send that got no HTTP answer.
#[derive(Debug)]
struct NoAnswer {
    message: String,
    retryable: bool,
}

/// Whether a send that failed with `error` before an answer arrived may succeed if repeated.
fn transport_retryable(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyStalled
    )
}

/// The signing settings the AWS SDKs use for `service`.
fn signing_settings(service: &str) -> SigningSettings {
    let mut settings = SigningSettings::default();
    if service == "s3" {
        // S3 signs the path as sent: no second encoding, and no normalization (a key may
        // hold `//`, `.` or `..` segments). The payload's hash goes in a header S3 requires.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    settings
}

/// A signing HTTP client for one region.
#[derive(Clone)]
pub struct AwsClient {
    agent: ureq::Agent,
    credentials: Credentials,
    identity: Identity,
    region: String,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for AwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClient")
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Largest response body read (S3 objects the Lambdas read are manifests and markers).
const MAX_BODY: u64 = 64 << 20;

impl AwsClient {
    /// A client with `credentials` for `region`, timing out a request after `timeout`.
    pub fn new(credentials: Credentials, region: &str, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(3)))
            .build()
            .into();
        AwsClient {
            agent,
            identity: credentials.identity(),
            credentials,
            region: region.into(),
            retry: RetryPolicy::default(),
        }
    }

    /// A client from `AWS_REGION` (or `AWS_DEFAULT_REGION`) and the credential variables,
    /// retrying as [`RetryPolicy::default`] unless `AWS_MAX_ATTEMPTS` (the AWS SDKs' variable,
    /// 1 to 20) or `SWEEP_AWS_RETRY_BUDGET_MS` (0 to 900000) say otherwise.
    pub fn from_env(timeout: Duration) -> Result<Self, String> {
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .map_err(|_| "AWS_REGION is not set (Lambda sets it)".to_string())?;
        let mut client = AwsClient::new(Credentials::from_env()?, &region, timeout);
        client.retry = RetryPolicy::from_env(client.retry)?;
        Ok(client)
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The URL of a request: `path` must be URI-encoded already; `query` is not.
    pub fn url(endpoint: &Endpoint, path: &str, query: &[(String, String)]) -> String {
        let mut url = format!("{}://{}{}", endpoint.scheme, endpoint.host, path);
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
                .collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        url
    }

    /// The URL and the headers a request is sent with when signed at `time`: `headers`
    /// followed by `x-amz-date`, `authorization`, the session token if any and (for S3)
    /// `x-amz-content-sha256`. [`AwsClient::send`] signs each attempt this way.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        service: &str,
        endpoint: &Endpoint,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<(String, Vec<(String, String)>), String> {
        let url = Self::url(endpoint, path, query);
        let request = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("cannot sign {method} {url}: {e}"))?;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(service)
            .time(time)
            .settings(signing_settings(service))
            .build()
            .map_err(|e| format!("cannot sign {method} {url}: {e}"))?
            .into();
        let (instructions, _signature) = aws_sigv4::http_request::sign(request, &params)
            .map_err(|e| format!("cannot sign {method} {url}: {e}"))?
            .into_parts();
        let mut signed = headers.to_vec();
        signed.extend(
            instructions
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        Ok((url, signed))
    }

    /// Sends a signed request, retrying throttling, internal errors and failures to get an
    /// answer as [`AwsClient::retry`] says (after random delays; see [`crate::retry`]).
    /// `path` must be URI-encoded already, `query` not.
    ///
    /// The last HTTP answer is returned as `Ok`, whatever its status: at once when it is not
    /// retryable, else once the attempts or the time budget are used up
    /// ([`Reply::attempts`] says how many sends it took). `Err` means no HTTP answer: the
    /// connection failed or timed out on every attempt, or the request could not be built.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &self,
        service: &str,
        endpoint: &Endpoint,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Reply, String> {
        let start = Instant::now();
        let mut jitter = Jitter::from_entropy();
        let mut attempts = 0;
        let mut unknown = false;
        loop {
            let outcome = self.send_once(service, endpoint, method, path, query, headers, body);
            attempts += 1;
            let (retryable, outcome_unknown) = match &outcome {
                // A function error from the emulator's invoke API is an answer, not a
                // fault of the service (sending it again would run the function again).
                Ok(reply)
                    if reply.function_error.is_some()
                        || (service == "lambda"
                            && crate::invoke::is_function_error(&reply.body)) =>
                {
                    (false, false)
                }
                Ok(reply) => (
                    retry::is_retryable(reply.status, &reply.error_code),
                    retry::outcome_unknown(reply.status),
                ),
                Err(e) => (e.retryable, true),
            };
            let delay = if retryable {
                self.retry
                    .next_delay(attempts, start.elapsed(), &mut jitter)
            } else {
                None
            };
            let Some(delay) = delay else {
                let attempts_note = if attempts > 1 {
                    format!(" (after {attempts} attempts)")
                } else {
                    String::new()
                };
                return match outcome {
                    Ok(reply) => Ok(Reply {
                        attempts,
                        earlier_outcome_unknown: unknown,
                        ..reply
                    }),
                    Err(e) => Err(format!(
                        "{method} {}{path}: {}{attempts_note}",
                        endpoint.host, e.message
                    )),
                };
            };
            unknown |= outcome_unknown;
            std::thread::sleep(delay);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_once(
        &self,
        service: &str,
        endpoint: &Endpoint,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Reply, NoAnswer> {
        let fatal = |message: String| NoAnswer {
            message,
            retryable: false,
        };
        let (url, signed) = self
            .sign(
                service,
                endpoint,
                method,
                path,
                query,
                headers,
                body,
                SystemTime::now(),
            )
            .map_err(fatal)?;
        let builder = ureq::http::Request::builder().method(method).uri(&url);
        let builder = signed.iter().fold(builder, |b, (k, v)| b.header(k, v));
        let request = builder
            .body(body.to_vec())
            .map_err(|e| fatal(e.to_string()))?;
        let failed = |e: ureq::Error| NoAnswer {
            retryable: transport_retryable(&e),
            message: e.to_string(),
        };
        let response = self.agent.run(request).map_err(failed)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let function_error = header("x-amz-function-error");
        let error_type = header("x-amzn-errortype");
        let mut body = response.into_body();
        let bytes = if method == "HEAD" {
            Vec::new()
        } else {
            body.with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(failed)?
        };
        let error_code = if status >= 300 {
            retry::error_code(error_type.as_deref(), &bytes)
        } else {
            String::new()
        };
        Ok(Reply {
            status,
            body: bytes,
            function_error,
            error_code,
            attempts: 1,
            earlier_outcome_unknown: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_keep_only_unreserved_characters() {
        assert_eq!(encode_component("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(
            encode_component("a b=c+d&e/f?g#h%i"),
            "a%20b%3Dc%2Bd%26e%2Ff%3Fg%23h%25i"
        );
        assert_eq!(encode_component("é€😀"), "%C3%A9%E2%82%AC%F0%9F%98%80");
        assert_eq!(encode_component("tok=/+"), "tok%3D%2F%2B");
    }

    #[test]
    fn paths_keep_slashes() {
        assert_eq!(
            encode_path("runs/a b/run_id=r+1/ü.json"),
            "runs/a%20b/run_id%3Dr%2B1/%C3%BC.json"
        );
        assert_eq!(encode_path("//x//"), "//x//");
    }
}
