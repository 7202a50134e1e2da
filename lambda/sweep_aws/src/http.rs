//! A signed request to an AWS service, with retries of transient failures.

use crate::sigv4::{self, Credentials};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// Parses `http(s)://host[:port]` (a trailing `/` is allowed; no path).
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

/// A response: status, selected headers, body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The `x-amz-function-error` header, if any.
    pub function_error: Option<String>,
}

/// A signing HTTP client for one region.
#[derive(Clone)]
pub struct AwsClient {
    agent: ureq::Agent,
    credentials: Credentials,
    region: String,
    /// Attempts per request for connection errors and 5xx answers.
    pub attempts: u32,
}

impl std::fmt::Debug for AwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClient")
            .field("region", &self.region)
            .field("credentials", &self.credentials)
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
            credentials,
            region: region.into(),
            attempts: 4,
        }
    }

    /// A client from `AWS_REGION` (or `AWS_DEFAULT_REGION`) and the credential variables.
    pub fn from_env(timeout: Duration) -> Result<Self, String> {
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .map_err(|_| "AWS_REGION is not set (Lambda sets it)".to_string())?;
        Ok(AwsClient::new(Credentials::from_env()?, &region, timeout))
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Sends a signed request, retrying connection errors, 5xx and throttling answers with
    /// backoff. `path` must be URI-encoded already.
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
        let mut delay = Duration::from_millis(100);
        let mut last = String::new();
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 {
                std::thread::sleep(delay);
                delay *= 3;
            }
            match self.send_once(service, endpoint, method, path, query, headers, body) {
                Ok(reply) if reply.status >= 500 || reply.status == 429 => {
                    // A function error from the emulator's invoke API is an answer, not a
                    // fault of the service.
                    if reply.function_error.is_some() {
                        return Ok(reply);
                    }
                    last = format!(
                        "{method} {path}: HTTP {} {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    );
                }
                Ok(reply) => return Ok(reply),
                Err(e) => last = format!("{method} {}{path}: {e}", endpoint.host),
            }
        }
        Err(last)
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
    ) -> Result<Reply, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let request = sigv4::Request {
            method,
            host: &endpoint.host,
            path,
            query,
            headers,
            body,
        };
        let signed = sigv4::sign(&request, &self.credentials, &self.region, service, now);
        let mut url = format!("{}://{}{}", endpoint.scheme, endpoint.host, path);
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
                .collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        let builder = ureq::http::Request::builder().method(method).uri(&url);
        let builder = signed.iter().fold(builder, |b, (k, v)| b.header(k, v));
        let request = builder.body(body.to_vec()).map_err(|e| e.to_string())?;
        let response = self.agent.run(request).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let function_error = response
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = response.into_body();
        let bytes = if method == "HEAD" {
            Vec::new()
        } else {
            body.with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(|e| e.to_string())?
        };
        Ok(Reply {
            status,
            body: bytes,
            function_error,
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

    /// The query sent must be encoded exactly as the signer canonicalizes it.
    #[test]
    fn encoding_agrees_with_the_signer() {
        for s in [
            "",
            "plain",
            "runs/r 1/",
            "a=b&c+d",
            "~!*'()[]@$,;:",
            "é€😀\u{7f}\t\n",
        ] {
            assert_eq!(encode_component(s), sigv4::uri_encode(s, false), "{s:?}");
            assert_eq!(encode_path(s), sigv4::uri_encode(s, true), "{s:?}");
        }
        let all: String = (0u8..128).map(char::from).collect();
        assert_eq!(encode_component(&all), sigv4::uri_encode(&all, false));
        assert_eq!(encode_path(&all), sigv4::uri_encode(&all, true));
    }
}
