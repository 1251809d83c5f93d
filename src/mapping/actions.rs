//! Event source and event name → IAM service prefix and action name.
//!
//! The default rule is `<prefix>:<eventName>`; the tables below are the exceptions where CloudTrail's
//! names and IAM's differ. Every result is checked against the catalog by the caller, so a table
//! entry can never put a non-existent action into a policy.

/// IAM prefix for a CloudTrail `eventSource` (`s3.amazonaws.com` → `s3`).
pub fn iam_prefix(event_source: &str) -> &str {
    let host = event_source
        .strip_suffix(".amazonaws.com")
        .or_else(|| event_source.strip_suffix(".amazonaws.com.cn"))
        .unwrap_or(event_source);
    match host {
        "monitoring" => "cloudwatch",
        "email" => "ses",
        "rdsdata" => "rds-data",
        "tagging" => "tag",
        "cloudcontrolapi" => "cloudformation",
        "api.ecr" => "ecr",
        "api.pricing" => "pricing",
        "api.sagemaker" => "sagemaker",
        "runtime.sagemaker" => "sagemaker",
        "bedrock-runtime" => "bedrock",
        "execute-api" => "execute-api",
        "sso-directory" => "sso-directory",
        "streams.dynamodb" => "dynamodb",
        // AWS Marketplace Agreement Service and AppRegistry authorize under their parent's prefix.
        "agreement-marketplace" => "aws-marketplace",
        "servicecatalog-appregistry" => "servicecatalog",
        "elasticfilesystem" => "elasticfilesystem",
        "es" => "es",
        other => other,
    }
}

/// IAM action names whose CloudTrail event name differs, per prefix. `None` from [`renamed`] means
/// the default rule applies.
pub fn renamed(prefix: &str, event_name: &str) -> Option<&'static str> {
    Some(match (prefix, event_name) {
        ("s3", "ListObjects" | "ListObjectsV2" | "HeadBucket") => "ListBucket",
        ("s3", "ListObjectVersions") => "ListBucketVersions",
        ("s3", "ListBuckets") => "ListAllMyBuckets",
        ("s3", "HeadObject" | "SelectObjectContent") => "GetObject",
        ("s3", "DeleteObjects") => "DeleteObject",
        ("s3", "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload") => "PutObject",
        ("s3", "ListParts") => "ListMultipartUploadParts",
        ("s3", "ListMultipartUploads") => "ListBucketMultipartUploads",
        ("s3", "GetBucketLifecycle" | "GetBucketLifecycleConfiguration") => {
            "GetLifecycleConfiguration"
        }
        (
            "s3",
            "PutBucketLifecycle" | "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle",
        ) => "PutLifecycleConfiguration",
        ("s3", "GetBucketEncryption") => "GetEncryptionConfiguration",
        ("s3", "PutBucketEncryption" | "DeleteBucketEncryption") => "PutEncryptionConfiguration",
        ("s3", "GetBucketCors") => "GetBucketCORS",
        ("s3", "PutBucketCors" | "DeleteBucketCors") => "PutBucketCORS",
        ("s3", "GetBucketReplication") => "GetReplicationConfiguration",
        ("s3", "PutBucketReplication" | "DeleteBucketReplication") => "PutReplicationConfiguration",
        ("s3", "GetBucketNotificationConfiguration") => "GetBucketNotification",
        ("s3", "PutBucketNotificationConfiguration") => "PutBucketNotification",
        ("s3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
        ("s3", "PutPublicAccessBlock" | "DeletePublicAccessBlock") => "PutBucketPublicAccessBlock",
        ("s3", "GetObjectLockConfiguration") => "GetBucketObjectLockConfiguration",
        ("s3", "PutObjectLockConfiguration") => "PutBucketObjectLockConfiguration",
        ("s3", "GetBucketAccelerateConfiguration") => "GetAccelerateConfiguration",
        ("s3", "PutBucketAccelerateConfiguration") => "PutAccelerateConfiguration",
        ("s3", "GetBucketAnalyticsConfiguration") => "GetAnalyticsConfiguration",
        ("s3", "GetBucketInventoryConfiguration") => "GetInventoryConfiguration",
        ("s3", "GetBucketMetricsConfiguration") => "GetMetricsConfiguration",
        ("s3", "GetBucketIntelligentTieringConfiguration") => "GetIntelligentTieringConfiguration",
        ("s3", "DeleteBucketTagging") => "PutBucketTagging",
        ("s3", "DeleteBucketWebsite") => "DeleteBucketWebsite",
        ("s3", "GetObjectAttributes") => "GetObjectAttributes",
        ("lambda", "Invoke") => "InvokeFunction",
        ("sqs", "SendMessageBatch") => "SendMessage",
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        ("sqs", "ChangeMessageVisibilityBatch") => "ChangeMessageVisibility",
        ("sns", "PublishBatch") => "Publish",
        ("dynamodb", "TransactGetItems") => "GetItem",
        _ => return None,
    })
}

/// Strips the API-version suffixes some services put on event names:
/// `CreateFunction20150331`, `GetFunctionConfiguration20150331v2`, `CreateFunction2020_05_31`.
pub fn strip_version_suffix(name: &str) -> &str {
    let bytes = name.as_bytes();
    let digits_before =
        |end: usize, n: usize| end >= n && bytes[end - n..end].iter().all(u8::is_ascii_digit);
    // `…v2`, `…v10`
    let mut end = bytes.len();
    if let Some(v) = name.rfind('v') {
        if v + 1 < bytes.len()
            && bytes[v + 1..].iter().all(u8::is_ascii_digit)
            && digits_before(v, 8)
        {
            end = v;
        }
    }
    if digits_before(end, 8) && end > 8 && bytes[end - 9].is_ascii_alphabetic() {
        return &name[..end - 8];
    }
    // `…2020_05_31`
    if end >= 10 {
        let tail = &bytes[end - 10..end];
        let shape = tail.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'_',
            _ => b.is_ascii_digit(),
        });
        if shape && end > 10 && bytes[end - 11].is_ascii_alphabetic() {
            return &name[..end - 10];
        }
    }
    name
}

/// Why a known kind of event has no IAM action of its own, for the unmapped list; None when
/// there is nothing more to say than that the catalog lacks the action.
pub fn why_no_action(prefix: &str, event_name: &str) -> Option<&'static str> {
    match (prefix, event_name) {
        ("apigateway", _) => Some(
            "API Gateway authorizes management calls as apigateway:<HTTP verb> on the API's \
             resource path, which CloudTrail does not record",
        ),
        ("signin", _) => Some("console sign-in events are not IAM-authorized API calls"),
        ("discovery-marketplace", _) => Some(
            "an AWS Marketplace console call with no IAM action in the Service Authorization \
             Reference",
        ),
        _ => None,
    }
}

/// Calls that need no IAM permission at all.
pub fn needs_no_permission(prefix: &str, event_name: &str) -> Option<&'static str> {
    match (prefix, event_name) {
        ("sts", "GetCallerIdentity") => Some("sts:GetCallerIdentity needs no permission"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_suffixes() {
        assert_eq!(
            strip_version_suffix("CreateFunction20150331"),
            "CreateFunction"
        );
        assert_eq!(
            strip_version_suffix("GetFunctionConfiguration20150331v2"),
            "GetFunctionConfiguration"
        );
        assert_eq!(
            strip_version_suffix("AddPermission20150331v2"),
            "AddPermission"
        );
        assert_eq!(
            strip_version_suffix("CreateFunction2020_05_31"),
            "CreateFunction"
        );
        assert_eq!(strip_version_suffix("GetObject"), "GetObject");
        assert_eq!(
            strip_version_suffix("ListTagsForResource"),
            "ListTagsForResource"
        );
        assert_eq!(strip_version_suffix("20150331"), "20150331");
    }

    #[test]
    fn prefixes() {
        assert_eq!(iam_prefix("monitoring.amazonaws.com"), "cloudwatch");
        assert_eq!(iam_prefix("email.amazonaws.com"), "ses");
        assert_eq!(iam_prefix("s3.amazonaws.com"), "s3");
        assert_eq!(iam_prefix("kms.amazonaws.com"), "kms");
    }
}
