//! Which roles `tighten` may change. By default only the roles a task definition names (the ECS
//! workloads policy-miner is for): a trail also holds the sessions of people and CI, whose roles
//! are not its to rewrite. Some roles nobody may edit whoever names them:
//!
//! - IAM Identity Center's roles live under the path `/aws-reserved/sso.amazonaws.com/`; they are
//!   provisioned from a permission set, and the IAM Identity Center User Guide says to change
//!   the permission set, not the role, which IAM protects from edits.
//! - Service-linked roles live under `/aws-service-role/`; the IAM User Guide ("Using
//!   service-linked roles") says their permissions are defined by the owning service and cannot
//!   be edited in IAM.

use crate::synth::RoleProposal;

/// A role left out of the run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub role_arn: String,
    pub reason: String,
}

/// Why `role_arn` may never be changed, if it is one of the roles AWS manages itself.
pub fn reserved(role_arn: &str) -> Option<&'static str> {
    let path = role_arn.split_once(":role/").map(|(_, p)| p)?;
    if path.starts_with("aws-reserved/") {
        Some(
            "an IAM Identity Center role (path /aws-reserved/): Identity Center manages it from \
             its permission set, and IAM refuses changes to it",
        )
    } else if path.starts_with("aws-service-role/") {
        Some(
            "a service-linked role (path /aws-service-role/): its permissions are defined by the \
             AWS service that owns it and cannot be changed",
        )
    } else {
        None
    }
}

/// Splits the proposals into the roles to tighten and those skipped. `chosen` says whether the
/// roles were named (`--role`, `--family`): then every one named is considered; otherwise only
/// those a task definition attributes to a family. Reserved roles are skipped either way.
pub fn split(proposals: Vec<RoleProposal>, chosen: bool) -> (Vec<RoleProposal>, Vec<Skipped>) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for p in proposals {
        let reason = if let Some(why) = reserved(&p.role_arn) {
            Some(why.to_string())
        } else if !chosen && p.families.is_empty() {
            Some(
                "no task definition names it, so it is not known as an ECS workload's role \
                 (`--role` names it to tighten it anyway)"
                    .to_string(),
            )
        } else {
            None
        };
        match reason {
            Some(reason) => skipped.push(Skipped {
                role_arn: p.role_arn,
                reason,
            }),
            None => kept.push(p),
        }
    }
    (kept, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_center_and_service_linked_roles_are_reserved() {
        assert!(reserved(
            "arn:aws:iam::1:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef"
        )
        .is_some_and(|w| w.contains("Identity Center")));
        assert!(reserved(
            "arn:aws:iam::1:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
        )
        .is_some_and(|w| w.contains("service-linked")));
        for editable in [
            "arn:aws:iam::1:role/orders-task",
            "arn:aws:iam::1:role/service-role/billing",
            "arn:aws:iam::1:role/team/aws-reserved-looking",
            "orders-task",
        ] {
            assert_eq!(reserved(editable), None, "{editable}");
        }
    }
}
