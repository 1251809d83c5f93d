//! Why a live source could not start or stop cleanly: what it was doing ("reading the CA key
//! X", "--proxy ADDR: cannot listen"), then the cause with its own causes, or a failure in its
//! own words. The message reads as it did when these were `anyhow` errors.

use std::error::Error as StdError;

/// Any error a live source meets, with its causes.
pub type Cause = Box<dyn StdError + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// What the source was doing, and why that failed.
    #[error("{what}")]
    Context {
        what: String,
        #[source]
        cause: Cause,
    },
    /// A failure in the source's own words, with what to do.
    #[error("{0}")]
    Failed(String),
    /// An error of what the source drives, as it says it.
    #[error(transparent)]
    Other(Cause),
}

macro_rules! other_errors {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for SetupError {
            fn from(e: $t) -> Self {
                SetupError::Other(Box::new(e))
            }
        })*
    };
}

other_errors!(
    std::io::Error,
    rustls::Error,
    rcgen::Error,
    crate::store::StoreError,
    crate::Error,
);

/// `.context(…)` and `.with_context(|| …)` on any result: the failure becomes
/// [`SetupError::Context`].
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T, SetupError>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, SetupError>;
}

impl<T, E: StdError + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Result<T, SetupError> {
        self.map_err(|e| SetupError::Context {
            what: what.to_string(),
            cause: Box::new(e),
        })
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, SetupError> {
        self.map_err(|e| SetupError::Context {
            what: what(),
            cause: Box::new(e),
        })
    }
}
