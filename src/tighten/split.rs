//! A split `propose` recommends (`synth::split`), as `tighten` reports it: `tighten` changes the
//! policies of roles that exist and never creates a role, so a split is shown in the dry run (and
//! beside an apply) as the commands that carry it out, for a person to review and run.
//!
//! The commands use the files `propose --out DIR` writes (`<new-role>.json`, and
//! `<new-role>.trust.json`). A task definition's role is changed by registering a new revision:
//! `register-task-definition` refuses the read-only fields `describe-task-definition` returns,
//! so they are dropped on the way (AWS CLI reference, `register-task-definition`, and the ECS
//! API's `TaskDefinition` fields marked as returned only).

use crate::output::INLINE_POLICY_NAME;
use crate::synth::split::RoleSplit;
use serde::Serialize;

/// The split recommended for one role.
#[derive(Debug, Clone, Serialize)]
pub struct SplitRecommendation {
    /// `task-and-execution` or `shared-execution`.
    pub kind: &'static str,
    /// The new roles, by ARN.
    pub new_roles: Vec<String>,
    /// Shell commands (AWS CLI, run from the directory `propose --out` wrote), in order.
    pub commands: Vec<String>,
}

/// Task definition fields `describe-task-definition` returns that `register-task-definition`
/// does not take.
const READ_ONLY: &str = "del(.taskDefinitionArn, .revision, .status, .requiresAttributes, \
                         .compatibilities, .registeredAt, .registeredBy, .deregisteredAt)";

pub fn recommend(split: &RoleSplit) -> SplitRecommendation {
    // DB: the database tighten read (the report does not repeat its path).
    let shared = if split.kind == "shared-execution" {
        " --split-shared"
    } else {
        ""
    };
    let mut commands = vec![format!(
        "policy-miner propose --db DB{shared} --out split-policies && cd split-policies"
    )];
    for part in &split.parts {
        let name = sh(&part.role_name);
        commands.push(format!(
            "aws iam create-role --role-name {name} --assume-role-policy-document file://{}",
            sh(&format!("{}.trust.json", part.role_name))
        ));
        let managed = &part.proposal.managed_policies;
        if managed.is_empty() {
            commands.push(format!(
                "aws iam put-role-policy --role-name {name} --policy-name {INLINE_POLICY_NAME} \
                 --policy-document file://{}",
                sh(&format!("{}.json", part.role_name))
            ));
        }
        for (i, m) in managed.iter().enumerate() {
            commands.push(format!(
                "aws iam attach-role-policy --role-name {name} --policy-arn \"$(aws iam \
                 create-policy --policy-name {} --policy-document file://{} --query Policy.Arn \
                 --output text)\"",
                sh(&m.name),
                sh(&format!("{}-{}.json", part.role_name, i + 1))
            ));
        }
    }
    for c in &split.task_definition_changes {
        let of = match c.revision {
            Some(r) => format!("{}:{r}", c.family),
            None => c.family.clone(),
        };
        let file = format!("{}.taskdef.json", c.family);
        commands.push(format!(
            "aws ecs describe-task-definition --task-definition {} --query taskDefinition \
             --output json | jq {} > {}",
            sh(&of),
            sh(&format!(".{} = \"{}\" | {READ_ONLY}", c.field, c.to)),
            sh(&file)
        ));
        commands.push(format!(
            "aws ecs register-task-definition --cli-input-json file://{}",
            sh(&file)
        ));
    }
    commands.push(
        "# then deploy the new revisions (aws ecs update-service --task-definition <family>), \
         and remove the old role's policies once no task uses it"
            .to_string(),
    );
    SplitRecommendation {
        kind: split.kind,
        new_roles: split.parts.iter().map(|p| p.role_arn.clone()).collect(),
        commands,
    }
}

/// `s` as one shell word: bare when it is plainly safe, else single-quoted.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/=+,@".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_input_stay_one_shell_word() {
        assert_eq!(sh("legacy-sync-task.json"), "legacy-sync-task.json");
        assert_eq!(sh("a b'c"), "'a b'\\''c'");
        assert_eq!(sh(".taskRoleArn = \"x\""), "'.taskRoleArn = \"x\"'");
    }
}
