//! The service prefix table: how each source names a service, and the IAM service prefix its
//! actions are authorized under.
//!
//! Three names can differ for one service:
//!
//! - CloudTrail's `eventSource` is the service's endpoint name followed by `.amazonaws.com`
//!   (`monitoring.amazonaws.com` for CloudWatch, `email.amazonaws.com` for SES,
//!   `api.ecr.amazonaws.com` for ECR). The proxy names its calls the same way, from the signing
//!   name of the request's SigV4 credential scope.
//! - SDK client-side monitoring names the service by the SDK's service id (`Secrets Manager`,
//!   `CloudWatch Logs`, `SFN`).
//! - IAM authorizes the call as `<prefix>:<Action>` (`cloudwatch:PutMetricData`,
//!   `logs:PutLogEvents`, `states:StartExecution`).
//!
//! For most services the prefix is the endpoint name itself, and the SDK id lower-cased without
//! spaces (`SSM` → `ssm`, `Secrets Manager` → `secretsmanager`); [`SERVICES`] lists the others.
//! A wrong or missing entry cannot invent an action: the mapper checks every prefix and action
//! against the IAM catalog and reports what the catalog lacks as unmapped.

/// One service whose endpoint name or SDK service id is not its IAM prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The IAM service prefix (`cloudwatch`).
    pub prefix: &'static str,
    /// Endpoint names (CloudTrail's `eventSource` without `.amazonaws.com`) that mean this prefix.
    pub endpoints: &'static [&'static str],
    /// SDK service ids (client-side monitoring's `Service`) that mean this prefix.
    pub sdk_ids: &'static [&'static str],
}

const fn service(
    prefix: &'static str,
    endpoints: &'static [&'static str],
    sdk_ids: &'static [&'static str],
) -> Service {
    Service {
        prefix,
        endpoints,
        sdk_ids,
    }
}

/// Every service whose names differ from its IAM prefix. An endpoint name or an SDK id appears
/// once in the whole table. Entries whose endpoint name is the prefix itself (`es`,
/// `execute-api`…) change nothing; they record that the name was checked.
pub const SERVICES: &[Service] = &[
    service("cloudwatch", &["monitoring"], &[]),
    service("ses", &["email"], &["SESv2"]),
    service("rds-data", &["rdsdata"], &["RDS Data"]),
    service("tag", &["tagging"], &["Resource Groups Tagging API"]),
    service("cloudformation", &["cloudcontrolapi"], &[]),
    service("ecr", &["api.ecr"], &[]),
    service("pricing", &["api.pricing"], &[]),
    service(
        "sagemaker",
        &["api.sagemaker", "runtime.sagemaker"],
        &["SageMaker Runtime"],
    ),
    service("bedrock", &["bedrock-runtime"], &["Bedrock Runtime"]),
    service("execute-api", &["execute-api"], &[]),
    service("sso-directory", &["sso-directory"], &[]),
    service("dynamodb", &["streams.dynamodb"], &["DynamoDB Streams"]),
    // AWS Marketplace Agreement Service and AppRegistry authorize under their parent's prefix.
    service("aws-marketplace", &["agreement-marketplace"], &[]),
    service("servicecatalog", &["servicecatalog-appregistry"], &[]),
    service("elasticfilesystem", &["elasticfilesystem"], &["EFS"]),
    service("es", &["es"], &["Elasticsearch Service"]),
    service("logs", &[], &["CloudWatch Logs"]),
    service("events", &[], &["CloudWatch Events", "EventBridge"]),
    service("states", &[], &["SFN"]),
    service(
        "elasticloadbalancing",
        &[],
        &["Elastic Load Balancing", "Elastic Load Balancing v2"],
    ),
    service("apigateway", &[], &["API Gateway", "ApiGatewayV2"]),
    service("cognito-idp", &[], &["Cognito Identity Provider"]),
    service("cognito-identity", &[], &["Cognito Identity"]),
    service(
        "application-autoscaling",
        &[],
        &["Application Auto Scaling"],
    ),
    service("s3", &[], &["S3 Control"]),
    service("lex", &[], &["Lex Runtime Service"]),
    service("firehose", &[], &["Firehose"]),
    service("iot", &[], &["IoT Data Plane"]),
];

/// IAM prefix for a CloudTrail `eventSource` (`s3.amazonaws.com` → `s3`,
/// `monitoring.amazonaws.com` → `cloudwatch`).
pub fn iam_prefix(event_source: &str) -> &str {
    let host = event_source
        .strip_suffix(".amazonaws.com")
        .or_else(|| event_source.strip_suffix(".amazonaws.com.cn"))
        .unwrap_or(event_source);
    SERVICES
        .iter()
        .find(|s| s.endpoints.contains(&host))
        .map_or(host, |s| s.prefix)
}

/// IAM prefix for an SDK service id (`Secrets Manager` → `secretsmanager`, `SFN` → `states`).
pub fn sdk_iam_prefix(service_id: &str) -> String {
    if let Some(s) = SERVICES.iter().find(|s| s.sdk_ids.contains(&service_id)) {
        return s.prefix.to_string();
    }
    service_id
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::test_support::*;
    use serde_json::json;

    #[test]
    fn prefixes() {
        assert_eq!(iam_prefix("monitoring.amazonaws.com"), "cloudwatch");
        assert_eq!(iam_prefix("email.amazonaws.com"), "ses");
        assert_eq!(iam_prefix("s3.amazonaws.com"), "s3");
        assert_eq!(iam_prefix("kms.amazonaws.com"), "kms");
    }

    #[test]
    fn sdk_service_ids() {
        for (id, prefix) in [
            ("Secrets Manager", "secretsmanager"),
            ("SSM", "ssm"),
            ("CloudWatch Logs", "logs"),
            ("SFN", "states"),
            ("Elastic Load Balancing v2", "elasticloadbalancing"),
            ("S3 Control", "s3"),
        ] {
            assert_eq!(sdk_iam_prefix(id), prefix, "{id}");
        }
    }

    #[test]
    fn every_name_appears_once() {
        let mut endpoints: Vec<&str> = SERVICES.iter().flat_map(|s| s.endpoints).copied().collect();
        let mut ids: Vec<&str> = SERVICES.iter().flat_map(|s| s.sdk_ids).copied().collect();
        let (e, i) = (endpoints.len(), ids.len());
        endpoints.sort_unstable();
        endpoints.dedup();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((endpoints.len(), ids.len()), (e, i));
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
}
