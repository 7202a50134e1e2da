//! Retries and conditional writes against a local HTTP server that answers from a script:
//! throttling and internal errors first, then success; answers that must not be retried; lost
//! answers and timeouts; and the conditional PUT whose first answer was lost.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sweep_aws::{AwsClient, Credentials, Endpoint, GlueCatalog, LambdaInvoker, RetryPolicy};
use sweep_aws::{S3Store, invoke::invocation_path};
use sweep_cloud::{Catalog, CatalogError};
use sweep_core::Store;

/// What the server does with one request.
enum Answer {
    /// Answers with this status, extra headers and body.
    Http(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Reads the request and closes the connection without answering (a lost answer).
    Hangup,
    /// Reads the request and answers nothing for this long (the client times out first).
    Stall(Duration),
}

/// A request the server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A server on 127.0.0.1 answering requests in order from a script (then 500s). Each
/// connection is served on its own thread and closed after one answer.
struct FaultServer {
    endpoint: Endpoint,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FaultServer {
    fn start(script: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint =
            Endpoint::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, script) = (log.clone(), script.clone());
                std::thread::spawn(move || serve(stream, &log, &script));
            }
        });
        FaultServer { endpoint, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn methods(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.method).collect()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Seen>>, script: &Mutex<VecDeque<Answer>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    // Logged before answering, so the log is in request order (the client is sequential).
    log.lock().unwrap().push(Seen {
        method,
        target,
        headers,
        body,
    });
    let answer = script.lock().unwrap().pop_front();
    let mut stream = stream;
    match answer.unwrap_or_else(|| Answer::Http(500, Vec::new(), b"script exhausted".to_vec())) {
        Answer::Http(status, headers, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
        Answer::Hangup => {}
        Answer::Stall(d) => std::thread::sleep(d),
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn ok(body: &[u8]) -> Answer {
    Answer::Http(200, Vec::new(), body.to_vec())
}

fn s3_error(status: u16, code: &str) -> Answer {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>m</Message><RequestId>1</RequestId></Error>"
    );
    Answer::Http(status, Vec::new(), xml.into_bytes())
}

/// A JSON-protocol error as Glue and Lambda send it: type in a header and in the body.
fn json_error(status: u16, kind: &str) -> Answer {
    Answer::Http(
        status,
        vec![(
            "x-amzn-ErrorType",
            format!("{kind}:http://internal.amazon.com/coral/com.amazonaws.glue/"),
        )],
        format!(r#"{{"__type":"{kind}","message":"Rate exceeded"}}"#).into_bytes(),
    )
}

/// Fast retries: 5 attempts, delays of at most 2, 4, 8, 10 ms.
fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base: Duration::from_millis(2),
        cap: Duration::from_millis(10),
        budget: Duration::from_secs(20),
    }
}

fn client(timeout: Duration) -> AwsClient {
    let credentials = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "secret".into(), // pragma: allowlist secret
        session_token: Some("token".into()),
    };
    let mut client = AwsClient::new(credentials, "us-east-1", timeout);
    client.retry = fast();
    client
}

fn store(server: &FaultServer) -> S3Store {
    S3Store::new(
        client(Duration::from_secs(5)),
        Some(server.endpoint.clone()),
        "bkt",
        "pre",
    )
}

#[test]
fn s3_throttling_and_internal_errors_are_retried_until_success() {
    let server = FaultServer::start(vec![
        s3_error(503, "SlowDown"),
        s3_error(500, "InternalError"),
        s3_error(400, "RequestTimeout"),
        Answer::Http(503, Vec::new(), Vec::new()),
        ok(b"hello"),
    ]);
    assert_eq!(store(&server).get("k").unwrap(), Some(b"hello".to_vec()));
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    for request in &seen {
        assert_eq!(
            (request.method.as_str(), request.target.as_str()),
            ("GET", "/bkt/pre/k")
        );
        // Each attempt is signed on its own.
        assert!(
            request
                .header("authorization")
                .unwrap()
                .starts_with("AWS4-HMAC-SHA256 ")
        );
    }
}

#[test]
fn lambda_throttling_and_5xx_are_retried_until_success() {
    let server = FaultServer::start(vec![
        json_error(429, "TooManyRequestsException"),
        json_error(502, "EC2ThrottledException"),
        json_error(500, "ServiceException"),
        Answer::Http(202, Vec::new(), Vec::new()),
    ]);
    let function = "arn:aws:lambda:us-east-1:123456789012:function:f";
    let invoker = LambdaInvoker::new(
        client(Duration::from_secs(5)),
        Some(server.endpoint.clone()),
        function,
    );
    invoker.invoke_bytes(b"{}").unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| s.target == invocation_path(function)));
    assert!(
        seen.iter()
            .all(|s| s.header("x-amz-invocation-type") == Some("Event"))
    );
}

#[test]
fn glue_throttling_and_internal_errors_are_retried_until_success() {
    let results = r#"{"Table":{"StorageDescriptor":{"Location":"s3://b/results/mc/"}}}"#;
    let failures = r#"{"Table":{"StorageDescriptor":{"Location":"s3://b/failures/mc/"}}}"#;
    let server = FaultServer::start(vec![
        json_error(400, "ThrottlingException"),
        ok(results.as_bytes()),
        ok(failures.as_bytes()),
        json_error(500, "InternalServiceException"),
        json_error(400, "OperationTimeoutException"),
        ok(br#"{"Errors":[]}"#),
        ok(br#"{"Errors":[]}"#),
    ]);
    let glue = GlueCatalog::new(
        client(Duration::from_secs(5)),
        Some(server.endpoint.clone()),
        "db",
    );
    glue.register_run("mc", "r1").unwrap();
    let targets: Vec<String> = server
        .seen()
        .iter()
        .map(|s| s.header("x-amz-target").unwrap().to_string())
        .collect();
    assert_eq!(
        targets,
        [
            "AWSGlue.GetTable",
            "AWSGlue.GetTable",
            "AWSGlue.GetTable",
            "AWSGlue.BatchCreatePartition",
            "AWSGlue.BatchCreatePartition",
            "AWSGlue.BatchCreatePartition",
            "AWSGlue.BatchCreatePartition",
        ]
    );
    let partition = |i: usize| -> serde_json::Value {
        let body: serde_json::Value = serde_json::from_slice(&server.seen()[i].body).unwrap();
        body["PartitionInputList"][0]["StorageDescriptor"]["Location"].clone()
    };
    assert_eq!(partition(5), "s3://b/results/mc/run_id=r1/");
    assert_eq!(partition(6), "s3://b/failures/mc/run_id=r1/");
}

#[test]
fn a_missing_glue_table_registers_nothing_and_is_not_retried() {
    // The results table exists, the failures table does not: no partition is added to
    // either, the error names the table, and nothing is retried.
    let results = r#"{"Table":{"StorageDescriptor":{"Location":"s3://b/results/mc/"}}}"#;
    let server = FaultServer::start(vec![
        ok(results.as_bytes()),
        json_error(400, "EntityNotFoundException"),
        ok(br#"{"Errors":[]}"#),
    ]);
    let glue = GlueCatalog::new(
        client(Duration::from_secs(5)),
        Some(server.endpoint.clone()),
        "db",
    );
    let error = glue.register_run("mc", "r1").unwrap_err();
    assert_eq!(
        error,
        CatalogError::MissingTable {
            table: "failures_mc".into(),
            database: "db".into()
        }
    );
    assert!(error.to_string().contains("terraform apply"), "{error}");
    assert_eq!(
        server.seen().len(),
        2,
        "two GetTable calls, no BatchCreatePartition"
    );
}

#[test]
fn lost_answers_and_timeouts_are_retried() {
    let server = FaultServer::start(vec![
        Answer::Hangup,
        Answer::Stall(Duration::from_secs(2)),
        ok(b"late"),
    ]);
    let store = S3Store::new(
        client(Duration::from_millis(300)),
        Some(server.endpoint.clone()),
        "bkt",
        "",
    );
    assert_eq!(store.get("k").unwrap(), Some(b"late".to_vec()));
    assert_eq!(server.methods(), ["GET", "GET", "GET"]);
}

#[test]
fn answers_that_are_not_retryable_return_at_once() {
    // S3: access denied.
    let server = FaultServer::start(vec![s3_error(403, "AccessDenied"), ok(b"never")]);
    let start = Instant::now();
    let error = store(&server).get("k").unwrap_err().to_string();
    assert!(error.contains("HTTP 403 AccessDenied"), "{error}");
    assert!(!error.contains("attempts"), "{error}");
    assert_eq!(server.seen().len(), 1);
    assert!(start.elapsed() < Duration::from_secs(1));

    // Lambda: no such function (and the dispatcher is told not to retry either).
    let server = FaultServer::start(vec![json_error(404, "ResourceNotFoundException"), ok(b"")]);
    let invoker = LambdaInvoker::new(
        client(Duration::from_secs(5)),
        Some(server.endpoint.clone()),
        "missing",
    );
    let error = invoker.invoke_bytes(b"{}").unwrap_err();
    assert!(
        !error.retryable && error.message.contains("404"),
        "{error:?}"
    );
    assert_eq!(server.seen().len(), 1);

    // The emulator's answer for a function that ran and failed (a 500 with the function's
    // error, with or without the header): delivered, and not sent again (that would run
    // the function again).
    for headers in [
        vec![],
        vec![("x-amz-function-error", "Unhandled".to_string())],
    ] {
        let body = br#"{"errorType":"Panic","errorMessage":"boom"}"#.to_vec();
        let server = FaultServer::start(vec![Answer::Http(500, headers, body), ok(b"")]);
        let invoker = LambdaInvoker::new(
            client(Duration::from_secs(5)),
            Some(server.endpoint.clone()),
            "worker",
        );
        invoker.invoke_bytes(b"{}").unwrap();
        assert_eq!(server.seen().len(), 1);
    }

    // Glue: no such table.
    let server = FaultServer::start(vec![json_error(400, "EntityNotFoundException"), ok(b"{}")]);
    let glue = GlueCatalog::new(
        client(Duration::from_secs(5)),
        Some(server.endpoint.clone()),
        "db",
    );
    let error = glue.register_run("x", "r1").unwrap_err();
    assert!(
        matches!(error, CatalogError::MissingTable { .. }),
        "{error}"
    );
    assert_eq!(server.seen().len(), 1);

    // A URL that cannot be signed is not sent at all.
    let mut local = client(Duration::from_secs(1));
    local.retry = RetryPolicy::never();
    let bad = Endpoint {
        scheme: "http".into(),
        host: "bad host".into(),
    };
    let error = local
        .send("s3", &bad, "GET", "/", &[], &[], b"")
        .unwrap_err();
    assert!(error.contains("cannot sign"), "{error}");
}

#[test]
fn retries_stop_after_the_last_attempt_or_the_time_budget() {
    let server = FaultServer::start((0..6).map(|_| s3_error(503, "SlowDown")).collect());
    let error = store(&server).get("k").unwrap_err().to_string();
    assert!(error.contains("HTTP 503 SlowDown"), "{error}");
    assert!(error.contains("(after 5 attempts)"), "{error}");
    assert_eq!(server.seen().len(), 5);

    let server = FaultServer::start(vec![s3_error(503, "SlowDown"), ok(b"x")]);
    let mut impatient = client(Duration::from_secs(5));
    impatient.retry.budget = Duration::ZERO;
    let store = S3Store::new(impatient, Some(server.endpoint.clone()), "bkt", "");
    assert!(store.get("k").is_err());
    assert_eq!(server.seen().len(), 1);

    // No answer at all: the error says how often it was tried.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = Endpoint::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let error = client(Duration::from_secs(1))
        .send("s3", &closed, "GET", "/bkt/k", &[], &[], b"")
        .unwrap_err();
    assert!(error.contains("(after 5 attempts)"), "{error}");
}

#[test]
fn a_conditional_put_whose_answer_was_lost_is_ours_when_the_bytes_match() {
    let server = FaultServer::start(vec![
        Answer::Http(404, Vec::new(), Vec::new()), // HEAD: free
        Answer::Hangup,                            // PUT stored, answer lost
        s3_error(412, "PreconditionFailed"),       // PUT again: now it exists
        ok(b"manifest"),                           // GET: our bytes
    ]);
    assert!(
        store(&server)
            .put_if_absent("runs/r1/manifest.json", b"manifest")
            .unwrap()
    );
    let seen = server.seen();
    assert_eq!(server.methods(), ["HEAD", "PUT", "PUT", "GET"]);
    for put in &seen[1..3] {
        assert_eq!(put.header("if-none-match"), Some("*"));
        assert_eq!(put.body, b"manifest");
    }
    assert_eq!(seen[3].target, "/bkt/pre/runs/r1/manifest.json");

    // The same after a 500 (which leaves open whether S3 stored the object).
    let server = FaultServer::start(vec![
        Answer::Http(404, Vec::new(), Vec::new()),
        s3_error(500, "InternalError"),
        s3_error(412, "PreconditionFailed"),
        ok(b"manifest"),
    ]);
    assert!(store(&server).put_if_absent("m", b"manifest").unwrap());
}

#[test]
fn a_conditional_put_is_refused_when_someone_else_wrote_first() {
    // Lost answer, but the stored bytes are another writer's.
    let server = FaultServer::start(vec![
        Answer::Http(404, Vec::new(), Vec::new()),
        Answer::Hangup,
        s3_error(412, "PreconditionFailed"),
        ok(b"theirs"),
    ]);
    assert!(!store(&server).put_if_absent("m", b"mine").unwrap());
    assert_eq!(server.methods(), ["HEAD", "PUT", "PUT", "GET"]);

    // 412 at the first send: the object was written by someone else between the look and
    // the write, even if with the same bytes (a marker like `{}` must stay "once").
    let server = FaultServer::start(vec![
        Answer::Http(404, Vec::new(), Vec::new()),
        s3_error(412, "PreconditionFailed"),
        ok(b"{}"),
    ]);
    assert!(!store(&server).put_if_absent("m", b"{}").unwrap());
    assert_eq!(server.methods(), ["HEAD", "PUT"]);

    // Throttled first (a 4xx: certainly not stored), then 412: someone else's.
    let server = FaultServer::start(vec![
        Answer::Http(404, Vec::new(), Vec::new()),
        s3_error(409, "ConditionalRequestConflict"),
        s3_error(412, "PreconditionFailed"),
        ok(b"{}"),
    ]);
    assert!(!store(&server).put_if_absent("m", b"{}").unwrap());
    assert_eq!(server.methods(), ["HEAD", "PUT", "PUT"]);

    // Already there when looked at.
    let server = FaultServer::start(vec![ok(b"")]);
    assert!(!store(&server).put_if_absent("m", b"{}").unwrap());
    assert_eq!(server.methods(), ["HEAD"]);

    // Free: written.
    let server = FaultServer::start(vec![Answer::Http(404, Vec::new(), Vec::new()), ok(b"")]);
    assert!(store(&server).put_if_absent("m", b"{}").unwrap());
    assert_eq!(server.methods(), ["HEAD", "PUT"]);
}
