//! Amazon ECR.
//!
//! **What CloudTrail logs.** ECR's event source is `ecr.amazonaws.com` (the API endpoint is
//! `api.ecr.<region>.amazonaws.com`; both mean the `ecr` prefix, see `prefixes.rs`). An image pull
//! by the ECS agent for the execution role is `GetAuthorizationToken`, then
//! `BatchCheckLayerAvailability`, `GetDownloadUrlForLayer` and `BatchGetImage` on the repository.
//! `requestParameters` names the repository in `repositoryName`, and its registry (the owning
//! account) in `registryId` when the caller named one, as for a pull from another account.
//!
//! **How IAM authorizes the calls.** Each call needs the action of its own name on the repository.
//! `ecr:GetAuthorizationToken` takes no resource: it needs `"*"`.
//!
//! **ARNs.** `arn:<partition>:ecr:<region>:<registry account>:repository/<name>`; the name may
//! contain slashes (`team/api`). Without `registryId` the account is the caller's.

use super::rule::{Ctx, Step};
use crate::policy::escape::escape_literal as lit;

/// Reads the repository only: observe maps `GetDownloadUrlForLayer` once for every
/// `layerDigest`, and `BatchCheckLayerAvailability` once for every `layerDigests`
/// (`observe/shape.rs`, whose tests fail if that changes).
pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    Step::one(
        action,
        repository(ctx).into_iter().collect(),
        action_rule,
        "repository from repositoryName and registryId",
    )
}

fn repository(ctx: &Ctx) -> Option<String> {
    let repo = ctx.s("repositoryName")?;
    let registry = ctx.s("registryId").unwrap_or(ctx.account);
    Some(lit(&format!(
        "arn:{}:ecr:{}:{registry}:repository/{repo}",
        ctx.partition, ctx.region
    )))
}

#[cfg(test)]
mod tests {
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn repository_from_name_and_registry() {
        assert_pairs(
            "ecr",
            &[
                (
                    "BatchGetImage",
                    json!({"repositoryName": "team/api", "registryId": "999988887777",
                           "imageIds": [{"imageTag": "1.2"}]}),
                    &[(
                        "ecr:BatchGetImage",
                        "arn:aws:ecr:eu-west-1:999988887777:repository/team/api",
                    )],
                ),
                (
                    "GetDownloadUrlForLayer",
                    json!({"repositoryName": "api"}),
                    &[(
                        "ecr:GetDownloadUrlForLayer",
                        &format!("arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/api"),
                    )],
                ),
            ],
        );
    }
}
