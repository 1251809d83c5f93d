//! Failures of the parts that drive files, child processes, sockets and TLS (`bench`, the live
//! sources' setup), reported as `anyhow` did: what it was doing ("writing X", "reading the CA key
//! Y"), then the cause with its own causes, or a failure in its own words.

use std::error::Error as StdError;

/// Any error these parts meet, with its causes.
pub type Cause = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// What it was doing, and why that failed.
    #[error("{what}")]
    Context {
        what: String,
        #[source]
        cause: Cause,
    },
    /// A failure in its own words, with what to do.
    #[error("{0}")]
    Failed(String),
    /// An error of what it drives, as it says it.
    #[error(transparent)]
    Other(Cause),
}

macro_rules! other_errors {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for ContextError {
            fn from(e: $t) -> Self {
                ContextError::Other(Box::new(e))
            }
        })*
    };
}

other_errors!(
    std::io::Error,
    serde_json::Error,
    hyper::Error,
    http::Error,
    rustls::Error,
    tokio::task::JoinError,
    rcgen::Error,
    crate::store::StoreError,
    crate::Error,
);

/// `.context(…)` and `.with_context(|| …)` on any result: the failure becomes
/// [`ContextError::Context`].
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T, ContextError>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, ContextError>;
}

impl<T, E: Into<Cause>> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, ContextError> {
        self.map_err(|e| ContextError::Context {
            what: what.to_string(),
            cause: e.into(),
        })
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, ContextError> {
        self.map_err(|e| ContextError::Context {
            what: what(),
            cause: e.into(),
        })
    }
}

/// The error and each of its causes, joined by ": " (what `anyhow` prints for `{:#}`).
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
