//! Roles given at launch: a task can run with another task or execution role than its task
//! definition names. The ECS RunTask and StartTask APIs take `overrides.taskRoleArn` and
//! `overrides.executionRoleArn` (ECS API Reference, `TaskOverride`), and an EventBridge rule
//! that runs a task (`PutTargets`, a target with `EcsParameters`) passes the same overrides as
//! the target's `Input` JSON (Amazon ECS Developer Guide, "Amazon ECS EventBridge IAM role": "a
//! task role override" must be passable by the rule's role). CloudTrail records the request's
//! parameters as sent, so the trail says which role ran with which task definition.
//!
//! CreateService and UpdateService take no role override (ECS API Reference: their requests name
//! a task definition only), so a service runs with its definition's roles, which the definitions
//! give already: nothing to read from them here.
//!
//! A role passed so is attributed to the family of the task definition it ran with, as if that
//! revision had named it: [`definitions`] makes those stand-in definitions (with the containers
//! of the revision when it is stored, so an overridden execution role gets the image, log and
//! secret needs of its containers).

use super::taskdef::TaskDefinition;
use super::RoleKind;
use crate::call::ApiCall;
use serde_json::Value;
use std::collections::BTreeMap;

/// One role passed at one launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub event_id: String,
    pub event_time: String,
    /// `RunTask`, `StartTask` or `PutTargets`.
    pub operation: String,
    pub region: String,
    /// The account the trail recorded the call in, where it says.
    pub account: String,
    /// The task definition as the request names it: `family`, `family:revision` or an ARN.
    pub task_definition: String,
    pub family: String,
    pub role_arn: String,
    pub kind: RoleKind,
}

/// The rows to store for an event: the roles it passes, and its enabling ECS Exec.
pub fn rows(call: &ApiCall) -> Vec<crate::store::LaunchRow> {
    let mut out: Vec<_> = read(call).iter().map(Launch::row).collect();
    out.extend(exec(call));
    out
}

/// The kind of a stored row saying a launch enabled ECS Exec (its role is the definition's).
pub const EXEC: &str = "exec";

/// A successful RunTask, CreateService or UpdateService with `enableExecuteCommand` true
/// (ECS API Reference: the three take it), as a row of kind [`EXEC`] without a role.
fn exec(call: &ApiCall) -> Option<crate::store::LaunchRow> {
    if call.event_source != "ecs.amazonaws.com"
        || !matches!(
            call.event_name,
            "RunTask" | "CreateService" | "UpdateService"
        )
        || call.error_code.is_some()
    {
        return None;
    }
    let params: Value = serde_json::from_str(call.request_parameters?).ok()?;
    if params.get("enableExecuteCommand").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let task_definition = params.get("taskDefinition")?.as_str()?;
    Some(crate::store::LaunchRow {
        event_id: call.event_id.to_string(),
        kind: EXEC.to_string(),
        event_time: call.event_time.to_string(),
        operation: call.event_name.to_string(),
        region: call.region.to_string(),
        account: call.recipient_account.unwrap_or_default().to_string(),
        task_definition: task_definition.to_string(),
        family: family_of(task_definition)?.to_string(),
        role_arn: String::new(),
    })
}

/// Stand-in definitions for launches with ECS Exec: the task role of the revision they name
/// (the family's latest when none, or one not stored), with `execute_command` set and no
/// containers (the revision's own needs come from it).
pub fn exec_definitions(
    execs: &[crate::store::LaunchRow],
    stored: &[TaskDefinition],
) -> Vec<TaskDefinition> {
    let mut wanted: BTreeMap<(String, Option<i64>), ()> = BTreeMap::new();
    for e in execs.iter().filter(|e| e.kind == EXEC) {
        wanted.insert((e.family.clone(), revision_of(&e.task_definition)), ());
    }
    wanted
        .into_keys()
        .filter_map(|(family, revision)| {
            let of_family = || stored.iter().filter(|d| d.family == family);
            let base = of_family()
                .filter(|d| revision.is_some() && d.revision == revision)
                .max_by_key(|d| d.revision)
                .or_else(|| of_family().max_by_key(|d| d.revision))?;
            Some(TaskDefinition {
                family: family.clone(),
                revision: base.revision,
                arn: None,
                task_role: Some(base.task_role.clone()?),
                execution_role: None,
                containers: Vec::new(),
                volumes: Vec::new(),
                execute_command: true,
            })
        })
        .collect()
}

/// The roles a successful launch event passes as overrides.
pub fn read(call: &ApiCall) -> Vec<Launch> {
    let operation = match (call.event_source, call.event_name) {
        ("ecs.amazonaws.com", op @ ("RunTask" | "StartTask")) => op,
        ("events.amazonaws.com", "PutTargets") => "PutTargets",
        _ => return Vec::new(),
    };
    if call.error_code.is_some() {
        return Vec::new();
    }
    let Some(params) = call
        .request_parameters
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return Vec::new();
    };
    let launch = |task_definition: &str, overrides: &Value| -> Vec<Launch> {
        let Some(family) = family_of(task_definition) else {
            return Vec::new();
        };
        [
            ("taskRoleArn", RoleKind::Task),
            ("executionRoleArn", RoleKind::Execution),
        ]
        .into_iter()
        .filter_map(|(field, kind)| {
            let role = overrides.get(field)?.as_str()?.trim();
            (!role.is_empty()).then(|| Launch {
                event_id: call.event_id.to_string(),
                event_time: call.event_time.to_string(),
                operation: operation.to_string(),
                region: call.region.to_string(),
                account: call.recipient_account.unwrap_or_default().to_string(),
                task_definition: task_definition.to_string(),
                family: family.to_string(),
                role_arn: role.to_string(),
                kind,
            })
        })
        .collect()
    };
    if operation != "PutTargets" {
        let Some(def) = params.get("taskDefinition").and_then(Value::as_str) else {
            return Vec::new();
        };
        return params
            .get("overrides")
            .map(|o| launch(def, o))
            .unwrap_or_default();
    }
    // EventBridge's API is PascalCase; CloudTrail writes its request parameters camelCase.
    let field = |v: &'_ Value, name: &str| -> Option<Value> {
        let mut pascal = name.to_string();
        if let Some(first) = pascal.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        v.get(name).or_else(|| v.get(&pascal)).cloned()
    };
    let Some(Value::Array(targets)) = field(&params, "targets") else {
        return Vec::new();
    };
    targets
        .iter()
        .flat_map(|t| {
            let def = field(t, "ecsParameters")
                .and_then(|e| field(&e, "taskDefinitionArn"))
                .and_then(|d| d.as_str().map(str::to_string));
            let input = field(t, "input")
                .and_then(|i| i.as_str().map(str::to_string))
                .and_then(|i| serde_json::from_str::<Value>(&i).ok());
            match (def, input) {
                (Some(def), Some(input)) => launch(&def, &input),
                _ => Vec::new(),
            }
        })
        .collect()
}

/// The family of `family`, `family:revision` or
/// `arn:aws:ecs:<region>:<account>:task-definition/family:revision`.
fn family_of(task_definition: &str) -> Option<&str> {
    let name = match task_definition.split_once(":task-definition/") {
        Some((_, rest)) => rest,
        None if task_definition.starts_with("arn:") => return None,
        None => task_definition,
    };
    let family = name.split(':').next()?.trim();
    (!family.is_empty()).then_some(family)
}

/// The revision `task_definition` names, when it names one.
fn revision_of(task_definition: &str) -> Option<i64> {
    task_definition.rsplit_once(':')?.1.parse().ok()
}

/// Stand-in task definitions for the roles passed at launch: one per (family, revision as
/// named, role, kind), with the containers of that revision from `stored` (the latest of the
/// family when the launch names none, or names one not stored).
pub fn definitions(launches: &[Launch], stored: &[TaskDefinition]) -> Vec<TaskDefinition> {
    let mut seen: BTreeMap<(String, Option<i64>, String, RoleKind), ()> = BTreeMap::new();
    for l in launches {
        seen.insert(
            (
                l.family.clone(),
                revision_of(&l.task_definition),
                l.role_arn.clone(),
                l.kind,
            ),
            (),
        );
    }
    seen.into_keys()
        .map(|(family, revision, role, kind)| {
            let base = stored
                .iter()
                .filter(|d| d.family == family)
                .filter(|d| revision.is_none() || d.revision == revision)
                .max_by_key(|d| d.revision)
                .or_else(|| {
                    stored
                        .iter()
                        .filter(|d| d.family == family)
                        .max_by_key(|d| d.revision)
                });
            TaskDefinition {
                family,
                revision: revision.or_else(|| base.and_then(|b| b.revision)),
                arn: None,
                task_role: (kind == RoleKind::Task).then(|| role.clone()),
                execution_role: (kind == RoleKind::Execution).then(|| role.clone()),
                containers: base.map(|b| b.containers.clone()).unwrap_or_default(),
                volumes: base.map(|b| b.volumes.clone()).unwrap_or_default(),
                execute_command: false,
            }
        })
        .collect()
}

/// How one role was passed at launch for one family, over the evidence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Override {
    pub role_arn: String,
    pub kind: RoleKind,
    pub family: String,
    /// `<operation> in <region>[ of <account>]`, each place seen.
    pub seen: Vec<String>,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// The launches summed per (role, kind, family), in that order.
pub fn overrides(launches: &[Launch]) -> Vec<Override> {
    let mut by: BTreeMap<(String, RoleKind, String), Override> = BTreeMap::new();
    for l in launches {
        let o = by
            .entry((l.role_arn.clone(), l.kind, l.family.clone()))
            .or_insert_with(|| Override {
                role_arn: l.role_arn.clone(),
                kind: l.kind,
                family: l.family.clone(),
                seen: Vec::new(),
                count: 0,
                first_seen: l.event_time.clone(),
                last_seen: l.event_time.clone(),
            });
        o.count += 1;
        let place = if l.account.is_empty() {
            format!("{} in {}", l.operation, l.region)
        } else {
            format!("{} in {} of {}", l.operation, l.region, l.account)
        };
        if !o.seen.contains(&place) {
            o.seen.push(place);
            o.seen.sort();
        }
        if l.event_time < o.first_seen {
            o.first_seen = l.event_time.clone();
        }
        if l.event_time > o.last_seen {
            o.last_seen = l.event_time.clone();
        }
    }
    by.into_values().collect()
}

impl Launch {
    /// The row the store keeps of it.
    pub fn row(&self) -> crate::store::LaunchRow {
        crate::store::LaunchRow {
            event_id: self.event_id.clone(),
            kind: self.kind.as_str().to_string(),
            event_time: self.event_time.clone(),
            operation: self.operation.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
            task_definition: self.task_definition.clone(),
            family: self.family.clone(),
            role_arn: self.role_arn.clone(),
        }
    }
}

// As for task definitions, what the stored rows read back as is this module's to say.
impl crate::store::Store {
    /// The stored launches; a row of a kind this release does not know is left out.
    pub async fn launches(&self) -> Result<Vec<Launch>, crate::store::StoreError> {
        Ok(self
            .launch_rows()
            .await?
            .into_iter()
            .filter_map(|r| {
                Some(Launch {
                    kind: RoleKind::parse(&r.kind)?,
                    event_id: r.event_id,
                    event_time: r.event_time,
                    operation: r.operation,
                    region: r.region,
                    account: r.account,
                    task_definition: r.task_definition,
                    family: r.family,
                    role_arn: r.role_arn,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::taskdef;
    use serde_json::json;

    /// Decodes `event` with the real CloudTrail decoder and reads its launches.
    fn launches_of(event: Value) -> Vec<Launch> {
        let mut out = Vec::new();
        let text = json!({ "Records": [event] }).to_string();
        crate::source::cloudtrail::decode(text.as_bytes(), &mut |c| out.extend(read(c))).unwrap();
        out
    }

    /// A CloudTrail event of `source`/`name` by a CI role, with `req` as its parameters.
    fn event(source: &str, name: &str, req: Value) -> Value {
        json!({
            "eventVersion": "1.09", "eventID": format!("ev-{name}"),
            "eventTime": "2026-11-02T10:00:00Z", "eventSource": source, "eventName": name,
            "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.5",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:deploy",
                "arn": "arn:aws:sts::111122223333:assumed-role/ci-deployer/deploy",
                "accountId": "111122223333",
                "sessionContext": {"sessionIssuer": {"type": "Role",
                    "arn": "arn:aws:iam::111122223333:role/ci-deployer",
                    "accountId": "111122223333"}}},
            "requestParameters": req
        })
    }

    #[test]
    fn run_task_overrides_name_the_roles_and_the_family() {
        // RunTask's request as the ECS API Reference gives it (`overrides` is a TaskOverride).
        let got = launches_of(event(
            "ecs.amazonaws.com",
            "RunTask",
            json!({"cluster": "batch", "count": 1, "launchType": "FARGATE",
                "taskDefinition": "arn:aws:ecs:eu-west-1:111122223333:task-definition/report-cron:4",
                "overrides": {"containerOverrides": [{"name": "app", "command": ["--full"]}],
                    "taskRoleArn": "arn:aws:iam::111122223333:role/report-cron-backfill",
                    "executionRoleArn": "arn:aws:iam::111122223333:role/exec-backfill"}}),
        ));
        let roles: Vec<(&str, RoleKind, &str)> = got
            .iter()
            .map(|l| (l.role_arn.as_str(), l.kind, l.family.as_str()))
            .collect();
        assert_eq!(
            roles,
            [
                (
                    "arn:aws:iam::111122223333:role/report-cron-backfill",
                    RoleKind::Task,
                    "report-cron"
                ),
                (
                    "arn:aws:iam::111122223333:role/exec-backfill",
                    RoleKind::Execution,
                    "report-cron"
                ),
            ]
        );
        assert_eq!(got[0].operation, "RunTask");
        // No override, or a failed call: nothing was passed.
        assert!(launches_of(event(
            "ecs.amazonaws.com",
            "RunTask",
            json!({"cluster": "batch", "taskDefinition": "report-cron:4"})
        ))
        .is_empty());
        let mut failed = event(
            "ecs.amazonaws.com",
            "StartTask",
            json!({"taskDefinition": "report-cron", "containerInstances": ["i"],
                "overrides": {"taskRoleArn": "arn:aws:iam::111122223333:role/x"}}),
        );
        failed["errorCode"] = json!("AccessDenied");
        assert!(launches_of(failed).is_empty());
    }

    #[test]
    fn an_eventbridge_ecs_target_passes_its_input_overrides() {
        // PutTargets as CloudTrail records it (camelCase); the ECS target's overrides travel
        // in `input`, a JSON string.
        let got = launches_of(event(
            "events.amazonaws.com",
            "PutTargets",
            json!({"rule": "nightly-report", "targets": [
                {"id": "report", "arn": "arn:aws:ecs:eu-west-1:111122223333:cluster/batch",
                 "roleArn": "arn:aws:iam::111122223333:role/ecsEventsRole",
                 "ecsParameters": {"taskDefinitionArn":
                     "arn:aws:ecs:eu-west-1:111122223333:task-definition/report-cron:5",
                     "taskCount": 1, "launchType": "FARGATE"},
                 "input": "{\"taskRoleArn\":\"arn:aws:iam::111122223333:role/report-nightly\"}"},
                {"id": "not-ecs", "arn": "arn:aws:lambda:eu-west-1:111122223333:function:f"}]}),
        ));
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].role_arn,
            "arn:aws:iam::111122223333:role/report-nightly"
        );
        assert_eq!(
            (got[0].family.as_str(), got[0].kind),
            ("report-cron", RoleKind::Task)
        );
    }

    #[test]
    fn a_passed_role_is_attributed_with_the_containers_of_its_revision() {
        let stored = taskdef::parse(
            r#"[{"family":"report-cron","revision":4,"executionRoleArn":"arn:aws:iam::1:role/exec",
                 "containerDefinitions":[{"name":"v4","image":"i"}]},
                {"family":"report-cron","revision":5,"executionRoleArn":"arn:aws:iam::1:role/exec",
                 "containerDefinitions":[{"name":"v5","image":"i"}]}]"#,
        )
        .unwrap();
        let launch = |td: &str, role: &str, kind, time: &str| Launch {
            event_id: format!("{td}{role}{time}"),
            event_time: time.to_string(),
            operation: "RunTask".to_string(),
            region: "eu-west-1".to_string(),
            account: "1".to_string(),
            task_definition: td.to_string(),
            family: "report-cron".to_string(),
            role_arn: role.to_string(),
            kind,
        };
        let launches = [
            launch(
                "report-cron:4",
                "arn:aws:iam::1:role/backfill",
                RoleKind::Task,
                "2026-11-02T10:00:00Z",
            ),
            launch(
                "report-cron:4",
                "arn:aws:iam::1:role/backfill",
                RoleKind::Task,
                "2026-11-01T10:00:00Z",
            ),
            launch(
                "report-cron",
                "arn:aws:iam::1:role/exec-b",
                RoleKind::Execution,
                "2026-11-03T10:00:00Z",
            ),
        ];
        let defs = definitions(&launches, &stored);
        assert_eq!(defs.len(), 2);
        let exec = defs.iter().find(|d| d.execution_role.is_some()).unwrap();
        // No revision named: the family's latest.
        assert_eq!(
            (exec.revision, exec.containers[0].name.as_str()),
            (Some(5), "v5")
        );
        let task = defs.iter().find(|d| d.task_role.is_some()).unwrap();
        assert_eq!(
            (task.revision, task.containers[0].name.as_str()),
            (Some(4), "v4")
        );
        let dir = crate::attribution::RoleDirectory::from_definitions(&defs);
        assert_eq!(
            dir.usages("arn:aws:iam::1:role/backfill")[0].family,
            "report-cron"
        );

        let summary = overrides(&launches);
        let backfill = summary
            .iter()
            .find(|o| o.role_arn.ends_with("/backfill"))
            .unwrap();
        assert_eq!(backfill.count, 2);
        assert_eq!(
            (backfill.first_seen.as_str(), backfill.last_seen.as_str()),
            ("2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z")
        );
        assert_eq!(backfill.seen, ["RunTask in eu-west-1 of 1"]);
    }

    #[test]
    fn ecs_exec_at_launch_gives_the_task_role_of_the_revision_run() {
        let exec_event = |name: &str, enabled: bool| {
            event(
                "ecs.amazonaws.com",
                name,
                json!({"cluster": "web", "serviceName": "api", "taskDefinition": "api:2",
                    "enableExecuteCommand": enabled}),
            )
        };
        let mut rows = Vec::new();
        for (name, enabled) in [
            ("CreateService", true),
            ("UpdateService", false),
            ("RunTask", true),
        ] {
            let text = json!({ "Records": [exec_event(name, enabled)] }).to_string();
            crate::source::cloudtrail::decode(text.as_bytes(), &mut |c| rows.extend(self::rows(c)))
                .unwrap();
        }
        assert_eq!(
            rows.iter()
                .map(|r| (r.operation.as_str(), r.kind.as_str()))
                .collect::<Vec<_>>(),
            [("CreateService", EXEC), ("RunTask", EXEC)]
        );
        let stored = taskdef::parse(
            r#"[{"family":"api","revision":2,"taskRoleArn":"arn:aws:iam::1:role/api-v2"},
                {"family":"api","revision":3,"taskRoleArn":"arn:aws:iam::1:role/api-v3"}]"#,
        )
        .unwrap();
        let defs = exec_definitions(&rows, &stored);
        assert_eq!(defs.len(), 1);
        assert!(defs[0].execute_command);
        assert_eq!(
            defs[0].task_role.as_deref(),
            Some("arn:aws:iam::1:role/api-v2")
        );
    }

    #[test]
    fn families_from_every_way_of_naming_a_definition() {
        assert_eq!(family_of("orders"), Some("orders"));
        assert_eq!(family_of("orders:3"), Some("orders"));
        assert_eq!(
            family_of("arn:aws:ecs:eu-west-1:1:task-definition/orders:3"),
            Some("orders")
        );
        assert_eq!(family_of("arn:aws:ecs:eu-west-1:1:cluster/orders"), None);
        assert_eq!(revision_of("orders:3"), Some(3));
        assert_eq!(revision_of("orders"), None);
    }
}
