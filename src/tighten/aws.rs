//! AWS plumbing for tighten: the SDK configuration (credentials, region, endpoint override,
//! retries), the caller's identity, and AWS errors turned into messages that say what to do.

use aws_config::retry::RetryConfig;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;

/// IAM is a global service signed in us-east-1 (aws partition); Access Analyzer is regional and
/// needs some region, so without one configured this is used.
const FALLBACK_REGION: &str = "us-east-1";

/// The shared SDK configuration ([`crate::aws::sdk_config`]: credentials from the environment,
/// profile, container (ECS task role) or instance metadata; region from `AWS_REGION` or the
/// profile; endpoint override from `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_IAM`, `_STS`,
/// `_ACCESSANALYZER`, which is how the tests point it at a local moto server), with tighten's
/// retries: throttling and transient errors are retried by the SDK's standard mode (exponential
/// backoff with jitter), up to `max_attempts` tries per call.
pub async fn sdk_config(max_attempts: u32) -> aws_config::SdkConfig {
    let loaded = crate::aws::sdk_config().await;
    let has_region = loaded.region().is_some();
    let mut builder = loaded
        .into_builder()
        .retry_config(retry_config(max_attempts));
    if !has_region {
        builder = builder.region(aws_config::Region::from_static(FALLBACK_REGION));
    }
    builder.build()
}

/// The SDK's standard retry mode (throttling and transient errors, exponential backoff with
/// jitter from 200 ms), `max_attempts` tries per call.
pub fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
}

/// Who the credentials belong to (recorded with every change), or why that is unknown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Caller {
    /// `sts:GetCallerIdentity` ARN, or `unknown`.
    pub arn: String,
    pub account: Option<String>,
    /// Why the identity is unknown, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_because: Option<String>,
}

pub async fn caller(config: &aws_config::SdkConfig) -> Caller {
    let sts = aws_sdk_sts::Client::new(config);
    match sts.get_caller_identity().send().await {
        Ok(out) => Caller {
            arn: out.arn().unwrap_or("unknown").to_string(),
            account: out.account().map(str::to_string),
            unknown_because: None,
        },
        Err(e) => Caller {
            arn: "unknown".to_string(),
            account: None,
            unknown_because: Some(describe(&e, "sts:GetCallerIdentity", "").message),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    AccessDenied,
    NoSuchEntity,
    Throttling,
    /// No answer, or an answer that is not an AWS error document (moto's HTML 500 for a service it
    /// does not implement, a proxy's error page).
    Unreachable,
    Other,
}

/// An AWS call that failed, with a message naming the call, the target and what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Turns an SDK error into an [`AwsError`]. `permission` is the IAM action the call needs (also
/// the operation's name in messages); `target` names what it was called on ("" when nothing).
pub fn describe<E>(err: &SdkError<E, HttpResponse>, permission: &str, target: &str) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let on = if target.is_empty() {
        String::new()
    } else {
        format!(" on {target}")
    };
    let status = err.raw_response().map(|r| r.status().as_u16());
    // Some endpoints (moto) send error documents the SDK does not recognise: read the code and
    // message from the body, and take a bare 403 for what it is.
    let body = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let code = match err.code() {
        Some(c) => c.to_string(),
        None => match xml_element(&body, "Code") {
            Some(c) => c,
            None if status == Some(403) => "AccessDenied".to_string(),
            None => String::new(),
        },
    };
    let code = code.as_str();
    let detail = err
        .message()
        .map(str::to_string)
        .or_else(|| xml_element(&body, "Message"))
        .unwrap_or_default();
    let (kind, message) = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => (
            ErrorKind::Unreachable,
            format!(
                "{permission}{on}: no answer from the AWS endpoint ({}); check the network, \
                 AWS_REGION and AWS_ENDPOINT_URL",
                error_chain(err)
            ),
        ),
        _ if code == "AccessDenied"
            || code == "AccessDeniedException"
            || code.ends_with("UnauthorizedOperation") =>
        {
            (
                ErrorKind::AccessDenied,
                format!(
                "{permission}{on}: access denied ({detail}); the credentials policy-miner runs \
                 with need the {permission} permission"
            ),
            )
        }
        _ if code == "NoSuchEntity" || code == "NoSuchEntityException" => (
            ErrorKind::NoSuchEntity,
            format!(
                "{permission}{on}: no such entity ({detail}); the role or policy is gone from IAM"
            ),
        ),
        _ if is_throttling(code) => (
            ErrorKind::Throttling,
            format!(
                "{permission}{on}: still throttled after the SDK's retries ({code}: {detail}); \
                 run again later or raise AWS_MAX_ATTEMPTS"
            ),
        ),
        _ if code.is_empty() => {
            let body = summarize_body(body.as_bytes());
            (
                ErrorKind::Unreachable,
                format!(
                    "{permission}{on}: the endpoint answered HTTP {} without an AWS error \
                     document{}; is this service available at that endpoint?",
                    status.map(|s| s.to_string()).unwrap_or_else(|| "?".into()),
                    if body.is_empty() {
                        String::new()
                    } else {
                        format!(" ({body})")
                    }
                ),
            )
        }
        _ => (
            ErrorKind::Other,
            format!("{permission}{on}: {code}: {detail}"),
        ),
    };
    AwsError { kind, message }
}

/// The text of the first `<name>…</name>` in an XML body.
fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))?;
    let text = body[start..start + end].trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "SlowDown"
    )
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

/// The readable part of an error body: tags stripped, whitespace collapsed, at most 160 chars.
fn summarize_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut line = words.join(" ");
    if line.chars().count() > 160 {
        line = line.chars().take(160).collect::<String>() + "…";
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_error_pages_are_summarized_to_their_text() {
        let html = b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>";
        assert_eq!(
            summarize_body(html),
            "500 Internal Server Error Internal Server Error"
        );
    }
}
