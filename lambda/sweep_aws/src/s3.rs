//! [`Store`] over an S3 bucket (and optional key prefix).

use crate::http::{AwsClient, Endpoint, Reply};
use crate::sigv4::uri_encode;
use sweep_core::{Store, SweepError};

/// Objects under `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: AwsClient,
    endpoint: Endpoint,
    /// Path-style (`/bucket/key`, for custom endpoints) or virtual-hosted (`bucket.s3...`).
    path_style: bool,
    bucket: String,
    prefix: String,
}

fn err(key: &str, message: impl std::fmt::Display) -> SweepError {
    SweepError::storage(key, message)
}

fn unexpected(key: &str, what: &str, reply: &Reply) -> SweepError {
    let body = String::from_utf8_lossy(&reply.body);
    let code = xml_values(&body, "Code")
        .into_iter()
        .next()
        .unwrap_or_default();
    let hint = if reply.status == 403 {
        " (access denied: check the function's role; a missing object answers 403 without s3:ListBucket)"
    } else {
        ""
    };
    err(
        key,
        format!("S3 {what} answered HTTP {} {code}{hint}", reply.status),
    )
}

/// The text of every `<tag>…</tag>` in `xml`, unescaped. S3's list answers are flat
/// enough for this; keys are the project's own ASCII names.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    out
}

impl S3Store {
    /// A store for `bucket` under `prefix` (normalized to end with `/` unless empty).
    pub fn new(client: AwsClient, endpoint: Option<Endpoint>, bucket: &str, prefix: &str) -> Self {
        let path_style = endpoint.is_some();
        let endpoint = endpoint.unwrap_or_else(|| Endpoint {
            scheme: "https".into(),
            host: format!("{bucket}.s3.{}.amazonaws.com", client.region()),
        });
        let prefix = prefix.trim_matches('/');
        S3Store {
            client,
            endpoint,
            path_style,
            bucket: bucket.into(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    fn object_path(&self, key: &str) -> String {
        let full = format!("{}{key}", self.prefix);
        if self.path_style {
            format!("/{}/{}", self.bucket, uri_encode(&full, true))
        } else {
            format!("/{}", uri_encode(&full, true))
        }
    }

    fn bucket_path(&self) -> String {
        if self.path_style {
            format!("/{}", self.bucket)
        } else {
            "/".into()
        }
    }

    fn call(
        &self,
        method: &str,
        key: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> sweep_core::Result<Reply> {
        self.client
            .send(
                "s3",
                &self.endpoint,
                method,
                &self.object_path(key),
                &[],
                headers,
                body,
            )
            .map_err(|e| err(key, e))
    }
}

impl Store for S3Store {
    fn put(&self, key: &str, bytes: &[u8]) -> sweep_core::Result<()> {
        let reply = self.call("PUT", key, &[], bytes)?;
        match reply.status {
            200 | 201 | 204 => Ok(()),
            _ => Err(unexpected(key, "PUT", &reply)),
        }
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> sweep_core::Result<bool> {
        // S3's conditional write: 412 when an object exists. A server that ignores the
        // header would overwrite, so look first as well (the window between is a race only
        // on such servers).
        if self.exists(key)? {
            return Ok(false);
        }
        let reply = self.call("PUT", key, &[("if-none-match".into(), "*".into())], bytes)?;
        match reply.status {
            200 | 201 | 204 => Ok(true),
            412 | 409 => Ok(false),
            _ => Err(unexpected(key, "conditional PUT", &reply)),
        }
    }

    fn get(&self, key: &str) -> sweep_core::Result<Option<Vec<u8>>> {
        let reply = self.call("GET", key, &[], b"")?;
        match reply.status {
            200 => Ok(Some(reply.body)),
            404 => Ok(None),
            _ => Err(unexpected(key, "GET", &reply)),
        }
    }

    fn exists(&self, key: &str) -> sweep_core::Result<bool> {
        let reply = self.call("HEAD", key, &[], b"")?;
        match reply.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(unexpected(key, "HEAD", &reply)),
        }
    }

    fn list(&self, prefix: &str) -> sweep_core::Result<Vec<String>> {
        let full = format!("{}{prefix}", self.prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type".to_string(), "2".to_string()),
                ("prefix".to_string(), full.clone()),
            ];
            if let Some(t) = &token {
                query.push(("continuation-token".into(), t.clone()));
            }
            let reply = self
                .client
                .send(
                    "s3",
                    &self.endpoint,
                    "GET",
                    &self.bucket_path(),
                    &query,
                    &[],
                    b"",
                )
                .map_err(|e| err(prefix, e))?;
            if reply.status != 200 {
                return Err(unexpected(prefix, "LIST", &reply));
            }
            let xml = String::from_utf8_lossy(&reply.body);
            for key in xml_values(&xml, "Key") {
                if let Some(k) = key.strip_prefix(&self.prefix) {
                    keys.push(k.to_string());
                }
            }
            let truncated =
                xml_values(&xml, "IsTruncated").first().map(String::as_str) == Some("true");
            token = xml_values(&xml, "NextContinuationToken").into_iter().next();
            if !truncated || token.is_none() {
                break;
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> sweep_core::Result<()> {
        let reply = self.call("DELETE", key, &[], b"")?;
        match reply.status {
            200 | 204 | 404 => Ok(()),
            _ => Err(unexpected(key, "DELETE", &reply)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_answers_are_read() {
        let xml = "<ListBucketResult><IsTruncated>true</IsTruncated>\
            <Contents><Key>p/runs/a&amp;b/x.json</Key></Contents>\
            <Contents><Key>p/runs/c.json</Key></Contents>\
            <NextContinuationToken>tok=</NextContinuationToken></ListBucketResult>";
        assert_eq!(
            xml_values(xml, "Key"),
            ["p/runs/a&b/x.json", "p/runs/c.json"]
        );
        assert_eq!(xml_values(xml, "IsTruncated"), ["true"]);
        assert_eq!(xml_values(xml, "NextContinuationToken"), ["tok="]);
    }

    #[test]
    fn object_paths_are_encoded_for_both_addressing_styles() {
        let creds = crate::sigv4::Credentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
            session_token: None,
        };
        let client = AwsClient::new(creds, "eu-west-1", std::time::Duration::from_secs(1));
        let local = S3Store::new(
            client.clone(),
            Some(Endpoint::parse("http://127.0.0.1:9").unwrap()),
            "bkt",
            "/pre/",
        );
        assert_eq!(
            local.object_path("results/e/run_id=r1/part-1.parquet"),
            "/bkt/pre/results/e/run_id%3Dr1/part-1.parquet"
        );
        let aws = S3Store::new(client, None, "bkt", "");
        assert_eq!(aws.endpoint.host, "bkt.s3.eu-west-1.amazonaws.com");
        assert_eq!(aws.object_path("runs/r1/cancel"), "/runs/r1/cancel");
    }
}
