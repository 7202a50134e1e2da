//! AWS Signature Version 4 for the few requests the Lambdas make (S3, Lambda Invoke, Glue).
//!
//! The algorithm is the documented one: a canonical request (method, URI path, sorted query,
//! sorted lower-case headers, the payload's SHA-256), a string to sign scoped to
//! date/region/service, and an HMAC-SHA256 chain from the secret key. The tests check the
//! output against signatures computed by botocore for the same inputs.

use sha2::{Digest, Sha256};

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
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Percent-encodes `s` as SigV4 wants: everything but `A-Za-z0-9-._~` (and `/` when
/// `keep_slash`, for S3 object paths).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `YYYYMMDD'T'HHMMSS'Z'` for a Unix time.
pub fn amz_date(unix_secs: u64) -> String {
    let iso = sweep_core::layout::rfc3339(unix_secs); // YYYY-MM-DDTHH:MM:SSZ
    iso.replace(['-', ':'], "")
}

/// A request to sign: the path must already be URI-encoded (as sent).
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Host header value (with the port if not the default).
    pub host: &'a str,
    /// Encoded path, starting with `/`.
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: &'a [(String, String)],
    /// Extra headers to sign (lower-case names).
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

/// The headers to send for `request`: `host`, `x-amz-date`, `x-amz-content-sha256`, the
/// security token if any, and `authorization`.
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    unix_secs: u64,
) -> Vec<(String, String)> {
    let date_time = amz_date(unix_secs);
    let date = &date_time[..8];
    let payload_hash = sha256_hex(request.body);
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    headers.push(("host".into(), request.host.into()));
    headers.push(("x-amz-date".into(), date_time.clone()));
    headers.push(("x-amz-content-sha256".into(), payload_hash.clone()));
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    headers.sort();
    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        request.path,
        canonical_query,
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id
        ),
    ));
    headers.retain(|(k, _)| k != "host");
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn encoding_and_dates() {
        assert_eq!(
            uri_encode("results/x/run_id=a b/p.parquet", true),
            "results/x/run_id%3Da%20b/p.parquet"
        );
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
    }

    /// Expected values computed with botocore 1.43's `SigV4Auth` for the same request,
    /// credentials and time (the constants below).
    #[test]
    fn signature_matches_botocore() {
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let query = [
            ("list-type".to_string(), "2".to_string()),
            ("prefix".to_string(), "runs/r 1/".to_string()),
        ];
        let req = Request {
            method: "GET",
            host: "127.0.0.1:4566",
            path: "/bucket",
            query: &query,
            headers: &[],
            body: b"",
        };
        let headers = sign(&req, &creds, "us-east-1", "s3", 1_440_938_160);
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert_eq!(auth, BOTOCORE_GET_LIST);
    }

    #[test]
    fn signature_with_body_header_and_token_matches_botocore() {
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("TOKEN/abc=".into()),
        };
        let headers = [("X-Amz-Invocation-Type".to_string(), "Event".to_string())];
        let req = Request {
            method: "POST",
            host: "lambda.eu-west-1.amazonaws.com",
            path: "/2015-03-31/functions/sweep-worker/invocations",
            query: &[],
            headers: &headers,
            body: br#"{"version":1,"run_id":"r1","shards":[0,1],"attempt":0}"#,
        };
        let signed = sign(&req, &creds, "eu-west-1", "lambda", 1_440_938_160);
        let auth = &signed.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert_eq!(auth, BOTOCORE_POST_INVOKE);
    }

    // Computed with botocore 1.43.11 (S3SigV4Auth / SigV4Auth) at 2015-08-30T12:36:00Z.
    const BOTOCORE_GET_LIST: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=bf4ad0a6f037d721de0cc2a0b14b0ee26a6f415030d4988baf37dd152a9b4efd";
    const BOTOCORE_POST_INVOKE: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-invocation-type;x-amz-security-token, Signature=a058e47b588721ca8914df8d10d760599942e1bf0170db7a96c5b10c8c0c8e6d";
}
