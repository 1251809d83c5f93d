//! What a task role needs that its own calls never show in CloudTrail, read from the task
//! definitions that name it as their task role.
//!
//! * A FireLens log router (`logDriver` `awsfirelens`) sends the container's logs with the task
//!   role's credentials (Amazon ECS Developer Guide, "Send Amazon ECS logs to an AWS service or
//!   AWS Partner": "the task role must have the permissions needed to route the logs"); the AWS
//!   for Fluent Bit output plugins and the writes each makes (aws-for-fluent-bit, "IAM
//!   permissions" of each plugin):
//!   - `cloudwatch` / `cloudwatch_logs` (`log_group_name`, `region`): `logs:CreateLogStream`,
//!     `logs:PutLogEvents` on the group's streams, and `logs:CreateLogGroup` when
//!     `auto_create_group` is `true`;
//!   - `firehose` / `kinesis_firehose` (`delivery_stream`): `firehose:PutRecordBatch`;
//!   - `kinesis` / `kinesis_streams` (`stream`): `kinesis:PutRecords`;
//!   - `s3` (`bucket`): `s3:PutObject` on the bucket's objects.
//! * An EFS volume with `authorizationConfig.iam` `ENABLED` is mounted with the task role's
//!   identity (Developer Guide, "Amazon EFS volumes", IAM authorization): the file system's
//!   policy or the role must allow `elasticfilesystem:ClientMount`, and `ClientWrite` unless every
//!   mount of the volume is read-only. `ClientRootAccess` is never derived: NFS access is not in
//!   CloudTrail, so no evidence can show it. A volume mounted through an access point gets the
//!   grants with the condition `elasticfilesystem:AccessPointArn` (that access point's ARN).
//! * ECS Exec, enabled at launch (`enableExecuteCommand` on RunTask, CreateService or
//!   UpdateService in the trail; `attribution::launch` makes the stand-in definitions): the SSM
//!   agent in the task opens its channels with the task role (Developer Guide, "Monitor Amazon
//!   ECS containers with ECS Exec", IAM permissions): `ssmmessages:CreateControlChannel`,
//!   `CreateDataChannel`, `OpenControlChannel`, `OpenDataChannel`, which take no resource.

use super::derive::{checked, role_parts, task_region, Derived, DerivedFrom};
use crate::attribution::taskdef::{Container, TaskDefinition};
use crate::attribution::RoleKey;
use crate::catalog::Catalog;
use crate::policy::escape::escape_literal;

pub const RULE_FIRELENS_OUTPUT: &str = "FireLens output (awsfirelens log driver)";
pub const RULE_EFS_IAM: &str = "EFS volume with IAM authorization";
pub const RULE_ECS_EXEC: &str = "ECS Exec enabled at launch (enableExecuteCommand)";

const ECS_EXEC: [&str; 4] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

/// Grants the task role `role_arn` needs for the task definitions that name it as their task
/// role, and a message for each thing that could not be derived or is granted more broadly.
pub fn task_role_needs(
    role_arn: &str,
    definitions: &[TaskDefinition],
    catalog: &Catalog,
) -> (Vec<Derived>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let Some((role, account, partition)) = role_parts(role_arn) else {
        return (out, problems);
    };
    let named = |d: &&TaskDefinition| {
        d.task_role
            .as_deref()
            .and_then(RoleKey::parse)
            .is_some_and(|k| k.matches(&role))
    };
    for def in definitions.iter().filter(named) {
        let region = task_region(def);
        let at = Place {
            def,
            partition: &partition,
            account: &account,
        };
        for c in &def.containers {
            at.firelens(c, region.as_deref(), &mut out, &mut problems);
        }
        at.efs(region.as_deref(), &mut out, &mut problems);
        if def.execute_command {
            for action in ECS_EXEC {
                at.push(&mut out, action, "*".to_string(), "ECS Exec", RULE_ECS_EXEC);
            }
        }
    }
    checked(catalog, out, problems)
}

struct Place<'a> {
    def: &'a TaskDefinition,
    partition: &'a str,
    account: &'a str,
}

impl Place<'_> {
    fn push(
        &self,
        out: &mut Vec<Derived>,
        action: &str,
        resource: String,
        part: &str,
        rule: &'static str,
    ) {
        out.push(Derived {
            action: action.to_string(),
            resource,
            condition: None,
            from: DerivedFrom {
                family: self.def.family.clone(),
                revision: self.def.revision,
                container: part.to_string(),
                rule,
            },
        });
    }

    fn arn(&self, service: &str, region: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{region}:{}:{resource}",
            self.partition, self.account
        )
    }

    fn firelens(
        &self,
        c: &Container,
        task_region: Option<&str>,
        out: &mut Vec<Derived>,
        problems: &mut Vec<String>,
    ) {
        let Some(log) = c
            .log_configuration
            .as_ref()
            .filter(|l| l.log_driver == "awsfirelens")
        else {
            return;
        };
        let opt = |k: &str| log.options.get(k).map(String::as_str);
        let Some(name) = opt("Name").or(opt("name")) else {
            return;
        };
        let region = opt("region").or(task_region);
        let rule = RULE_FIRELENS_OUTPUT;
        let missing = |what: &str| {
            format!(
                "task definition {}, container {}: FireLens output {name} without {what}; its \
                 grants cannot be derived",
                self.def.family, c.name
            )
        };
        match name.to_ascii_lowercase().as_str() {
            "cloudwatch" | "cloudwatch_logs" => match (opt("log_group_name"), region) {
                (Some(group), Some(region)) => {
                    let group_arn = self.arn(
                        "logs",
                        region,
                        &format!("log-group:{}", escape_literal(group)),
                    );
                    for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
                        self.push(
                            out,
                            action,
                            format!("{group_arn}:log-stream:*"),
                            &c.name,
                            rule,
                        );
                    }
                    if opt("auto_create_group").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                        self.push(out, "logs:CreateLogGroup", group_arn, &c.name, rule);
                    }
                }
                (None, _) => problems.push(missing("log_group_name")),
                (_, None) => problems.push(missing("a region")),
            },
            "firehose" | "kinesis_firehose" => match (opt("delivery_stream"), region) {
                (Some(stream), Some(region)) => self.push(
                    out,
                    "firehose:PutRecordBatch",
                    self.arn(
                        "firehose",
                        region,
                        &format!("deliverystream/{}", escape_literal(stream)),
                    ),
                    &c.name,
                    rule,
                ),
                (None, _) => problems.push(missing("delivery_stream")),
                (_, None) => problems.push(missing("a region")),
            },
            "kinesis" | "kinesis_streams" => match (opt("stream"), region) {
                (Some(stream), Some(region)) => self.push(
                    out,
                    "kinesis:PutRecords",
                    self.arn(
                        "kinesis",
                        region,
                        &format!("stream/{}", escape_literal(stream)),
                    ),
                    &c.name,
                    rule,
                ),
                (None, _) => problems.push(missing("stream")),
                (_, None) => problems.push(missing("a region")),
            },
            "s3" => match opt("bucket") {
                Some(bucket) => self.push(
                    out,
                    "s3:PutObject",
                    format!("arn:{}:s3:::{}/*", self.partition, escape_literal(bucket)),
                    &c.name,
                    rule,
                ),
                None => problems.push(missing("bucket")),
            },
            // Other outputs (partners, OpenSearch, stdout…) need nothing of AWS or are not
            // known here.
            _ => {}
        }
    }

    fn efs(&self, region: Option<&str>, out: &mut Vec<Derived>, problems: &mut Vec<String>) {
        for v in &self.def.volumes {
            let Some(efs) = &v.efs else { continue };
            let Some(auth) = efs.authorization.as_ref().filter(|a| {
                a.iam
                    .as_deref()
                    .is_some_and(|i| i.eq_ignore_ascii_case("ENABLED"))
            }) else {
                continue;
            };
            let part = format!("volume {}", v.name);
            let Some(region) = region else {
                problems.push(format!(
                    "task definition {}, {part}: no region in the task definition; its EFS \
                     grants cannot be derived",
                    self.def.family
                ));
                continue;
            };
            let fs = self.arn(
                "elasticfilesystem",
                region,
                &format!("file-system/{}", escape_literal(&efs.file_system_id)),
            );
            // Through an access point, IAM sees its ARN as `elasticfilesystem:AccessPointArn`
            // (EFS User Guide, "Using IAM to control file system data access"): the grant is
            // for mounts through it only.
            let access_point = auth.access_point_id.as_ref().map(|ap| {
                let arn = self.arn("elasticfilesystem", region, &format!("access-point/{ap}"));
                ("elasticfilesystem:AccessPointArn", arn)
            });
            let first = out.len();
            self.push(
                out,
                "elasticfilesystem:ClientMount",
                fs.clone(),
                &part,
                RULE_EFS_IAM,
            );
            let mounts: Vec<_> = self
                .def
                .containers
                .iter()
                .flat_map(|c| &c.mount_points)
                .filter(|m| m.source_volume == v.name)
                .collect();
            let read_only = !mounts.is_empty() && mounts.iter().all(|m| m.read_only == Some(true));
            if !read_only {
                self.push(
                    out,
                    "elasticfilesystem:ClientWrite",
                    fs,
                    &part,
                    RULE_EFS_IAM,
                );
            }
            for d in &mut out[first..] {
                d.condition.clone_from(&access_point);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::taskdef::parse;

    const ROLE: &str = "arn:aws:iam::111122223333:role/api-task";

    fn needs(json: &str) -> (Vec<(String, String, String)>, Vec<String>) {
        let defs = parse(json).unwrap();
        let (d, problems) = task_role_needs(ROLE, &defs, crate::catalog::embedded());
        let got = d
            .into_iter()
            .map(|d| (d.action, d.resource, d.from.container))
            .collect();
        (got, problems)
    }

    fn has(got: &[(String, String, String)], action: &str, resource: &str) -> bool {
        got.iter().any(|(a, r, _)| a == action && r == resource)
    }

    #[test]
    fn firelens_outputs_are_written_with_the_task_role() {
        // awsfirelens options as the Developer Guide's FireLens examples write them (the
        // output plugin's `Name` and its own options).
        let (got, problems) = needs(
            r#"{"family":"api","revision":4,"taskRoleArn":"arn:aws:iam::111122223333:role/api-task",
              "taskDefinitionArn":"arn:aws:ecs:eu-west-1:111122223333:task-definition/api:4",
              "containerDefinitions":[
                {"name":"cw","image":"i","logConfiguration":{"logDriver":"awsfirelens","options":{
                  "Name":"cloudwatch_logs","region":"us-east-1","log_group_name":"/app/api",
                  "log_stream_prefix":"api-","auto_create_group":"true"}}},
                {"name":"fh","image":"i","logConfiguration":{"logDriver":"awsfirelens","options":{
                  "Name":"kinesis_firehose","delivery_stream":"api-logs"}}},
                {"name":"ks","image":"i","logConfiguration":{"logDriver":"awsfirelens","options":{
                  "Name":"kinesis_streams","region":"eu-west-1","stream":"api-stream"}}},
                {"name":"s3","image":"i","logConfiguration":{"logDriver":"awsfirelens","options":{
                  "Name":"s3","bucket":"api-log-archive","total_file_size":"1M"}}},
                {"name":"dd","image":"i","logConfiguration":{"logDriver":"awsfirelens","options":{
                  "Name":"datadog"}}},
                {"name":"bad","image":"i","logConfiguration":{"logDriver":"awsfirelens","options":{
                  "Name":"cloudwatch"}}}]}"#,
        );
        let group = "arn:aws:logs:us-east-1:111122223333:log-group:/app/api";
        assert!(
            has(
                &got,
                "logs:CreateLogStream",
                &format!("{group}:log-stream:*")
            ),
            "{got:?}"
        );
        assert!(
            has(&got, "logs:PutLogEvents", &format!("{group}:log-stream:*")),
            "{got:?}"
        );
        assert!(has(&got, "logs:CreateLogGroup", group), "{got:?}");
        assert!(has(
            &got,
            "firehose:PutRecordBatch",
            "arn:aws:firehose:eu-west-1:111122223333:deliverystream/api-logs"
        ));
        assert!(has(
            &got,
            "kinesis:PutRecords",
            "arn:aws:kinesis:eu-west-1:111122223333:stream/api-stream"
        ));
        assert!(has(&got, "s3:PutObject", "arn:aws:s3:::api-log-archive/*"));
        assert_eq!(got.len(), 6, "{got:?}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0]
            .contains("container bad: FireLens output cloudwatch without log_group_name"));
    }

    #[test]
    fn efs_volumes_with_iam_authorization_are_mounted_with_the_task_role() {
        let (got, problems) = needs(
            r#"{"family":"api","taskRoleArn":"api-task",
              "taskDefinitionArn":"arn:aws:ecs:eu-west-1:111122223333:task-definition/api:5",
              "volumes":[
                {"name":"data","efsVolumeConfiguration":{"fileSystemId":"fs-0123456789abcdef0",
                  "transitEncryption":"ENABLED","authorizationConfig":{"iam":"ENABLED"}}},
                {"name":"shared","efsVolumeConfiguration":{"fileSystemId":"fs-00000000000000001",
                  "transitEncryption":"ENABLED",
                  "authorizationConfig":{"iam":"ENABLED","accessPointId":"fsap-0abc"}}},
                {"name":"open","efsVolumeConfiguration":{"fileSystemId":"fs-00000000000000002"}}],
              "containerDefinitions":[{"name":"app","image":"i","mountPoints":[
                {"sourceVolume":"data","containerPath":"/data"},
                {"sourceVolume":"shared","containerPath":"/shared","readOnly":true},
                {"sourceVolume":"open","containerPath":"/open"}]}]}"#,
        );
        let fs =
            |id: &str| format!("arn:aws:elasticfilesystem:eu-west-1:111122223333:file-system/{id}");
        assert!(has(
            &got,
            "elasticfilesystem:ClientMount",
            &fs("fs-0123456789abcdef0")
        ));
        assert!(has(
            &got,
            "elasticfilesystem:ClientWrite",
            &fs("fs-0123456789abcdef0")
        ));
        // Read-only everywhere it is mounted: no write.
        assert!(has(
            &got,
            "elasticfilesystem:ClientMount",
            &fs("fs-00000000000000001")
        ));
        assert!(!has(
            &got,
            "elasticfilesystem:ClientWrite",
            &fs("fs-00000000000000001")
        ));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got
            .iter()
            .all(|(a, _, _)| a != "elasticfilesystem:ClientRootAccess"));
        assert!(problems.is_empty(), "{problems:?}");
        // Through its access point only.
        let defs = parse(
            r#"{"family":"api","taskRoleArn":"api-task",
              "taskDefinitionArn":"arn:aws:ecs:eu-west-1:111122223333:task-definition/api:5",
              "volumes":[{"name":"shared","efsVolumeConfiguration":{"fileSystemId":"fs-1",
                  "authorizationConfig":{"iam":"ENABLED","accessPointId":"fsap-0abc"}}}],
              "containerDefinitions":[{"name":"app","image":"i"}]}"#,
        )
        .unwrap();
        let (d, _) = task_role_needs(ROLE, &defs, crate::catalog::embedded());
        assert_eq!(d.len(), 2, "{d:?}");
        for g in &d {
            assert_eq!(
                g.condition,
                Some((
                    "elasticfilesystem:AccessPointArn",
                    "arn:aws:elasticfilesystem:eu-west-1:111122223333:access-point/fsap-0abc"
                        .to_string()
                )),
                "{g:?}"
            );
        }
        // Another role's definition gives this role nothing.
        let (other, _) = needs(
            r#"{"family":"x","taskRoleArn":"other","volumes":[
            {"name":"d","efsVolumeConfiguration":{"fileSystemId":"fs-1","authorizationConfig":{"iam":"ENABLED"}}}],
            "containerDefinitions":[]}"#,
        );
        assert!(other.is_empty());
    }
}
