//! The one error type of the engine. Every fallible public function returns [`SweepError`];
//! bindings convert it once (to Python exceptions, to HTTP statuses) by matching its variants.

use std::fmt;

/// Everything that can go wrong in the engine, split by who can fix it.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The spec (or a request derived from it) is invalid. Nothing has run or been written.
    #[error("{0}")]
    Spec(#[from] SpecError),
    /// A run id, shard or object that was asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Reading or writing the result store failed. Retrying may help.
    #[error("storage error at {key}: {message}")]
    Storage {
        /// The object key (relative to the root) that failed.
        key: String,
        /// What the storage layer reported.
        message: String,
    },
    /// The run was cancelled before it finished; completed shards are kept.
    #[error("run cancelled")]
    Cancelled,
    /// Stored state is inconsistent with what this engine expects (e.g. a manifest written by
    /// an incompatible version). Retrying will not help.
    #[error("corrupt or incompatible run data: {0}")]
    Corrupt(String),
}

/// The kind of an error: what every boundary (Python exceptions, HTTP statuses, and through
/// the exceptions exit codes) maps, each in one place, so the kind survives every crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The spec or request is invalid (nothing ran or was written).
    Spec,
    /// The run (or object) asked for does not exist.
    NotFound,
    /// The result store failed; retrying may help.
    Storage,
    /// The run was cancelled.
    Cancelled,
    /// Stored data is inconsistent or from an incompatible version.
    Corrupt,
}

impl ErrorKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Spec,
        ErrorKind::NotFound,
        ErrorKind::Storage,
        ErrorKind::Cancelled,
        ErrorKind::Corrupt,
    ];

    /// The kind's name on the wire (`spec`, `not_found`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Spec => "spec",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Storage => "storage",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Corrupt => "corrupt",
        }
    }

    /// The HTTP status the API answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Spec => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Storage => 503,
            ErrorKind::Cancelled => 409,
            ErrorKind::Corrupt => 500,
        }
    }

    /// Whether retrying the same operation could succeed.
    pub fn is_retryable(self) -> bool {
        self == ErrorKind::Storage
    }
}

impl SweepError {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SweepError::Spec(_) => ErrorKind::Spec,
            SweepError::NotFound(_) => ErrorKind::NotFound,
            SweepError::Storage { .. } => ErrorKind::Storage,
            SweepError::Cancelled => ErrorKind::Cancelled,
            SweepError::Corrupt(_) => ErrorKind::Corrupt,
        }
    }

    /// The offending field path (spec errors) or object key (storage errors), else empty.
    pub fn path(&self) -> &str {
        match self {
            SweepError::Spec(e) => &e.path,
            SweepError::Storage { key, .. } => key,
            _ => "",
        }
    }

    /// Whether retrying the same operation could succeed (transient storage trouble).
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// Builds a storage error for `key`.
    pub fn storage(key: impl Into<String>, message: impl fmt::Display) -> Self {
        SweepError::Storage {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

/// A spec error: the dotted field path that is wrong and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct SpecError {
    /// Dotted path of the offending field, e.g. `params.sigma` or `params.k.linspace[2]`.
    /// Empty when the document as a whole is wrong (e.g. it does not parse).
    pub path: String,
    /// One line saying what is wrong and, where there is one, what is allowed.
    pub message: String,
}

impl SpecError {
    /// Creates an error for the field at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            path: path.into(),
            message: message.into(),
        }
    }

    fn render(&self) -> String {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }
}

/// Shorthand for results of the engine.
pub type Result<T, E = SweepError> = std::result::Result<T, E>;
