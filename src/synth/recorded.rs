//! What synthesis reads from a database, and the roles it holds for `--role` to select from.

use crate::attribution::launch;
use crate::attribution::taskdef::TaskDefinition;
use crate::attribution::{RoleDirectory, RoleSelection, UnknownRoles};
use crate::store::{EvidenceRow, Store, StoreError, UngrantedRow};
use std::collections::BTreeSet;
use std::path::Path;

/// Everything synthesis reads from a database: the evidence, the calls without a grant, and the
/// task definitions, with a stand-in definition for each role passed at launch.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub evidence: Vec<EvidenceRow>,
    pub ungranted: Vec<UngrantedRow>,
    pub definitions: Vec<TaskDefinition>,
    /// The roles passed at launch, per role, kind and family.
    pub overrides: Vec<launch::Override>,
}

impl Recorded {
    /// Reads an existing database (never creates one).
    pub async fn load(path: &Path) -> Result<Recorded, StoreError> {
        let store = Store::open(path, false).await?;
        let mut definitions: Vec<TaskDefinition> = store
            .task_definitions()
            .await?
            .into_iter()
            .map(|d| d.definition)
            .collect();
        let launches = store.launches().await?;
        let execs = store.launch_rows().await?;
        let passed = launch::definitions(&launches, &definitions);
        definitions.extend(launch::exec_definitions(&execs, &definitions));
        definitions.extend(passed);
        let recorded = Recorded {
            evidence: store.evidence().await?,
            ungranted: store.ungranted().await?,
            definitions,
            overrides: launch::overrides(&launches),
        };
        store.close().await;
        Ok(recorded)
    }

    /// Every role `propose` names: those with evidence, and those of the task definitions
    /// without any (as the definitions write them).
    pub fn roles(&self) -> BTreeSet<String> {
        let mut roles: BTreeSet<String> = self
            .evidence
            .iter()
            .map(|r| r.role_arn.as_str())
            .chain(self.ungranted.iter().map(|r| r.role_arn.as_str()))
            .map(str::to_string)
            .collect();
        let directory = RoleDirectory::from_definitions(&self.definitions);
        let unseen: Vec<String> = directory
            .without_evidence(roles.iter().map(String::as_str))
            .into_iter()
            .map(|(role, _)| role.to_string())
            .collect();
        roles.extend(unseen);
        roles
    }

    /// The roles `--role` names (ARN, ARN without path, or name) in this database, read from
    /// `db`; no `--role` selects them all. Every `--role` must name a role of it.
    pub fn select(&self, wanted: &[String], db: &Path) -> Result<RoleSelection, UnknownRoles> {
        if wanted.is_empty() {
            return Ok(RoleSelection::all());
        }
        RoleSelection::resolve(wanted, &self.roles(), db)
    }
}
