//! Task definitions read from ECS (`observe --ecs`), so that attribution knows every revision that
//! ran, not only those someone saved to a file.
//!
//! Per region: `ListTaskDefinitions` with status `ACTIVE`, then `INACTIVE` (deregistered
//! revisions: AWS's DeregisterTaskDefinition reference says INACTIVE task definitions "remain
//! discoverable in your account indefinitely"), then `DescribeTaskDefinition` for each ARN the
//! database does not hold yet, so a scheduled run asks only for new revisions. A revision
//! registered at or after the end of the evidence window (`registeredAt`, DescribeTaskDefinition's
//! response) cannot have run in it and is left out. The definition the API returns has the shape
//! of `describe-task-definition` output, reduced here to what the file parser keeps
//! ([`crate::attribution::taskdef::TaskDefinition`]), and stored the same way.
//!
//! Needs `ecs:ListTaskDefinitions` and `ecs:DescribeTaskDefinition` (both take `*` as resource,
//! per the Service Authorization Reference for Amazon ECS).

use crate::attribution::taskdef::{
    Container, EfsAuthorization, EfsVolume, EnvironmentFile, FirelensConfiguration, Loaded,
    LogConfiguration, MountPoint, RepositoryCredentials, Secret, TaskDefinition, Volume,
};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::TaskDefinitionStatus;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// What reading ECS gave: the new definitions, and each failure as a message naming the region,
/// the call and what to do.
#[derive(Debug, Default)]
pub struct Read {
    pub definitions: Vec<Loaded>,
    pub errors: Vec<String>,
}

/// Reads the task definitions of each region (none given: the region of the AWS environment)
/// whose ARN is not in `have`, registered before `until` when given.
pub async fn read(
    regions: &[String],
    until: Option<DateTime<Utc>>,
    have: &BTreeSet<String>,
) -> Read {
    let config = crate::aws::sdk_config().await;
    let regions: Vec<Option<String>> = if regions.is_empty() {
        vec![None]
    } else {
        regions.iter().cloned().map(Some).collect()
    };
    let mut out = Read::default();
    for region in regions {
        let mut builder = aws_sdk_ecs::config::Builder::from(&config);
        if let Some(r) = &region {
            builder = builder.region(aws_sdk_ecs::config::Region::new(r.clone()));
        }
        let client = aws_sdk_ecs::Client::from_conf(builder.build());
        let name = region
            .clone()
            .or_else(|| config.region().map(ToString::to_string));
        let Some(name) = name else {
            out.errors.push(
                "ECS: no region to read task definitions from: give --region or set AWS_REGION"
                    .to_string(),
            );
            continue;
        };
        read_region(&client, &name, until, have, &mut out).await;
    }
    out.definitions.sort_by(|a, b| {
        (
            &a.definition.family,
            a.definition.revision,
            &a.definition.arn,
        )
            .cmp(&(
                &b.definition.family,
                b.definition.revision,
                &b.definition.arn,
            ))
    });
    out
}

async fn read_region(
    client: &aws_sdk_ecs::Client,
    region: &str,
    until: Option<DateTime<Utc>>,
    have: &BTreeSet<String>,
    out: &mut Read,
) {
    let mut arns = BTreeSet::new();
    for status in [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive] {
        let mut pages = client
            .list_task_definitions()
            .status(status.clone())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => arns.extend(page.task_definition_arns().iter().cloned()),
                Err(e) => {
                    out.errors
                        .push(failure(region, "ListTaskDefinitions", status.as_str(), &e));
                    break;
                }
            }
        }
    }
    for arn in arns.into_iter().filter(|a| !have.contains(a)) {
        let answer = client
            .describe_task_definition()
            .task_definition(&arn)
            .send()
            .await;
        let def = match answer {
            Ok(a) => a.task_definition,
            Err(e) => {
                out.errors
                    .push(failure(region, "DescribeTaskDefinition", &arn, &e));
                continue;
            }
        };
        let Some(def) = def else {
            out.errors.push(format!(
                "ECS in {region}: DescribeTaskDefinition of {arn} answered without a task \
                 definition; run observe --ecs again"
            ));
            continue;
        };
        // Left unstored, it is described again by the next run, whose window may include it.
        if !registered_before(def.registered_at(), until) {
            continue;
        }
        match convert(&def, &arn) {
            Some(definition) => out.definitions.push(Loaded {
                definition,
                source: format!("ecs:{region}"),
            }),
            None => out.errors.push(format!(
                "ECS in {region}: {arn} has no family; it is not a task definition this release \
                 reads"
            )),
        }
    }
}

/// Whether a revision registered at `registered` can have run before `until`. One without a
/// registration time (an endpoint that does not give it) is kept: it may have.
fn registered_before(
    registered: Option<&aws_sdk_ecs::primitives::DateTime>,
    until: Option<DateTime<Utc>>,
) -> bool {
    let registered =
        registered.and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
    match (registered, until) {
        (Some(registered), Some(until)) => registered < until,
        _ => true,
    }
}

/// The API's task definition as the file parser would have read it from
/// `describe-task-definition` output.
fn convert(def: &aws_sdk_ecs::types::TaskDefinition, arn: &str) -> Option<TaskDefinition> {
    Some(TaskDefinition {
        family: def.family()?.to_string(),
        revision: Some(i64::from(def.revision())),
        arn: Some(def.task_definition_arn().unwrap_or(arn).to_string()),
        task_role: def.task_role_arn().map(str::to_string),
        execution_role: def.execution_role_arn().map(str::to_string),
        containers: def.container_definitions().iter().map(container).collect(),
        volumes: def.volumes().iter().map(volume).collect(),
        execute_command: false,
    })
}

fn container(c: &aws_sdk_ecs::types::ContainerDefinition) -> Container {
    Container {
        name: c.name().unwrap_or_default().to_string(),
        image: c.image().unwrap_or_default().to_string(),
        log_configuration: c.log_configuration().map(|l| LogConfiguration {
            log_driver: l.log_driver().as_str().to_string(),
            options: l
                .options()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            secret_options: l.secret_options().iter().map(secret).collect(),
        }),
        secrets: c.secrets().iter().map(secret).collect(),
        repository_credentials: c.repository_credentials().map(|r| RepositoryCredentials {
            credentials_parameter: r.credentials_parameter().to_string(),
        }),
        environment_files: c
            .environment_files()
            .iter()
            .map(|f| EnvironmentFile {
                value: f.value().to_string(),
                file_type: f.r#type().as_str().to_string(),
            })
            .collect(),
        mount_points: c
            .mount_points()
            .iter()
            .map(|m| MountPoint {
                source_volume: m.source_volume().unwrap_or_default().to_string(),
                read_only: m.read_only(),
            })
            .collect(),
        firelens_configuration: c.firelens_configuration().map(|f| FirelensConfiguration {
            router_type: f.r#type().as_str().to_string(),
            options: f
                .options()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }),
    }
}

fn volume(v: &aws_sdk_ecs::types::Volume) -> Volume {
    Volume {
        name: v.name().unwrap_or_default().to_string(),
        efs: v.efs_volume_configuration().map(|e| EfsVolume {
            file_system_id: e.file_system_id().to_string(),
            authorization: e.authorization_config().map(|a| EfsAuthorization {
                access_point_id: a.access_point_id().map(str::to_string),
                iam: a.iam().map(|i| i.as_str().to_string()),
            }),
        }),
    }
}

fn secret(s: &aws_sdk_ecs::types::Secret) -> Secret {
    Secret {
        name: s.name().to_string(),
        value_from: s.value_from().to_string(),
    }
}

/// One failed call in one line, with what to do.
fn failure<E: ProvideErrorMetadata>(region: &str, op: &str, what: &str, e: &SdkError<E>) -> String {
    let (said, hint) = match e {
        SdkError::ServiceError(_) => {
            let code = e.code().unwrap_or("an error");
            let hint = match code {
                "AccessDeniedException" | "AccessDenied" => format!(
                    "the credentials need ecs:{op} (observe --ecs needs ecs:ListTaskDefinitions \
                     and ecs:DescribeTaskDefinition)"
                ),
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException" => {
                    "check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID…) or renew an \
                     expired session"
                        .to_string()
                }
                _ => "check the region and the permissions of the credentials in use".to_string(),
            };
            (
                format!("{code}: {}", e.message().unwrap_or("no message")),
                hint,
            )
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => (
            "no answer".to_string(),
            "check the endpoint and network access (AWS_ENDPOINT_URL, proxy settings)".to_string(),
        ),
        SdkError::ResponseError(_) => (
            "an answer that is not ECS's".to_string(),
            "check AWS_ENDPOINT_URL".to_string(),
        ),
        _ => (
            "the request could not be sent".to_string(),
            "check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID…) and AWS_REGION"
                .to_string(),
        ),
    };
    format!("ECS in {region}: {op} ({what}) failed: {said}; {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{ContainerDefinition, LogDriver};

    #[test]
    fn only_revisions_registered_before_the_window_ends_are_kept() {
        let until = DateTime::parse_from_rfc3339("2026-11-06T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: i64| aws_sdk_ecs::primitives::DateTime::from_secs(s);
        let before = until.timestamp() - 1;
        assert!(registered_before(Some(&at(before)), Some(until)));
        assert!(!registered_before(
            Some(&at(until.timestamp())),
            Some(until)
        ));
        assert!(registered_before(Some(&at(until.timestamp())), None));
        assert!(registered_before(None, Some(until)));
    }

    #[test]
    fn the_api_shape_reads_as_the_file_parser_reads_describe_output() {
        // The same definition as the API returns it and as `describe-task-definition` prints it.
        let arn = "arn:aws:ecs:eu-west-1:1:task-definition/orders:7";
        let api = aws_sdk_ecs::types::TaskDefinition::builder()
            .family("orders")
            .revision(7)
            .task_definition_arn(arn)
            .task_role_arn("arn:aws:iam::1:role/orders-task")
            .execution_role_arn("arn:aws:iam::1:role/exec")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("1.dkr.ecr.eu-west-1.amazonaws.com/orders:1")
                    .log_configuration(
                        aws_sdk_ecs::types::LogConfiguration::builder()
                            .log_driver(LogDriver::Awslogs)
                            .options("awslogs-group", "/ecs/orders")
                            .secret_options(
                                aws_sdk_ecs::types::Secret::builder()
                                    .name("key")
                                    .value_from("arn:aws:ssm:eu-west-1:1:parameter/log-key")
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .environment_files(
                        aws_sdk_ecs::types::EnvironmentFile::builder()
                            .value("arn:aws:s3:::env/orders.env")
                            .r#type(aws_sdk_ecs::types::EnvironmentFileType::S3)
                            .build()
                            .unwrap(),
                    )
                    .firelens_configuration(
                        aws_sdk_ecs::types::FirelensConfiguration::builder()
                            .r#type(aws_sdk_ecs::types::FirelensConfigurationType::Fluentbit)
                            .options("config-file-type", "s3")
                            .build()
                            .unwrap(),
                    )
                    .secrets(
                        aws_sdk_ecs::types::Secret::builder()
                            .name("DB")
                            .value_from("arn:aws:ssm:eu-west-1:1:parameter/orders/db")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build();
        let file = r#"{"taskDefinition":{"family":"orders","revision":7,
            "taskDefinitionArn":"arn:aws:ecs:eu-west-1:1:task-definition/orders:7",
            "taskRoleArn":"arn:aws:iam::1:role/orders-task","executionRoleArn":"arn:aws:iam::1:role/exec",
            "containerDefinitions":[{"name":"app","image":"1.dkr.ecr.eu-west-1.amazonaws.com/orders:1",
              "logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/orders"},
                "secretOptions":[{"name":"key","valueFrom":"arn:aws:ssm:eu-west-1:1:parameter/log-key"}]},
              "environmentFiles":[{"value":"arn:aws:s3:::env/orders.env","type":"s3"}],
              "firelensConfiguration":{"type":"fluentbit","options":{"config-file-type":"s3"}},
              "secrets":[{"name":"DB","valueFrom":"arn:aws:ssm:eu-west-1:1:parameter/orders/db"}]}]}}"#;
        let parsed = crate::attribution::taskdef::parse(file).unwrap();
        assert_eq!(convert(&api, arn), Some(parsed[0].clone()));
        let no_family = aws_sdk_ecs::types::TaskDefinition::builder().build();
        assert_eq!(convert(&no_family, arn), None);
    }
}
