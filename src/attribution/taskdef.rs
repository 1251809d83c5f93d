//! ECS task definitions, as `aws ecs describe-task-definition` prints them or as
//! `register-task-definition` takes them, reduced to what attribution and derivation need.

use crate::store::{NewTaskDefinitionRow, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub family: String,
    #[serde(default)]
    pub revision: Option<i64>,
    #[serde(rename = "taskDefinitionArn", default)]
    pub arn: Option<String>,
    #[serde(rename = "taskRoleArn", default)]
    pub task_role: Option<String>,
    #[serde(rename = "executionRoleArn", default)]
    pub execution_role: Option<String>,
    #[serde(rename = "containerDefinitions", default)]
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Set on the stand-in definitions of launches that enabled ECS Exec
    /// (`launch::exec_definitions`); never read from a file nor stored.
    #[serde(skip)]
    pub execute_command: bool,
}

/// A task volume; only EFS volumes matter here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    #[serde(default)]
    pub name: String,
    #[serde(
        rename = "efsVolumeConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub efs: Option<EfsVolume>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EfsVolume {
    #[serde(rename = "fileSystemId", default)]
    pub file_system_id: String,
    #[serde(
        rename = "authorizationConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authorization: Option<EfsAuthorization>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EfsAuthorization {
    #[serde(
        rename = "accessPointId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub access_point_id: Option<String>,
    /// `ENABLED`: the task mounts with its task role's IAM identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<String>,
}

/// Where a container mounts a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    #[serde(rename = "sourceVolume", default)]
    pub source_volume: String,
    #[serde(rename = "readOnly", default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(rename = "logConfiguration", default)]
    pub log_configuration: Option<LogConfiguration>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(rename = "repositoryCredentials", default)]
    pub repository_credentials: Option<RepositoryCredentials>,
    #[serde(
        rename = "environmentFiles",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub environment_files: Vec<EnvironmentFile>,
    #[serde(
        rename = "firelensConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub firelens_configuration: Option<FirelensConfiguration>,
    #[serde(rename = "mountPoints", default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
}

/// A file of environment variables the agent fetches (`type` is `s3`: `value` is an object ARN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentFile {
    #[serde(default)]
    pub value: String,
    #[serde(rename = "type", default)]
    pub file_type: String,
}

/// The log router's configuration: `options` may name a configuration file
/// (`config-file-type` `s3` or `file`, `config-file-value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirelensConfiguration {
    #[serde(rename = "type", default)]
    pub router_type: String,
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfiguration {
    #[serde(rename = "logDriver", default)]
    pub log_driver: String,
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    /// Secrets the log driver gets (`secretOptions`), fetched like a container's `secrets`.
    #[serde(
        rename = "secretOptions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secret_options: Vec<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub name: String,
    #[serde(rename = "valueFrom")]
    pub value_from: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryCredentials {
    #[serde(rename = "credentialsParameter")]
    pub credentials_parameter: String,
}

/// A task definition with where it came from: its file, or `ecs:<region>`.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub definition: TaskDefinition,
    pub source: String,
}

impl Loaded {
    /// The row the store keeps of it.
    pub fn row(&self) -> NewTaskDefinitionRow<'_> {
        let d = &self.definition;
        NewTaskDefinitionRow {
            family: &d.family,
            revision: d.revision.unwrap_or(0),
            arn: d.arn.as_deref(),
            task_role_arn: d.task_role.as_deref(),
            execution_role_arn: d.execution_role.as_deref(),
            source: self.source.clone(),
            body: serde_json::to_string(d).unwrap_or_default(),
        }
    }
}

/// A task definition read back from the store, with the file it came from.
#[derive(Debug, Clone)]
pub struct StoredTaskDefinition {
    pub definition: TaskDefinition,
    pub source: String,
}

// The store keeps task definitions as rows of JSON and knows nothing of their shape: what they
// read back as is this module's to say.
impl Store {
    /// The stored task definitions, ordered by family and revision. One whose JSON no longer
    /// reads as a task definition (written by another release) is left out.
    pub async fn task_definitions(&self) -> Result<Vec<StoredTaskDefinition>, StoreError> {
        Ok(self
            .task_definition_rows()
            .await?
            .into_iter()
            .filter_map(|r| {
                let definition = serde_json::from_str(&r.body).ok()?;
                Some(StoredTaskDefinition {
                    definition,
                    source: r.source,
                })
            })
            .collect())
    }
}

/// Why a file holds no task definition this module reads.
#[derive(Debug, thiserror::Error)]
pub enum TaskDefinitionError {
    #[error("cannot read: {0}")]
    Unreadable(std::io::Error),
    #[error("invalid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error(
        "not an ECS task definition (no \"family\"); expected the output of \
         `aws ecs describe-task-definition` or register-task-definition input"
    )]
    NoFamily,
    #[error("unexpected task definition shape: {0}")]
    Shape(serde_json::Error),
}

/// A task-definition file that could not be used, with a message that names it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub struct LoadError {
    pub path: PathBuf,
    pub error: TaskDefinitionError,
}

/// Loads every task definition under the given files and directories (directories: `*.json`,
/// recursively). A file may hold one definition in either shape, or a JSON array of them.
pub fn load(paths: &[PathBuf]) -> (Vec<Loaded>, Vec<LoadError>) {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let files: Vec<PathBuf> = if path.is_dir() {
            walkdir::WalkDir::new(path)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(walkdir::DirEntry::into_path)
                .filter(|p| {
                    p.extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
                })
                .collect()
        } else {
            vec![path.clone()]
        };
        for file in files {
            match load_file(&file) {
                Ok(defs) => loaded.extend(defs.into_iter().map(|definition| Loaded {
                    definition,
                    source: file.display().to_string(),
                })),
                Err(error) => errors.push(LoadError { path: file, error }),
            }
        }
    }
    (loaded, errors)
}

fn load_file(path: &Path) -> Result<Vec<TaskDefinition>, TaskDefinitionError> {
    let text = std::fs::read_to_string(path).map_err(TaskDefinitionError::Unreadable)?;
    parse(&text)
}

/// Parses one file's text: a definition in either shape, or an array of them.
pub fn parse(text: &str) -> Result<Vec<TaskDefinition>, TaskDefinitionError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(TaskDefinitionError::NotJson)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items.into_iter().map(one).collect()
}

fn one(value: serde_json::Value) -> Result<TaskDefinition, TaskDefinitionError> {
    // describe-task-definition wraps the definition; register-task-definition input does not.
    let inner = match value.get("taskDefinition") {
        Some(inner) => inner.clone(),
        None => value,
    };
    if inner.get("family").and_then(|f| f.as_str()).is_none() {
        return Err(TaskDefinitionError::NoFamily);
    }
    serde_json::from_value(inner).map_err(TaskDefinitionError::Shape)
}

impl TaskDefinition {
    /// The awslogs group and stream prefix of each container that logs with the awslogs driver.
    pub fn awslogs(&self) -> impl Iterator<Item = (&Container, &str, Option<&str>)> {
        self.containers.iter().filter_map(|c| {
            let log = c.log_configuration.as_ref()?;
            if log.log_driver != "awslogs" {
                return None;
            }
            let group = log.options.get("awslogs-group")?;
            let prefix = log.options.get("awslogs-stream-prefix").map(String::as_str);
            Some((c, group.as_str(), prefix))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_and_arrays() {
        let describe = r#"{"taskDefinition":{"family":"orders","revision":7,
            "taskRoleArn":"arn:aws:iam::1:role/orders-task","executionRoleArn":"arn:aws:iam::1:role/exec",
            "containerDefinitions":[{"name":"app","image":"1.dkr.ecr.eu-west-1.amazonaws.com/orders:1",
              "logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/orders","awslogs-stream-prefix":"ecs"}},
              "secrets":[{"name":"DB","valueFrom":"arn:aws:ssm:eu-west-1:1:parameter/orders/db"}]}]},"tags":[]}"#;
        let register = r#"[{"family":"cron","executionRoleArn":"arn:aws:iam::1:role/exec","containerDefinitions":[]}]"#;
        let d = parse(describe).unwrap();
        assert_eq!(d[0].family, "orders");
        assert_eq!(d[0].revision, Some(7));
        assert_eq!(d[0].containers[0].secrets[0].name, "DB");
        let (c, group, prefix) = d[0].awslogs().next().unwrap();
        assert_eq!(
            (c.name.as_str(), group, prefix),
            ("app", "/ecs/orders", Some("ecs"))
        );
        let r = parse(register).unwrap();
        assert_eq!(r[0].task_role, None);
        assert_eq!(
            r[0].execution_role.as_deref(),
            Some("arn:aws:iam::1:role/exec")
        );
    }

    #[test]
    fn other_json_is_refused_with_a_reason() {
        assert!(parse(r#"{"Records":[]}"#)
            .unwrap_err()
            .to_string()
            .contains("no \"family\""));
        assert!(parse("{")
            .unwrap_err()
            .to_string()
            .starts_with("invalid JSON"));
    }
}
