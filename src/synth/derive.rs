//! What an execution role needs, read from the task definitions that name it.
//!
//! CloudTrail never records `logs:PutLogEvents`, and shows secret fetches and image pulls only
//! when a task starts inside the trail's window. The task definition says exactly what the ECS
//! agent will do with the execution role (Amazon ECS Developer Guide, "Task execution IAM role",
//! "Pass sensitive data to an Amazon ECS container", "Private registry authentication"):
//!
//! * an image in a private ECR repository: `ecr:BatchCheckLayerAvailability`,
//!   `ecr:GetDownloadUrlForLayer`, `ecr:BatchGetImage` on the repository and
//!   `ecr:GetAuthorizationToken` (which takes no resource);
//! * the `awslogs` driver: `logs:CreateLogStream` and `logs:PutLogEvents` on the container's
//!   streams, named `<awslogs-stream-prefix>/<container-name>/<task-id>` (without a prefix, the
//!   stream is named after the Docker container id, so only the group's streams can be named);
//!   `logs:CreateLogGroup` on the group when `awslogs-create-group` is `true`;
//! * `secrets[].valueFrom`: `ssm:GetParameters` on the parameter (an ARN, or a name in the task's
//!   region) or `secretsmanager:GetSecretValue` on the secret (the ARN without the
//!   `:json-key:version-stage:version-id` suffix); `kms:Decrypt` only for a customer-managed key,
//!   which the task definition does not name (see [`kms_findings`]);
//! * `repositoryCredentials.credentialsParameter`: `secretsmanager:GetSecretValue` on the secret;
//! * `environmentFiles` of type `s3`: `s3:GetObject` on the object and `s3:GetBucketLocation` on
//!   its bucket (Developer Guide, "Task execution IAM role", Amazon S3 file storage permissions);
//! * a FireLens log router with `config-file-type` `s3`: the same two on `config-file-value`
//!   (Developer Guide, "Example Amazon ECS task definition: Route logs to FireLens", custom
//!   configuration: the task execution role reads the file);
//! * `logConfiguration.secretOptions`: like `secrets` (Developer Guide, "Pass sensitive data to
//!   an Amazon ECS container": secrets for a log configuration are fetched with the execution
//!   role).
//!
//! Every derived grant is checked against the catalog like an observed one.

use super::families::ecr_repository_arn;
use crate::attribution::taskdef::{Container, TaskDefinition};
use crate::attribution::RoleKey;
use crate::catalog::Catalog;
use crate::policy::escape::escape_literal;
use serde::Serialize;

/// Where a derived grant comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DerivedFrom {
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// Empty for what a whole task definition implies (the roles a launch passes).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// Which part of the task definition implies the grant (see the module documentation).
    pub rule: &'static str,
}

/// One (action, resource) an execution role needs according to a task definition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Derived {
    pub action: String,
    /// Policy syntax: literal names escaped; deliberate wildcards for per-task names.
    pub resource: String,
    pub from: DerivedFrom,
    /// A condition key and its value the grant is limited by: `iam:PassedToService` on an
    /// `iam:PassRole` (the service the role is passed to), `elasticfilesystem:AccessPointArn`
    /// on an EFS mount through an access point.
    pub condition: Option<(&'static str, String)>,
}

pub const RULE_ECR_IMAGE: &str = "image in a private ECR repository";
pub const RULE_ECR_AUTH: &str = "image in a private ECR repository (registry login)";
pub const RULE_AWSLOGS: &str = "awslogs log driver";
pub const RULE_AWSLOGS_CREATE_GROUP: &str = "awslogs log driver with awslogs-create-group";
pub const RULE_SECRET_SSM: &str = "secrets[].valueFrom (SSM parameter)";
pub const RULE_SECRET_SM: &str = "secrets[].valueFrom (Secrets Manager secret)";
pub const RULE_REPOSITORY_CREDENTIALS: &str = "repositoryCredentials.credentialsParameter";
pub const RULE_ENVIRONMENT_FILE: &str = "environmentFiles (S3 object)";
pub const RULE_FIRELENS_CONFIG: &str = "FireLens configuration file in S3 (config-file-type s3)";
pub const RULE_LOG_SECRET_SSM: &str = "logConfiguration.secretOptions (SSM parameter)";
pub const RULE_LOG_SECRET_SM: &str = "logConfiguration.secretOptions (Secrets Manager secret)";
pub const RULE_SECRET_KEY: &str =
    "secrets[] read through the service this key was observed decrypting for (key from evidence)";

const ECR_PULL: [&str; 3] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
];

/// Grants the execution role `role_arn` needs for the task definitions that name it as their
/// execution role, and a message for each thing that could not be derived.
pub fn execution_role_needs(
    role_arn: &str,
    definitions: &[TaskDefinition],
    catalog: &Catalog,
) -> (Vec<Derived>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let Some((role, account, partition)) = role_parts(role_arn) else {
        return (out, problems);
    };
    for def in definitions.iter().filter(|d| names_role(d, &role)) {
        let ctx = DefCtx {
            def,
            partition: &partition,
            account: &account,
            region: task_region(def),
        };
        for c in &def.containers {
            ctx.container(c, &mut out, &mut problems);
        }
    }
    checked(catalog, out, problems)
}

/// The role, its account and its partition, which every derived ARN is built in; None for a role
/// given without an account (nothing can be derived for it).
pub(super) fn role_parts(role_arn: &str) -> Option<(RoleKey, String, String)> {
    let role = RoleKey::parse(role_arn)?;
    let account = role.account.clone()?;
    let partition = role_arn.split(':').nth(1).unwrap_or("aws").to_string();
    Some((role, account, partition))
}

/// The derived grants the catalog accepts, sorted; each one it refuses becomes a problem.
pub(super) fn checked(
    catalog: &Catalog,
    derived: Vec<Derived>,
    mut problems: Vec<String>,
) -> (Vec<Derived>, Vec<String>) {
    let mut valid = Vec::new();
    for d in derived {
        match check(catalog, &d) {
            Ok(()) => valid.push(d),
            Err(why) => problems.push(format!(
                "{} {} (from {}): not granted: {why}",
                d.action,
                d.resource,
                describe(&d.from)
            )),
        }
    }
    valid.sort();
    valid.dedup();
    problems.sort();
    problems.dedup();
    (valid, problems)
}

fn names_role(def: &TaskDefinition, role: &RoleKey) -> bool {
    def.execution_role
        .as_deref()
        .and_then(RoleKey::parse)
        .is_some_and(|k| {
            k.name == role.name
                && match (&k.account, &role.account) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        })
}

/// The task definition's region: from its ARN, else the awslogs region, else an ECR image's.
pub(super) fn task_region(def: &TaskDefinition) -> Option<String> {
    if let Some(r) = def
        .arn
        .as_deref()
        .and_then(|a| a.split(':').nth(3))
        .filter(|r| !r.is_empty())
    {
        return Some(r.to_string());
    }
    def.containers
        .iter()
        .filter_map(|c| c.log_configuration.as_ref())
        .find_map(|l| l.options.get("awslogs-region").cloned())
        .or_else(|| {
            def.containers
                .iter()
                .filter_map(|c| ecr_repository_arn(&c.image))
                .find_map(|a| a.split(':').nth(3).map(str::to_string))
        })
}

/// The object and bucket ARNs (policy syntax) of `arn:<partition>:s3:::bucket/key`.
fn s3_object(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let path = rest.strip_prefix("s3:::")?;
    let (bucket, key) = path.split_once('/')?;
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    let bucket_arn = format!("arn:{partition}:s3:::{}", escape_literal(bucket));
    Some((format!("{bucket_arn}/{}", escape_literal(key)), bucket_arn))
}

pub fn describe(from: &DerivedFrom) -> String {
    let rev = from.revision.map(|r| format!(":{r}")).unwrap_or_default();
    if from.container.is_empty() {
        // A grant of the whole task definition (`synth/launch.rs`), not of one container.
        return format!("task definition {}{rev}: {}", from.family, from.rule);
    }
    format!(
        "task definition {}{rev}, container {}: {}",
        from.family, from.container, from.rule
    )
}

struct DefCtx<'a> {
    def: &'a TaskDefinition,
    partition: &'a str,
    account: &'a str,
    region: Option<String>,
}

impl DefCtx<'_> {
    fn from(&self, c: &Container, rule: &'static str) -> DerivedFrom {
        DerivedFrom {
            family: self.def.family.clone(),
            revision: self.def.revision,
            container: c.name.clone(),
            rule,
        }
    }

    fn push(&self, out: &mut Vec<Derived>, action: &str, resource: String, from: DerivedFrom) {
        out.push(Derived {
            action: action.to_string(),
            resource,
            from,
            condition: None,
        });
    }

    fn container(&self, c: &Container, out: &mut Vec<Derived>, problems: &mut Vec<String>) {
        if let Some(repo) = ecr_repository_arn(&c.image) {
            for action in ECR_PULL {
                self.push(out, action, repo.clone(), self.from(c, RULE_ECR_IMAGE));
            }
            self.push(
                out,
                "ecr:GetAuthorizationToken",
                "*".to_string(),
                self.from(c, RULE_ECR_AUTH),
            );
        }
        if let Some(log) = c
            .log_configuration
            .as_ref()
            .filter(|l| l.log_driver == "awslogs")
        {
            let region = log
                .options
                .get("awslogs-region")
                .cloned()
                .or(self.region.clone());
            match (log.options.get("awslogs-group"), region) {
                (Some(group), Some(region)) => {
                    let group_arn = format!(
                        "arn:{}:logs:{region}:{}:log-group:{}",
                        self.partition,
                        self.account,
                        escape_literal(group)
                    );
                    let streams = match log.options.get("awslogs-stream-prefix") {
                        Some(prefix) if !prefix.is_empty() => format!(
                            "{group_arn}:log-stream:{}/{}/*",
                            escape_literal(prefix),
                            escape_literal(&c.name)
                        ),
                        _ => format!("{group_arn}:log-stream:*"),
                    };
                    for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
                        self.push(out, action, streams.clone(), self.from(c, RULE_AWSLOGS));
                    }
                    let create = log.options.get("awslogs-create-group");
                    if create.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                        self.push(
                            out,
                            "logs:CreateLogGroup",
                            group_arn,
                            self.from(c, RULE_AWSLOGS_CREATE_GROUP),
                        );
                    }
                }
                (None, _) => problems.push(format!(
                    "task definition {}, container {}: awslogs without awslogs-group; its log \
                     grants cannot be derived",
                    self.def.family, c.name
                )),
                (Some(_), None) => problems.push(format!(
                    "task definition {}, container {}: awslogs without awslogs-region and no \
                     region in the task definition; its log grants cannot be derived",
                    self.def.family, c.name
                )),
            }
        }
        for s in &c.secrets {
            match self.secret(&s.value_from) {
                Ok((action, resource, rule)) => {
                    self.push(out, action, resource, self.from(c, rule))
                }
                Err(why) => problems.push(format!(
                    "task definition {}, container {}, secret {}: {why}",
                    self.def.family, c.name, s.name
                )),
            }
        }
        self.configuration_files(c, out, problems);
        for s in c
            .log_configuration
            .iter()
            .flat_map(|l| l.secret_options.iter())
        {
            match self.secret(&s.value_from) {
                Ok((action, resource, rule)) => {
                    let rule = if rule == RULE_SECRET_SSM {
                        RULE_LOG_SECRET_SSM
                    } else {
                        RULE_LOG_SECRET_SM
                    };
                    self.push(out, action, resource, self.from(c, rule))
                }
                Err(why) => problems.push(format!(
                    "task definition {}, container {}, log secret option {}: {why}",
                    self.def.family, c.name, s.name
                )),
            }
        }
        if let Some(creds) = &c.repository_credentials {
            match self.secrets_manager(&creds.credentials_parameter) {
                Some(resource) => self.push(
                    out,
                    "secretsmanager:GetSecretValue",
                    resource,
                    self.from(c, RULE_REPOSITORY_CREDENTIALS),
                ),
                None => problems.push(format!(
                    "task definition {}, container {}: repositoryCredentials {} is not a Secrets \
                     Manager secret ARN or name in a known region",
                    self.def.family, c.name, creds.credentials_parameter
                )),
            }
        }
    }

    /// The S3 objects the agent reads for the container: its environment files and its log
    /// router's configuration file.
    fn configuration_files(
        &self,
        c: &Container,
        out: &mut Vec<Derived>,
        problems: &mut Vec<String>,
    ) {
        let env = c
            .environment_files
            .iter()
            .filter(|f| f.file_type.eq_ignore_ascii_case("s3"))
            .map(|f| (f.value.as_str(), RULE_ENVIRONMENT_FILE));
        let firelens = c
            .firelens_configuration
            .as_ref()
            .filter(|f| {
                f.options
                    .get("config-file-type")
                    .is_some_and(|t| t.eq_ignore_ascii_case("s3"))
            })
            .and_then(|f| f.options.get("config-file-value"))
            .map(|v| (v.as_str(), RULE_FIRELENS_CONFIG));
        for (arn, rule) in env.chain(firelens) {
            match s3_object(arn) {
                Some((object, bucket)) => {
                    self.push(out, "s3:GetObject", object, self.from(c, rule));
                    self.push(out, "s3:GetBucketLocation", bucket, self.from(c, rule));
                }
                None => problems.push(format!(
                    "task definition {}, container {}: {rule} {arn} is not an S3 object ARN \
                     (arn:aws:s3:::bucket/key); its grants cannot be derived",
                    self.def.family, c.name
                )),
            }
        }
    }

    /// A `valueFrom`: a Secrets Manager ARN, an SSM parameter ARN, or a parameter name.
    fn secret(
        &self,
        value_from: &str,
    ) -> Result<(&'static str, String, &'static str), Underivable> {
        let service = value_from.split(':').nth(2);
        if value_from.starts_with("arn:") {
            return match service {
                Some("secretsmanager") => self
                    .secrets_manager(value_from)
                    .map(|r| ("secretsmanager:GetSecretValue", r, RULE_SECRET_SM))
                    .ok_or_else(|| Underivable::NotASecret(value_from.to_string())),
                Some("ssm") => Ok(("ssm:GetParameters", value_from.to_string(), RULE_SECRET_SSM)),
                _ => Err(Underivable::NeitherKind(value_from.to_string())),
            };
        }
        // ECS reads a bare name as a parameter in the task's own region.
        let region = self
            .region
            .as_deref()
            .ok_or_else(|| Underivable::NoRegion(value_from.to_string()))?;
        Ok((
            "ssm:GetParameters",
            format!(
                "arn:{}:ssm:{region}:{}:parameter/{}",
                self.partition,
                self.account,
                escape_literal(value_from.trim_start_matches('/'))
            ),
            RULE_SECRET_SSM,
        ))
    }

    /// A secret's ARN from a full or partial ARN (with or without the JSON key / version
    /// suffix), or from a name in the task's region.
    fn secrets_manager(&self, value: &str) -> Option<String> {
        let (head, name) = if value.starts_with("arn:") {
            // arn:partition:secretsmanager:region:account:secret:name[:json-key:stage:version]
            let parts: Vec<&str> = value.splitn(8, ':').collect();
            if parts.len() < 7 || parts[2] != "secretsmanager" || parts[5] != "secret" {
                return None;
            }
            (parts[..6].join(":"), parts[6])
        } else {
            let region = self.region.as_deref()?;
            (
                format!(
                    "arn:{}:secretsmanager:{region}:{}:secret",
                    self.partition, self.account
                ),
                value,
            )
        };
        if name.is_empty() {
            return None;
        }
        // A full ARN ends in `-` and six random characters; a partial ARN or a name does not,
        // and stands for whichever suffix the secret has.
        let suffix = if has_random_suffix(name) && value.starts_with("arn:") {
            ""
        } else {
            "-??????"
        };
        Some(format!("{head}:{}{suffix}", escape_literal(name)))
    }
}

fn has_random_suffix(name: &str) -> bool {
    name.rsplit_once('-')
        .is_some_and(|(_, s)| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Why a secret's `valueFrom` or a derived grant is left out; reported as a finding.
#[derive(Debug, thiserror::Error)]
pub(super) enum Underivable {
    #[error("{0} is not a Secrets Manager secret ARN")]
    NotASecret(String),
    #[error("{0} is neither an SSM parameter nor a Secrets Manager secret")]
    NeitherKind(String),
    #[error(
        "parameter name {0} without a region (the task definition has no ARN, awslogs region or \
         ECR image); give valueFrom as an ARN"
    )]
    NoRegion(String),
    #[error("{0} is not in the IAM catalog")]
    NotInCatalog(String),
    #[error("the action takes a resource; refusing to grant it on *")]
    TakesResource,
    #[error("{0} does not accept this resource type")]
    ResourceType(String),
}

pub(super) fn check(catalog: &Catalog, d: &Derived) -> Result<(), Underivable> {
    let action = catalog
        .action(&d.action)
        .ok_or_else(|| Underivable::NotInCatalog(d.action.clone()))?;
    if d.resource == "*" {
        return if action.takes_resources() {
            Err(Underivable::TakesResource)
        } else {
            Ok(())
        };
    }
    action
        .accepts_arn(&d.resource)
        .map(|_| ())
        .ok_or_else(|| Underivable::ResourceType(d.action.clone()))
}

/// Services whose `kms:ViaService` decrypts the task definitions' secrets for the role:
/// `ssm.<region>.amazonaws.com` for parameters, `secretsmanager.<region>.amazonaws.com` for
/// secrets and registry credentials.
pub fn secret_services(derived: &[Derived]) -> Vec<(String, DerivedFrom)> {
    derived
        .iter()
        .filter_map(|d| {
            let service = match d.from.rule {
                RULE_SECRET_SSM => "ssm",
                RULE_SECRET_SM | RULE_REPOSITORY_CREDENTIALS => "secretsmanager",
                _ => return None,
            };
            let region = d.resource.split(':').nth(3)?;
            let mut from = d.from.clone();
            from.rule = RULE_SECRET_KEY;
            Some((format!("{service}.{region}.amazonaws.com"), from))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::taskdef::parse;

    const ROLE: &str = "arn:aws:iam::111122223333:role/exec";

    fn derive(json: &str) -> (Vec<Derived>, Vec<String>) {
        let defs = parse(json).unwrap();
        execution_role_needs(ROLE, &defs, crate::catalog::embedded())
    }

    fn pairs(d: &[Derived]) -> Vec<(String, String)> {
        d.iter()
            .map(|d| (d.action.clone(), d.resource.clone()))
            .collect()
    }

    #[test]
    fn environment_files_firelens_configuration_and_log_secret_options() {
        // Shapes from the ECS Developer Guide's task definition parameters: `environmentFiles`
        // (type s3, an object ARN), a FireLens router with a custom configuration in S3, and a
        // log configuration with `secretOptions`.
        let (d, problems) = derive(
            r#"{"family":"api","revision":2,"executionRoleArn":"arn:aws:iam::111122223333:role/exec",
              "taskDefinitionArn":"arn:aws:ecs:eu-west-1:111122223333:task-definition/api:2",
              "containerDefinitions":[
                {"name":"log_router","image":"public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
                 "firelensConfiguration":{"type":"fluentbit","options":{
                   "config-file-type":"s3","config-file-value":"arn:aws:s3:::conf-bucket/fluent-bit/extra.conf"}}},
                {"name":"app","image":"public.ecr.aws/docker/library/nginx:1",
                 "environmentFiles":[{"value":"arn:aws:s3:::env-bucket/api/prod.env","type":"s3"},
                                     {"value":"not-an-arn","type":"s3"}],
                 "logConfiguration":{"logDriver":"awsfirelens","options":{"Name":"datadog"},
                   "secretOptions":[{"name":"apikey","valueFrom":"arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd-key-AbC123"}]}}]}"#,
        );
        let got: Vec<(String, String, &str)> = d
            .iter()
            .map(|d| (d.action.clone(), d.resource.clone(), d.from.rule))
            .collect();
        for want in [
            (
                "s3:GetObject",
                "arn:aws:s3:::env-bucket/api/prod.env",
                RULE_ENVIRONMENT_FILE,
            ),
            (
                "s3:GetBucketLocation",
                "arn:aws:s3:::env-bucket",
                RULE_ENVIRONMENT_FILE,
            ),
            (
                "s3:GetObject",
                "arn:aws:s3:::conf-bucket/fluent-bit/extra.conf",
                RULE_FIRELENS_CONFIG,
            ),
            (
                "s3:GetBucketLocation",
                "arn:aws:s3:::conf-bucket",
                RULE_FIRELENS_CONFIG,
            ),
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd-key-AbC123",
                RULE_LOG_SECRET_SM,
            ),
        ] {
            assert!(
                got.contains(&(want.0.to_string(), want.1.to_string(), want.2)),
                "{want:?} not in {got:?}"
            );
        }
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("not-an-arn is not an S3 object ARN"),
            "{problems:?}"
        );
    }

    #[test]
    fn images_logs_and_secrets_of_a_task_definition() {
        let (d, problems) = derive(
            r#"{"family":"web","revision":3,"executionRoleArn":"arn:aws:iam::111122223333:role/exec",
              "taskDefinitionArn":"arn:aws:ecs:eu-west-1:111122223333:task-definition/web:3",
              "containerDefinitions":[{"name":"app",
                "image":"999988887777.dkr.ecr.us-east-1.amazonaws.com/team/web:1.2",
                "logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/web",
                  "awslogs-region":"eu-west-1","awslogs-stream-prefix":"ecs","awslogs-create-group":"true"}},
                "secrets":[
                  {"name":"A","valueFrom":"/web/prod/a"},
                  {"name":"B","valueFrom":"arn:aws:ssm:us-west-2:111122223333:parameter/web/b"},
                  {"name":"C","valueFrom":"arn:aws:secretsmanager:eu-west-1:111122223333:secret:web/db-AbC123:password:AWSCURRENT:"},
                  {"name":"D","valueFrom":"arn:aws:secretsmanager:eu-west-1:111122223333:secret:web/partial"}],
                "repositoryCredentials":{"credentialsParameter":"hub/creds"}}]}"#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let got = pairs(&d);
        let repo = "arn:aws:ecr:us-east-1:999988887777:repository/team/web";
        let streams = "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/web:log-stream:ecs/app/*";
        for want in [
            ("ecr:BatchGetImage", repo),
            ("ecr:GetDownloadUrlForLayer", repo),
            ("ecr:BatchCheckLayerAvailability", repo),
            ("ecr:GetAuthorizationToken", "*"),
            ("logs:CreateLogStream", streams),
            ("logs:PutLogEvents", streams),
            (
                "logs:CreateLogGroup",
                "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/web",
            ),
            (
                "ssm:GetParameters",
                "arn:aws:ssm:eu-west-1:111122223333:parameter/web/prod/a",
            ),
            (
                "ssm:GetParameters",
                "arn:aws:ssm:us-west-2:111122223333:parameter/web/b",
            ),
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:web/db-AbC123",
            ),
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:web/partial-??????",
            ),
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:eu-west-1:111122223333:secret:hub/creds-??????",
            ),
        ] {
            assert!(
                got.contains(&(want.0.to_string(), want.1.to_string())),
                "missing {want:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), 12, "{got:#?}");
        assert!(d
            .iter()
            .all(|d| d.from.family == "web" && d.from.revision == Some(3)));
    }

    #[test]
    fn no_stream_prefix_means_the_groups_streams_and_no_create_group_by_default() {
        let (d, _) = derive(
            r#"{"family":"w","executionRoleArn":"exec","containerDefinitions":[{"name":"c","image":"nginx",
              "logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"g","awslogs-region":"eu-west-1"}}}]}"#,
        );
        assert_eq!(
            pairs(&d),
            vec![
                (
                    "logs:CreateLogStream".to_string(),
                    "arn:aws:logs:eu-west-1:111122223333:log-group:g:log-stream:*".to_string()
                ),
                (
                    "logs:PutLogEvents".to_string(),
                    "arn:aws:logs:eu-west-1:111122223333:log-group:g:log-stream:*".to_string()
                ),
            ]
        );
    }

    #[test]
    fn other_roles_and_unknown_regions_derive_nothing_silently() {
        let (d, _) = derive(
            r#"{"family":"w","executionRoleArn":"arn:aws:iam::111122223333:role/other","taskRoleArn":"arn:aws:iam::111122223333:role/exec",
              "containerDefinitions":[{"name":"c","image":"1.dkr.ecr.eu-west-1.amazonaws.com/x"}]}"#,
        );
        assert!(d.is_empty(), "a task role gets nothing derived: {d:?}");
        let (d, problems) = derive(
            r#"{"family":"w","executionRoleArn":"exec","containerDefinitions":[{"name":"c","image":"nginx",
              "secrets":[{"name":"S","valueFrom":"plain-name"}]}]}"#,
        );
        assert!(d.is_empty());
        assert!(problems[0].contains("without a region"), "{problems:?}");
    }

    #[test]
    fn a_name_with_wildcard_characters_never_widens() {
        let (d, _) = derive(
            r#"{"family":"w","executionRoleArn":"exec","containerDefinitions":[{"name":"c","image":"nginx",
              "logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"g*","awslogs-region":"eu-west-1","awslogs-stream-prefix":"p?"}}}]}"#,
        );
        assert_eq!(
            d[0].resource,
            "arn:aws:logs:eu-west-1:111122223333:log-group:g${*}:log-stream:p${?}/c/*"
        );
    }
}
