//! One test per exception of DOMAIN.md §3 and per ARN rule of §4, driving the real CloudTrail
//! decoder and the real mapper on small events written inline. Every grant any test sees is also
//! checked against the embedded catalog: the action exists, and the ARN is one of its resource
//! types (or the action takes none and the resource is `*`).

use policy_miner::catalog;
use policy_miner::mapping::{map_call, Grant, Mapped};
use policy_miner::policy::eval::{evaluate, Context, Decision, Request};
use policy_miner::policy::{PolicyDocument, Statement};
use policy_miner::source::cloudtrail::decode;
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";

/// A successful call by an ECS task role session in eu-west-1.
fn event(source: &str, name: &str, req: Value) -> Value {
    in_partition("aws", "eu-west-1", source, name, req)
}

fn in_partition(partition: &str, region: &str, source: &str, name: &str, req: Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "eventID": "0f1e2d3c-0000-4000-8000-000000000001",
        "eventTime": "2026-11-02T10:00:00Z",
        "eventSource": format!("{source}.amazonaws.com"),
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "10.0.1.17",
        "recipientAccountId": ACCOUNT,
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:task-1",
            "arn": format!("arn:{partition}:sts::{ACCOUNT}:assumed-role/app/task-1"),
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": format!("arn:{partition}:iam::{ACCOUNT}:role/app"),
                "accountId": ACCOUNT,
                "userName": "app"
            }}
        },
        "requestParameters": req
    })
}

fn with(mut ev: Value, key: &str, value: Value) -> Value {
    ev[key] = value;
    ev
}

fn map(ev: &Value) -> Mapped {
    let bytes = serde_json::to_vec(ev).unwrap();
    let mut out = None;
    decode(&bytes, &mut |call| {
        out = Some(map_call(call, catalog::embedded()))
    })
    .unwrap();
    out.expect("the decoder yields the event")
}

/// The grants of a call, each checked against the catalog.
fn grants(ev: &Value) -> Vec<Grant> {
    match map(ev) {
        Mapped::Grants(g) => {
            assert!(!g.is_empty(), "no grants for {ev}");
            g.iter().for_each(assert_valid);
            g
        }
        other => panic!("expected grants for {}, got {other:?}", ev["eventName"]),
    }
}

fn assert_valid(g: &Grant) {
    let action = catalog::embedded()
        .action(&g.action)
        .unwrap_or_else(|| panic!("{} is not in the catalog", g.action));
    assert_eq!(action.full_name(), g.action, "canonical case");
    if g.resource == "*" {
        return;
    }
    assert!(
        policy_miner::mapping::accepts(&action, &g.resource),
        "{} does not accept {}",
        g.action,
        g.resource
    );
}

/// (action, resource) pairs, sorted.
fn pairs(ev: &Value) -> Vec<(String, String)> {
    let mut out: Vec<_> = grants(ev)
        .into_iter()
        .map(|g| (g.action, g.resource))
        .collect();
    out.sort();
    out
}

fn p(action: &str, resource: &str) -> (String, String) {
    (action.to_string(), resource.to_string())
}

// --- §3: event name ≠ action ---

#[test]
fn s3_listing_and_head_bucket_need_list_bucket_on_the_bucket() {
    for (name, req) in [
        (
            "ListObjects",
            json!({"bucketName": "orders", "prefix": "in/"}),
        ),
        (
            "ListObjectsV2",
            json!({"bucketName": "orders", "list-type": "2", "prefix": "in/"}),
        ),
        ("HeadBucket", json!({"bucketName": "orders"})),
    ] {
        assert_eq!(
            pairs(&event("s3", name, req)),
            [p("s3:ListBucket", "arn:aws:s3:::orders")],
            "{name}"
        );
    }
}

#[test]
fn s3_head_object_needs_get_object_on_the_object() {
    assert_eq!(
        pairs(&event(
            "s3",
            "HeadObject",
            json!({"bucketName": "orders", "key": "in/a.csv"})
        )),
        [p("s3:GetObject", "arn:aws:s3:::orders/in/a.csv")]
    );
}

#[test]
fn s3_lifecycle_configuration_actions() {
    for (name, action) in [
        (
            "GetBucketLifecycleConfiguration",
            "s3:GetLifecycleConfiguration",
        ),
        (
            "PutBucketLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
        ),
        ("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"),
    ] {
        let ev = event("s3", name, json!({"bucketName": "orders", "lifecycle": ""}));
        assert_eq!(pairs(&ev), [p(action, "arn:aws:s3:::orders")], "{name}");
    }
}

#[test]
fn s3_delete_objects_needs_delete_object_per_key() {
    let ev = event(
        "s3",
        "DeleteObjects",
        json!({"bucketName": "orders", "delete": {"Quiet": "true",
            "Object": [{"Key": "in/a.csv"}, {"Key": "in/b.csv"}]}}),
    );
    assert_eq!(
        pairs(&ev),
        [
            p("s3:DeleteObject", "arn:aws:s3:::orders/in/a.csv"),
            p("s3:DeleteObject", "arn:aws:s3:::orders/in/b.csv"),
        ]
    );
    // A single object is not wrapped in an array.
    let ev = event(
        "s3",
        "DeleteObjects",
        json!({"bucketName": "orders", "delete": {"Object": {"Key": "x"}}}),
    );
    assert_eq!(pairs(&ev), [p("s3:DeleteObject", "arn:aws:s3:::orders/x")]);
    // Without keys in the request, the objects listed in resources[] are used, never the bucket.
    let ev = with(
        event(
            "s3",
            "DeleteObjects",
            json!({"bucketName": "orders", "delete": ""}),
        ),
        "resources",
        json!([{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::orders/old.csv"},
               {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::orders"}]),
    );
    assert_eq!(
        pairs(&ev),
        [p("s3:DeleteObject", "arn:aws:s3:::orders/old.csv")]
    );
}

#[test]
fn s3_calls_on_a_version_need_the_version_action() {
    let ev = event(
        "s3",
        "GetObject",
        json!({"bucketName": "orders", "key": "a", "versionId": "3HL4kqtJ"}),
    );
    assert_eq!(
        pairs(&ev),
        [p("s3:GetObjectVersion", "arn:aws:s3:::orders/a")]
    );
    let ev = event(
        "s3",
        "DeleteObject",
        json!({"bucketName": "orders", "key": "a", "versionId": "3HL4kqtJ"}),
    );
    assert_eq!(
        pairs(&ev),
        [p("s3:DeleteObjectVersion", "arn:aws:s3:::orders/a")]
    );
}

#[test]
fn s3_copy_object_reads_the_source_and_writes_the_target() {
    let ev = event(
        "s3",
        "CopyObject",
        json!({"bucketName": "archive", "key": "2026/a.csv",
               "x-amz-copy-source": "orders/in/a%20b.csv"}),
    );
    assert_eq!(
        pairs(&ev),
        [
            p("s3:GetObject", "arn:aws:s3:::orders/in/a b.csv"),
            p("s3:PutObject", "arn:aws:s3:::archive/2026/a.csv"),
        ]
    );
    // Copying a specific version of the source reads that version.
    let ev = event(
        "s3",
        "CopyObject",
        json!({"bucketName": "archive", "key": "k",
               "x-amz-copy-source": "/orders/k?versionId=v1"}),
    );
    assert_eq!(
        pairs(&ev),
        [
            p("s3:GetObjectVersion", "arn:aws:s3:::orders/k"),
            p("s3:PutObject", "arn:aws:s3:::archive/k"),
        ]
    );
}

#[test]
fn s3_access_point_arns() {
    let ap = format!("arn:aws:s3:eu-west-1:{ACCOUNT}:accesspoint/reports");
    let ev = event(
        "s3",
        "GetObject",
        json!({"bucketName": ap, "key": "q/1.csv"}),
    );
    assert_eq!(
        pairs(&ev),
        [p("s3:GetObject", &format!("{ap}/object/q/1.csv"))]
    );
    let ev = event(
        "s3",
        "ListObjectsV2",
        json!({"bucketName": ap, "list-type": "2"}),
    );
    assert_eq!(pairs(&ev), [p("s3:ListBucket", &ap)]);
}

#[test]
fn lambda_invoke_and_date_suffixed_names() {
    let f = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:resize");
    assert_eq!(
        pairs(&event(
            "lambda",
            "Invoke",
            json!({"functionName": "resize"})
        )),
        [p("lambda:InvokeFunction", &f)]
    );
    assert_eq!(
        pairs(&event(
            "lambda",
            "CreateFunction20150331",
            json!({"functionName": "resize"})
        )),
        [p("lambda:CreateFunction", &f)]
    );
    assert_eq!(
        pairs(&event(
            "lambda",
            "GetFunctionConfiguration20150331v2",
            json!({"functionName": f})
        )),
        [p("lambda:GetFunctionConfiguration", &f)]
    );
}

#[test]
fn lambda_qualified_function_arns_are_kept() {
    // Lambda authorizes InvokeFunction on a version or alias ARN (`function:f:live`), although
    // the reference lists only the unqualified `function` type for the action.
    let live = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:resize:live");
    assert_eq!(
        pairs(&event("lambda", "Invoke", json!({"functionName": live}))),
        [p("lambda:InvokeFunction", &live)]
    );
    // `name:qualifier` as a function name, and a separate `qualifier` parameter.
    assert_eq!(
        pairs(&event(
            "lambda",
            "Invoke",
            json!({"functionName": "resize:live"})
        )),
        [p("lambda:InvokeFunction", &live)]
    );
    assert_eq!(
        pairs(&event(
            "lambda",
            "Invoke",
            json!({"functionName": "resize", "qualifier": "live"})
        )),
        [p("lambda:InvokeFunction", &live)]
    );
}

#[test]
fn event_sources_whose_iam_prefix_differs() {
    assert_eq!(
        pairs(&event(
            "monitoring",
            "PutMetricData",
            json!({"namespace": "App"})
        )),
        [p("cloudwatch:PutMetricData", "*")]
    );
    let g = grants(&event(
        "email",
        "SendEmail",
        json!({"source": "a@example.com"}),
    ));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].action, "ses:SendEmail");
}

// --- §3: one call, several actions ---

fn key(id: &str) -> String {
    format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{id}")
}

#[test]
fn kms_reencrypt_needs_from_and_to() {
    let (from, to) = (
        key("1111aaaa-0000-4000-8000-000000000001"),
        key("2222bbbb-0000-4000-8000-000000000002"),
    );
    // As CloudTrail logs it: the source key only in resources[] (it is inside the ciphertext).
    let ev = with(
        event(
            "kms",
            "ReEncrypt",
            json!({"destinationKeyId": to,
                   "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                   "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        ),
        "resources",
        json!([{"ARN": from, "type": "AWS::KMS::Key"}, {"ARN": to, "type": "AWS::KMS::Key"}]),
    );
    assert_eq!(
        pairs(&ev),
        [p("kms:ReEncryptFrom", &from), p("kms:ReEncryptTo", &to)]
    );
}

#[test]
fn kms_via_service_when_a_service_called_for_the_role() {
    let k = key("1111aaaa-0000-4000-8000-000000000001");
    let mut ev = with(
        event(
            "kms",
            "Decrypt",
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        ),
        "resources",
        json!([{"ARN": k, "type": "AWS::KMS::Key"}]),
    );
    ev["userIdentity"]["invokedBy"] = json!("ssm.amazonaws.com");
    ev["sourceIPAddress"] = json!("ssm.amazonaws.com");
    let g = grants(&ev);
    assert_eq!(g.len(), 1);
    assert_eq!(
        (g[0].action.as_str(), g[0].resource.as_str()),
        ("kms:Decrypt", k.as_str())
    );
    let cond: Value = serde_json::from_str(&g[0].condition).unwrap();
    assert_eq!(
        cond,
        json!({"kms:ViaService": "ssm.eu-west-1.amazonaws.com"})
    );
    assert!(catalog::embedded().condition_key_exists("kms", "kms:ViaService"));

    // The application calling KMS itself gets no condition.
    let direct = with(
        event("kms", "Decrypt", json!({})),
        "resources",
        json!([{"ARN": k, "type": "AWS::KMS::Key"}]),
    );
    assert_eq!(grants(&direct)[0].condition, "");
}

#[test]
fn kms_alias_is_resolved_through_resources() {
    let k = key("1111aaaa-0000-4000-8000-000000000001");
    for key_id in [
        "alias/app".to_string(),
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:alias/app"),
    ] {
        let ev = with(
            event(
                "kms",
                "GenerateDataKey",
                json!({"keyId": key_id, "keySpec": "AES_256"}),
            ),
            "resources",
            json!([{"ARN": k, "type": "AWS::KMS::Key"}]),
        );
        assert_eq!(pairs(&ev), [p("kms:GenerateDataKey", &k)], "{key_id}");
    }
    // A bare key id becomes the key's ARN.
    let ev = event(
        "kms",
        "Encrypt",
        json!({"keyId": "1111aaaa-0000-4000-8000-000000000001"}),
    );
    assert_eq!(pairs(&ev), [p("kms:Encrypt", &k)]);
}

#[test]
fn dynamodb_transactions_need_one_action_per_item_kind() {
    let ev = event(
        "dynamodb",
        "TransactWriteItems",
        json!({"transactItems": [
            {"put": {"tableName": "orders", "item": {}}},
            {"update": {"tableName": "stock", "key": {}}},
            {"conditionCheck": {"tableName": "customers", "key": {}}},
            {"delete": {"tableName": "carts", "key": {}}}
        ]}),
    );
    let t = |n: &str| format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{n}");
    assert_eq!(
        pairs(&ev),
        [
            p("dynamodb:ConditionCheckItem", &t("customers")),
            p("dynamodb:DeleteItem", &t("carts")),
            p("dynamodb:PutItem", &t("orders")),
            p("dynamodb:UpdateItem", &t("stock")),
        ]
    );
}

#[test]
fn dynamodb_partiql_by_verb_and_table_or_index() {
    let t = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders");
    for (stmt, action) in [
        (
            r#"SELECT * FROM "orders" WHERE pk = ?"#,
            "dynamodb:PartiQLSelect",
        ),
        (
            r#"INSERT INTO "orders" VALUE {'pk': ?}"#,
            "dynamodb:PartiQLInsert",
        ),
        (
            r#"UPDATE "orders" SET a = 1 WHERE pk = ?"#,
            "dynamodb:PartiQLUpdate",
        ),
        (
            r#"DELETE FROM orders WHERE pk = ?"#,
            "dynamodb:PartiQLDelete",
        ),
    ] {
        let ev = event("dynamodb", "ExecuteStatement", json!({"statement": stmt}));
        assert_eq!(pairs(&ev), [p(action, &t)], "{stmt}");
    }
    let ev = event(
        "dynamodb",
        "ExecuteStatement",
        json!({"statement": r#"SELECT * FROM "orders"."by-customer" WHERE c = ?"#}),
    );
    assert_eq!(
        pairs(&ev),
        [p(
            "dynamodb:PartiQLSelect",
            &format!("{t}/index/by-customer")
        )]
    );
}

#[test]
fn dynamodb_query_on_an_index_uses_the_index_arn() {
    let t = format!("arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders");
    assert_eq!(
        pairs(&event(
            "dynamodb",
            "Query",
            json!({"tableName": "orders", "indexName": "by-customer"})
        )),
        [p("dynamodb:Query", &format!("{t}/index/by-customer"))]
    );
    assert_eq!(
        pairs(&event("dynamodb", "Query", json!({"tableName": "orders"}))),
        [p("dynamodb:Query", &t)]
    );
    // GetItem takes no index: a table call never lands on an index ARN.
    assert_eq!(
        pairs(&event(
            "dynamodb",
            "GetItem",
            json!({"tableName": "orders", "key": {}})
        )),
        [p("dynamodb:GetItem", &t)]
    );
}

// --- §3: actions without resources, calls without permission ---

#[test]
fn actions_that_take_no_resource_get_star() {
    for (source, name, req, action) in [
        (
            "ecr",
            "GetAuthorizationToken",
            json!({}),
            "ecr:GetAuthorizationToken",
        ),
        (
            "sqs",
            "ListQueues",
            json!({"queueNamePrefix": "orders"}),
            "sqs:ListQueues",
        ),
        (
            "ssm",
            "DescribeParameters",
            json!({"maxResults": 50}),
            "ssm:DescribeParameters",
        ),
        (
            "s3",
            "ListBuckets",
            json!({"Host": "s3.amazonaws.com"}),
            "s3:ListAllMyBuckets",
        ),
    ] {
        let g = grants(&event(source, name, req));
        assert_eq!(
            g.iter()
                .map(|g| (g.action.as_str(), g.resource.as_str()))
                .collect::<Vec<_>>(),
            [(action, "*")],
            "{name}"
        );
        assert!(!catalog::embedded()
            .action(action)
            .unwrap()
            .takes_resources());
    }
}

#[test]
fn get_caller_identity_needs_no_permission() {
    assert!(matches!(
        map(&event("sts", "GetCallerIdentity", Value::Null)),
        Mapped::NoPermissionNeeded(_)
    ));
}

#[test]
fn an_event_that_fits_no_action_is_unmapped_not_guessed() {
    let Mapped::Unmapped(reason) = map(&event("s3", "NoSuchOperation", json!({"bucketName": "b"})))
    else {
        panic!("a made-up event name must not map");
    };
    assert!(reason.contains("s3:NoSuchOperation"), "{reason}");
    assert!(matches!(
        map(&event("nosuchservice", "Describe", json!({}))),
        Mapped::Unmapped(_)
    ));
}

// --- §4: ARNs ---

fn param(name: &str) -> String {
    format!("arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/{name}")
}

#[test]
fn ssm_parameter_names_with_and_without_slash() {
    assert_eq!(
        pairs(&event(
            "ssm",
            "GetParameter",
            json!({"name": "/app/prod/db", "withDecryption": true})
        )),
        [p("ssm:GetParameter", &param("app/prod/db"))]
    );
    assert_eq!(
        pairs(&event("ssm", "GetParameter", json!({"name": "flag"}))),
        [p("ssm:GetParameter", &param("flag"))]
    );
    // Never `parameter//…`.
    let g = grants(&event(
        "ssm",
        "PutParameter",
        json!({"name": "/a/b", "type": "String"}),
    ));
    assert!(
        g.iter().all(|g| !g.resource.contains("parameter//")),
        "{g:?}"
    );
}

#[test]
fn ssm_get_parameters_grants_each_name_without_selectors() {
    let ev = event(
        "ssm",
        "GetParameters",
        json!({"names": ["/app/db", "flag:3", "/app/key:prod",
                         format!("arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/app/x:2")],
               "withDecryption": true}),
    );
    assert_eq!(
        pairs(&ev),
        [
            p("ssm:GetParameters", &param("app/db")),
            p("ssm:GetParameters", &param("app/key")),
            p("ssm:GetParameters", &param("app/x")),
            p("ssm:GetParameters", &param("flag")),
        ]
    );
}

#[test]
fn ssm_get_parameters_by_path_is_granted_on_the_path() {
    let ev = event(
        "ssm",
        "GetParametersByPath",
        json!({"path": "/app/prod", "recursive": true, "withDecryption": true}),
    );
    assert_eq!(
        pairs(&ev),
        [p("ssm:GetParametersByPath", &param("app/prod"))]
    );
}

#[test]
fn sqs_queue_urls_carry_region_and_account() {
    let ev = event(
        "sqs",
        "SendMessage",
        json!({"queueUrl": "https://sqs.us-east-2.amazonaws.com/444455556666/shared-audit"}),
    );
    assert_eq!(
        pairs(&ev),
        [p(
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-2:444455556666:shared-audit"
        )]
    );
    let ev = event(
        "sqs",
        "GetQueueUrl",
        json!({"queueName": "shared-audit", "queueOwnerAWSAccountId": "444455556666"}),
    );
    assert_eq!(
        pairs(&ev),
        [p(
            "sqs:GetQueueUrl",
            "arn:aws:sqs:eu-west-1:444455556666:shared-audit"
        )]
    );
    let ev = event("sqs", "GetQueueUrl", json!({"queueName": "jobs"}));
    assert_eq!(
        pairs(&ev),
        [p(
            "sqs:GetQueueUrl",
            &format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs")
        )]
    );
}

#[test]
fn secrets_by_name_get_the_random_suffix_and_by_arn_are_exact() {
    let ev = event(
        "secretsmanager",
        "GetSecretValue",
        json!({"secretId": "prod/db"}),
    );
    assert_eq!(
        pairs(&ev),
        [p(
            "secretsmanager:GetSecretValue",
            &format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-??????")
        )]
    );
    let arn = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-AbC123");
    let ev = event("secretsmanager", "GetSecretValue", json!({"secretId": arn}));
    assert_eq!(pairs(&ev), [p("secretsmanager:GetSecretValue", &arn)]);

    // `-??????` matches exactly the six-character suffix, never a longer name.
    let pattern = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-??????");
    assert_eq!(
        allows(&pattern, "secretsmanager:GetSecretValue", &arn),
        Decision::Allow
    );
    let other = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-old-AbC123");
    assert_eq!(
        allows(&pattern, "secretsmanager:GetSecretValue", &other),
        Decision::ImplicitDeny
    );
}

#[test]
fn sns_topic_ecr_repository_logs_and_assume_role() {
    let topic = format!("arn:aws:sns:eu-west-1:{ACCOUNT}:order-events");
    assert_eq!(
        pairs(&event("sns", "Publish", json!({"topicArn": topic}))),
        [p("sns:Publish", &topic)]
    );
    assert_eq!(
        pairs(&event(
            "ecr",
            "BatchGetImage",
            json!({"repositoryName": "team/api", "registryId": "999988887777",
                   "imageIds": [{"imageTag": "1.2"}]})
        )),
        [p(
            "ecr:BatchGetImage",
            "arn:aws:ecr:eu-west-1:999988887777:repository/team/api"
        )]
    );
    assert_eq!(
        pairs(&event(
            "ecr",
            "GetDownloadUrlForLayer",
            json!({"repositoryName": "api"})
        )),
        [p(
            "ecr:GetDownloadUrlForLayer",
            &format!("arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/api")
        )]
    );
    assert_eq!(
        pairs(&event(
            "logs",
            "CreateLogStream",
            json!({"logGroupName": "/ecs/api", "logStreamName": "api/web/0a1b"})
        )),
        [p(
            "logs:CreateLogStream",
            &format!("arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/api:log-stream:api/web/0a1b")
        )]
    );
    assert_eq!(
        pairs(&event(
            "logs",
            "DescribeLogStreams",
            json!({"logGroupName": "/ecs/api"})
        )),
        [p(
            "logs:DescribeLogStreams",
            &format!("arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/api:*")
        )]
    );
    let target = "arn:aws:iam::444455556666:role/reader";
    assert_eq!(
        pairs(&event(
            "sts",
            "AssumeRole",
            json!({"roleArn": target, "roleSessionName": "s"})
        )),
        [p("sts:AssumeRole", target)]
    );
}

#[test]
fn partitions_come_from_the_event() {
    let ev = in_partition(
        "aws-cn",
        "cn-north-1",
        "s3",
        "GetObject",
        json!({"bucketName": "b", "key": "k"}),
    );
    assert_eq!(pairs(&ev), [p("s3:GetObject", "arn:aws-cn:s3:::b/k")]);
    let ev = in_partition(
        "aws-us-gov",
        "us-gov-west-1",
        "ssm",
        "GetParameter",
        json!({"name": "/a/b"}),
    );
    assert_eq!(
        pairs(&ev),
        [p(
            "ssm:GetParameter",
            &format!("arn:aws-us-gov:ssm:us-gov-west-1:{ACCOUNT}:parameter/a/b")
        )]
    );
    let mut ev = in_partition(
        "aws-cn",
        "cn-northwest-1",
        "sqs",
        "ReceiveMessage",
        json!({"queueUrl": "https://sqs.cn-northwest-1.amazonaws.com.cn/444455556666/q"}),
    );
    assert_eq!(
        pairs(&ev),
        [p(
            "sqs:ReceiveMessage",
            "arn:aws-cn:sqs:cn-northwest-1:444455556666:q"
        )]
    );
    let secret = format!("arn:aws-us-gov:secretsmanager:us-gov-east-1:{ACCOUNT}:secret:x-AbC123");
    ev = in_partition(
        "aws-us-gov",
        "us-gov-east-1",
        "secretsmanager",
        "GetSecretValue",
        json!({"secretId": "x"}),
    );
    ev["resources"] = json!([{"ARN": secret, "type": "AWS::SecretsManager::Secret"}]);
    assert_eq!(pairs(&ev), [p("secretsmanager:GetSecretValue", &secret)]);
}

/// A policy allowing `action` on `resource`, evaluated for a request on `target`.
fn allows(resource: &str, action: &str, target: &str) -> Decision {
    let doc = PolicyDocument::new(vec![Statement::allow(
        vec![action.to_string()],
        vec![resource.to_string()],
    )]);
    evaluate(
        &[doc],
        &Request {
            action,
            resource: target,
            context: &Context::new(),
        },
    )
}

#[test]
fn wildcard_characters_in_names_never_widen_a_grant() {
    let cases = [
        (
            event("s3", "GetObject", json!({"bucketName": "b", "key": "in/*"})),
            "s3:GetObject",
            "arn:aws:s3:::b/in/*",
            "arn:aws:s3:::b/in/secret.csv",
        ),
        (
            event("ssm", "GetParameter", json!({"name": "/app/?"})),
            "ssm:GetParameter",
            "arn:aws:ssm:eu-west-1:111122223333:parameter/app/?",
            "arn:aws:ssm:eu-west-1:111122223333:parameter/app/x",
        ),
        (
            event(
                "s3",
                "PutObject",
                json!({"bucketName": "b", "key": "${aws:username}"}),
            ),
            "s3:PutObject",
            "arn:aws:s3:::b/${aws:username}",
            "arn:aws:s3:::b/alice",
        ),
        (
            event(
                "secretsmanager",
                "GetSecretValue",
                json!({"secretId": "a*"}),
            ),
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:a*-AbC123",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:ab-AbC123",
        ),
    ];
    for (ev, action, literal, other) in cases {
        let g = grants(&ev);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].action, action);
        let r = &g[0].resource;
        assert!(r.contains("${"), "{r} is not escaped");
        assert_eq!(
            allows(r, action, literal),
            Decision::Allow,
            "{r} vs {literal}"
        );
        assert_eq!(
            allows(r, action, other),
            Decision::ImplicitDeny,
            "{r} widened to {other}"
        );
    }
}

#[test]
fn every_grant_names_its_rule() {
    let g = grants(&event(
        "s3",
        "CopyObject",
        json!({"bucketName": "a", "key": "k", "x-amz-copy-source": "b/k"}),
    ));
    for grant in g {
        assert!(
            grant.rule.contains("action:") && grant.rule.contains("resource:"),
            "{grant:?}"
        );
    }
}

/// What mapping every event of a directory gave.
#[derive(Default)]
struct Scan {
    events: u64,
    role_events: u64,
    mapped: u64,
    free: u64,
    /// "source name: reason" → count.
    unmapped: std::collections::BTreeMap<String, u64>,
    /// Grants whose action is not in the catalog or whose ARN the action does not take.
    invalid: Vec<String>,
    /// Successful calls granted on "*" by an action that takes resources.
    unscoped: std::collections::BTreeMap<String, u64>,
}

/// Maps every event of every file under `dir`. Events by other principals are mapped as if a
/// role had made them (same partition and account), to exercise the rules on every sample.
fn scan(dir: &std::path::Path) -> Scan {
    use policy_miner::call::Principal;
    use policy_miner::source::local::decompress;

    let mut r = Scan::default();
    let mut files = walkdir_files(dir);
    files.sort();
    for path in files {
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let Ok(bytes) = decompress(&raw) else {
            continue;
        };
        let _ = decode(&bytes, &mut |call| {
            r.events += 1;
            let mut call = call.clone();
            let pretend_role;
            if let Principal::Role { .. } = call.principal {
                r.role_events += 1;
            } else {
                let partition = call
                    .resources
                    .iter()
                    .find_map(|r| r.arn.strip_prefix("arn:")?.split(':').next())
                    .unwrap_or("aws");
                let account = call.recipient_account.unwrap_or("111111111111");
                pretend_role = format!("arn:{partition}:iam::{account}:role/pretend");
                call.principal = Principal::Role {
                    role_arn: &pretend_role,
                    session: "scan",
                };
            }
            match map_call(&call, catalog::embedded()) {
                Mapped::Grants(grants) => {
                    r.mapped += 1;
                    for g in &grants {
                        let Some(action) = catalog::embedded().action(&g.action) else {
                            r.invalid
                                .push(format!("{path:?}: action {} not in catalog", g.action));
                            continue;
                        };
                        if g.resource == "*" {
                            // Failed calls often carry no request parameters; they are never granted.
                            if action.takes_resources() && call.succeeded() {
                                *r.unscoped.entry(g.action.clone()).or_default() += 1;
                            }
                        } else if !policy_miner::mapping::accepts(&action, &g.resource) {
                            r.invalid.push(format!(
                                "{path:?}: {} does not accept {}",
                                g.action, g.resource
                            ));
                        }
                    }
                }
                Mapped::NoPermissionNeeded(_) => r.free += 1,
                Mapped::Unmapped(reason) => {
                    *r.unmapped
                        .entry(format!(
                            "{} {}: {reason}",
                            call.event_source, call.event_name
                        ))
                        .or_default() += 1
                }
            }
        });
    }
    eprintln!(
        "{} events ({} by roles): {} mapped, {} need no permission, {} unmapped, {} invalid",
        r.events,
        r.role_events,
        r.mapped,
        r.free,
        r.unmapped.values().sum::<u64>(),
        r.invalid.len()
    );
    for (what, n) in &r.unmapped {
        eprintln!("  unmapped {n:>3}  {what}");
    }
    for (action, n) in &r.unscoped {
        eprintln!("  \"*\" for {n:>3}  {action} (takes resources)");
    }
    for line in &r.invalid {
        eprintln!("  INVALID {line}");
    }
    r
}

/// The fleet fixture: every event (of any principal) maps to valid grants, and only the events
/// its README describes as unmappable are unmapped, each with a reason.
#[test]
fn every_fixture_event_maps_to_valid_grants_or_is_explained() {
    let r =
        scan(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet/trail"));
    assert!(r.events > 250, "{}", r.events);
    assert!(r.invalid.is_empty(), "{:?}", r.invalid);
    let unmapped: Vec<&str> = r
        .unmapped
        .keys()
        .map(|k| k.split(':').next().unwrap())
        .collect();
    assert_eq!(
        unmapped,
        [
            "kms.amazonaws.com RotateKey",
            "s3.amazonaws.com GetObjectAttributesV2",
            "signin.amazonaws.com ConsoleLogin",
            "signin.amazonaws.com GetSigninToken",
        ]
    );
    assert!(r.unmapped.keys().all(|k| k.contains("not an IAM action")));
}

/// Maps every event under `$POLICY_MINER_SCAN_DIR` (e.g. a directory of real trails) and prints
/// the unmapped events by reason; fails if any emitted action or ARN is invalid.
/// Run with `POLICY_MINER_SCAN_DIR=… cargo test --test integration mapping_rules:: -- --ignored --nocapture`.
#[test]
#[ignore = "reads a trail directory named by POLICY_MINER_SCAN_DIR"]
fn scan_trail_directory() {
    let Ok(dir) = std::env::var("POLICY_MINER_SCAN_DIR") else {
        eprintln!("POLICY_MINER_SCAN_DIR is not set; nothing scanned");
        return;
    };
    let r = scan(std::path::Path::new(&dir));
    assert!(r.invalid.is_empty(), "{} invalid grants", r.invalid.len());
}

fn walkdir_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn services_without_a_rule_use_the_arns_the_request_names() {
    let tg = format!(
        "arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:targetgroup/api/0123456789abcdef"
    );
    let ev = event(
        "elasticloadbalancing",
        "RegisterTargets",
        json!({"targetGroupArn": tg, "targets": [{"id": "10.0.1.17", "port": 8080}]}),
    );
    assert_eq!(pairs(&ev), [p("elasticloadbalancing:RegisterTargets", &tg)]);
    // Every ARN of a list is a resource the call touches; one the action does not take is left.
    let svc = |n: &str| format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/main/{n}");
    let ev = event(
        "ecs",
        "DescribeServices",
        json!({"cluster": format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/main"),
               "services": [svc("api"), svc("worker")]}),
    );
    assert_eq!(
        pairs(&ev),
        [
            p("ecs:DescribeServices", &svc("api")),
            p("ecs:DescribeServices", &svc("worker"))
        ]
    );
}

#[test]
fn ecs_services_by_name_in_their_cluster() {
    let ev = event(
        "ecs",
        "UpdateService",
        json!({"cluster": "main", "service": "api", "desiredCount": 2}),
    );
    assert_eq!(
        pairs(&ev),
        [p(
            "ecs:UpdateService",
            &format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/main/api")
        )]
    );
    let ev = event("ecs", "DescribeServices", json!({"services": ["api"]}));
    assert_eq!(
        pairs(&ev),
        [p(
            "ecs:DescribeServices",
            &format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/default/api")
        )]
    );
}

#[test]
fn the_loose_lambda_match_is_for_lambda_functions_only() {
    let c = catalog::embedded();
    let invoke = c.action("lambda:InvokeFunction").unwrap();
    let live = "arn:aws:lambda:eu-west-1:111122223333:function:f:live";
    assert!(
        invoke.accepts_arn(live).is_none(),
        "the strict rule rejects it"
    );
    assert!(policy_miner::mapping::accepts(&invoke, live));
    // Elsewhere a looser format match must not count: a log-group action on a stream ARN.
    let group = c.action("logs:DeleteLogGroup").unwrap();
    let stream = "arn:aws:logs:eu-west-1:111122223333:log-group:g:log-stream:s";
    assert!(!group.resource_types_matching(stream).is_empty());
    assert!(!policy_miner::mapping::accepts(&group, stream));
}
