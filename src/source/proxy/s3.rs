//! S3's REST-XML protocol: the operation from the method, the bucket and key (virtual-hosted or
//! path-style) and the sub-resource in the query string; parameters as CloudTrail names them
//! (`bucketName`, `key`, `versionId`, `x-amz-copy-source`, `delete`).
//!
//! Only DeleteObjects needs its (small XML) body; object bodies are never read.

use super::decode::{percent_decode, percent_decode_path, query_pairs, RequestView};
use serde_json::{json, Map, Value};

/// Whether the operation's resources are in the body (DeleteObjects lists its keys there).
pub fn needs_body(req: &RequestView) -> bool {
    req.method == http::Method::POST && has(req, "delete")
}

fn has(req: &RequestView, name: &str) -> bool {
    query_pairs(req.query.unwrap_or("")).any(|(k, _)| k == name)
}

fn value(req: &RequestView, name: &str) -> Option<String> {
    query_pairs(req.query.unwrap_or(""))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

/// Bucket (or access point ARN) and key.
fn target(req: &RequestView) -> (Option<String>, Option<String>) {
    let path = req.path.strip_prefix('/').unwrap_or(req.path);
    if let Some(bucket) = host_bucket(req.host) {
        let key = (!path.is_empty()).then(|| percent_decode_path(path));
        return (Some(bucket), key);
    }
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, Some(k).filter(|k| !k.is_empty())),
        None => (path, None),
    };
    let bucket = (!bucket.is_empty()).then(|| percent_decode_path(bucket));
    (bucket, key.map(percent_decode_path))
}

/// The bucket of a virtual-hosted-style host (`b.s3.eu-west-1.amazonaws.com`,
/// `b.s3-eu-west-1.amazonaws.com`, `b.bucket.vpce-….s3.….vpce.amazonaws.com`), or the access point
/// ARN of an access point host (`name-123456789012.s3-accesspoint.eu-west-1.amazonaws.com`).
fn host_bucket(host: &str) -> Option<String> {
    let cn = host.ends_with(".amazonaws.com.cn");
    if !cn && !host.ends_with(".amazonaws.com") {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let at = labels
        .iter()
        .rposition(|l| *l == "s3" || l.starts_with("s3-"))?;
    if labels[at] == "s3-accesspoint" {
        let (name, account) = labels.first()?.rsplit_once('-')?;
        let region = labels.get(at + 1)?;
        let partition = if cn {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        return (at == 1 && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("arn:{partition}:s3:{region}:{account}:accesspoint/{name}"));
    }
    // VPC endpoint hosts put `bucket.vpce-…` before `s3`.
    let end = match at.checked_sub(1).map(|i| labels[i]) {
        Some(l) if l.starts_with("vpce-") => at - 1,
        _ => at,
    };
    let mut bucket: Vec<&str> = labels[..end].to_vec();
    if bucket.last() == Some(&"bucket") && end != at {
        bucket.pop();
    }
    (!bucket.is_empty()).then(|| bucket.join("."))
}

/// Bucket sub-resources: (query name, GET, PUT, DELETE operation).
const BUCKET_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("acl", "GetBucketAcl", "PutBucketAcl", ""),
    (
        "policy",
        "GetBucketPolicy",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
    ),
    (
        "tagging",
        "GetBucketTagging",
        "PutBucketTagging",
        "DeleteBucketTagging",
    ),
    (
        "versioning",
        "GetBucketVersioning",
        "PutBucketVersioning",
        "",
    ),
    (
        "lifecycle",
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
    ),
    (
        "encryption",
        "GetBucketEncryption",
        "PutBucketEncryption",
        "DeleteBucketEncryption",
    ),
    ("cors", "GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    (
        "notification",
        "GetBucketNotificationConfiguration",
        "PutBucketNotificationConfiguration",
        "",
    ),
    (
        "website",
        "GetBucketWebsite",
        "PutBucketWebsite",
        "DeleteBucketWebsite",
    ),
    ("logging", "GetBucketLogging", "PutBucketLogging", ""),
    (
        "replication",
        "GetBucketReplication",
        "PutBucketReplication",
        "DeleteBucketReplication",
    ),
    (
        "publicAccessBlock",
        "GetPublicAccessBlock",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
    ),
    (
        "object-lock",
        "GetObjectLockConfiguration",
        "PutObjectLockConfiguration",
        "",
    ),
    (
        "accelerate",
        "GetBucketAccelerateConfiguration",
        "PutBucketAccelerateConfiguration",
        "",
    ),
    (
        "requestPayment",
        "GetBucketRequestPayment",
        "PutBucketRequestPayment",
        "",
    ),
    (
        "ownershipControls",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
    ),
    ("policyStatus", "GetBucketPolicyStatus", "", ""),
    ("location", "GetBucketLocation", "", ""),
    (
        "analytics",
        "GetBucketAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration",
        "DeleteBucketAnalyticsConfiguration",
    ),
    (
        "inventory",
        "GetBucketInventoryConfiguration",
        "PutBucketInventoryConfiguration",
        "DeleteBucketInventoryConfiguration",
    ),
    (
        "metrics",
        "GetBucketMetricsConfiguration",
        "PutBucketMetricsConfiguration",
        "DeleteBucketMetricsConfiguration",
    ),
    (
        "intelligent-tiering",
        "GetBucketIntelligentTieringConfiguration",
        "PutBucketIntelligentTieringConfiguration",
        "DeleteBucketIntelligentTieringConfiguration",
    ),
];

/// Object sub-resources: (query name, GET, PUT, DELETE operation).
const OBJECT_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("acl", "GetObjectAcl", "PutObjectAcl", ""),
    (
        "tagging",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
    ),
    ("attributes", "GetObjectAttributes", "", ""),
    ("legal-hold", "GetObjectLegalHold", "PutObjectLegalHold", ""),
    ("retention", "GetObjectRetention", "PutObjectRetention", ""),
    ("torrent", "GetObjectTorrent", "", ""),
];

fn operation(req: &RequestView, bucket: bool, key: bool) -> Option<&'static str> {
    let m = req.method.as_str();
    let sub = |table: &[(&str, &'static str, &'static str, &'static str)]| {
        table.iter().find(|row| has(req, row.0)).and_then(|row| {
            let op = match m {
                "GET" => row.1,
                "PUT" => row.2,
                "DELETE" => row.3,
                _ => "",
            };
            (!op.is_empty()).then_some(op)
        })
    };
    let copy = req.headers.contains_key("x-amz-copy-source");
    Some(match (m, bucket, key) {
        ("GET", false, _) => "ListBuckets",
        (_, false, _) => return None,
        ("HEAD", true, false) => "HeadBucket",
        ("POST", true, false) if has(req, "delete") => "DeleteObjects",
        (_, true, false) if !BUCKET_SUBRESOURCES.iter().any(|r| has(req, r.0)) => match m {
            "GET" if value(req, "list-type").as_deref() == Some("2") => "ListObjectsV2",
            "GET" if has(req, "versions") => "ListObjectVersions",
            "GET" if has(req, "uploads") => "ListMultipartUploads",
            "GET" => "ListObjects",
            "PUT" => "CreateBucket",
            "DELETE" => "DeleteBucket",
            _ => return None,
        },
        (_, true, false) => return sub(BUCKET_SUBRESOURCES),
        ("HEAD", true, true) => "HeadObject",
        ("GET", true, true) if has(req, "uploadId") => "ListParts",
        ("PUT", true, true) if has(req, "uploadId") && has(req, "partNumber") => {
            if copy {
                "UploadPartCopy"
            } else {
                "UploadPart"
            }
        }
        ("POST", true, true) if has(req, "uploads") => "CreateMultipartUpload",
        ("POST", true, true) if has(req, "uploadId") => "CompleteMultipartUpload",
        ("POST", true, true) if has(req, "restore") => "RestoreObject",
        ("POST", true, true) if has(req, "select") => "SelectObjectContent",
        ("DELETE", true, true) if has(req, "uploadId") => "AbortMultipartUpload",
        (_, true, true) if OBJECT_SUBRESOURCES.iter().any(|r| has(req, r.0)) => {
            return sub(OBJECT_SUBRESOURCES)
        }
        ("GET", true, true) => "GetObject",
        ("PUT", true, true) if copy => "CopyObject",
        ("PUT", true, true) => "PutObject",
        ("DELETE", true, true) => "DeleteObject",
        _ => return None,
    })
}

/// The operation and CloudTrail-shaped parameters; `None` parameters when the body they are in
/// was not read.
pub fn decode(req: &RequestView, body: Option<&[u8]>) -> Result<(String, Option<Value>), String> {
    if req.host.contains(".s3-control.") {
        return Err("S3 Control API request: operation not decoded".to_string());
    }
    let (bucket, key) = target(req);
    // Recent SDKs name the operation in `x-id`; trusted only when it looks like one.
    let named = value(req, "x-id").filter(|op| {
        !op.is_empty() && op.len() <= 64 && op.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    let op = match named {
        Some(op) => op,
        None => operation(req, bucket.is_some(), key.is_some())
            .ok_or_else(|| {
                format!(
                    "S3 {} request on {} with sub-resource(s) [{}]: operation not decoded",
                    req.method,
                    match (&bucket, &key) {
                        (None, _) => "the service",
                        (Some(_), None) => "a bucket",
                        (Some(_), Some(_)) => "an object",
                    },
                    query_pairs(req.query.unwrap_or(""))
                        .map(|(k, _)| k)
                        .filter(|k| k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?
            .to_string(),
    };
    let mut params = Map::new();
    if let Some(b) = bucket {
        params.insert("bucketName".into(), Value::String(b));
    }
    if let Some(k) = key {
        params.insert("key".into(), Value::String(k));
    }
    if let Some(v) = value(req, "versionId").filter(|v| !v.is_empty()) {
        params.insert("versionId".into(), Value::String(v));
    }
    if let Some(src) = req
        .headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
    {
        params.insert("x-amz-copy-source".into(), Value::String(src.to_string()));
    }
    if op == "DeleteObjects" {
        let Some(body) = body else {
            return Ok((op, None));
        };
        let keys = xml_keys(body);
        // A body without a single key is not one S3 would accept: what it deletes is unknown,
        // not the bucket's every object.
        if keys.is_empty() {
            return Ok((op, None));
        }
        let objects: Vec<Value> = keys.into_iter().map(|k| json!({ "Key": k })).collect();
        params.insert("delete".into(), json!({ "Object": objects }));
    }
    Ok((op, Some(Value::Object(params))))
}

/// The `<Key>` values of a DeleteObjects body, entities decoded.
fn xml_keys(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("<Key>") {
        rest = &rest[start + 5..];
        let Some(end) = rest.find("</Key>") else {
            break;
        };
        out.push(xml_unescape(&rest[..end]));
        rest = &rest[end + 6..];
        if out.len() >= 1000 {
            break;
        }
    }
    out
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, Method};

    fn op(method: Method, host: &str, path_and_query: &str, copy: bool) -> (String, Value) {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let mut h = HeaderMap::new();
        if copy {
            h.insert(
                "x-amz-copy-source",
                HeaderValue::from_static("src-bucket/in%20box/a.csv?versionId=7"),
            );
        }
        let req = RequestView {
            method: &method,
            host,
            path,
            query,
            headers: &h,
        };
        let (op, params) = decode(&req, Some(b"")).unwrap();
        (op, params.unwrap())
    }

    #[test]
    fn path_style_operations_as_boto3_sends_them() {
        let h = "127.0.0.1";
        let cases = [
            (Method::GET, "/", "ListBuckets"),
            (Method::PUT, "/app-bucket", "CreateBucket"),
            (Method::HEAD, "/app-bucket", "HeadBucket"),
            (
                Method::GET,
                "/app-bucket?list-type=2&prefix=a%2F&encoding-type=url",
                "ListObjectsV2",
            ),
            (Method::GET, "/app-bucket?prefix=a", "ListObjects"),
            (Method::GET, "/app-bucket?versions", "ListObjectVersions"),
            (Method::GET, "/app-bucket?location", "GetBucketLocation"),
            (Method::PUT, "/app-bucket?tagging", "PutBucketTagging"),
            (Method::DELETE, "/app-bucket?policy", "DeleteBucketPolicy"),
            (Method::GET, "/app-bucket/a.txt", "GetObject"),
            (Method::HEAD, "/app-bucket/a.txt", "HeadObject"),
            (Method::PUT, "/app-bucket/a.txt", "PutObject"),
            (Method::DELETE, "/app-bucket/a.txt", "DeleteObject"),
            (Method::GET, "/app-bucket/a.txt?tagging", "GetObjectTagging"),
            (
                Method::POST,
                "/app-bucket/big.bin?uploads",
                "CreateMultipartUpload",
            ),
            (
                Method::PUT,
                "/app-bucket/big.bin?partNumber=1&uploadId=xyz",
                "UploadPart",
            ),
            (
                Method::POST,
                "/app-bucket/big.bin?uploadId=xyz",
                "CompleteMultipartUpload",
            ),
            (
                Method::DELETE,
                "/app-bucket/big.bin?uploadId=xyz",
                "AbortMultipartUpload",
            ),
            (Method::GET, "/app-bucket/a.txt?x-id=GetObject", "GetObject"),
        ];
        for (m, pq, want) in cases {
            assert_eq!(op(m.clone(), h, pq, false).0, want, "{m} {pq}");
        }
        let (o, p) = op(
            Method::PUT,
            h,
            "/app-bucket/reports/2026%2F11/x%20y.csv",
            true,
        );
        assert_eq!(o, "CopyObject");
        assert_eq!(
            p,
            json!({"bucketName": "app-bucket", "key": "reports/2026/11/x y.csv",
                   "x-amz-copy-source": "src-bucket/in%20box/a.csv?versionId=7"})
        );
        let (_, p) = op(Method::GET, h, "/app-bucket/a.txt?versionId=3Lg", false);
        assert_eq!(p["versionId"], "3Lg");
    }

    #[test]
    fn virtual_hosted_and_access_point_hosts() {
        let (o, p) = op(
            Method::GET,
            "app-bucket.s3.eu-west-1.amazonaws.com",
            "/dir/a.txt",
            false,
        );
        assert_eq!(o, "GetObject");
        assert_eq!(p, json!({"bucketName": "app-bucket", "key": "dir/a.txt"}));
        let (o, p) = op(
            Method::GET,
            "my.s3.bucket.s3.amazonaws.com",
            "/?list-type=2",
            false,
        );
        assert_eq!(o, "ListObjectsV2");
        assert_eq!(p, json!({"bucketName": "my.s3.bucket"}));
        let (_, p) = op(Method::GET, "b.s3-eu-west-1.amazonaws.com", "/k", false);
        assert_eq!(p["bucketName"], "b");
        let (_, p) = op(Method::GET, "s3.eu-west-1.amazonaws.com", "/b/k", false);
        assert_eq!(p, json!({"bucketName": "b", "key": "k"}));
        let (_, p) = op(
            Method::GET,
            "b.bucket.vpce-0a1b2c3d-4e5f.s3.eu-west-1.vpce.amazonaws.com",
            "/k",
            false,
        );
        assert_eq!(p["bucketName"], "b");
        let (_, p) = op(
            Method::GET,
            "reports-ap-123456789012.s3-accesspoint.eu-west-1.amazonaws.com",
            "/k",
            false,
        );
        assert_eq!(
            p["bucketName"],
            "arn:aws:s3:eu-west-1:123456789012:accesspoint/reports-ap"
        );
    }

    #[test]
    fn delete_objects_reads_its_keys_from_the_body() {
        let h = HeaderMap::new();
        let req = RequestView {
            method: &Method::POST,
            host: "127.0.0.1",
            path: "/b",
            query: Some("delete"),
            headers: &h,
        };
        assert!(needs_body(&req));
        let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>a&amp;b.txt</Key></Object><Object><Key>c.txt</Key><VersionId>1</VersionId></Object><Quiet>true</Quiet></Delete>";
        let (o, p) = decode(&req, Some(body)).unwrap();
        assert_eq!(o, "DeleteObjects");
        assert_eq!(
            p.unwrap()["delete"],
            json!({"Object": [{"Key": "a&b.txt"}, {"Key": "c.txt"}]})
        );
        assert_eq!(decode(&req, None).unwrap().1, None);
        // A body with no key in it (garbage, cut short): the objects are unknown, never `*`.
        let garbage: [&[u8]; 3] = [
            b"\x00\xff<Delete><Object><Key>cut",
            b"",
            b"{\"Key\": \"a\"}",
        ];
        for body in garbage {
            assert_eq!(decode(&req, Some(body)).unwrap().1, None);
        }
    }

    #[test]
    fn unknown_operations_are_not_guessed() {
        let h = HeaderMap::new();
        let req = RequestView {
            method: &Method::PATCH,
            host: "127.0.0.1",
            path: "/b/k",
            query: Some("frobnicate"),
            headers: &h,
        };
        let why = decode(&req, None).unwrap_err();
        assert!(why.contains("PATCH") && why.contains("frobnicate"), "{why}");
        // A key name never appears in the reason.
        assert!(!why.contains("/b/k"));
    }
}
