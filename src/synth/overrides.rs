//! Says, per role, where a family's use of it comes from a role passed at launch rather than
//! from a task definition (`attribution::launch` reads them from the trail).

use super::{Finding, RoleProposal};
use crate::attribution::launch::Override;
use crate::attribution::RoleKey;

/// Adds a `role-from-override` finding to each proposal whose role was passed at launch: the
/// family, as what, how often, when, and where it was seen.
pub fn annotate(proposals: &mut [RoleProposal], overrides: &[Override]) {
    for p in proposals {
        let Some(key) = RoleKey::parse(&p.role_arn) else {
            continue;
        };
        for o in overrides {
            if !RoleKey::parse(&o.role_arn).is_some_and(|k| k.matches(&key)) {
                continue;
            }
            p.findings.push(Finding {
                kind: "role-from-override",
                severity: "info",
                message: format!(
                    "{} role of family {} from an override at launch, not from its task \
                     definition: {} time(s) from {} to {} ({})",
                    o.kind.as_str(),
                    o.family,
                    o.count,
                    o.first_seen,
                    o.last_seen,
                    o.seen.join(", ")
                ),
                ..Default::default()
            });
        }
    }
}
