//! The normalized API call every trace source produces and every later stage consumes.
//!
//! Calls borrow from the source's buffer: a source decodes a file, hands out `ApiCall`s that live as
//! long as that buffer, and the pipeline reduces them to aggregated evidence before the buffer goes.

pub mod caller;

pub use caller::{Caller, Callers};

/// Who made a call, as far as attribution cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An IAM role session: the only kind that counts as role evidence.
    Role {
        /// `sessionIssuer.arn`: `arn:<partition>:iam::<account>:role/<path><name>`.
        role_arn: &'a str,
        /// The session name (for ECS tasks, usually the task id).
        session: &'a str,
    },
    /// Anything else, by the kind shown in the summary.
    Other(PrincipalKind),
}

/// Principals that are counted but never used as role evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalKind {
    IamUser,
    AwsService,
    Root,
    Federated,
    /// `AssumedRole` without a role issuer (e.g. a session whose issuer is missing).
    AssumedRoleWithoutIssuer,
    /// `AssumedRole` whose issuer ARN is empty or not an IAM role's: no role to credit it to.
    IssuerNotRole,
    AwsAccount,
    /// A service-linked role (`role/aws-service-role/…`): AWS owns its policy, nothing to mine.
    ServiceLinkedRole,
    Unknown,
}

impl PrincipalKind {
    pub fn label(self) -> &'static str {
        match self {
            PrincipalKind::IamUser => "IAM user",
            PrincipalKind::AwsService => "AWS service",
            PrincipalKind::Root => "root",
            PrincipalKind::Federated => "federated user",
            PrincipalKind::AssumedRoleWithoutIssuer => "assumed role without issuer",
            PrincipalKind::IssuerNotRole => "assumed role whose issuer is not a role ARN",
            PrincipalKind::AwsAccount => "other AWS account",
            PrincipalKind::ServiceLinkedRole => "service-linked role",
            PrincipalKind::Unknown => "unknown identity type",
        }
    }
}

/// One API call, whatever trace it came from.
#[derive(Debug, Clone)]
pub struct ApiCall<'a> {
    pub event_id: &'a str,
    /// ISO-8601 UTC (`2024-08-18T16:06:54Z`), so it orders as a string.
    pub event_time: &'a str,
    /// e.g. `s3.amazonaws.com`.
    pub event_source: &'a str,
    pub event_name: &'a str,
    pub region: &'a str,
    pub principal: Principal<'a>,
    /// Present when the call failed (`AccessDenied`, `ThrottlingException`…).
    pub error_code: Option<&'a str>,
    /// Set when an AWS service made the call on the principal's behalf (`ssm.amazonaws.com`).
    pub invoked_by: Option<&'a str>,
    /// The ECS agent or the application, as far as the trail tells (see [`caller`]).
    pub caller: Caller,
    /// The account that owns the resources when the trail names it.
    pub recipient_account: Option<&'a str>,
    /// The principal's own account (from the issuer), for ARNs that carry no account.
    pub principal_account: Option<&'a str>,
    /// The `requestParameters` value's JSON text, as it stands in the event.
    pub request_parameters: Option<&'a str>,
    pub resources: Vec<EventResource<'a>>,
}

/// One entry of CloudTrail's `resources[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventResource<'a> {
    pub arn: &'a str,
    /// e.g. `AWS::S3::Object`, `AWS::KMS::Key`.
    pub resource_type: Option<&'a str>,
}

impl<'a> ApiCall<'a> {
    /// The IAM partition, taken from the principal's ARN (never assumed to be `aws`).
    pub fn partition(&self) -> &'a str {
        match &self.principal {
            Principal::Role { role_arn, .. } => role_arn.split(':').nth(1).unwrap_or("aws"),
            Principal::Other(_) => "aws",
        }
    }

    /// The account a resource without an explicit owner belongs to.
    pub fn resource_account(&self) -> &'a str {
        self.recipient_account
            .or(self.principal_account)
            .unwrap_or("*")
    }

    pub fn succeeded(&self) -> bool {
        self.error_code.is_none()
    }
}
