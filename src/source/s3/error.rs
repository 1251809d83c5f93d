//! A failed S3 request in one line: the operation and bucket, what S3 said (its error code and
//! message) or, when it said nothing, why not, and the one hint that fits the failure.
//!
//! The SDK's own reports (`Debug`, `DisplayErrorContext`) end with a dump of its error structures:
//! useful in a bug report, noise in a warning about a trail bucket.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// What went wrong, as far as the hint cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure<'a> {
    /// S3 answered with this error code.
    Code(&'a str),
    /// S3 answered with an error status and no code (a HEAD request, a proxy in the way).
    Status(u16),
    /// No answer: connection refused, DNS, TLS, timeout.
    Network,
    /// The request was not sent: credentials could not be loaded, or no region is set.
    Setup,
    /// An answer that is not S3's.
    NotS3,
}

impl<'a> Failure<'a> {
    pub(super) fn of<E: ProvideErrorMetadata>(e: &'a SdkError<E>) -> Failure<'a> {
        match e {
            SdkError::ServiceError(s) => match e.code() {
                Some(code) => Failure::Code(code),
                None => Failure::Status(s.raw().status().as_u16()),
            },
            SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Failure::Network,
            SdkError::TimeoutError(_) => Failure::Network,
            SdkError::ResponseError(_) => Failure::NotS3,
            // A construction failure, or a dispatch failure of another kind: the SDK reports a
            // failure to load credentials that way.
            _ => Failure::Setup,
        }
    }

    /// What to do about it. `bucket` and `prefix` name the location being read.
    pub(super) fn hint(self, bucket: &str, prefix: &str) -> String {
        match self {
            Failure::Code("NoSuchBucket") | Failure::Status(404) => {
                "check the bucket name".to_string()
            }
            Failure::Code("AccessDenied" | "AllAccessDisabled") | Failure::Status(403) => {
                format!(
                    "check the permissions: reading a trail needs s3:ListBucket on the bucket \
                     {bucket} and s3:GetObject on {bucket}/{prefix}*"
                )
            }
            Failure::Code(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken"
                | "TokenRefreshRequired",
            ) => "check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID…) or renew an expired \
                  session"
                .to_string(),
            Failure::Code("PermanentRedirect" | "AuthorizationHeaderMalformed") => {
                "the bucket is in another region: set AWS_REGION to it".to_string()
            }
            Failure::Code("NoSuchKey") => {
                "the object went away after it was listed: run observe again".to_string()
            }
            Failure::Network => {
                "check the endpoint and network access (AWS_ENDPOINT_URL, proxy settings)"
                    .to_string()
            }
            Failure::Setup => {
                "check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID…) and AWS_REGION"
                    .to_string()
            }
            Failure::NotS3 => {
                "the endpoint does not answer as S3 does: check AWS_ENDPOINT_URL".to_string()
            }
            Failure::Code(_) | Failure::Status(_) => {
                "check the bucket, AWS_REGION and the permissions of the credentials in use"
                    .to_string()
            }
        }
    }
}

/// `operation on target failed: what S3 said; hint`, on one line.
pub(super) fn describe<E>(
    operation: &str,
    target: &str,
    (bucket, prefix): (&str, &str),
    e: &SdkError<E>,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = Failure::of(e);
    let said = match failure {
        Failure::Code(code) => match e.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_string(),
        },
        Failure::Status(status) => format!("HTTP status {status}"),
        // Nothing from S3: the causes, each by its own Display, as DisplayErrorContext gives
        // them before its dump. A dispatch failure's first two ("dispatch failure", then the
        // kind: "io error", "other") say less than the hint.
        _ => match e {
            SdkError::DispatchFailure(d) => d
                .as_connector_error()
                .and_then(std::error::Error::source)
                .map(causes),
            _ => None,
        }
        .unwrap_or_else(|| causes(e)),
    };
    let line = format!(
        "{operation} on {target} failed: {}; {}",
        said.trim_end_matches('.'),
        failure.hint(bucket, prefix)
    );
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The error and its sources, joined by `: `; a source that repeats the text before it is left
/// out (wrappers often display their source as their own message).
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hint_by_failure() {
        let hint = |f: Failure| f.hint("trail", "AWSLogs/");
        assert_eq!(hint(Failure::Code("NoSuchBucket")), "check the bucket name");
        assert!(hint(Failure::Code("AccessDenied"))
            .contains("s3:ListBucket on the bucket trail and s3:GetObject on trail/AWSLogs/*"));
        assert_eq!(
            hint(Failure::Status(403)),
            hint(Failure::Code("AccessDenied"))
        );
        assert!(hint(Failure::Code("ExpiredToken")).contains("credentials"));
        assert!(hint(Failure::Code("PermanentRedirect")).contains("AWS_REGION"));
        assert!(hint(Failure::Network).contains("AWS_ENDPOINT_URL"));
        assert!(hint(Failure::Setup).contains("credentials"));
        // The line is `…: what S3 said; hint`: a hint is one clause.
        for f in [
            Failure::Code("NoSuchBucket"),
            Failure::Code("AccessDenied"),
            Failure::Code("ExpiredToken"),
            Failure::Code("PermanentRedirect"),
            Failure::Code("NoSuchKey"),
            Failure::Code("SlowDown"),
            Failure::Status(500),
            Failure::Network,
            Failure::Setup,
            Failure::NotS3,
        ] {
            assert!(!hint(f).contains(';'), "{}", hint(f));
        }
    }

    #[test]
    fn causes_are_joined_without_repeats() {
        #[derive(Debug)]
        struct Wrap(&'static str, Option<Box<Wrap>>);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|w| w as _)
            }
        }
        let e = Wrap(
            "dispatch failure",
            Some(Box::new(Wrap(
                "refused",
                Some(Box::new(Wrap("refused", None))),
            ))),
        );
        assert_eq!(causes(&e), "dispatch failure: refused");
    }
}
