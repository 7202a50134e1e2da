//! The AWS calls of the sweep_magic Lambdas — S3 objects ([`s3::S3Store`]), asynchronous
//! Lambda invokes ([`invoke::LambdaInvoker`]) and Glue partitions ([`glue::GlueCatalog`]) —
//! over AWS's SigV4 signer (`aws-sigv4`) and a blocking HTTP client (ureq with rustls).
//!
//! A full AWS SDK would add minutes of compile time and an async runtime for five
//! operations; the signer is the SDK's own, its output is checked against botocore's for each
//! kind of request the crate sends, and the operations run against a real S3 protocol server
//! in the end-to-end tests. Retries ([`retry`]) back off exponentially with full jitter.
//! Credentials come from the standard variables (which Lambda sets from the function's
//! role), endpoints from `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL` (as the AWS SDKs
//! read them) so the same binaries run against the local emulation.

pub mod glue;
pub mod http;
pub mod invoke;
pub mod retry;
pub mod s3;
pub mod sqs;

pub use glue::GlueCatalog;
pub use http::{AwsClient, Credentials, Endpoint};
pub use invoke::LambdaInvoker;
pub use retry::RetryPolicy;
pub use s3::S3Store;
pub use sqs::SqsQueue;
