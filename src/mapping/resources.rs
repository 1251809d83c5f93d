//! Per-service rules that turn a call's request into the resource ARNs IAM authorizes it on
//! (DOMAIN.md §4), and the calls that need several actions.
//!
//! Every name taken from a request is escaped before it enters an ARN, so `*`, `?` or `$` in a
//! resource name can never widen a grant; the only wildcards here are the deliberate ones
//! ([`DELIBERATE_WILDCARDS`]).

use super::actions;
use crate::call::ApiCall;
use crate::policy::escape::escape_literal as lit;
use crate::policy::escape::unescape_literal;
use serde_json::Value;

/// What a call needs: one action on one target. `candidates` are alternative ARNs for the target,
/// most specific first; the caller keeps the first one the action accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: String,
    pub candidates: Vec<String>,
    pub action_rule: &'static str,
    pub resource_rule: &'static str,
}

/// The facts a rule may use.
pub struct Ctx<'c, 'a> {
    pub call: &'c ApiCall<'a>,
    pub req: &'c Value,
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
}

impl Ctx<'_, '_> {
    fn s(&self, key: &str) -> Option<&str> {
        self.req
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// First string among several spellings CloudTrail uses for the same parameter.
    fn any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.s(k))
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        lit(&format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        ))
    }
}

const DEFAULT: &str = "IAM action named after the event";
const RENAMED: &str = "event name differs from the IAM action (DOMAIN.md §3)";

/// The steps for one call.
pub fn plan(prefix: &str, ctx: &Ctx) -> Vec<Step> {
    let event = ctx.call.event_name;
    let (action, action_rule) = match actions::renamed(prefix, event) {
        Some(a) => (a.to_string(), RENAMED),
        None => {
            let stripped = actions::strip_version_suffix(event);
            let rule = if stripped.len() != event.len() {
                "API version suffix removed from the event name"
            } else {
                DEFAULT
            };
            (stripped.to_string(), rule)
        }
    };
    let one = |candidates: Vec<String>, resource_rule| {
        vec![Step {
            action: action.clone(),
            candidates,
            action_rule,
            resource_rule,
        }]
    };
    match prefix {
        "s3" => s3(ctx, &action, action_rule),
        "ssm" => ssm(ctx, &action, action_rule),
        "sqs" => one(sqs(ctx).into_iter().collect(), SQS_RULE),
        "sns" => one(sns(ctx).into_iter().collect(), "topic ARN from the request"),
        "dynamodb" => dynamodb(ctx, &action, action_rule),
        "secretsmanager" => one(secret(ctx), SECRET_RULE),
        "kms" => kms(ctx, &action, action_rule),
        "logs" => one(logs(ctx), LOGS_RULE),
        "ecr" => one(
            ecr(ctx).into_iter().collect(),
            "repository from repositoryName and registryId",
        ),
        "sts" => one(
            ctx.s("roleArn").map(lit).into_iter().collect(),
            "role ARN from the request",
        ),
        "lambda" => one(
            lambda(ctx).into_iter().collect(),
            "function from functionName",
        ),
        "kinesis" => one(
            named(ctx, &["streamARN"], &["streamName"], "kinesis", "stream/"),
            "stream from the request",
        ),
        "firehose" => one(
            named(
                ctx,
                &[],
                &["deliveryStreamName"],
                "firehose",
                "deliverystream/",
            ),
            "delivery stream from the request",
        ),
        "states" => one(
            ["stateMachineArn", "executionArn", "activityArn"]
                .iter()
                .filter_map(|k| ctx.s(k))
                .map(lit)
                .collect(),
            "state machine ARN from the request",
        ),
        "ecs" => one(ecs(ctx), REQUEST_ARNS),
        _ => one(request_arns(ctx), REQUEST_ARNS),
    }
}

/// ECS names clusters and services by name or ARN: the cluster (default `default`) and every
/// service named become ARNs, next to any other ARN of the request; the catalog keeps those the
/// action is authorized on (a service action its services, a cluster action its cluster).
fn ecs(ctx: &Ctx) -> Vec<String> {
    let cluster = ctx.s("cluster").unwrap_or("default");
    let cluster_name = cluster.rsplit_once(":cluster/").map_or(cluster, |(_, n)| n);
    let mut out = vec![if cluster.starts_with("arn:") {
        lit(cluster)
    } else {
        ctx.arn("ecs", &format!("cluster/{cluster}"))
    }];
    let services: Vec<&str> = match ctx.req.get("services") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => ctx.s("service").into_iter().collect(),
    };
    for svc in services {
        out.push(if svc.starts_with("arn:") {
            lit(svc)
        } else {
            ctx.arn("ecs", &format!("service/{cluster_name}/{svc}"))
        });
    }
    for arn in request_arns(ctx) {
        if !out.contains(&arn) {
            out.push(arn);
        }
    }
    out
}

/// The rule of steps whose candidates are every ARN the request names: each one the action
/// accepts is a resource the call touches, not an alternative spelling of one target.
pub const REQUEST_ARNS: &str = "ARN named in the request";

/// ARNs the request names in its top-level parameters (`targetGroupArn`, `resourceArns`, ...),
/// for services without a rule of their own; the catalog then keeps only those the action is
/// authorized on.
fn request_arns(ctx: &Ctx) -> Vec<String> {
    let Some(params) = ctx.req.as_object() else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for value in params.values() {
        let strings: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for s in strings.into_iter().filter(|s| s.starts_with("arn:")) {
            let arn = lit(s);
            if !out.contains(&arn) {
                out.push(arn);
            }
        }
    }
    out
}

// --- S3 ---

const S3_OBJECT: &str = "object ARN from bucketName and key";
const S3_BUCKET: &str = "bucket ARN from bucketName";

fn s3(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let Some(bucket) = ctx.s("bucketName").or_else(|| ctx.s("Bucket")) else {
        return vec![Step {
            action: action.to_string(),
            candidates: Vec::new(),
            action_rule,
            resource_rule: "resources[] of the event",
        }];
    };
    let p = ctx.partition;
    let bucket_arn = s3_bucket_arn(p, bucket);
    let event = ctx.call.event_name;
    if event == "CopyObject" || event == "UploadPartCopy" {
        let mut steps = Vec::new();
        let source = ctx.s("x-amz-copy-source");
        if let Some((src_bucket, src_key)) = source.and_then(copy_source) {
            // Copying a given version of the source reads that version.
            let versioned = source.is_some_and(|s| s.contains("versionId="));
            steps.push(Step {
                action: if versioned {
                    "GetObjectVersion"
                } else {
                    "GetObject"
                }
                .into(),
                candidates: vec![s3_object_arn(p, &src_bucket, &src_key)],
                action_rule: if versioned {
                    "copying a source version reads it (s3:GetObjectVersion)"
                } else {
                    "copying reads the source object (s3:GetObject)"
                },
                resource_rule: "source object from x-amz-copy-source",
            });
        }
        steps.push(Step {
            action: "PutObject".into(),
            candidates: ctx
                .s("key")
                .map(|k| s3_object_arn(p, bucket, k))
                .into_iter()
                .collect(),
            action_rule: "copying writes the target object (s3:PutObject)",
            resource_rule: S3_OBJECT,
        });
        return steps;
    }
    let versioned = ctx.s("versionId").is_some();
    let action = match (action, versioned) {
        ("GetObject", true) => "GetObjectVersion",
        ("DeleteObject", true) => "DeleteObjectVersion",
        ("GetObjectAcl", true) => "GetObjectVersionAcl",
        ("PutObjectAcl", true) => "PutObjectVersionAcl",
        ("GetObjectTagging", true) => "GetObjectVersionTagging",
        ("PutObjectTagging", true) => "PutObjectVersionTagging",
        (a, _) => a,
    };
    let action_rule = if versioned && action.contains("Version") {
        "a call on a specific versionId needs the …Version action"
    } else {
        action_rule
    };
    let keys: Vec<&str> = if event == "DeleteObjects" {
        ctx.req
            .get("delete")
            .and_then(|d| d.get("Object").or_else(|| d.get("object")))
            .map(|o| match o {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                single => vec![single],
            })
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| {
                o.get("Key")
                    .or_else(|| o.get("key"))
                    .and_then(Value::as_str)
            })
            .collect()
    } else {
        ctx.s("key").into_iter().collect()
    };
    let step = |candidates, resource_rule| Step {
        action: action.to_string(),
        candidates,
        action_rule,
        resource_rule,
    };
    if keys.is_empty() {
        return vec![step(vec![bucket_arn], S3_BUCKET)];
    }
    keys.into_iter()
        .map(|k| {
            step(
                vec![s3_object_arn(p, bucket, k), bucket_arn.clone()],
                S3_OBJECT,
            )
        })
        .collect()
}

fn s3_bucket_arn(partition: &str, bucket: &str) -> String {
    if bucket.starts_with("arn:") {
        lit(bucket)
    } else {
        lit(&format!("arn:{partition}:s3:::{bucket}"))
    }
}

fn s3_object_arn(partition: &str, bucket: &str, key: &str) -> String {
    // An access point ARN addresses objects as `<access point ARN>/object/<key>`.
    if bucket.starts_with("arn:") && bucket.contains(":accesspoint/") {
        lit(&[bucket, "/object/", key].concat())
    } else {
        lit(&["arn:", partition, ":s3:::", bucket, "/", key].concat())
    }
}

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded.
fn copy_source(raw: &str) -> Option<(String, String)> {
    let raw = raw.split('?').next()?;
    let decoded = percent_decode(raw.trim_start_matches('/'));
    let (bucket, key) = decoded.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

// `%XX` escapes decoded; invalid ones are kept as they are.
pub use crate::policy::percent::decode_lossy as percent_decode;

// --- SSM ---

fn ssm(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let names: Vec<&str> = match ctx.req.get("names") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => ctx
            .any(&["name", "path", "parameterName"])
            .into_iter()
            .collect(),
    };
    let resource_rule = if ctx.s("path").is_some() {
        "GetParametersByPath is authorized on the path's parameter ARN"
    } else {
        "parameter ARN from the name (leading slash dropped, selector removed)"
    };
    if names.is_empty() {
        return vec![Step {
            action: action.to_string(),
            candidates: Vec::new(),
            action_rule,
            resource_rule: "resources[] of the event",
        }];
    }
    names
        .into_iter()
        .map(|n| Step {
            action: action.to_string(),
            candidates: vec![ssm_parameter_arn(ctx, n)],
            action_rule,
            resource_rule,
        })
        .collect()
}

/// `/a/b` → `…:parameter/a/b`, `x` → `…:parameter/x`; an ARN stays as it is. A version or label
/// selector (`name:3`, `name:prod`) is not part of the resource.
pub fn ssm_parameter_arn(ctx: &Ctx, name: &str) -> String {
    if let Some(rest) = name.strip_prefix("arn:") {
        // arn:<p>:ssm:<r>:<a>:parameter/<name>[:<selector>]
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() == 5 {
            let resource = parts[4].split(':').next().unwrap_or(parts[4]);
            return lit(&format!(
                "arn:{}:{}:{}:{}:{resource}",
                parts[0], parts[1], parts[2], parts[3]
            ));
        }
        return lit(name);
    }
    let name = name.split(':').next().unwrap_or(name);
    ctx.arn(
        "ssm",
        &format!("parameter/{}", name.trim_start_matches('/')),
    )
}

// --- SQS ---

const SQS_RULE: &str = "queue ARN from the queue URL's region, account and name";

fn sqs(ctx: &Ctx) -> Option<String> {
    if let Some(url) = ctx.any(&["queueUrl", "QueueUrl"]) {
        return queue_arn_from_url(url, ctx.partition, ctx.region);
    }
    let name = ctx.any(&["queueName", "QueueName"])?;
    let owner = ctx
        .any(&["queueOwnerAWSAccountId", "QueueOwnerAWSAccountId"])
        .unwrap_or(ctx.account);
    Some(lit(&format!(
        "arn:{}:sqs:{}:{owner}:{name}",
        ctx.partition, ctx.region
    )))
}

/// `https://sqs.<region>.amazonaws.com/<account>/<name>` and the legacy and VPC-endpoint forms.
pub fn queue_arn_from_url(url: &str, partition: &str, default_region: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_once('/')?;
    let mut segments = path.trim_end_matches('/').split('/');
    let (account, name) = (segments.next()?, segments.next()?);
    if segments.next().is_some() || account.is_empty() || name.is_empty() {
        return None;
    }
    let region = host
        .split('.')
        .find(|label| looks_like_region(label))
        .unwrap_or(if host == "queue.amazonaws.com" {
            "us-east-1"
        } else {
            default_region
        });
    Some(lit(&format!(
        "arn:{partition}:sqs:{region}:{account}:{name}"
    )))
}

fn looks_like_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts.last().is_some_and(|n| n.parse::<u8>().is_ok())
}

// --- SNS ---

fn sns(ctx: &Ctx) -> Option<String> {
    if let Some(arn) = ctx.any(&["topicArn", "TopicArn", "targetArn", "TargetArn"]) {
        return Some(lit(arn));
    }
    ctx.s("name").map(|n| ctx.arn("sns", n))
}

// --- DynamoDB ---

fn dynamodb(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let table_arn = |t: &str| {
        if t.starts_with("arn:") {
            lit(t)
        } else {
            ctx.arn("dynamodb", &format!("table/{t}"))
        }
    };
    let step = |action: &str, candidates, action_rule, resource_rule| Step {
        action: action.to_string(),
        candidates,
        action_rule,
        resource_rule,
    };
    let event = ctx.call.event_name;
    match event {
        "TransactWriteItems" | "TransactGetItems" => {
            let items = ctx
                .req
                .get("transactItems")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut steps = Vec::new();
            for item in &items {
                let Some(obj) = item.as_object() else {
                    continue;
                };
                for (kind, body) in obj {
                    let action = match kind.to_ascii_lowercase().as_str() {
                        "put" => "PutItem",
                        "update" => "UpdateItem",
                        "delete" => "DeleteItem",
                        "conditioncheck" => "ConditionCheckItem",
                        "get" => "GetItem",
                        _ => continue,
                    };
                    if let Some(t) = body.get("tableName").and_then(Value::as_str) {
                        steps.push(step(
                            action,
                            vec![table_arn(t)],
                            "each item of a transaction needs its own item action",
                            "table from the transaction item",
                        ));
                    }
                }
            }
            steps
        }
        "BatchGetItem" | "BatchWriteItem" => {
            let tables: Vec<String> = match ctx.req.get("requestItems") {
                Some(Value::Object(map)) => map.keys().cloned().collect(),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.get("tableName").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            tables
                .iter()
                .map(|t| {
                    step(
                        action,
                        vec![table_arn(t)],
                        action_rule,
                        "tables of requestItems",
                    )
                })
                .collect()
        }
        "ExecuteStatement" | "BatchExecuteStatement" | "ExecuteTransaction" => {
            let statements: Vec<&str> = match event {
                "ExecuteStatement" => ctx.s("statement").into_iter().collect(),
                _ => ctx
                    .req
                    .get(if event == "ExecuteTransaction" {
                        "transactStatements"
                    } else {
                        "statements"
                    })
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.get("statement").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            statements
                .into_iter()
                .filter_map(partiql)
                .map(|(action, table, index)| match index {
                    Some(index) => step(
                        action,
                        vec![
                            lit(&format!("{}/index/{index}", table_arn(&table))),
                            table_arn(&table),
                        ],
                        "PartiQL statements need the PartiQL action of their verb",
                        "index named in the statement",
                    ),
                    None => step(
                        action,
                        vec![table_arn(&table)],
                        "PartiQL statements need the PartiQL action of their verb",
                        "table named in the statement",
                    ),
                })
                .collect()
        }
        _ => {
            let Some(table) = ctx.s("tableName") else {
                return vec![step(
                    action,
                    Vec::new(),
                    action_rule,
                    "resources[] of the event",
                )];
            };
            let mut candidates = Vec::new();
            if let Some(index) = ctx.s("indexName") {
                candidates.push(if table.starts_with("arn:") {
                    lit(&format!("{table}/index/{index}"))
                } else {
                    ctx.arn("dynamodb", &format!("table/{table}/index/{index}"))
                });
            }
            candidates.push(table_arn(table));
            let rule = if candidates.len() == 2 {
                "index ARN from tableName and indexName"
            } else {
                "table ARN from tableName"
            };
            vec![step(action, candidates, action_rule, rule)]
        }
    }
}

/// The PartiQL action and table of a statement (`SELECT … FROM "orders"` → PartiQLSelect, orders).
fn partiql(statement: &str) -> Option<(&'static str, String, Option<String>)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let verb = words.first()?.to_ascii_uppercase();
    let (action, after) = match verb.as_str() {
        "SELECT" => ("PartiQLSelect", "FROM"),
        "INSERT" => ("PartiQLInsert", "INTO"),
        "DELETE" => ("PartiQLDelete", "FROM"),
        "UPDATE" => ("PartiQLUpdate", "UPDATE"),
        _ => return None,
    };
    let pos = words.iter().position(|w| w.eq_ignore_ascii_case(after))?;
    let target = words.get(pos + 1)?;
    // `"table"` or `"table"."index"`: a statement on an index is authorized on the index ARN.
    let mut parts = target
        .splitn(2, '.')
        .map(|p| p.trim_matches(|c| c == '"' || c == '\''));
    let table = parts.next().filter(|t| !t.is_empty())?;
    let index = parts.next().filter(|i| !i.is_empty());
    Some((action, table.to_string(), index.map(str::to_string)))
}

/// The only wildcards the rules write into a resource, each at the end of an ARN of one service
/// (every name taken from a request is escaped): a secret named without its ARN, and a log
/// group's streams.
pub const DELIBERATE_WILDCARDS: &[(&str, &str)] = &[
    ("secretsmanager", SECRET_SUFFIX),
    ("logs", LOG_GROUP_STREAMS),
];

/// The six random characters Secrets Manager appends to a secret's name in its ARN.
const SECRET_SUFFIX: &str = "-??????";

/// A log group's ARN as IAM evaluates the actions on its streams.
const LOG_GROUP_STREAMS: &str = ":*";

/// `resource` (policy syntax) of an action of `service` without its deliberate wildcard, if it
/// is a name these rules could have written: literal text (`*`, `?` and `$` escaped) but for the
/// deliberate wildcard of its service. None for a policy variable or a wildcard anywhere else,
/// which would widen a grant beyond what was called.
pub fn literal_part<'r>(service: &str, resource: &'r str) -> Option<&'r str> {
    let body = DELIBERATE_WILDCARDS
        .iter()
        .filter(|(s, _)| *s == service)
        .find_map(|(_, suffix)| resource.strip_suffix(suffix))
        .unwrap_or(resource);
    let literal = lit(&unescape_literal(body)) == body;
    literal.then_some(body)
}

// --- Secrets Manager ---

const SECRET_RULE: &str =
    "secret ARN; a secret named without its ARN gets the six-character suffix as `-??????`";

fn secret(ctx: &Ctx) -> Vec<String> {
    let Some(id) = ctx.any(&["secretId", "SecretId", "name"]) else {
        return Vec::new();
    };
    if id.starts_with("arn:") {
        return vec![lit(id)];
    }
    // resources[] carries the exact ARN when CloudTrail resolved the name.
    let exact = ctx.call.resources.iter().map(|r| r.arn).find(|arn| {
        arn.contains(":secret:")
            && arn
                .rsplit_once(":secret:")
                .and_then(|(_, n)| n.rsplit_once('-'))
                .is_some_and(|(name, suffix)| name == id && suffix.len() == 6)
    });
    match exact {
        Some(arn) => vec![lit(arn)],
        None => vec![format!(
            "{}{SECRET_SUFFIX}",
            ctx.arn("secretsmanager", &format!("secret:{id}"))
        )],
    }
}

// --- KMS ---

fn kms(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let event_keys: Vec<&str> = ctx
        .call
        .resources
        .iter()
        .map(|r| r.arn)
        .filter(|a| a.contains(":key/"))
        .collect();
    let resolve = |key_id: Option<&str>| -> Vec<String> {
        match key_id {
            Some(id) if id.starts_with("arn:") && id.contains(":key/") => vec![lit(id)],
            Some(id) if id.starts_with("arn:") => {
                // An alias ARN: the event's resources[] shows the key it resolved to.
                event_keys.iter().map(|k| lit(k)).chain([lit(id)]).collect()
            }
            Some(id) if id.starts_with("alias/") => event_keys
                .iter()
                .map(|k| lit(k))
                .chain([ctx.arn("kms", id)])
                .collect(),
            Some(id) => {
                let by_id: Vec<String> = event_keys
                    .iter()
                    .filter(|k| k.ends_with(&format!("/{id}")))
                    .map(|k| lit(k))
                    .collect();
                if by_id.is_empty() {
                    vec![ctx.arn("kms", &format!("key/{id}"))]
                } else {
                    by_id
                }
            }
            None => event_keys.iter().map(|k| lit(k)).collect(),
        }
    };
    if ctx.call.event_name == "ReEncrypt" {
        let to = resolve(ctx.s("destinationKeyId"));
        let from = match ctx.s("sourceKeyId") {
            Some(id) => resolve(Some(id)),
            None => event_keys
                .iter()
                .map(|k| lit(k))
                .filter(|k| !to.contains(k))
                .collect(),
        };
        let rule = "ReEncrypt needs ReEncryptFrom on the source key and ReEncryptTo on the target";
        return [("ReEncryptFrom", from), ("ReEncryptTo", to)]
            .into_iter()
            .flat_map(|(action, keys)| {
                keys.into_iter().take(1).map(move |k| Step {
                    action: action.to_string(),
                    candidates: vec![k],
                    action_rule: rule,
                    resource_rule: "key from the request, resolved through resources[]",
                })
            })
            .collect();
    }
    vec![Step {
        action: action.to_string(),
        candidates: resolve(ctx.s("keyId")),
        action_rule,
        resource_rule: "key ARN (aliases resolved through resources[])",
    }]
}

// --- Logs ---

const LOGS_RULE: &str =
    "log stream ARN, or the log group ARN with `:*` as IAM evaluates group actions";

fn logs(ctx: &Ctx) -> Vec<String> {
    let Some(group) = ctx.s("logGroupName") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(stream) = ctx.s("logStreamName") {
        out.push(ctx.arn("logs", &format!("log-group:{group}:log-stream:{stream}")));
    }
    out.push(format!(
        "{}{LOG_GROUP_STREAMS}",
        ctx.arn("logs", &format!("log-group:{group}"))
    ));
    out
}

// --- ECR, Lambda, and services named by one parameter ---

fn ecr(ctx: &Ctx) -> Option<String> {
    let repo = ctx.s("repositoryName")?;
    let registry = ctx.s("registryId").unwrap_or(ctx.account);
    Some(lit(&format!(
        "arn:{}:ecr:{}:{registry}:repository/{repo}",
        ctx.partition, ctx.region
    )))
}

/// The function ARN, qualified (`function:f:live`) when the call names a version or alias, either
/// in the name (`f:live`, a full or partial ARN) or in the separate `qualifier` parameter.
fn lambda(ctx: &Ctx) -> Option<String> {
    let f = ctx.s("functionName")?;
    let base = if f.starts_with("arn:") {
        f.to_string()
    } else if let Some((account, name)) = f.split_once(":function:") {
        // A partial ARN `<account>:function:<name>`.
        format!(
            "arn:{}:lambda:{}:{account}:function:{name}",
            ctx.partition, ctx.region
        )
    } else {
        format!(
            "arn:{}:lambda:{}:{}:function:{f}",
            ctx.partition, ctx.region, ctx.account
        )
    };
    let qualified = base
        .split_once(":function:")
        .is_some_and(|(_, name)| name.contains(':'));
    match ctx.s("qualifier") {
        Some(q) if !qualified && q != "$LATEST" => Some(lit(&format!("{base}:{q}"))),
        _ => Some(lit(&base)),
    }
}

fn named(
    ctx: &Ctx,
    arn_keys: &[&str],
    name_keys: &[&str],
    service: &str,
    kind: &str,
) -> Vec<String> {
    if let Some(arn) = ctx.any(arn_keys) {
        return vec![lit(arn)];
    }
    ctx.any(name_keys)
        .map(|n| ctx.arn(service, &format!("{kind}{n}")))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls() {
        let arn = |u| queue_arn_from_url(u, "aws", "eu-west-1");
        assert_eq!(
            arn("https://sqs.eu-west-1.amazonaws.com/444455556666/shared-audit").as_deref(),
            Some("arn:aws:sqs:eu-west-1:444455556666:shared-audit")
        );
        assert_eq!(
            arn("https://queue.amazonaws.com/1/q").as_deref(),
            Some("arn:aws:sqs:us-east-1:1:q")
        );
        assert_eq!(
            arn("https://ap-southeast-2.queue.amazonaws.com/1/q.fifo").as_deref(),
            Some("arn:aws:sqs:ap-southeast-2:1:q.fifo")
        );
        assert_eq!(
            arn("https://vpce-0a.sqs.us-gov-west-1.vpce.amazonaws.com/1/q").as_deref(),
            Some("arn:aws:sqs:us-gov-west-1:1:q")
        );
        assert_eq!(arn("https://sqs.eu-west-1.amazonaws.com/1"), None);
    }

    #[test]
    fn copy_sources() {
        assert_eq!(
            copy_source("/billing-reports/2026/x%20y.csv?versionId=3"),
            Some(("billing-reports".into(), "2026/x y.csv".into()))
        );
        assert_eq!(copy_source("bucket"), None);
    }

    #[test]
    fn partiql_statements() {
        assert_eq!(
            partiql(r#"SELECT * FROM "orders" WHERE pk = ?"#),
            Some(("PartiQLSelect", "orders".to_string(), None))
        );
        assert_eq!(
            partiql(r#"select * from "orders"."by-customer""#),
            Some((
                "PartiQLSelect",
                "orders".to_string(),
                Some("by-customer".to_string())
            ))
        );
        assert_eq!(
            partiql("INSERT INTO t VALUE {'a': 1}"),
            Some(("PartiQLInsert", "t".to_string(), None))
        );
        assert_eq!(partiql("EXISTS(SELECT 1)"), None);
    }
}
