//! The AWS calls of the sweep_magic Lambdas — S3 objects ([`s3::S3Store`]), asynchronous
//! Lambda invokes ([`invoke::LambdaInvoker`]) and Glue partitions ([`glue::GlueCatalog`]) —
//! over a small SigV4 signer and a blocking HTTP client (ureq with rustls).
//!
//! A full AWS SDK would add minutes of compile time and a C crypto library for five
//! operations; the signer is checked against botocore's signatures, and the operations run
//! against a real S3 protocol server in the end-to-end tests. Credentials come from the
//! standard variables (which Lambda sets from the function's role), endpoints from
//! `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL` (as the AWS SDKs read them) so the
//! same binaries run against the local emulation.

pub mod glue;
pub mod http;
pub mod invoke;
pub mod s3;
pub mod sigv4;

pub use glue::GlueCatalog;
pub use http::{AwsClient, Endpoint};
pub use invoke::LambdaInvoker;
pub use s3::S3Store;
