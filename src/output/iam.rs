//! `--format iam`: plain IAM policy documents, ready for `aws iam put-role-policy` or
//! `create-policy`: a JSON object role ARN → its document, or → the list of its managed policy
//! documents when the role's policy had to be split (see `synth::size`).

use super::role_documents;
use crate::synth::Proposal;

pub fn iam(proposal: &Proposal) -> String {
    let mut map = serde_json::Map::new();
    for role in &proposal.roles {
        let docs = role_documents(role);
        let value = match docs.as_slice() {
            [(_, doc)] => serde_json::to_value(doc),
            many => serde_json::to_value(many.iter().map(|(_, d)| d).collect::<Vec<_>>()),
        };
        map.insert(
            role.role_arn.clone(),
            value.unwrap_or(serde_json::Value::Null),
        );
    }
    serde_json::to_string_pretty(&map).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")) + "\n"
}
