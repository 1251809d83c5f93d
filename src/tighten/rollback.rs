//! Restoring a role to the state stored before a change: inline documents put back byte for byte,
//! managed policies re-attached, and whatever was not there (the policy-miner policy) removed.
//!
//! Nothing is written over changes someone else made since policy-miner's latest change to the
//! role (see [`drift`]) unless forced: restoring the older state would silently undo them too.

use super::history::{Change, Previous};
use super::{aws, drift, history, iam};
use crate::attribution::RoleKey;
use crate::store::Store;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The state to store before changing a role.
pub fn previous_of(current: &iam::CurrentPermissions) -> Previous {
    Previous {
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

/// The role's state once a change's writes are over, to record with it: `written` holds it read
/// back when every write succeeded; after a failure IAM is read again, if it answers.
pub async fn state_after(
    client: &aws_sdk_iam::Client,
    role_name: &str,
    written: &Result<iam::CurrentPermissions, aws::AwsError>,
) -> Option<Previous> {
    match written {
        Ok(back) => Some(previous_of(back)),
        Err(_) => iam::read_role(client, role_name)
            .await
            .ok()
            .map(|c| previous_of(&c)),
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Restore the state from before this change; None: [`default_target`].
    pub to: Option<i64>,
    /// Write even over changes made to the role since policy-miner's latest change to it.
    pub force: bool,
    pub max_attempts: u32,
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
    /// Changes made since policy-miner's latest change that this (forced) rollback undid.
    pub undone_since: Vec<String>,
    pub principal_arn: String,
}

/// Why a rollback restored nothing.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("{role:?} is not a role ARN or name")]
    NotARole { role: String },
    #[error(
        "change {id} is not a change of role {role_name} in {}; `policy-miner history --role \
         {role}` lists them",
        db.display()
    )]
    UnknownChange {
        id: i64,
        role: String,
        role_name: String,
        db: PathBuf,
    },
    #[error(
        "policy-miner never applied a change to role {role_name} (per {}); nothing to roll back",
        db.display()
    )]
    NeverApplied { role_name: String, db: PathBuf },
    #[error(
        "role {role_name} is in account {theirs} but the credentials ({caller}) are for account \
         {ours}; run with credentials for {theirs}"
    )]
    OtherAccount {
        role_name: String,
        theirs: String,
        ours: String,
        caller: String,
    },
    /// The role was changed in IAM since policy-miner's latest change to it: the message lists
    /// the changes and how to go on.
    #[error("{0}")]
    ChangedSince(String),
    /// A write failed; the change is recorded as failed.
    #[error("rollback of role {role_name} (change {id}) failed: {error}")]
    Failed {
        role_name: String,
        id: i64,
        error: String,
    },
}

pub async fn run(db: &Path, role: &str, opts: &Options) -> Result<Restored, crate::Error> {
    let role_name =
        RoleKey::parse(role)
            .map(|k| k.name)
            .ok_or_else(|| RollbackError::NotARole {
                role: role.to_string(),
            })?;
    let store = Store::open(db, false).await?;
    let restored = restore(&store, role, &role_name, opts).await;
    store.close().await;
    restored
}

async fn restore(
    store: &Store,
    role: &str,
    role_name: &str,
    opts: &Options,
) -> Result<Restored, crate::Error> {
    let db = store.path();
    let changes = history::list(store, Some(role_name)).await?;
    let target = pick_target(&changes, opts.to, role, role_name, db)?;
    let restores = target.id;
    let wanted = history::previous(store, restores).await?;
    // What is in IAM now should be what the role's latest change left, whichever is restored.
    let latest = changes.last().unwrap_or(target);
    let left = drift::left_by(store, latest).await?;

    let config = aws::sdk_config(opts.max_attempts).await;
    let client = aws_sdk_iam::Client::new(&config);
    let caller = aws::caller(&config).await;
    same_account(target, &caller, role_name)?;
    let current = iam::read_role(&client, role_name).await?;
    let now = previous_of(&current);
    let since = drift::differences(&now, &left);
    if !since.is_empty() && !opts.force {
        return Err(RollbackError::ChangedSince(changed_since(
            role, role_name, db, latest, restores, &since,
        ))
        .into());
    }
    let plan = Plan::new(&now, &wanted);
    let id = history::begin(
        store,
        history::NewChange {
            role_arn: &target.role_arn,
            role_name,
            kind: "rollback",
            principal_arn: &caller.arn,
            policy_name: &target.policy_name,
            new_document: None,
            restores: Some(restores),
            summary: plan.summary(&since),
            previous: &now,
        },
    )
    .await?;
    let written = plan.write(&client, role_name, &wanted, restores).await;
    let after = state_after(&client, role_name, &written).await;
    let error = written.err().map(|e| e.message);
    history::finish(store, id, error.as_deref(), after.as_ref()).await?;
    if let Some(e) = error {
        return Err(RollbackError::Failed {
            role_name: role_name.to_string(),
            id,
            error: e,
        }
        .into());
    }
    Ok(Restored {
        role_name: role_name.to_string(),
        restores,
        change_id: id,
        put_inline: plan.put_inline,
        deleted_inline: plan.deleted_inline,
        attached: plan.attached,
        detached: plan.detached,
        undone_since: since,
        principal_arn: caller.arn,
    })
}

/// The change `--to` names, or by default [`default_target`].
fn pick_target<'c>(
    changes: &'c [Change],
    to: Option<i64>,
    role: &str,
    role_name: &str,
    db: &Path,
) -> Result<&'c Change, RollbackError> {
    match to {
        Some(id) => {
            changes
                .iter()
                .find(|c| c.id == id)
                .ok_or_else(|| RollbackError::UnknownChange {
                    id,
                    role: role.to_string(),
                    role_name: role_name.to_string(),
                    db: db.to_path_buf(),
                })
        }
        None => default_target(changes).ok_or_else(|| RollbackError::NeverApplied {
            role_name: role_name.to_string(),
            db: db.to_path_buf(),
        }),
    }
}

/// The change whose previous state a rollback restores when not told which one (`changes`: one
/// role's, oldest first). After a change that never finished, the state from before it: the
/// role may be half changed, and a later apply stored that half-changed state as its "before".
/// Otherwise the state from before the latest apply.
pub fn default_target(changes: &[Change]) -> Option<&Change> {
    history::unfinished(changes)
        .and_then(|u| changes.iter().find(|c| c.id == u.restore_point()))
        .or_else(|| changes.iter().rev().find(|c| c.kind == "apply"))
}

/// Refuses credentials of another account than the role's (IAM looks roles up by name only).
fn same_account(
    target: &Change,
    caller: &aws::Caller,
    role_name: &str,
) -> Result<(), RollbackError> {
    if let (Some(theirs), Some(ours)) = (
        RoleKey::parse(&target.role_arn).and_then(|k| k.account),
        caller.account.as_deref(),
    ) {
        if theirs != ours {
            return Err(RollbackError::OtherAccount {
                role_name: role_name.to_string(),
                theirs,
                ours: ours.to_string(),
                caller: caller.arn.clone(),
            });
        }
    }
    Ok(())
}

/// The refusal when the role was changed since `latest`, listing what changed and how to go on.
fn changed_since(
    role: &str,
    role_name: &str,
    db: &Path,
    latest: &Change,
    restores: i64,
    since: &[String],
) -> String {
    let what = if latest.unfinished() {
        format!("{}, which never finished", latest.kind)
    } else {
        latest.kind.clone()
    };
    format!(
        "role {role_name} was changed in IAM since policy-miner's change {} ({what}, started {}):\n\
         {}\nRestoring the state from before change {restores} would undo that as well, so \
         nothing was written. Review those changes; `policy-miner rollback --db {} --role {role} \
         --to {restores} --force` restores the state anyway, undoing them.",
        latest.id,
        latest.started_at,
        since
            .iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n"),
        db.display()
    )
}

/// The writes that take a role from its state now to the wanted one.
struct Plan {
    put_inline: Vec<String>,
    deleted_inline: Vec<String>,
    attached: Vec<String>,
    detached: Vec<String>,
}

impl Plan {
    fn new(now: &Previous, wanted: &Previous) -> Plan {
        Plan {
            put_inline: wanted
                .inline
                .iter()
                .filter(|(name, doc)| now.inline.get(*name) != Some(*doc))
                .map(|(name, _)| name.clone())
                .collect(),
            deleted_inline: now
                .inline
                .keys()
                .filter(|n| !wanted.inline.contains_key(*n))
                .cloned()
                .collect(),
            attached: wanted
                .managed
                .iter()
                .filter(|a| !now.managed.contains(a))
                .cloned()
                .collect(),
            detached: now
                .managed
                .iter()
                .filter(|a| !wanted.managed.contains(a))
                .cloned()
                .collect(),
        }
    }

    fn summary(&self, undone_since: &[String]) -> serde_json::Value {
        serde_json::json!({
            "put_inline": self.put_inline, "deleted_inline": self.deleted_inline,
            "attached_managed": self.attached, "detached_managed": self.detached,
            "undone_since": undone_since,
        })
    }

    /// Writes, then reads the role back: it must be exactly `wanted` (the state stored before
    /// change `restores`). Grants come back before anything is taken away, so the role never has
    /// less than either state.
    async fn write(
        &self,
        client: &aws_sdk_iam::Client,
        role_name: &str,
        wanted: &Previous,
        restores: i64,
    ) -> Result<iam::CurrentPermissions, aws::AwsError> {
        for (name, doc) in wanted
            .inline
            .iter()
            .filter(|(name, _)| self.put_inline.contains(*name))
        {
            iam::put_inline(client, role_name, name, doc).await?;
        }
        for arn in &self.attached {
            iam::attach(client, role_name, arn).await?;
        }
        for name in &self.deleted_inline {
            iam::delete_inline(client, role_name, name).await?;
        }
        for arn in &self.detached {
            iam::detach(client, role_name, arn).await?;
        }
        let back = iam::read_role(client, role_name).await?;
        if previous_of(&back) != *wanted {
            return Err(aws::AwsError {
                kind: aws::ErrorKind::Other,
                message: format!(
                    "read back from IAM, role {role_name} does not match the state stored before \
                     change {restores}"
                ),
            });
        }
        Ok(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(change: Option<&Change>) -> Option<i64> {
        change.map(|c| c.id)
    }

    /// Issue 13: an apply stopped between its writes (1), then another applied over the
    /// half-changed role (2), which stored that half-changed state as its "before". Restoring the
    /// latest apply's "before" would restore the half-changed role; the state from before 1 is the
    /// last whole one.
    #[test]
    fn by_default_the_state_from_before_an_unfinished_apply_is_restored() {
        let killed = Change::example(1, "apply", "started", None);
        let over_it = Change::example(2, "apply", "done", None);
        let changes = [killed, over_it];
        assert_eq!(ids(history::unfinished(&changes)), Some(1));
        assert_eq!(ids(default_target(&changes)), Some(1));
    }

    #[test]
    fn an_unfinished_change_stays_until_a_rollback_to_before_it_finishes() {
        let killed = Change::example(1, "apply", "started", None);
        let over_it = Change::example(2, "apply", "done", None);
        // Back to the half-changed state: the unfinished apply is still not undone.
        let to_half = Change::example(3, "rollback", "done", Some(2));
        let changes = [killed.clone(), over_it.clone(), to_half];
        assert_eq!(ids(history::unfinished(&changes)), Some(1));
        // Back to before it: done with.
        let to_before = Change::example(4, "rollback", "done", Some(1));
        let changes = [killed, over_it, to_before];
        assert_eq!(ids(history::unfinished(&changes)), None);
        assert_eq!(ids(default_target(&changes)), Some(2), "the latest apply");
    }

    #[test]
    fn a_rollback_stopped_half_way_is_finished_by_the_next_default_rollback() {
        let apply = Change::example(1, "apply", "done", None);
        let stopped = Change::example(2, "rollback", "started", Some(1));
        let changes = [apply, stopped];
        assert_eq!(ids(history::unfinished(&changes)), Some(2));
        assert_eq!(ids(default_target(&changes)), Some(1));
    }
}
