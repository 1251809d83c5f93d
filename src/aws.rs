//! The one place AWS SDK configuration is loaded: credentials, region and endpoint come from the
//! usual environment (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL` for moto or a VPC endpoint…).
//! The HTTP client is rustls with ring, chosen explicitly so no other TLS stack is compiled in.

use aws_smithy_http_client::tls;

pub async fn sdk_config() -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}
