//! The library's one error type. Each module with failures of its own has its own enum
//! ([`StoreError`], [`CatalogError`], [`AwsError`]…), and [`Error`] wraps each of them unchanged
//! (`#[error(transparent)]`: the same message, the same causes); what had no type of its own has
//! a variant here. Only `cli` and `main.rs` turn errors into `anyhow` and print them.

pub mod context;

use crate::attribution::taskdef::TaskDefinitionError;
use crate::attribution::UnknownRoles;
use crate::catalog::update::UpdateError;
use crate::catalog::CatalogError;
use crate::source::s3::S3Error;
use crate::store::exchange::ImportError;
use crate::store::StoreError;
use crate::synth::verify::PolicyFileError;
use crate::tighten::aws::AwsError;
use crate::tighten::rollback::RollbackError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    CatalogUpdate(#[from] UpdateError),
    #[error(transparent)]
    TaskDefinition(#[from] TaskDefinitionError),
    #[error(transparent)]
    UnknownRoles(#[from] UnknownRoles),
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    PercentEncoding(#[from] crate::policy::percent::Error),
    #[error(transparent)]
    PolicyFile(#[from] PolicyFileError),
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    #[error(transparent)]
    Context(#[from] context::ContextError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A task of the runtime that panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),

    /// A file could not be written (or renamed into place) whole. The cause is in the message,
    /// not a source: it reads the same printed alone (`{}`) or with its causes (`{:#}`).
    #[error("{what} {}: {error}", path.display())]
    Write {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// `propose`: the proposal for a role would deny a call observed to succeed; nothing is
    /// emitted.
    #[error(
        "internal error: the proposal for {role_arn} would deny {denied} observed call(s), e.g. \
         {action} on {resource} (example event {example_event_id}); no policy was emitted. Please \
         report this with the evidence (`policy-miner verify` lists them all)"
    )]
    Uncovered {
        role_arn: String,
        denied: usize,
        action: String,
        resource: String,
        example_event_id: String,
    },
    /// `catalog show` of a name that is no IAM action; the message offers the nearest ones.
    #[error("{0}")]
    UnknownAction(String),
    /// `catalog show --operation` of a name the catalog has no operation data for; the message
    /// says why (no data in this copy, none for the service, nearest names).
    #[error("{0}")]
    UnknownOperation(String),
    #[error("`{0}` is not a duration: give a number and a unit (90s, 30m, 12h, 7d, 2w)")]
    NotADuration(String),
    #[error(
        "`{0}` is not a time: give an RFC 3339 timestamp (2026-11-02T10:00:00Z), a day \
         (2026-11-02) or a duration before now (90s, 30m, 12h, 7d, 2w)"
    )]
    NotATime(String),
    /// `POLICY_MINER_NOW` (tests only) that is not a time.
    #[error(
        "{}={value:?} is not an RFC 3339 time ({error}); unset it",
        crate::tighten::gates::NOW_ENV
    )]
    BadNow {
        value: String,
        error: chrono::ParseError,
    },
    /// `tighten --role`/`--family` that select no role with evidence.
    #[error(
        "no evidence in {} for {wanted}; `policy-miner propose --db {}` lists the roles and \
         families",
        db.display(),
        db.display()
    )]
    NoEvidenceFor { db: PathBuf, wanted: String },
    /// `observe` finished while something still held its store (a bug).
    #[error("the store is still in use")]
    StoreInUse,
}
