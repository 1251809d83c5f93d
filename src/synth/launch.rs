//! What a role that launches ECS tasks needs beyond its calls: `iam:PassRole` on the roles of the
//! task definitions it runs.
//!
//! Starting a task hands the task definition's task role and execution role to ECS, and ECS
//! authorizes that as `iam:PassRole` on each role, by the caller (Amazon ECS Developer Guide,
//! "Task IAM role" and "Amazon ECS task execution IAM role": the user or role that runs tasks
//! needs `iam:PassRole` for the roles of their task definitions). `iam:PassRole` is a permission
//! only, never an API call: CloudTrail never logs it, so no evidence shows it. A successful
//! `ecs:RunTask` or `ecs:StartTask` is granted on its task definition
//! (`task-definition/<family>:<revision>`, see `mapping/ecs.rs`); the task definition loaded with
//! that family and revision names the roles, and each becomes a derived `iam:PassRole` grant on
//! the role, its origin the task definition and the rule below.
//!
//! Not derived here: the roles of a service (`ecs:CreateService`/`UpdateService` are granted on
//! the service, and the evidence keeps no task definition for it), roles named only in a
//! request's `overrides` (granted from the call itself, `mapping/ecs.rs`). Each grant carries the
//! condition `iam:PassedToService` `ecs-tasks.amazonaws.com`, the principal both roles trust, so
//! the role can be passed to ECS tasks only. A task definition that was not loaded is reported,
//! never guessed.

use super::derive::{Derived, DerivedFrom};
use crate::attribution::taskdef::TaskDefinition;
use crate::catalog::Catalog;
use crate::policy::escape::{escape_literal, unescape_literal};
use crate::store::EvidenceRow;

pub const RULE_PASS_TASK_ROLE: &str =
    "ecs:RunTask/StartTask of this task definition passes its task role (iam:PassRole)";
pub const RULE_PASS_EXECUTION_ROLE: &str =
    "ecs:RunTask/StartTask of this task definition passes its execution role (iam:PassRole)";

/// The actions that start tasks of a task definition, and so pass its roles.
const LAUNCHES: [&str; 2] = ["ecs:RunTask", "ecs:StartTask"];

/// The `iam:PassRole` grants the successful task launches in `evidence` imply, and a message for
/// each launch whose task definition is not among `definitions`.
pub fn launch_needs(
    evidence: &[&EvidenceRow],
    definitions: &[TaskDefinition],
    catalog: &Catalog,
) -> (Vec<Derived>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let launched = evidence
        .iter()
        .filter(|r| r.error_code.is_empty() && LAUNCHES.contains(&r.action.as_str()));
    for row in launched {
        let arn = unescape_literal(&row.resource);
        let Some(def) = TaskDefinitionArn::parse(&arn) else {
            continue;
        };
        let Some(found) = definitions
            .iter()
            .find(|d| d.family == def.family && d.revision == Some(def.revision))
        else {
            problems.push(format!(
                "{} of task definition {}:{}: it was not loaded, so the iam:PassRole its roles \
                 need cannot be derived; load it with --task-definitions",
                row.action, def.family, def.revision
            ));
            continue;
        };
        let roles = [
            (found.task_role.as_deref(), RULE_PASS_TASK_ROLE),
            (found.execution_role.as_deref(), RULE_PASS_EXECUTION_ROLE),
        ];
        for (role, rule) in roles {
            let Some(role) = role.filter(|r| !r.is_empty()) else {
                continue;
            };
            let resource = def.role_arn(role);
            let from = DerivedFrom {
                family: found.family.clone(),
                revision: found.revision,
                container: String::new(),
                rule,
            };
            match crate::mapping::check_grant(catalog, "iam:PassRole", &resource) {
                // Passed to the tasks' principal, which the task and execution roles trust.
                Ok(action) => out.push(Derived {
                    action,
                    resource,
                    from,
                    condition: Some((
                        crate::mapping::PASSED_TO_SERVICE,
                        "ecs-tasks.amazonaws.com".to_string(),
                    )),
                }),
                Err(why) => problems.push(format!(
                    "iam:PassRole {resource} (from task definition {}:{}): not granted: {why}",
                    def.family, def.revision
                )),
            }
        }
    }
    out.sort();
    out.dedup();
    problems.sort();
    problems.dedup();
    (out, problems)
}

/// `arn:<partition>:ecs:<region>:<account>:task-definition/<family>:<revision>`.
struct TaskDefinitionArn<'a> {
    partition: &'a str,
    account: &'a str,
    family: &'a str,
    revision: i64,
}

impl<'a> TaskDefinitionArn<'a> {
    fn parse(arn: &'a str) -> Option<TaskDefinitionArn<'a>> {
        let mut parts = arn.splitn(6, ':');
        let (_, partition, service, _, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let (family, revision) = resource
            .strip_prefix("task-definition/")?
            .rsplit_once(':')?;
        (service == "ecs" && !family.is_empty()).then_some(())?;
        Some(TaskDefinitionArn {
            partition,
            account,
            family,
            revision: revision.parse().ok()?,
        })
    }

    /// A task definition's role: an ARN as it is, a name as the role of that name in the task
    /// definition's account (ECS takes either).
    fn role_arn(&self, role: &str) -> String {
        if role.starts_with("arn:") {
            escape_literal(role)
        } else {
            escape_literal(&format!(
                "arn:{}:iam::{}:role/{}",
                self.partition, self.account, role
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::taskdef::parse;

    fn row(action: &str, resource: &str, error: &str) -> EvidenceRow {
        EvidenceRow {
            role_arn: "arn:aws:iam::111122223333:role/scheduler".into(),
            action: action.into(),
            resource: resource.into(),
            condition: String::new(),
            error_code: error.into(),
            count: 3,
            first_seen: "2026-11-02T10:00:00Z".into(),
            last_seen: "2026-11-02T11:00:00Z".into(),
            example_event_id: "e1".into(),
            event_source: "ecs.amazonaws.com".into(),
            event_name: action.trim_start_matches("ecs:").into(),
            rule: String::new(),
            callers: Default::default(),
        }
    }

    const REPORT: &str = r#"{"family":"report","revision":7,
        "taskDefinitionArn":"arn:aws:ecs:eu-west-1:111122223333:task-definition/report:7",
        "taskRoleArn":"arn:aws:iam::111122223333:role/report-task",
        "executionRoleArn":"report-exec",
        "containerDefinitions":[{"name":"app","image":"nginx"}]}"#;

    #[test]
    fn a_task_launch_passes_the_roles_of_its_task_definition() {
        let defs = parse(REPORT).unwrap();
        let rows = [
            row(
                "ecs:RunTask",
                "arn:aws:ecs:eu-west-1:111122223333:task-definition/report:7",
                "",
            ),
            // A refused launch proves nothing.
            row(
                "ecs:RunTask",
                "arn:aws:ecs:eu-west-1:111122223333:task-definition/other:1",
                "AccessDenied",
            ),
        ];
        let refs: Vec<&EvidenceRow> = rows.iter().collect();
        let (d, problems) = launch_needs(&refs, &defs, crate::catalog::embedded());
        assert!(problems.is_empty(), "{problems:?}");
        let got: Vec<(&str, &str, &str)> = d
            .iter()
            .map(|d| (d.action.as_str(), d.resource.as_str(), d.from.rule))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "iam:PassRole",
                    "arn:aws:iam::111122223333:role/report-exec",
                    RULE_PASS_EXECUTION_ROLE
                ),
                (
                    "iam:PassRole",
                    "arn:aws:iam::111122223333:role/report-task",
                    RULE_PASS_TASK_ROLE
                ),
            ]
        );
        assert!(d
            .iter()
            .all(|d| d.from.family == "report" && d.from.revision == Some(7)));
    }

    #[test]
    fn the_proposal_grants_pass_role_as_derived_from_the_task_definition() {
        let defs = parse(REPORT).unwrap();
        let rows = [row(
            "ecs:RunTask",
            "arn:aws:ecs:eu-west-1:111122223333:task-definition/report:7",
            "",
        )];
        let p = super::super::build(&rows, &[], &defs, &super::super::Options::default());
        let role = p
            .roles
            .iter()
            .find(|r| r.role_arn.ends_with("role/scheduler"))
            .expect("the launching role has a proposal");
        let pass: Vec<_> = role
            .grants
            .iter()
            .filter(|g| g.action == "iam:PassRole")
            .collect();
        assert_eq!(pass.len(), 2, "{:#?}", role.grants);
        for g in pass {
            assert_eq!(g.origin, "derived");
            assert_eq!(g.derived_from[0].family, "report");
            assert!(
                g.rule.starts_with("task definition report:7: ecs:RunTask"),
                "{}",
                g.rule
            );
        }
        let statements = serde_json::to_string(&role.policy).unwrap();
        assert!(
            statements.contains("arn:aws:iam::111122223333:role/report-task"),
            "{statements}"
        );
    }

    #[test]
    fn a_launch_of_a_task_definition_not_loaded_is_reported() {
        let defs = parse(REPORT).unwrap();
        let rows = [row(
            "ecs:StartTask",
            "arn:aws:ecs:eu-west-1:111122223333:task-definition/report:8",
            "",
        )];
        let refs: Vec<&EvidenceRow> = rows.iter().collect();
        let (d, problems) = launch_needs(&refs, &defs, crate::catalog::embedded());
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("report:8"), "{problems:?}");
    }
}
