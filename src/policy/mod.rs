//! IAM policy documents, resource-name escaping, and the evaluator used to prove coverage; the
//! percent-decoder for text that arrives URL-encoded.

pub mod document;
pub mod escape;
pub mod eval;
pub mod percent;

pub use document::{Effect, PolicyDocument, Statement};
