//! One proxied request → the AWS operation it calls and its resource parameters, shaped like
//! CloudTrail's `requestParameters` so that the CloudTrail mapping applies unchanged.
//!
//! Decoding happens in two steps: [`head`] reads only the request line and headers (is it an AWS
//! call, which protocol, does decoding need the body?), then [`decode`] adds the body when it was
//! needed and small enough. Only resource parameters survive decoding (names, ARNs, URLs, ids):
//! values, message bodies, items and anything credential-like are dropped here, so nothing later
//! can store them.

use super::s3;
use serde_json::{Map, Value};

/// What the request line and headers say.
pub struct RequestView<'a> {
    pub method: &'a http::Method,
    /// Without the port.
    pub host: &'a str,
    /// As sent: percent-encoded.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
}

/// The SigV4 credential scope: who signed for which service in which region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The signing name (`ssm`, `s3`, `execute-api`), which is also the CloudTrail event source
    /// before `.amazonaws.com`.
    pub service: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// `X-Amz-Target: Prefix.Operation`, JSON body.
    Json { operation: String },
    /// Form body (or query string) with `Action=`.
    Query,
    /// S3's REST-XML: operation from method, path and query.
    S3,
    /// REST-JSON: operation from method and path (Lambda).
    RestJson,
    /// Smithy RPC v2: `/service/<S>/operation/<Op>`, CBOR body (not decoded).
    RpcV2 { operation: String },
}

/// What [`head`] found: enough to decide whether to buffer the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub scope: Scope,
    pub protocol: Protocol,
    pub needs_body: bool,
}

/// A decoded call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub scope: Scope,
    pub operation: String,
    /// CloudTrail-shaped resource parameters; `None` when the body they are in was not read
    /// (too large), so the resources are unknown.
    pub params: Option<Value>,
}

/// Why a signed request was not decoded to an operation: recorded as unmapped, never guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecoded {
    pub scope: Scope,
    pub reason: String,
}

/// The longest value kept from a request: resource names are far shorter (S3 keys: 1024 bytes).
const MAX_VALUE: usize = 2048;
/// The most names kept from one list parameter.
const MAX_LIST: usize = 1000;

/// Reads the request line and headers. `None` when the request is not SigV4-signed: it does not
/// use the role's credentials, so it proves nothing about the role's permissions.
pub fn head(req: &RequestView) -> Option<Head> {
    let scope = scope(req)?;
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header("content-type").unwrap_or("");
    let protocol = if let Some(target) = header("x-amz-target") {
        Protocol::Json {
            operation: target.rsplit('.').next().unwrap_or(target).to_string(),
        }
    } else if let Some(op) = rpc_v2_operation(req.path) {
        Protocol::RpcV2 { operation: op }
    } else if scope.service == "s3" {
        Protocol::S3
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || query_pairs(req.query.unwrap_or("")).any(|(k, _)| k == "Action")
    {
        Protocol::Query
    } else {
        Protocol::RestJson
    };
    let needs_body = match &protocol {
        Protocol::Json { .. } => true,
        Protocol::Query => !query_pairs(req.query.unwrap_or("")).any(|(k, _)| k == "Action"),
        Protocol::S3 => s3::needs_body(req),
        Protocol::RestJson | Protocol::RpcV2 { .. } => false,
    };
    Some(Head {
        scope,
        protocol,
        needs_body,
    })
}

/// Decodes the call; `body` is `None` when it was needed but not read.
pub fn decode(head: &Head, req: &RequestView, body: Option<&[u8]>) -> Result<Call, Undecoded> {
    let scope = head.scope.clone();
    let undecoded = |reason: String| Undecoded {
        scope: scope.clone(),
        reason,
    };
    let call = |operation: String, params: Option<Value>| Call {
        scope: scope.clone(),
        operation,
        params,
    };
    match &head.protocol {
        Protocol::Json { operation } => Ok(call(operation.clone(), body.and_then(json_body))),
        Protocol::Query => {
            let text = if head.needs_body {
                match body {
                    Some(b) => String::from_utf8_lossy(b).into_owned(),
                    None => {
                        return Err(undecoded(
                            "query-protocol request whose form body was too large to read"
                                .to_string(),
                        ))
                    }
                }
            } else {
                req.query.unwrap_or("").to_string()
            };
            let (action, params) = form_params(&text);
            match action {
                Some(a) => Ok(call(a, Some(params))),
                None => Err(undecoded(
                    "query-protocol request without Action".to_string(),
                )),
            }
        }
        Protocol::S3 => s3::decode(req, body)
            .map(|(op, params)| call(op, params))
            .map_err(undecoded),
        Protocol::RestJson => rest_json(&scope.service, req)
            .map(|(op, params)| call(op, Some(params)))
            .ok_or_else(|| {
                undecoded(format!(
                    "{} {} request of service {}: REST operation not decoded",
                    req.method,
                    path_shape(req.path),
                    scope.service
                ))
            }),
        // The CBOR body is not read: the operation is known, its resources are not.
        Protocol::RpcV2 { operation } => Ok(call(operation.clone(), None)),
    }
}

/// The credential scope from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
/// SERVICE/aws4_request, …` or a presigned URL's `X-Amz-Credential`. SigV4a scopes carry no
/// region (`AKID/DATE/SERVICE/aws4_request`): it comes from `X-Amz-Region-Set` or the host.
pub fn scope(req: &RequestView) -> Option<Scope> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let credential: String = match header("authorization") {
        Some(auth) if auth.starts_with("AWS4-") => {
            let at = auth.find("Credential=")? + "Credential=".len();
            auth[at..]
                .split([',', ' '])
                .next()
                .unwrap_or("")
                .to_string()
        }
        Some(_) => return None,
        None => {
            let raw = query_pairs(req.query.unwrap_or(""))
                .find(|(k, _)| k.eq_ignore_ascii_case("X-Amz-Credential"))?
                .1;
            percent_decode(raw)
        }
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let (region, service) = match parts.as_slice() {
        [_, _, region, service, "aws4_request"] => (region.to_string(), service.to_string()),
        [_, _, service, "aws4_request"] => {
            let region = header("x-amz-region-set")
                .and_then(|r| r.split(',').next())
                .map(str::trim)
                .filter(|r| !r.is_empty() && *r != "*")
                .map(str::to_string)
                .or_else(|| region_from_host(req.host))
                .unwrap_or_else(|| "*".to_string());
            (region, service.to_string())
        }
        _ => return None,
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
    };
    (valid(&region) && valid(&service)).then_some(Scope { service, region })
}

/// The region label of an AWS host name (`ssm.eu-west-1.amazonaws.com`).
pub fn region_from_host(host: &str) -> Option<String> {
    host.split('.')
        .find(|label| {
            let parts: Vec<&str> = label.split('-').collect();
            parts.len() >= 3
                && parts[0].len() == 2
                && parts[0].bytes().all(|b| b.is_ascii_lowercase())
                && parts.last().is_some_and(|n| n.parse::<u8>().is_ok())
        })
        .map(str::to_string)
}

fn rpc_v2_operation(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/service/")?;
    let (_, op) = rest.split_once("/operation/")?;
    let op = op.trim_end_matches('/');
    (!op.is_empty() && !op.contains('/')).then(|| op.to_string())
}

// --- parameters ---

/// Member names (PascalCase in the JSON and query protocols) that name a resource.
fn names_resource(member: &str) -> bool {
    let lower = member.to_ascii_lowercase();
    // Identifiers of credentials and one-time tokens are not resources, and are never kept.
    if ["accesskey", "token", "password", "signature", "credential"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return false;
    }
    [
        "name",
        "arn",
        "id",
        "url",
        "path",
        "qualifier",
        "identifier",
        "accountid",
    ]
    .iter()
    .any(|s| lower.ends_with(s))
}

/// List members holding resource names (`Names`, `ResourceArns`).
fn names_resources(member: &str) -> bool {
    let lower = member.to_ascii_lowercase();
    !lower.contains("accesskey")
        && ["names", "arns", "ids", "urls"]
            .iter()
            .any(|s| lower.ends_with(s))
}

/// CloudTrail writes request members in lower camel case (`TableName` → `tableName`).
fn lower_camel(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn short(s: &str) -> Option<Value> {
    (!s.is_empty() && s.len() <= MAX_VALUE).then(|| Value::String(s.to_string()))
}

/// The resource parameters of a JSON-protocol body; `None` (resources unknown) when the body
/// cannot be read as a JSON object: nested deeper than serde_json's recursion limit, cut short,
/// not JSON at all. Reading nothing from such a body is not the same as an operation that names
/// no resource, which the mapping grants on `*`.
fn json_body(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        // An empty body is an operation without input.
        return Some(Value::Object(Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Some(json_params(&v)),
        _ => None,
    }
}

/// The resource parameters of a JSON-protocol body, CloudTrail-shaped.
pub fn json_params(body: &Value) -> Value {
    let mut out = Map::new();
    let Some(obj) = body.as_object() else {
        return Value::Object(out);
    };
    for (member, value) in obj {
        let key = lower_camel(member);
        let kept = match (member.as_str(), value) {
            ("RequestItems", Value::Object(tables)) => Some(Value::Object(
                tables
                    .keys()
                    .take(MAX_LIST)
                    .map(|t| (t.clone(), Value::Object(Map::new())))
                    .collect(),
            )),
            ("TransactItems", Value::Array(items)) => Some(Value::Array(
                items.iter().take(MAX_LIST).map(transact_item).collect(),
            )),
            ("Statement", Value::String(s)) => short(&statement_head(s)),
            ("Statements" | "TransactStatements", Value::Array(items)) => Some(Value::Array(
                items
                    .iter()
                    .take(MAX_LIST)
                    .filter_map(|i| i.get("Statement").and_then(Value::as_str))
                    .map(|s| serde_json::json!({ "statement": statement_head(s) }))
                    .collect(),
            )),
            (m, Value::String(s)) if names_resource(m) => short(s),
            (m, Value::Array(items)) if names_resources(m) => Some(Value::Array(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(short)
                    .take(MAX_LIST)
                    .collect(),
            )),
            _ => None,
        };
        if let Some(v) = kept {
            out.insert(key, v);
        }
    }
    Value::Object(out)
}

/// `{"Put": {"TableName": "t", "Item": …}}` → `{"put": {"tableName": "t"}}`.
fn transact_item(item: &Value) -> Value {
    let mut out = Map::new();
    if let Some(obj) = item.as_object() {
        for (kind, body) in obj {
            if let Some(t) = body.get("TableName").and_then(Value::as_str) {
                out.insert(
                    lower_camel(kind),
                    serde_json::json!({ "tableName": t.chars().take(MAX_VALUE).collect::<String>() }),
                );
            }
        }
    }
    Value::Object(out)
}

/// A PartiQL statement up to the table it names: the values after it are data.
fn statement_head(statement: &str) -> String {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let end = words
        .iter()
        .position(|w| {
            ["FROM", "INTO", "UPDATE"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        })
        .map_or(1, |p| p + 2)
        .min(words.len());
    words[..end].join(" ")
}

/// `Action` and the top-level resource parameters of a query-protocol form.
pub fn form_params(form: &str) -> (Option<String>, Value) {
    let mut action = None;
    let mut out = Map::new();
    for (k, v) in query_pairs(form) {
        let k = percent_decode(k);
        if k == "Action" {
            action = Some(percent_decode(v)).filter(|a| !a.is_empty());
        } else if !k.contains('.') && names_resource(&k) {
            if let Some(v) = short(&percent_decode(v)) {
                out.insert(lower_camel(&k), v);
            }
        }
    }
    (action, Value::Object(out))
}

/// REST-JSON operations by path, for the services decoded here (Lambda).
fn rest_json(service: &str, req: &RequestView) -> Option<(String, Value)> {
    if service != "lambda" {
        return None;
    }
    let segments: Vec<String> = req
        .path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method.as_str();
    let op = match (method, seg.as_slice()) {
        ("POST", [_, "functions", _, "invocations"]) => "Invoke",
        ("POST", [_, "functions", _, "invoke-async"]) => "InvokeAsync",
        ("GET", [_, "functions"]) => "ListFunctions",
        ("GET", [_, "functions", _]) => "GetFunction",
        ("DELETE", [_, "functions", _]) => "DeleteFunction",
        ("GET", [_, "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", [_, "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("PUT", [_, "functions", _, "code"]) => "UpdateFunctionCode",
        ("GET", [_, "functions", _, "versions"]) => "ListVersionsByFunction",
        ("POST", [_, "functions", _, "versions"]) => "PublishVersion",
        ("GET", [_, "functions", _, "aliases"]) => "ListAliases",
        ("GET", [_, "functions", _, "policy"]) => "GetPolicy",
        ("GET", [_, "functions", _, "concurrency"]) => "GetFunctionConcurrency",
        ("GET", [_, "functions", _, "url"]) => "GetFunctionUrlConfig",
        ("GET", [_, "account-settings"]) => "GetAccountSettings",
        _ => return None,
    };
    let mut params = Map::new();
    if let Some(name) = seg.get(2).filter(|_| seg.get(1) == Some(&"functions")) {
        params.insert("functionName".into(), short(name)?);
    }
    if let Some((_, q)) = query_pairs(req.query.unwrap_or("")).find(|(k, _)| *k == "Qualifier") {
        if let Some(q) = short(&percent_decode(q)) {
            params.insert("qualifier".into(), q);
        }
    }
    Some((op.to_string(), Value::Object(params)))
}

/// The path with every segment but the first replaced by `…`: says what kind of request it was
/// without naming resources.
fn path_shape(path: &str) -> String {
    let mut segments = path.trim_start_matches('/').split('/');
    match segments.next() {
        Some(first) if !first.is_empty() => {
            let rest = segments.count();
            format!("/{}{}", first, "/…".repeat(rest))
        }
        _ => "/".to_string(),
    }
}

/// `a=1&b=2` → (`a`, `1`), (`b`, `2`), still percent-encoded.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Form decoding: `+` is a space (an encoded plus is `%2B`).
pub fn percent_decode(s: &str) -> String {
    crate::mapping::resources::percent_decode(&s.replace('+', "%20"))
}

/// Path decoding: `+` is itself.
pub fn percent_decode_path(s: &str) -> String {
    crate::mapping::resources::percent_decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, Method};

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261201/eu-west-1/SERVICE/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=0123456789abcdef";

    fn headers(service: &str, pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&AUTH.replace("SERVICE", service)).unwrap(),
        );
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn run(
        method: Method,
        host: &str,
        path: &str,
        query: Option<&str>,
        h: &HeaderMap,
        body: &[u8],
    ) -> Result<Call, Undecoded> {
        let view = RequestView {
            method: &method,
            host,
            path,
            query,
            headers: h,
        };
        let head = head(&view).expect("signed");
        decode(&head, &view, head.needs_body.then_some(body))
    }

    #[test]
    fn json_protocol_keeps_resources_and_drops_values() {
        // boto3 1.43 SSM PutParameter, as sent.
        let h = headers(
            "ssm",
            &[
                ("x-amz-target", "AmazonSSM.PutParameter"),
                ("content-type", "application/x-amz-json-1.1"),
            ],
        );
        let call = run(
            Method::POST,
            "ssm.eu-west-1.amazonaws.com",
            "/",
            None,
            &h,
            br#"{"Name": "/app/db-password", "Value": "hunter2", "Type": "SecureString", "KeyId": "alias/app"}"#,
        )
        .unwrap();
        assert_eq!(call.operation, "PutParameter");
        assert_eq!(
            call.scope,
            Scope {
                service: "ssm".into(),
                region: "eu-west-1".into()
            }
        );
        assert_eq!(
            call.params.unwrap(),
            serde_json::json!({"name": "/app/db-password", "keyId": "alias/app"})
        );
    }

    #[test]
    fn json_protocol_of_sqs_dynamodb_secrets_and_kms() {
        let cases: &[(&str, &str, &[u8], Value)] = &[
            (
                "sqs",
                "AmazonSQS.SendMessage",
                br#"{"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs", "MessageBody": "secret payload"}"#,
                serde_json::json!({"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"}),
            ),
            (
                "dynamodb",
                "DynamoDB_20120810.Query",
                br#"{"TableName": "orders", "IndexName": "by-customer", "KeyConditionExpression": "c = :c", "ExpressionAttributeValues": {":c": {"S": "42"}}}"#,
                serde_json::json!({"tableName": "orders", "indexName": "by-customer"}),
            ),
            (
                "dynamodb",
                "DynamoDB_20120810.BatchWriteItem",
                br#"{"RequestItems": {"orders": [{"PutRequest": {"Item": {"id": {"S": "1"}}}}], "audit": []}}"#,
                serde_json::json!({"requestItems": {"orders": {}, "audit": {}}}),
            ),
            (
                "dynamodb",
                "DynamoDB_20120810.TransactWriteItems",
                br#"{"TransactItems": [{"Put": {"TableName": "orders", "Item": {"id": {"S": "1"}}}}, {"ConditionCheck": {"TableName": "stock", "Key": {}}}]}"#,
                serde_json::json!({"transactItems": [{"put": {"tableName": "orders"}}, {"conditionCheck": {"tableName": "stock"}}]}),
            ),
            (
                "dynamodb",
                "DynamoDB_20120810.ExecuteStatement",
                br#"{"Statement": "INSERT INTO \"orders\" VALUE {'id': 'secret'}"}"#,
                serde_json::json!({"statement": "INSERT INTO \"orders\""}),
            ),
            (
                "secretsmanager",
                "secretsmanager.GetSecretValue",
                br#"{"SecretId": "app/token"}"#,
                serde_json::json!({"secretId": "app/token"}),
            ),
            (
                "secretsmanager",
                "secretsmanager.CreateSecret",
                br#"{"Name": "app/token", "SecretString": "s3cr3t", "ClientRequestToken": "abc"}"#,
                serde_json::json!({"name": "app/token"}),
            ),
            (
                "kms",
                "TrentService.ReEncrypt",
                br#"{"CiphertextBlob": "AQID", "SourceKeyId": "alias/a", "DestinationKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}"#,
                serde_json::json!({"sourceKeyId": "alias/a", "destinationKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
            ),
            (
                "ssm",
                "AmazonSSM.GetParameters",
                br#"{"Names": ["/a", "/b"], "WithDecryption": true}"#,
                serde_json::json!({"names": ["/a", "/b"]}),
            ),
        ];
        for (service, target, body, want) in cases {
            let h = headers(
                service,
                &[
                    ("x-amz-target", target),
                    ("content-type", "application/x-amz-json-1.0"),
                ],
            );
            let call = run(Method::POST, "localhost", "/", None, &h, body).unwrap();
            assert_eq!(call.operation, target.rsplit('.').next().unwrap());
            assert_eq!(call.params.as_ref(), Some(want), "{target}");
        }
    }

    /// The attacker sends an SSM GetParameter whose body nests deeper than serde_json parses; the
    /// user sees the call recorded with an unknown resource; no grant on `*` comes out of it.
    #[test]
    fn a_body_too_deep_or_broken_to_parse_leaves_the_resources_unknown() {
        let h = headers(
            "ssm",
            &[
                ("x-amz-target", "AmazonSSM.GetParameter"),
                ("content-type", "application/x-amz-json-1.1"),
            ],
        );
        let deep = format!(
            r#"{{"Name": "/app/flag", "X": {}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(
            serde_json::from_str::<Value>(&deep).is_err(),
            "deeper than the limit"
        );
        let bodies: [&[u8]; 5] = [
            deep.as_bytes(),
            br#"{"Name": "/app/flag""#,
            b"\xff\xfe not json",
            br#"["/app/flag"]"#,
            b"null",
        ];
        for body in bodies {
            let call = run(
                Method::POST,
                "ssm.eu-west-1.amazonaws.com",
                "/",
                None,
                &h,
                body,
            );
            assert_eq!(
                call.unwrap().params,
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // An empty body is an operation without input: nothing unknown about it.
        let call = run(
            Method::POST,
            "ssm.eu-west-1.amazonaws.com",
            "/",
            None,
            &h,
            b" \n",
        );
        assert_eq!(call.unwrap().params, Some(serde_json::json!({})));
    }

    #[test]
    fn query_protocol() {
        let h = headers(
            "sns",
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
        );
        let call = run(
            Method::POST,
            "sns.eu-west-1.amazonaws.com",
            "/",
            None,
            &h,
            b"Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A123456789012%3Aorders&Message=hello+world&MessageAttributes.entry.1.Name=x",
        )
        .unwrap();
        assert_eq!(call.operation, "Publish");
        assert_eq!(
            call.params.unwrap(),
            serde_json::json!({"topicArn": "arn:aws:sns:eu-west-1:123456789012:orders"})
        );
        let h = headers(
            "sts",
            &[("content-type", "application/x-www-form-urlencoded")],
        );
        let call = run(
            Method::POST,
            "sts.amazonaws.com",
            "/",
            None,
            &h,
            b"Action=GetCallerIdentity&Version=2011-06-15",
        )
        .unwrap();
        assert_eq!(call.operation, "GetCallerIdentity");
        // Query in the URL of a GET.
        let h = headers("sqs", &[]);
        let call = run(
            Method::GET,
            "sqs.eu-west-1.amazonaws.com",
            "/123456789012/jobs",
            Some("Action=ReceiveMessage&QueueUrl=https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F123456789012%2Fjobs"),
            &h,
            b"",
        )
        .unwrap();
        assert_eq!(call.operation, "ReceiveMessage");
        assert_eq!(
            call.params.unwrap()["queueUrl"],
            "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"
        );
        let h = headers(
            "sns",
            &[("content-type", "application/x-www-form-urlencoded")],
        );
        assert!(run(Method::POST, "sns", "/", None, &h, b"Version=1").is_err());
    }

    #[test]
    fn lambda_rest_json() {
        let h = headers("lambda", &[("content-type", "application/json")]);
        let call = run(
            Method::POST,
            "lambda.eu-west-1.amazonaws.com",
            "/2015-03-31/functions/resize/invocations",
            Some("Qualifier=live"),
            &h,
            b"{\"image\": \"secret\"}",
        )
        .unwrap();
        assert_eq!(call.operation, "Invoke");
        assert_eq!(
            call.params.unwrap(),
            serde_json::json!({"functionName": "resize", "qualifier": "live"})
        );
        let unknown = run(
            Method::PATCH,
            "lambda.eu-west-1.amazonaws.com",
            "/2015-03-31/functions/resize/secret-thing",
            None,
            &h,
            b"",
        )
        .unwrap_err();
        assert!(
            unknown.reason.contains("PATCH /2015-03-31/…/…/…"),
            "{}",
            unknown.reason
        );
    }

    #[test]
    fn unsigned_requests_and_other_signatures_are_not_aws_calls() {
        let method = Method::GET;
        let mut h = HeaderMap::new();
        let view = |h: &HeaderMap| {
            head(&RequestView {
                method: &method,
                host: "example.com",
                path: "/",
                query: None,
                headers: h,
            })
        };
        assert!(view(&h).is_none());
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert!(view(&h).is_none());
        h.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=garbage"),
        );
        assert!(view(&h).is_none());
    }

    #[test]
    fn presigned_urls_and_sigv4a_scopes() {
        let h = HeaderMap::new();
        let method = Method::GET;
        let view = RequestView {
            method: &method,
            host: "b.s3.eu-west-1.amazonaws.com",
            path: "/k",
            query: Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20261201%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature=00"),
            headers: &h,
        };
        assert_eq!(
            scope(&view),
            Some(Scope {
                service: "s3".into(),
                region: "eu-west-1".into()
            })
        );
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-ECDSA-P256-SHA256 Credential=AKID/20261201/s3/aws4_request, SignedHeaders=host, Signature=00",
            ),
        );
        h.insert("x-amz-region-set", HeaderValue::from_static("us-west-2"));
        let view = RequestView {
            headers: &h,
            ..view
        };
        assert_eq!(scope(&view).unwrap().region, "us-west-2");
    }

    #[test]
    fn rpc_v2_cbor_has_an_operation_and_unknown_resources() {
        let h = headers(
            "monitoring",
            &[
                ("smithy-protocol", "rpc-v2-cbor"),
                ("content-type", "application/cbor"),
            ],
        );
        let call = run(
            Method::POST,
            "monitoring.eu-west-1.amazonaws.com",
            "/service/GraniteServiceVersion20100801/operation/PutMetricData",
            None,
            &h,
            b"\xa0",
        )
        .unwrap();
        assert_eq!(call.operation, "PutMetricData");
        assert_eq!(call.params, None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(percent_decode_path("a%2Fb+c"), "a/b+c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
