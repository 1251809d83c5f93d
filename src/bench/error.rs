//! Why a bench run failed. The bench drives files, child processes, sockets and TLS, and reports
//! a failure as `anyhow` did: what it was doing ("writing X", "running observe"), then the cause
//! with its own causes, or a failure in its own words.

use std::error::Error as StdError;

/// Any error the bench meets, with its causes.
pub type Cause = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// What the bench was doing, and why that failed.
    #[error("{what}")]
    Context {
        what: String,
        #[source]
        cause: Cause,
    },
    /// A failure in the bench's own words (a child that failed, an answer it did not expect).
    #[error("{0}")]
    Failed(String),
    /// An error of what the bench drives, as it says it.
    #[error(transparent)]
    Other(Cause),
}

macro_rules! other_errors {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for BenchError {
            fn from(e: $t) -> Self {
                BenchError::Other(Box::new(e))
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
    crate::store::StoreError,
);

/// `.context(…)` and `.with_context(|| …)` on any result: the failure becomes
/// [`BenchError::Context`].
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T, BenchError>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, BenchError>;
}

impl<T, E: Into<Cause>> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, BenchError> {
        self.map_err(|e| BenchError::Context {
            what: what.to_string(),
            cause: e.into(),
        })
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, BenchError> {
        self.map_err(|e| BenchError::Context {
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
