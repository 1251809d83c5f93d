//! policy-miner: least-privilege IAM policies for ECS roles, mined from API-call evidence.
//!
//! The pipeline, one module per stage:
//! `source` (trace files → [`call::ApiCall`]) → `attribution` (principal → role, family, kind) →
//! `mapping` (call → IAM actions and resource ARNs, checked against `catalog`) → `store` (SQLite
//! evidence) → `synth` (evidence → policy documents) → `output` (text, JSON, policy files).
//! `policy` holds the document types and the IAM evaluator that proves coverage. Every failure
//! of the library is an [`Error`] (or one of the module errors it wraps); only `cli` uses anyhow.

pub mod attribution;
pub mod aws;
pub mod bench;
pub mod call;
pub mod catalog;
pub mod cli;
pub mod error;
pub mod mapping;
pub mod observe;
pub mod output;
pub mod policy;
pub mod role;
pub mod source;
pub mod store;
pub mod synth;
pub mod text;
pub mod tighten;

pub use error::Error;
