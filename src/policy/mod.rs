//! IAM policy documents, resource-name escaping, and the evaluator used to prove coverage; the
//! percent-decoder for text that arrives URL-encoded.
//!
//! * [`document`]: policy documents as IAM reads and writes them.
//! * [`pattern`]: the Resource grammar (wildcards, policy variables, escapes): matching a
//!   resource, one pattern covering another, writing literal names ([`escape`]).
//! * [`eval`]: the evaluator (statements and decisions, condition operators, value parsers,
//!   lint).
//! * [`percent`]: `%XX` decoding.

mod context;
pub mod document;
pub mod escape;
pub mod eval;
pub mod pattern;
pub mod percent;
#[cfg(test)]
mod testing;

pub use document::{Effect, PolicyDocument, Statement};
