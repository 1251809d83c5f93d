//! API operations and the IAM actions AWS says each one authorizes.
//!
//! AWS's Service Reference (the JSON `catalog update` downloads, see `update.rs`) lists, for the
//! services that support it, `Operations: [{"Name": "GetObject", "AuthorizedActions": [{"Name":
//! "GetObject", "Service": "s3"}, {"Name": "GetObjectVersion", "Service": "s3"}, …], "SDK":
//! [{"Name": "s3", "Method": "get_object", "Package": "Boto3"}]}]`; an authorized action may
//! carry `Context`, the values of a condition key it is authorized with (`iam:PassedToService`
//! for `iam:PassRole`). The list is every action the operation *may* authorize: which ones a
//! given call needs depends on its request (`GetObject` lists `s3:GetObjectVersion`, needed only
//! for a `versionId`). Services without the mapping omit `AuthorizedActions`; the list leaves out
//! what forward access sessions need (AWS, "Simplified AWS service information for programmatic
//! access").
//!
//! No package publishes these facts, so the embedded catalog has none; a catalog cached by
//! `catalog update` has them, per service as `"o": [[operation, [[service, action, [[context
//! key, [values…]]…]]…]]…]`, a key older builds ignore.

use super::{cmp_ignore_case, Catalog};
use serde::Deserialize;

/// `[operation name, [authorized action…]]`
#[derive(Debug, Deserialize)]
pub(super) struct OperationData(pub(super) String, pub(super) Vec<AuthorizedData>);

/// `[service prefix, action name, [[condition key, [values…]]…]]`
#[derive(Debug, Deserialize)]
pub(super) struct AuthorizedData(
    pub(super) String,
    pub(super) String,
    pub(super) Vec<(String, Vec<String>)>,
);

/// One API operation of a service, borrowed from its [`Catalog`].
#[derive(Debug, Clone, Copy)]
pub struct Operation<'a> {
    service: &'a str,
    data: &'a OperationData,
}

/// An action an operation may authorize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizedAction<'a> {
    /// The action's service prefix (`s3`, `kms`, `s3-object-lambda`).
    pub service: &'a str,
    pub name: &'a str,
    /// Condition keys with the values the action is authorized with, when AWS gives them.
    pub context: &'a [(String, Vec<String>)],
}

impl AuthorizedAction<'_> {
    /// `service:name`.
    pub fn full_name(&self) -> String {
        [self.service, ":", self.name].concat()
    }
}

impl<'a> Operation<'a> {
    /// The operation's name as the API (and CloudTrail's `eventName`) spells it.
    pub fn name(&self) -> &'a str {
        &self.data.0
    }

    /// `prefix:Name`, e.g. `s3:CopyObject`.
    pub fn full_name(&self) -> String {
        [self.service, ":", &self.data.0].concat()
    }

    /// The actions AWS lists for it, in its order.
    pub fn authorized_actions(&self) -> Vec<AuthorizedAction<'a>> {
        self.data
            .1
            .iter()
            .map(|a| AuthorizedAction {
                service: &a.0,
                name: &a.1,
                context: &a.2,
            })
            .collect()
    }
}

impl Catalog {
    /// Whether this copy has operation data at all (the embedded one has none).
    pub fn has_operations(&self) -> bool {
        self.services.iter().any(|s| !s.operations.is_empty())
    }

    /// The operation `prefix:Name` (case-insensitive); None when the catalog has no such
    /// operation, or no operation data for the service.
    pub fn operation(&self, full_name: &str) -> Option<Operation<'_>> {
        let (prefix, name) = full_name.split_once(':')?;
        let svc = self.service(prefix)?;
        let i = svc
            .operations
            .binary_search_by(|o| cmp_ignore_case(&o.0, name))
            .ok()?;
        Some(Operation {
            service: &svc.prefix,
            data: svc.operations.get(i)?,
        })
    }

    /// Number of operations with their authorized actions, across all services.
    pub fn operation_count(&self) -> usize {
        self.services.iter().map(|s| s.operations.len()).sum()
    }

    /// The service's operations, sorted by name; empty without operation data.
    pub fn service_operations(&self, prefix: &str) -> Vec<Operation<'_>> {
        self.service(prefix)
            .map(|svc| {
                svc.operations
                    .iter()
                    .map(|data| Operation {
                        service: &svc.prefix,
                        data,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
