//! Event source and event name → IAM service prefix and action name.
//!
//! The default rule is `<prefix>:<eventName>`, with the API version some services append to their
//! event names removed (`CreateFunction20150331` → `CreateFunction`). The exceptions, where
//! CloudTrail's names and IAM's differ, are each service's `renamed` table (`s3.rs`, `sqs.rs`…),
//! and the prefix table is `prefixes.rs`. Every result is checked against the catalog by the
//! caller, so a table entry can never put a non-existent action into a policy.

pub use super::prefixes::iam_prefix;

/// IAM action names whose CloudTrail event name differs, per prefix: each service's table is in
/// its own file (`s3.rs`, `sqs.rs`…). `None` means the default rule applies.
pub fn renamed(prefix: &str, event_name: &str) -> Option<&'static str> {
    match prefix {
        "s3" => super::s3::renamed(event_name),
        "lambda" => super::lambda::renamed(event_name),
        "sqs" => super::sqs::renamed(event_name),
        "sns" => super::sns::renamed(event_name),
        "dynamodb" => super::dynamodb::renamed(event_name),
        "bedrock" => super::bedrock::renamed(event_name),
        _ => None,
    }
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

/// Calls that need no IAM permission at all (`sts:GetCallerIdentity`, see `sts.rs`).
pub fn needs_no_permission(prefix: &str, event_name: &str) -> Option<&'static str> {
    match prefix {
        "sts" => super::sts::needs_no_permission(event_name),
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
}
