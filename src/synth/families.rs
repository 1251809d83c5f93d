//! Which family needed a grant of a shared role.
//!
//! CloudTrail names the role, not the task: the families sharing a role are told apart by the
//! resources their task definitions name (image repositories, awslogs groups, secrets), which is
//! exactly what a shared execution role is used for.

use crate::attribution::taskdef::TaskDefinition;
use crate::attribution::RoleKey;
use crate::policy::escape::unescape_literal;
use crate::policy::eval::{resource_matches, Context, VARIABLES_VERSION};

pub fn attribute(
    role: &str,
    resource: &str,
    families: &[String],
    definitions: &[TaskDefinition],
) -> (Vec<String>, &'static str) {
    if families.len() <= 1 {
        return (families.to_vec(), "only family");
    }
    let Some(role_key) = RoleKey::parse(role) else {
        return (families.to_vec(), "shared role");
    };
    let literal = unescape_literal(resource);
    let none = Context::new();
    let mut matched: Vec<String> = definitions
        .iter()
        .filter(|d| families.contains(&d.family))
        .filter(|d| {
            [&d.task_role, &d.execution_role]
                .into_iter()
                .flatten()
                .filter_map(|r| RoleKey::parse(r))
                .any(|k| k.name == role_key.name)
        })
        .filter(|d| {
            references(d).iter().any(|pattern| {
                resource_matches(pattern, &literal, VARIABLES_VERSION, &none)
                    || resource_matches(resource, pattern, VARIABLES_VERSION, &none)
            })
        })
        .map(|d| d.family.clone())
        .collect();
    matched.sort();
    matched.dedup();
    if matched.is_empty() {
        (families.to_vec(), "shared role")
    } else {
        (matched, "task definition")
    }
}

/// Resource patterns a task definition names: its ECR repositories, awslogs groups and streams,
/// and its secrets.
pub fn references(def: &TaskDefinition) -> Vec<String> {
    let mut out = Vec::new();
    for c in &def.containers {
        if let Some(repo) = ecr_repository_arn(&c.image) {
            out.push(repo);
        }
        for s in &c.secrets {
            out.push(secret_pattern(&s.value_from));
        }
        if let Some(creds) = &c.repository_credentials {
            out.push(secret_pattern(&creds.credentials_parameter));
        }
    }
    for (_, group, _) in def.awslogs() {
        out.push(format!("arn:*:logs:*:*:log-group:{group}:*"));
    }
    out
}

/// `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>[:tag|@digest]` → repository ARN.
pub fn ecr_repository_arn(image: &str) -> Option<String> {
    let (host, path) = image.split_once('/')?;
    let mut labels = host.split('.');
    let account = labels.next()?;
    if labels.next()? != "dkr" || labels.next()? != "ecr" {
        return None;
    }
    let region = labels.next()?;
    let partition = if host.ends_with(".amazonaws.com.cn") {
        "aws-cn"
    } else {
        "aws"
    };
    let repo = path.split('@').next()?;
    // A tag follows the last ':' of the last path segment only.
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    Some(format!(
        "arn:{partition}:ecr:{region}:{account}:repository/{repo}"
    ))
}

/// A secret's `valueFrom`: an SSM parameter or Secrets Manager ARN (possibly with a JSON key
/// suffix), or a bare parameter name.
fn secret_pattern(value_from: &str) -> String {
    if value_from.starts_with("arn:") && value_from.contains(":secretsmanager:") {
        // arn:…:secret:<name>-XXXXXX[:json-key:version-stage:version-id]
        let base: Vec<&str> = value_from.splitn(8, ':').take(7).collect();
        return format!("{}*", base.join(":"));
    }
    if value_from.starts_with("arn:") {
        return value_from.to_string();
    }
    format!(
        "arn:*:ssm:*:*:parameter/{}",
        value_from.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_uris() {
        assert_eq!(
            ecr_repository_arn("111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/orders-api:1.4")
                .as_deref(),
            Some("arn:aws:ecr:eu-west-1:111122223333:repository/team/orders-api")
        );
        assert_eq!(
            ecr_repository_arn("1.dkr.ecr.cn-north-1.amazonaws.com.cn/x@sha256:abc").as_deref(),
            Some("arn:aws-cn:ecr:cn-north-1:1:repository/x")
        );
        assert_eq!(ecr_repository_arn("nginx:1.25"), None);
        assert_eq!(ecr_repository_arn("docker.io/library/nginx"), None);
    }

    #[test]
    fn shared_execution_role_grants_go_to_the_family_that_names_them() {
        let defs = crate::attribution::taskdef::parse(
            r#"[{"family":"a","executionRoleArn":"arn:aws:iam::1:role/exec",
                 "containerDefinitions":[{"name":"c","image":"1.dkr.ecr.eu-west-1.amazonaws.com/a-repo:1",
                   "logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/a"}}}]},
                {"family":"b","executionRoleArn":"arn:aws:iam::1:role/exec",
                 "containerDefinitions":[{"name":"c","image":"1.dkr.ecr.eu-west-1.amazonaws.com/b-repo:1"}]}]"#,
        )
        .unwrap();
        let fams = vec!["a".to_string(), "b".to_string()];
        let role = "arn:aws:iam::1:role/exec";
        let (f, how) = attribute(
            role,
            "arn:aws:ecr:eu-west-1:1:repository/b-repo",
            &fams,
            &defs,
        );
        assert_eq!((f, how), (vec!["b".to_string()], "task definition"));
        let (f, _) = attribute(
            role,
            "arn:aws:logs:eu-west-1:1:log-group:/ecs/a:*",
            &fams,
            &defs,
        );
        assert_eq!(f, vec!["a".to_string()]);
        let (f, how) = attribute(role, "arn:aws:kms:eu-west-1:1:key/k", &fams, &defs);
        assert_eq!((f.len(), how), (2, "shared role"));
    }
}
