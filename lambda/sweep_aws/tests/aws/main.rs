//! The requests sweep_aws sends: their signatures against botocore's (`signing`), and the
//! retries and conditional writes against a local server that fails on purpose (`faults`).

mod faults;
mod signing;
