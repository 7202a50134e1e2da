//! [`Store`] over an S3 bucket (and optional key prefix).

use crate::http::{AwsClient, Endpoint, Reply, encode_path};
use serde::Deserialize;
use sweep_core::{Store, SweepError};

/// Objects under `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: AwsClient,
    endpoint: Endpoint,
    /// Path-style (`/bucket/key`) or virtual-hosted (`bucket.s3...`); see [`S3Store::new`].
    path_style: bool,
    bucket: String,
    prefix: String,
}

fn err(key: &str, message: impl std::fmt::Display) -> SweepError {
    SweepError::storage(key, message)
}

/// An S3 error answer: `<Error><Code>…</Code><Message>…</Message>…</Error>`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl ErrorBody {
    /// The error in `body`; empty when the body is not S3's error XML (a HEAD has none).
    fn parse(body: &[u8]) -> Self {
        quick_xml::de::from_str(&String::from_utf8_lossy(body)).unwrap_or_default()
    }
}

fn unexpected(key: &str, what: &str, reply: &Reply) -> SweepError {
    let ErrorBody { code, message } = ErrorBody::parse(&reply.body);
    let code = if code.is_empty() {
        code
    } else {
        format!(" {code}")
    };
    let message = if message.is_empty() {
        message
    } else {
        format!(": {message}")
    };
    let hint = if reply.status == 403 {
        " (access denied: check the function's role; a missing object answers 403 without s3:ListBucket)"
    } else {
        ""
    };
    let attempts = if reply.attempts > 1 {
        format!(" (after {} attempts)", reply.attempts)
    } else {
        String::new()
    };
    err(
        key,
        format!(
            "S3 {what} answered HTTP {}{code}{message}{hint}{attempts}",
            reply.status
        ),
    )
}

/// One page of a ListObjectsV2 answer (`<ListBucketResult>`); other elements are ignored.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
struct ListPage {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
    #[serde(default)]
    contents: Vec<ListedObject>,
}

/// A `<Contents>` entry; only the key is read.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
struct ListedObject {
    key: String,
}

impl ListPage {
    fn parse(body: &[u8]) -> Result<Self, String> {
        quick_xml::de::from_str(&String::from_utf8_lossy(body))
            .map_err(|e| format!("S3 LIST answer is not a ListBucketResult: {e}"))
    }
}

/// Whether `bucket` can be addressed as the host `bucket.s3.<region>.amazonaws.com` over
/// TLS: one DNS label of lower-case letters, digits and hyphens. A name with dots cannot (S3's
/// certificate, `*.s3.<region>.amazonaws.com`, matches one label only, so TLS fails), nor can
/// the upper-case or underscored names of old buckets.
pub fn virtual_hostable(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

impl S3Store {
    /// A store for `bucket` under `prefix` (normalized to end with `/` unless empty).
    ///
    /// Addressing: a custom endpoint (the local emulation) is addressed path-style,
    /// `endpoint/bucket/key`. On AWS a bucket is addressed virtual-hosted,
    /// `https://bucket.s3.<region>.amazonaws.com/key`, when its name allows it, and path-style,
    /// `https://s3.<region>.amazonaws.com/bucket/key`, when not (dots, see
    /// [`virtual_hostable`]). This is the AWS SDKs' own rule: virtual-hosted is the form AWS
    /// documents as current (path-style is "legacy" and its retirement was only postponed,
    /// and newer S3 features require virtual-hosted), while path-style is the one form that
    /// works over TLS for dotted names.
    pub fn new(client: AwsClient, endpoint: Option<Endpoint>, bucket: &str, prefix: &str) -> Self {
        let path_style = endpoint.is_some() || !virtual_hostable(bucket);
        let endpoint = endpoint.unwrap_or_else(|| Endpoint {
            scheme: "https".into(),
            host: if path_style {
                format!("s3.{}.amazonaws.com", client.region())
            } else {
                format!("{bucket}.s3.{}.amazonaws.com", client.region())
            },
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

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix (empty or ending with `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The URL of the object at `key` (under the prefix), as requests are sent to it.
    pub fn object_url(&self, key: &str) -> String {
        AwsClient::url(&self.endpoint, &self.object_path(key), &[])
    }

    fn object_path(&self, key: &str) -> String {
        let full = format!("{}{key}", self.prefix);
        if self.path_style {
            format!("/{}/{}", self.bucket, encode_path(&full))
        } else {
            format!("/{}", encode_path(&full))
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
        // on such servers). An object there before this call was written by someone else.
        if self.exists(key)? {
            return Ok(false);
        }
        let reply = self.call("PUT", key, &[("if-none-match".into(), "*".into())], bytes)?;
        match reply.status {
            200 | 201 | 204 => Ok(true),
            // 409: another conditional write of the key was in progress, still so after
            // the retries; it will have written the key.
            412 | 409 => {
                // The key was free a moment ago. If an earlier send of this same PUT got no
                // answer (or a 5xx), S3 may have stored it then, and this 412 answers our
                // own write: the stored object then holds exactly `bytes`. Without such a
                // send, or with other bytes stored, another writer was first. (Only an
                // identical write racing with a lost answer is taken as ours: the same
                // outcome either way for the caller.)
                if !reply.earlier_outcome_unknown {
                    return Ok(false);
                }
                Ok(self.get(key)?.is_some_and(|stored| stored == bytes))
            }
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
            let page = ListPage::parse(&reply.body).map_err(|e| err(prefix, e))?;
            for object in page.contents {
                if let Some(k) = object.key.strip_prefix(&self.prefix) {
                    keys.push(k.to_string());
                }
            }
            token = page.next_continuation_token;
            if !page.is_truncated || token.is_none() {
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

    /// A LIST answers at most 1,000 keys: large listings are split and sent in parallel.
    fn lists_in_pages(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(page: &ListPage) -> Vec<&str> {
        page.contents.iter().map(|o| o.key.as_str()).collect()
    }

    #[test]
    fn list_answers_are_read() {
        let xml = "<ListBucketResult><IsTruncated>true</IsTruncated>\
            <Contents><Key>p/runs/a&amp;b/x.json</Key></Contents>\
            <Contents><Key>p/runs/c.json</Key></Contents>\
            <NextContinuationToken>tok=</NextContinuationToken></ListBucketResult>";
        let page = ListPage::parse(xml.as_bytes()).unwrap();
        assert_eq!(keys(&page), ["p/runs/a&b/x.json", "p/runs/c.json"]);
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("tok="));
    }

    /// A page as S3 sends it: namespace, declaration, every field of `<Contents>`, keys
    /// with escaped characters and spaces (kept, also at the ends), and a token.
    #[test]
    fn a_full_list_page_with_a_continuation_token_is_read() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name>
  <Prefix>pre/runs/</Prefix>
  <ContinuationToken>1/abc</ContinuationToken>
  <NextContinuationToken>next/page=token+2</NextContinuationToken>
  <KeyCount>3</KeyCount>
  <MaxKeys>3</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>pre/runs/a&amp;b/x y.json</Key>
    <LastModified>2026-01-02T03:04:05.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>
    <Size>12</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>pre/runs/run_id=r+1/&lt;ü&gt; &apos;q&apos;.parquet</Key>
    <Size>0</Size>
  </Contents>
  <Contents><Key> pre/lead and trail </Key></Contents>
</ListBucketResult>"#;
        let page = ListPage::parse(xml.as_bytes()).unwrap();
        assert_eq!(
            keys(&page),
            [
                "pre/runs/a&b/x y.json",
                "pre/runs/run_id=r+1/<ü> 'q'.parquet",
                " pre/lead and trail ",
            ]
        );
        assert!(page.is_truncated);
        assert_eq!(
            page.next_continuation_token.as_deref(),
            Some("next/page=token+2")
        );
    }

    #[test]
    fn the_last_and_empty_list_pages_are_read() {
        let last = "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated>\
            <Contents><Key>k</Key></Contents></ListBucketResult>";
        let page = ListPage::parse(last.as_bytes()).unwrap();
        assert_eq!(keys(&page), ["k"]);
        assert!(!page.is_truncated);
        assert_eq!(page.next_continuation_token, None);
        let empty = "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>\
            <IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(
            ListPage::parse(empty.as_bytes()).unwrap(),
            ListPage::default()
        );
        assert!(ListPage::parse(b"<html>gateway timeout").is_err());
    }

    #[test]
    fn error_bodies_are_read() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist &amp; never did</Message><BucketName>bkt</BucketName><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        assert_eq!(
            ErrorBody::parse(xml.as_bytes()),
            ErrorBody {
                code: "NoSuchBucket".into(),
                message: "The specified bucket does not exist & never did".into(),
            }
        );
        let reply = Reply {
            status: 403,
            body: b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                .to_vec(),
            attempts: 1,
            ..Reply::default()
        };
        let e = unexpected("k", "GET", &reply).to_string();
        assert!(
            e.contains("S3 GET answered HTTP 403 AccessDenied: Access Denied (access denied:"),
            "{e}"
        );
        // No body (HEAD) or not XML: the status alone.
        assert_eq!(ErrorBody::parse(b""), ErrorBody::default());
        assert_eq!(ErrorBody::parse(b"Bad Gateway"), ErrorBody::default());
        let reply = Reply {
            status: 503,
            attempts: 8,
            ..Reply::default()
        };
        assert!(
            unexpected("k", "HEAD", &reply)
                .to_string()
                .contains("S3 HEAD answered HTTP 503 (after 8 attempts)")
        );
    }

    #[test]
    fn object_paths_are_encoded_for_both_addressing_styles() {
        let creds = crate::http::Credentials {
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
        let aws = S3Store::new(client.clone(), None, "bkt", "");
        assert_eq!(aws.endpoint.host, "bkt.s3.eu-west-1.amazonaws.com");
        assert_eq!(aws.object_path("runs/r1/cancel"), "/runs/r1/cancel");
        assert_eq!(aws.bucket_path(), "/");
        // A dotted name would not match S3's wildcard certificate as a host: path-style.
        let dotted = S3Store::new(client, None, "sweeps.example.com", "p");
        assert_eq!(dotted.endpoint.scheme, "https");
        assert_eq!(dotted.endpoint.host, "s3.eu-west-1.amazonaws.com");
        assert_eq!(
            dotted.object_path("runs/r1/cancel"),
            "/sweeps.example.com/p/runs/r1/cancel"
        );
        assert_eq!(dotted.bucket_path(), "/sweeps.example.com");
    }

    #[test]
    fn only_single_dns_labels_are_virtual_hosted() {
        for ok in ["bkt", "my-sweeps-2026", "a1b", &"x".repeat(63)] {
            assert!(virtual_hostable(ok), "{ok}");
        }
        for bad in [
            "my.bucket",
            "sweeps.example.com",
            "Upper",
            "under_score",
            "-lead",
            "trail-",
            "ab",
            &"x".repeat(64),
            "",
        ] {
            assert!(!virtual_hostable(bad), "{bad}");
        }
    }

    #[test]
    fn awkward_keys_are_encoded_in_the_request_path() {
        let creds = crate::http::Credentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
            session_token: None,
        };
        let client = AwsClient::new(creds, "eu-west-1", std::time::Duration::from_secs(1));
        let local = S3Store::new(
            client.clone(),
            Some(Endpoint::parse("http://127.0.0.1:9").unwrap()),
            "bkt",
            "p q",
        );
        assert_eq!(
            local.object_path("runs/a b/x=1+2/é€ 😀.json"),
            "/bkt/p%20q/runs/a%20b/x%3D1%2B2/%C3%A9%E2%82%AC%20%F0%9F%98%80.json"
        );
        let aws = S3Store::new(client, None, "bkt", "");
        assert_eq!(
            aws.object_path("a&b/c?d#e%f~g_h.i-j"),
            "/a%26b/c%3Fd%23e%25f~g_h.i-j"
        );
    }
}
