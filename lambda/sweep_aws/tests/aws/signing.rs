//! Each kind of request the crate sends, signed at a fixed time with fixed credentials, must
//! carry exactly the signature botocore computes for it.
//!
//! The expected URLs and signatures were produced by botocore 1.43.11 (`S3SigV4Auth` for S3,
//! `SigV4Auth` for Lambda and Glue, the signers its clients use) with
//! `.venv/bin/python lambda/sweep_aws/tests/botocore_vectors.py`, which prints them for the
//! same requests; rerun it after changing a case here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use sweep_aws::invoke::invocation_path;
use sweep_aws::{AwsClient, Credentials, Endpoint, S3Store};

/// 2015-08-30T12:36:00Z.
fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

const TOKEN: &str = "TOKEN/abc=";

fn client(region: &str, token: bool) -> AwsClient {
    let credentials = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        // The example key of the AWS documentation.
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(), // pragma: allowlist secret
        session_token: token.then(|| TOKEN.to_string()),
    };
    AwsClient::new(credentials, region, Duration::from_secs(1))
}

fn https(host: &str) -> Endpoint {
    Endpoint::parse(&format!("https://{host}")).unwrap()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A request and what botocore signs it with.
struct Case<'a> {
    service: &'a str,
    region: &'a str,
    token: bool,
    method: &'a str,
    endpoint: Endpoint,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: &'a [u8],
    /// The URL botocore was given (the one this crate sends).
    url: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

impl Case<'_> {
    /// Signs the case as the client does and returns the headers, after checking the URL and
    /// the authorization header against botocore's.
    fn check(&self) -> Vec<(String, String)> {
        let (url, headers) = client(self.region, self.token)
            .sign(
                self.service,
                &self.endpoint,
                self.method,
                &self.path,
                &self.query,
                &self.headers,
                self.body,
                at(),
            )
            .unwrap();
        assert_eq!(url, self.url);
        let expected = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/{}/{}/aws4_request, \
             SignedHeaders={}, Signature={}",
            self.region, self.service, self.signed_headers, self.signature
        );
        assert_eq!(header(&headers, "authorization"), Some(expected.as_str()));
        assert_eq!(header(&headers, "x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            header(&headers, "x-amz-security-token"),
            self.token.then_some(TOKEN)
        );
        for (name, value) in &self.headers {
            assert_eq!(header(&headers, name), Some(value.as_str()));
        }
        headers
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut found = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    let first = found.next();
    assert_eq!(found.next(), None, "{name} sent twice");
    first
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; // pragma: allowlist secret

/// Every printable ASCII character and some beyond (the generator's `PRINTABLE`).
fn printable() -> String {
    (0x20u8..0x7f).map(char::from).collect::<String>() + "é€😀"
}

fn s3_case<'a>(
    region: &'a str,
    token: bool,
    method: &'a str,
    store: &S3Store,
    key: &str,
    body: &'a [u8],
) -> Case<'a> {
    // The store's own URL for the key, split back into endpoint and path.
    let url = store.object_url(key);
    let (scheme, rest) = url.split_once("://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    Case {
        service: "s3",
        region,
        token,
        method,
        endpoint: Endpoint::parse(&format!("{scheme}://{host}")).unwrap(),
        path: path.to_string(),
        query: Vec::new(),
        headers: Vec::new(),
        body,
        url: "",
        signed_headers: "",
        signature: "",
    }
}

#[test]
fn s3_get_of_a_virtual_hosted_object() {
    let store = S3Store::new(client("us-east-1", false), None, "bkt", "pre");
    let headers = Case {
        url: "https://bkt.s3.us-east-1.amazonaws.com/pre/runs/r%201/run_id%3Dx%2By/manifest.json",
        signed_headers: "host;x-amz-content-sha256;x-amz-date",
        signature: "e2bd22df44606604addb10e09bd97530ec05943d0e15bb39ec5876dd5e50e7f4", // pragma: allowlist secret
        ..s3_case(
            "us-east-1",
            false,
            "GET",
            &store,
            "runs/r 1/run_id=x+y/manifest.json",
            b"",
        )
    }
    .check();
    assert_eq!(header(&headers, "x-amz-content-sha256"), Some(EMPTY_SHA256));
}

#[test]
fn s3_get_of_a_key_with_every_printable_character() {
    let store = S3Store::new(client("us-east-1", false), None, "bkt", "pre/");
    let key = printable().replace('/', "") + "/x";
    Case {
        url: "https://bkt.s3.us-east-1.amazonaws.com/pre/%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.0123456789%3A%3B%3C%3D%3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~%C3%A9%E2%82%AC%F0%9F%98%80/x",
        signed_headers: "host;x-amz-content-sha256;x-amz-date",
        signature: "2d0f4a4b6162f76436db0a2407539c4357f5153c21686fb604c642aaf875335f", // pragma: allowlist secret
        ..s3_case("us-east-1", false, "GET", &store, &key, b"")
    }
    .check();
}

#[test]
fn s3_conditional_put_to_a_dotted_bucket_path_style() {
    let store = S3Store::new(client("eu-west-1", true), None, "my.dotted.bucket", "pre");
    let body = br#"{"k":"v"}"#;
    let headers = Case {
        headers: pairs(&[("if-none-match", "*")]),
        url: "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/pre/%C3%BC/a%26b.json",
        signed_headers: "host;if-none-match;x-amz-content-sha256;x-amz-date;x-amz-security-token",
        signature: "429e213e1ff6b45ae59fd8c858c5a4d87fa51b4496fe4ce67c0c7b7ca66d7fda", // pragma: allowlist secret
        ..s3_case("eu-west-1", true, "PUT", &store, "ü/a&b.json", body)
    }
    .check();
    // The payload is signed: its SHA-256 is sent and covered by the signature.
    assert_eq!(
        header(&headers, "x-amz-content-sha256"),
        Some("666c1aa02e8068c6d5cc1d3295009432c16790bec28ec8ce119d0d1a18d61319") // pragma: allowlist secret
    );
}

#[test]
fn s3_list_with_awkward_query_values() {
    let query = |items: &[(&str, &str)]| pairs(items);
    Case {
        service: "s3",
        region: "us-east-1",
        token: true,
        method: "GET",
        endpoint: https("bkt.s3.us-east-1.amazonaws.com"),
        path: "/".into(),
        query: query(&[
            ("list-type", "2"),
            ("prefix", "pre/runs/r 1/"),
            ("continuation-token", "1/abc+=="),
        ]),
        headers: Vec::new(),
        body: b"",
        url: "https://bkt.s3.us-east-1.amazonaws.com/?list-type=2&prefix=pre%2Fruns%2Fr%201%2F&continuation-token=1%2Fabc%2B%3D%3D",
        signed_headers: "host;x-amz-content-sha256;x-amz-date;x-amz-security-token",
        signature: "723de50a6b1fe542fb472fe4678a9875c9adfbb17ec554cb32821eb089c95d4f", // pragma: allowlist secret
    }
    .check();
    let prefix = printable();
    Case {
        service: "s3",
        region: "us-east-1",
        token: false,
        method: "GET",
        endpoint: https("bkt.s3.us-east-1.amazonaws.com"),
        path: "/".into(),
        query: query(&[("list-type", "2"), ("prefix", &prefix)]),
        headers: Vec::new(),
        body: b"",
        url: "https://bkt.s3.us-east-1.amazonaws.com/?list-type=2&prefix=%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F%40ABCDEFGHIJKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~%C3%A9%E2%82%AC%F0%9F%98%80",
        signed_headers: "host;x-amz-content-sha256;x-amz-date",
        signature: "f53aabe52f1f37cce67a00f2297bdb48a4dde7cbe30abdc5823b24100ecfeaac", // pragma: allowlist secret
    }
    .check();
}

/// The local emulation's endpoint: path-style, a port, plain HTTP. (The same vector the
/// hand-written signer was checked against.)
#[test]
fn s3_list_on_a_local_endpoint() {
    Case {
        service: "s3",
        region: "us-east-1",
        token: false,
        method: "GET",
        endpoint: Endpoint::parse("http://127.0.0.1:4566").unwrap(),
        path: "/bucket".into(),
        query: pairs(&[("list-type", "2"), ("prefix", "runs/r 1/")]),
        headers: Vec::new(),
        body: b"",
        url: "http://127.0.0.1:4566/bucket?list-type=2&prefix=runs%2Fr%201%2F",
        signed_headers: "host;x-amz-content-sha256;x-amz-date",
        signature: "bf4ad0a6f037d721de0cc2a0b14b0ee26a6f415030d4988baf37dd152a9b4efd", // pragma: allowlist secret
    }
    .check();
}

const INVOKE_BODY: &[u8] = br#"{"version":1,"run_id":"r1","shards":[0,1],"attempt":0}"#;

fn invoke_case<'a>(region: &'a str, function: &str) -> Case<'a> {
    Case {
        service: "lambda",
        region,
        token: true,
        method: "POST",
        endpoint: https(&format!("lambda.{region}.amazonaws.com")),
        path: invocation_path(function),
        query: Vec::new(),
        // As `LambdaInvoker::invoke_bytes` sends them.
        headers: pairs(&[
            ("x-amz-invocation-type", "Event"),
            ("content-type", "application/json"),
        ]),
        body: INVOKE_BODY,
        url: "",
        signed_headers: "content-type;host;x-amz-date;x-amz-invocation-type;x-amz-security-token",
        signature: "",
    }
}

#[test]
fn lambda_invoke_by_name() {
    let headers = Case {
        url: "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/sweep-worker/invocations",
        signature: "38bd032ac9afdeb3805a4a351261eba85f12c201c6ff4b3f45085378003d27cc", // pragma: allowlist secret
        ..invoke_case("eu-west-1", "sweep-worker")
    }
    .check();
    // Only S3 wants the payload hash as a header.
    assert_eq!(header(&headers, "x-amz-content-sha256"), None);
}

/// The case the hand-written signer got wrong: Lambda checks the path encoded twice.
#[test]
fn lambda_invoke_by_arn() {
    Case {
        url: "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations",
        signature: "cd780d57b84d26ec8580a7830a8290335bfac668781e2b24f95bce54f547d9b0", // pragma: allowlist secret
        ..invoke_case("us-east-1", "arn:aws:lambda:us-east-1:123456789012:function:f")
    }
    .check();
}

#[test]
fn lambda_invoke_of_an_alias() {
    Case {
        url: "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/name%3Alive/invocations",
        signature: "c0b99c5d2f700094b5e4f4e90b3de8630e2873f5656e83e53dd158112ecd66c6", // pragma: allowlist secret
        ..invoke_case("us-east-1", "name:live")
    }
    .check();
}

/// The paths are the ones botocore's own Lambda client sends for these names.
#[test]
fn invocation_paths_match_botocores_client() {
    for (function, url) in [
        (
            "sweep-worker",
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/sweep-worker/invocations",
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations",
        ),
        (
            "name:live",
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/name%3Alive/invocations",
        ),
    ] {
        let endpoint = https("lambda.us-east-1.amazonaws.com");
        assert_eq!(
            AwsClient::url(&endpoint, &invocation_path(function), &[]),
            url
        );
    }
}

#[test]
fn glue_json_post() {
    Case {
        service: "glue",
        region: "eu-west-1",
        token: true,
        method: "POST",
        endpoint: https("glue.eu-west-1.amazonaws.com"),
        path: "/".into(),
        query: Vec::new(),
        // As `GlueCatalog` sends them.
        headers: pairs(&[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AWSGlue.GetTable"),
        ]),
        body: br#"{"DatabaseName":"sweeps","Name":"results_mc_pi"}"#,
        url: "https://glue.eu-west-1.amazonaws.com/",
        signed_headers: "content-type;host;x-amz-date;x-amz-security-token;x-amz-target",
        signature: "342e0003502ee8a2b493fdece3451c3069c2334c039cb153cc107becfa1d406e", // pragma: allowlist secret
    }
    .check();
}

/// An endpoint written with its scheme's default port signs and sends the same host.
#[test]
fn default_ports_are_dropped_from_endpoints() {
    assert_eq!(
        Endpoint::parse("https://glue.eu-west-1.amazonaws.com:443/")
            .unwrap()
            .host,
        "glue.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        Endpoint::parse("http://localhost:80").unwrap().host,
        "localhost"
    );
    assert_eq!(
        Endpoint::parse("http://localhost:443").unwrap().host,
        "localhost:443"
    );
}
