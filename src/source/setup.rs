//! Why a live source could not start or stop cleanly: what it was doing ("reading the CA key
//! X", "--proxy ADDR: cannot listen"), then the cause, or a failure in its own words — the
//! library's context error, as `bench` has it too.

pub use crate::error::context::{Context, ContextError as SetupError};
