//! Restoring a role to the state stored before a change: inline documents put back byte for byte,
//! managed policies re-attached, and whatever was not there (the policy-miner policy) removed.

use super::{aws, history, iam};
use crate::attribution::RoleKey;
use crate::store::Store;
use serde::Serialize;
use std::path::Path;

/// The state to store before changing a role.
pub fn previous_of(current: &iam::CurrentPermissions) -> history::Previous {
    history::Previous {
        inline: current
            .inline
            .iter()
            .map(|p| (p.name.clone(), p.text.clone()))
            .collect(),
        managed: current
            .managed
            .iter()
            .map(|p| p.arn.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub role_name: String,
    /// The change whose previous state was restored.
    pub restores: i64,
    /// This rollback's own change id (it can be rolled back too).
    pub change_id: i64,
    pub put_inline: Vec<String>,
    pub deleted_inline: Vec<String>,
    pub attached: Vec<String>,
    pub detached: Vec<String>,
    pub principal_arn: String,
}

pub async fn run(
    db: &Path,
    role: &str,
    to: Option<i64>,
    max_attempts: u32,
) -> anyhow::Result<Restored> {
    let role_name = RoleKey::parse(role)
        .map(|k| k.name)
        .ok_or_else(|| anyhow::anyhow!("{role:?} is not a role ARN or name"))?;
    let store = Store::open(db, false).await?;
    let changes = history::list(&store, Some(&role_name)).await?;
    let target = match to {
        Some(id) => changes.iter().find(|c| c.id == id).ok_or_else(|| {
            anyhow::anyhow!(
                "change {id} is not a change of role {role_name} in {}; `policy-miner history \
                 --role {role}` lists them",
                db.display()
            )
        })?,
        None => changes
            .iter()
            .rev()
            .find(|c| c.kind == "apply")
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "policy-miner never applied a change to role {role_name} (per {}); nothing to \
                     roll back",
                    db.display()
                )
            })?,
    };
    let restores = target.id;
    let wanted = history::previous(&store, restores).await?;

    let config = aws::sdk_config(max_attempts).await;
    let client = aws_sdk_iam::Client::new(&config);
    let caller = aws::caller(&config).await;
    if let (Some(theirs), Some(ours)) = (
        RoleKey::parse(&target.role_arn).and_then(|k| k.account),
        caller.account.as_deref(),
    ) {
        if theirs != ours {
            anyhow::bail!(
                "role {role_name} is in account {theirs} but the credentials ({}) are for account \
                 {ours}; run with credentials for {theirs}",
                caller.arn
            );
        }
    }
    let current = iam::read_role(&client, &role_name)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = previous_of(&current);
    let put_inline: Vec<String> = wanted
        .inline
        .iter()
        .filter(|(name, doc)| now.inline.get(*name) != Some(*doc))
        .map(|(name, _)| name.clone())
        .collect();
    let deleted_inline: Vec<String> = now
        .inline
        .keys()
        .filter(|n| !wanted.inline.contains_key(*n))
        .cloned()
        .collect();
    let attached: Vec<String> = wanted
        .managed
        .iter()
        .filter(|a| !now.managed.contains(a))
        .cloned()
        .collect();
    let detached: Vec<String> = now
        .managed
        .iter()
        .filter(|a| !wanted.managed.contains(a))
        .cloned()
        .collect();
    let summary = serde_json::json!({
        "put_inline": put_inline, "deleted_inline": deleted_inline,
        "attached_managed": attached, "detached_managed": detached,
    });
    let id = history::begin(
        &store,
        history::NewChange {
            role_arn: &target.role_arn,
            role_name: &role_name,
            kind: "rollback",
            principal_arn: &caller.arn,
            policy_name: &target.policy_name,
            new_document: None,
            restores: Some(restores),
            summary,
            previous: &now,
        },
    )
    .await?;
    // Grants come back before anything is taken away, so the role never has less than either state.
    let result: Result<(), aws::AwsError> = async {
        for name in &put_inline {
            iam::put_inline(&client, &role_name, name, &wanted.inline[name]).await?;
        }
        for arn in &attached {
            iam::attach(&client, &role_name, arn).await?;
        }
        for name in &deleted_inline {
            iam::delete_inline(&client, &role_name, name).await?;
        }
        for arn in &detached {
            iam::detach(&client, &role_name, arn).await?;
        }
        let back = previous_of(&iam::read_role(&client, &role_name).await?);
        if back != wanted {
            return Err(aws::AwsError {
                kind: aws::ErrorKind::Other,
                message: format!(
                    "read back from IAM, role {role_name} does not match the state stored before \
                     change {restores}"
                ),
            });
        }
        Ok(())
    }
    .await;
    let error = result.err().map(|e| e.message);
    history::finish(&store, id, error.as_deref()).await?;
    store.close().await;
    if let Some(e) = error {
        anyhow::bail!("rollback of role {role_name} (change {id}) failed: {e}");
    }
    Ok(Restored {
        role_name,
        restores,
        change_id: id,
        put_inline,
        deleted_inline,
        attached,
        detached,
        principal_arn: caller.arn,
    })
}
