//! Amazon S3.
//!
//! **What CloudTrail logs.** Bucket calls (`ListBuckets`, `GetBucketPolicy`, `PutBucketLifecycle`…)
//! are management events, logged by default. Object calls (`GetObject`, `PutObject`,
//! `HeadObject`, `DeleteObjects`, `CopyObject`, the multipart upload calls…) and `ListObjects`
//! are data events, logged only when the trail turns S3 data events on. `requestParameters`
//! names the bucket in `bucketName` (the proxy writes `Bucket` when it has nothing better) and
//! the object in `key`; `ListObjectsV2` is logged as `ListObjects` with `list-type: 2`;
//! `CopyObject` and `UploadPartCopy` carry the source in `x-amz-copy-source`
//! (`[/]bucket/key[?versionId=…]`, URL-encoded). `DeleteObjects` names its keys in
//! `delete.Object[].Key` (one object is not wrapped in an array) as the proxy records it, but
//! CloudTrail leaves them out: its event has `"delete": ""` and, in `resources[]`, only the
//! bucket and an `AWS::S3::Object` entry with an `ARNPrefix` (`arn:aws:s3:::<bucket>/`) (a real
//! event, in the detection notes of Stratus Red Team's S3 ransomware technique); since
//! June 2025 CloudTrail also logs each object of the batch as a `DeleteObject` event of its own
//! (AWS What's New, 2025-06, "AWS CloudTrail enhances logging for Amazon S3 DeleteObjects API").
//! Such a batch is recorded with its resource unknown (never `*`): the `DeleteObject` events
//! grant the keys. `resources[]` lists the
//! `AWS::S3::Object` and `AWS::S3::Bucket` ARNs.
//!
//! **How IAM authorizes the calls.** Many operations are checked against an action of another
//! name ([`renamed`]): listing a bucket (`ListObjects`, `ListObjectsV2`, `HeadBucket`) needs
//! `s3:ListBucket`; `HeadObject` and `SelectObjectContent` need `s3:GetObject`; the multipart
//! upload calls need `s3:PutObject`; `DeleteObjects` needs `s3:DeleteObject` on each key;
//! bucket configuration calls often need an action of another name
//! (`GetBucketLifecycleConfiguration` → `s3:GetLifecycleConfiguration`, `GetBucketCors` →
//! `s3:GetBucketCORS`), and deleting a configuration mostly needs its `Put…` action. A call on
//! a given `versionId` needs the `…Version` action (`s3:GetObjectVersion`,
//! `s3:DeleteObjectVersion`, the ACL and tagging ones). `CopyObject` needs `s3:GetObject` (or
//! `s3:GetObjectVersion` when a source version is named) on the source and `s3:PutObject` on the
//! target.
//!
//! **ARNs.** A bucket is `arn:<partition>:s3:::<bucket>` and an object
//! `arn:<partition>:s3:::<bucket>/<key>`: no region, no account. Bucket actions take the bucket
//! ARN, object actions the object ARN. A request may name an access point ARN
//! (`arn:<partition>:s3:<region>:<account>:accesspoint/<name>`) instead of a bucket; its objects
//! are `<access point ARN>/object/<key>`. A request may also name an access point by its alias,
//! a bucket-style name with a reserved suffix (`-s3alias`; `--ol-s3` for Object Lambda,
//! `--op-s3` for S3 on Outposts): that is no bucket, and the call is authorized on the access
//! point, whose ARN the event's `resources[]` lists (`AWS::S3::AccessPoint`); it is granted on
//! that access point (its `/object/<key>` for object actions), never on a bucket of the alias's
//! name, and without it on what `resources[]` shows, else `"*"`.

use super::rule::{Ctx, Step, FROM_RESOURCES};
use crate::policy::escape::escape_literal as lit;
use serde_json::Value;

/// S3 actions whose operation (event name) has another name.
pub(super) fn renamed(event_name: &str) -> Option<&'static str> {
    Some(match event_name {
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListBuckets" => "ListAllMyBuckets",
        "HeadObject" | "SelectObjectContent" => "GetObject",
        "DeleteObjects" => "DeleteObject",
        "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => "PutObject",
        "ListParts" => "ListMultipartUploadParts",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "GetBucketLifecycle" | "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "PutBucketLifecycle" | "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            "PutLifecycleConfiguration"
        }
        "GetBucketEncryption" => "GetEncryptionConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "PutEncryptionConfiguration",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "GetBucketReplication" => "GetReplicationConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "PutReplicationConfiguration",
        "GetBucketNotificationConfiguration" => "GetBucketNotification",
        "PutBucketNotificationConfiguration" => "PutBucketNotification",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "GetBucketAccelerateConfiguration" => "GetAccelerateConfiguration",
        "PutBucketAccelerateConfiguration" => "PutAccelerateConfiguration",
        "GetBucketAnalyticsConfiguration" => "GetAnalyticsConfiguration",
        "GetBucketInventoryConfiguration" => "GetInventoryConfiguration",
        "GetBucketMetricsConfiguration" => "GetMetricsConfiguration",
        "GetBucketIntelligentTieringConfiguration" => "GetIntelligentTieringConfiguration",
        "DeleteBucketTagging" => "PutBucketTagging",
        "DeleteBucketWebsite" => "DeleteBucketWebsite",
        "GetObjectAttributes" => "GetObjectAttributes",
        _ => return None,
    })
}

const S3_OBJECT: &str = "object ARN from bucketName and key";
const S3_BUCKET: &str = "bucket ARN from bucketName";

pub(super) fn steps(ctx: &Ctx, action: &str, action_rule: &'static str) -> Vec<Step> {
    let Some(named) = ctx.s("bucketName").or_else(|| ctx.s("Bucket")) else {
        return Step::one(action, Vec::new(), action_rule, FROM_RESOURCES);
    };
    // An access point alias is no bucket: the request is authorized on the access point, which
    // the event's resources[] names; without it, only resources[] can say what was touched.
    let access_point;
    let bucket = if is_access_point_alias(named) {
        access_point = ctx
            .call
            .resources
            .iter()
            .map(|r| r.arn)
            .find(|arn| is_access_point_arn(arn));
        match access_point {
            Some(ap) => ap,
            None => return Step::one(action, Vec::new(), action_rule, FROM_RESOURCES),
        }
    } else {
        named
    };
    let p = ctx.partition;
    let bucket_arn = bucket_arn(p, bucket);
    let event = ctx.call.event_name;
    if event == "CopyObject" || event == "UploadPartCopy" {
        let mut steps = Vec::new();
        let source = ctx.s("x-amz-copy-source");
        if let Some((src_bucket, src_key)) = source.and_then(copy_source) {
            // Copying a given version of the source reads that version.
            let versioned = source.is_some_and(|s| s.contains("versionId="));
            steps.push(Step {
                condition: None,
                action: if versioned {
                    "GetObjectVersion"
                } else {
                    "GetObject"
                }
                .into(),
                candidates: vec![object_arn(p, &src_bucket, &src_key)],
                action_rule: if versioned {
                    "copying a source version reads it (s3:GetObjectVersion)"
                } else {
                    "copying reads the source object (s3:GetObject)"
                },
                resource_rule: "source object from x-amz-copy-source",
            });
        }
        steps.push(Step {
            condition: None,
            action: "PutObject".into(),
            candidates: ctx
                .s("key")
                .map(|k| object_arn(p, bucket, k))
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
        condition: None,
        action: action.to_string(),
        candidates,
        action_rule,
        resource_rule,
    };
    if keys.is_empty() && event == "DeleteObjects" {
        // CloudTrail leaves the keys out (`"delete": ""`) and logs each deleted object as a
        // `DeleteObject` event of its own, which grants it.
        return vec![step(Vec::new(), super::rule::NOT_LOGGED)];
    }
    if keys.is_empty() {
        return vec![step(vec![bucket_arn], S3_BUCKET)];
    }
    keys.into_iter()
        .map(|k| {
            step(
                vec![object_arn(p, bucket, k), bucket_arn.clone()],
                S3_OBJECT,
            )
        })
        .collect()
}

/// Names S3 reserves for access point aliases, which requests use in place of a bucket name
/// (Amazon S3 User Guide, "Bucket naming rules" and "Access point aliases"): `-s3alias` (an access
/// point), `--ol-s3` (an Object Lambda access point), `--op-s3` (an S3 on Outposts access point).
fn is_access_point_alias(name: &str) -> bool {
    ["-s3alias", "--ol-s3", "--op-s3"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// `arn:<partition>:s3:<region>:<account>:accesspoint/<name>`, without an object part.
fn is_access_point_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let service = parts.nth(2);
    let resource = parts.nth(2);
    service == Some("s3")
        && resource.is_some_and(|r| {
            r.strip_prefix("accesspoint/")
                .is_some_and(|n| !n.is_empty() && !n.contains('/'))
        })
}

fn bucket_arn(partition: &str, bucket: &str) -> String {
    if bucket.starts_with("arn:") {
        lit(bucket)
    } else {
        lit(&format!("arn:{partition}:s3:::{bucket}"))
    }
}

/// observe maps object calls once per shape (`observe/shape.rs`), relying on this: the key is
/// placed as it is at the end of the ARN, and nowhere else. Its tests fail if that changes.
fn object_arn(partition: &str, bucket: &str, key: &str) -> String {
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
    let decoded = super::rule::percent_decode(raw.trim_start_matches('/'));
    let (bucket, key) = decoded.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::test_support::*;
    use crate::mapping::Mapped;
    use serde_json::json;

    #[test]
    fn copy_sources() {
        assert_eq!(
            copy_source("/billing-reports/2026/x%20y.csv?versionId=3"),
            Some(("billing-reports".into(), "2026/x y.csv".into()))
        );
        assert_eq!(copy_source("bucket"), None);
    }

    #[test]
    fn an_access_point_alias_is_authorized_on_its_access_point() {
        // A GetObject through an access point alias: `bucketName` is the alias (the form of the
        // Amazon S3 User Guide's "Access point aliases" example); resources[] lists the object
        // under the bucket, the bucket and the access point.
        let ap = format!("arn:aws:s3:eu-west-1:{ACCOUNT}:accesspoint/reports-ap");
        let resources = json!([
            {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::reports-bucket/2026/q3.csv"},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::reports-bucket"},
            {"accountId": ACCOUNT, "type": "AWS::S3::AccessPoint", "ARN": ap}
        ]);
        let alias = "reports-ap-hrzrlukc5m36ft7okagglf3gmwluquse1b-s3alias";
        let ev = with(
            event(
                "s3",
                "GetObject",
                json!({"bucketName": alias, "key": "2026/q3.csv",
                       "Host": format!("{alias}.s3.eu-west-1.amazonaws.com")}),
            ),
            "resources",
            resources.clone(),
        );
        assert_eq!(
            pairs(&ev),
            [p("s3:GetObject", &format!("{ap}/object/2026/q3.csv"))]
        );
        let ev = with(
            event(
                "s3",
                "ListObjects",
                json!({"bucketName": alias, "list-type": "2"}),
            ),
            "resources",
            resources,
        );
        assert_eq!(pairs(&ev), [p("s3:ListBucket", &ap)]);
        // Without the access point in resources[], never a bucket named after the alias.
        let ev = event("s3", "GetObject", json!({"bucketName": alias, "key": "k"}));
        let g = grants(&ev);
        assert!(g.iter().all(|g| !g.resource.contains("s3alias")), "{g:?}");
    }

    #[test]
    fn listing_and_head_bucket_need_list_bucket_on_the_bucket() {
        let bucket: &[(&str, &str)] = &[("s3:ListBucket", "arn:aws:s3:::orders")];
        assert_pairs(
            "s3",
            &[
                (
                    "ListObjects",
                    json!({"bucketName": "orders", "prefix": "in/"}),
                    bucket,
                ),
                (
                    "ListObjectsV2",
                    json!({"bucketName": "orders", "list-type": "2", "prefix": "in/"}),
                    bucket,
                ),
                ("HeadBucket", json!({"bucketName": "orders"}), bucket),
            ],
        );
    }

    #[test]
    fn head_object_needs_get_object_on_the_object() {
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
    fn lifecycle_configuration_actions() {
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
    fn delete_objects_needs_delete_object_per_key() {
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
        // Without keys in the request, the objects listed in resources[] are used, never the
        // bucket.
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
    fn a_batch_delete_whose_keys_cloudtrail_leaves_out_is_never_granted_on_star() {
        // A real DeleteObjects event (the detection notes of Stratus Red Team's S3 ransomware
        // technique by DeleteObjects), bucket renamed: no keys, an ARNPrefix.
        let ev = with(
            event(
                "s3",
                "DeleteObjects",
                json!({"bucketName": "orders",
                       "Host": "orders.s3.eu-west-1.amazonaws.com",
                       "delete": "", "x-id": "DeleteObjects"}),
            ),
            "resources",
            json!([{"type": "AWS::S3::Object", "ARNPrefix": "arn:aws:s3:::orders/"},
                   {"accountId": ACCOUNT, "type": "AWS::S3::Bucket",
                    "ARN": "arn:aws:s3:::orders"}]),
        );
        let Mapped::Grants(g) = map(&ev) else {
            panic!("a batch delete maps to s3:DeleteObject");
        };
        assert_eq!(
            g.iter()
                .map(|g| (g.action.as_str(), g.resource.as_str()))
                .collect::<Vec<_>>(),
            [("s3:DeleteObject", crate::store::UNKNOWN_RESOURCE)]
        );
        // Each object of the batch, logged as a DeleteObject event of its own, names its key.
        let ev = with(
            event(
                "s3",
                "DeleteObject",
                json!({"bucketName": "orders", "key": "in/a.csv",
                       "Host": "orders.s3.eu-west-1.amazonaws.com"}),
            ),
            "resources",
            json!([{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::orders/in/a.csv"},
                   {"accountId": ACCOUNT, "type": "AWS::S3::Bucket",
                    "ARN": "arn:aws:s3:::orders"}]),
        );
        assert_eq!(
            pairs(&ev),
            [p("s3:DeleteObject", "arn:aws:s3:::orders/in/a.csv")]
        );
    }

    #[test]
    fn calls_on_a_version_need_the_version_action() {
        let req = json!({"bucketName": "orders", "key": "a", "versionId": "3HL4kqtJ"});
        assert_pairs(
            "s3",
            &[
                (
                    "GetObject",
                    req.clone(),
                    &[("s3:GetObjectVersion", "arn:aws:s3:::orders/a")],
                ),
                (
                    "DeleteObject",
                    req,
                    &[("s3:DeleteObjectVersion", "arn:aws:s3:::orders/a")],
                ),
            ],
        );
    }

    #[test]
    fn copy_object_reads_the_source_and_writes_the_target() {
        assert_pairs(
            "s3",
            &[
                (
                    "CopyObject",
                    json!({"bucketName": "archive", "key": "2026/a.csv",
                           "x-amz-copy-source": "orders/in/a%20b.csv"}),
                    &[
                        ("s3:GetObject", "arn:aws:s3:::orders/in/a b.csv"),
                        ("s3:PutObject", "arn:aws:s3:::archive/2026/a.csv"),
                    ],
                ),
                // Copying a specific version of the source reads that version.
                (
                    "CopyObject",
                    json!({"bucketName": "archive", "key": "k",
                           "x-amz-copy-source": "/orders/k?versionId=v1"}),
                    &[
                        ("s3:GetObjectVersion", "arn:aws:s3:::orders/k"),
                        ("s3:PutObject", "arn:aws:s3:::archive/k"),
                    ],
                ),
            ],
        );
    }

    #[test]
    fn access_point_arns() {
        let ap = format!("arn:aws:s3:eu-west-1:{ACCOUNT}:accesspoint/reports");
        assert_pairs(
            "s3",
            &[
                (
                    "GetObject",
                    json!({"bucketName": ap, "key": "q/1.csv"}),
                    &[("s3:GetObject", &format!("{ap}/object/q/1.csv"))],
                ),
                (
                    "ListObjectsV2",
                    json!({"bucketName": ap, "list-type": "2"}),
                    &[("s3:ListBucket", &ap)],
                ),
            ],
        );
    }
}
