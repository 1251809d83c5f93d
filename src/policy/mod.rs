//! IAM policy documents, resource-name escaping, and the evaluator used to prove coverage.

pub mod document;
pub mod escape;
pub mod eval;

pub use document::{Effect, PolicyDocument, Statement};
