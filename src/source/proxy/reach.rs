//! Which hosts the proxy decrypts and records, and where it refuses to go.
//!
//! Evidence comes only from AWS's endpoints (`*.amazonaws.com`, `*.amazonaws.com.cn`, `*.api.aws`)
//! and from the hosts the user names with `--intercept`: a signed-looking request to any other
//! host proves nothing about the role (anyone can write an `Authorization` header, and only AWS
//! checks it), so it is passed on, never recorded.
//!
//! Whatever can reach the proxy can also make it connect: it must not be a way into the services
//! of the machine it runs on, nor to the instance metadata and ECS credentials endpoints. So a
//! request or tunnel to a host not intercepted goes only to addresses outside the loopback,
//! link-local, unspecified, multicast and broadcast ranges (checked on the addresses the name
//! resolves to, and those very addresses are connected to), and a tunnel passed through unread
//! only to port 443. Intercepted hosts go where their DNS says: AWS's names are AWS's, and a host
//! named with `--intercept` is one the user vouches for (a local test endpoint on the loopback).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;

/// AWS's endpoint domains.
const AWS_SUFFIXES: [&str; 3] = [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"];

/// The one port a tunnel to a host not intercepted may go to: HTTPS.
pub const PASS_THROUGH_PORT: u16 = 443;

/// How long resolving and connecting to a host may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The hosts whose traffic is decrypted and recorded.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    /// `--intercept` names (`name`, or `.suffix` for a domain), normalized.
    named: Vec<String>,
}

/// A host name as compared: lowercase, without IPv6 brackets nor the root's trailing dot.
fn plain(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl Hosts {
    pub fn new(intercept: &[String]) -> Hosts {
        Hosts {
            named: intercept
                .iter()
                .map(|h| {
                    let suffix = h.starts_with('.');
                    let name = plain(h.trim_start_matches('.'));
                    if suffix {
                        format!(".{name}")
                    } else {
                        name
                    }
                })
                .filter(|h| !h.is_empty() && h != ".")
                .collect(),
        }
    }

    fn is_aws(host: &str) -> bool {
        AWS_SUFFIXES.iter().any(|s| host.ends_with(s))
    }

    fn is_named(&self, host: &str) -> bool {
        self.named
            .iter()
            .any(|h| *h == host || (h.starts_with('.') && host.ends_with(h.as_str())))
    }

    /// Whether requests to `host` are decrypted, decoded and recorded.
    pub fn intercepts(&self, host: &str) -> bool {
        let host = plain(host);
        Hosts::is_aws(&host) || self.is_named(&host)
    }

    /// What to do with `CONNECT host:port`.
    pub fn tunnel(&self, host: &str, port: u16) -> Tunnel {
        if self.intercepts(host) {
            Tunnel::Decrypt
        } else if port != PASS_THROUGH_PORT {
            Tunnel::Refuse(format!(
                "tunnels to hosts other than AWS's go to port {PASS_THROUGH_PORT} only, not \
                 {port}; name the host with --intercept if it is an AWS endpoint under another \
                 name"
            ))
        } else {
            Tunnel::PassThrough
        }
    }
}

/// The fate of a `CONNECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tunnel {
    /// Decrypted with a leaf of the proxy's CA; each request in it forwarded and recorded.
    Decrypt,
    /// Passed through as bytes to an address [`connect`] vets, never recorded.
    PassThrough,
    /// Answered 403 with the reason.
    Refuse(String),
}

/// Why the proxy will not connect to `ip` for a host it does not intercept, if it will not.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let why = match ip {
        IpAddr::V4(v4) if v4.is_loopback() => "a loopback address",
        IpAddr::V4(v4) if v4.is_link_local() => {
            "a link-local address (instance metadata, ECS credentials)"
        }
        // 0.0.0.0/8 reaches the machine itself on Linux.
        IpAddr::V4(v4) if v4.octets()[0] == 0 => "an unspecified address",
        IpAddr::V4(v4) if v4.is_multicast() || v4.is_broadcast() => "a multicast address",
        IpAddr::V6(v6) if v6.is_loopback() => "a loopback address",
        IpAddr::V6(v6) if v6.is_unicast_link_local() => "a link-local address",
        IpAddr::V6(v6) if v6.is_unspecified() => "an unspecified address",
        IpAddr::V6(v6) if v6.is_multicast() => "a multicast address",
        _ => return None,
    };
    Some(why)
}

/// Why a host could not be connected to.
#[derive(Debug)]
pub enum Unreachable {
    /// The proxy will not go there (403).
    Refused(String),
    /// It could not (502).
    Failed(String),
}

/// A connection to `host:port` for traffic not intercepted: the name resolved once, the addresses
/// [`forbidden`] dropped, the first of the others that answers connected to. Connecting to the
/// vetted address itself (not the name again) leaves no second lookup to answer otherwise.
pub async fn connect(host: &str, port: u16) -> Result<TcpStream, Unreachable> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    tokio::time::timeout(CONNECT_TIMEOUT, connect_vetted(host, port))
        .await
        .unwrap_or_else(|_| Err(Unreachable::Failed("timed out".to_string())))
}

async fn connect_vetted(host: &str, port: u16) -> Result<TcpStream, Unreachable> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Unreachable::Failed(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut refused = None;
    let mut failed = None;
    for addr in resolved {
        if let Some(why) = forbidden(addr.ip()) {
            refused = Some(format!(
                "{host} is {why} ({}), which the proxy does not connect to for hosts it does \
                 not intercept",
                addr.ip()
            ));
            continue;
        }
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => failed = Some(format!("{addr}: {e}")),
        }
    }
    Err(match (failed, refused) {
        (Some(e), _) => Unreachable::Failed(e),
        (None, Some(why)) => Unreachable::Refused(why),
        (None, None) => Unreachable::Failed(format!("{host} has no address")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_endpoints_and_named_hosts_are_intercepted_others_not() {
        let hosts = Hosts::new(&[
            "LocalStack.internal.".to_string(),
            ".corp.example".to_string(),
            "127.0.0.1".to_string(),
        ]);
        for host in [
            "ssm.eu-west-1.amazonaws.com",
            "SSM.eu-west-1.amazonaws.com.",
            "bucket.s3.cn-north-1.amazonaws.com.cn",
            "sts.eu-west-1.api.aws",
            "localstack.internal",
            "aws.corp.example",
            "127.0.0.1",
        ] {
            assert!(hosts.intercepts(host), "{host}");
        }
        for host in [
            "amazonaws.com",
            "amazonaws.com.evil.example",
            "evil-amazonaws.com",
            "corp.example.evil",
            "127.0.0.2",
            "localhost",
            "[::1]",
            "",
        ] {
            assert!(!hosts.intercepts(host), "{host}");
        }
        assert!(!Hosts::new(&[]).intercepts("127.0.0.1"));
    }

    #[test]
    fn tunnels_not_intercepted_go_to_port_443_only() {
        let hosts = Hosts::new(&["127.0.0.1".to_string()]);
        assert_eq!(
            hosts.tunnel("sqs.eu-west-1.amazonaws.com", 443),
            Tunnel::Decrypt
        );
        assert_eq!(hosts.tunnel("127.0.0.1", 4566), Tunnel::Decrypt);
        assert_eq!(hosts.tunnel("example.com", 443), Tunnel::PassThrough);
        assert!(matches!(hosts.tunnel("example.com", 22), Tunnel::Refuse(_)));
        assert!(matches!(hosts.tunnel("localhost", 6379), Tunnel::Refuse(_)));
    }

    #[test]
    fn the_machine_itself_and_its_metadata_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "169.254.170.2",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(forbidden(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in ["52.94.1.1", "10.0.0.5", "192.168.1.1", "2600:1f18::1"] {
            assert!(forbidden(ip.parse().unwrap()).is_none(), "{ip}");
        }
    }

    /// `localhost` resolves to the loopback: refused by address, whatever the name says.
    #[tokio::test]
    async fn a_name_resolving_to_the_loopback_is_refused() {
        match connect("localhost", 443).await {
            Err(Unreachable::Refused(why)) => assert!(why.contains("loopback"), "{why}"),
            other => panic!("not refused: {other:?}"),
        }
        match connect("127.0.0.1", 443).await {
            Err(Unreachable::Refused(why)) => assert!(why.contains("loopback"), "{why}"),
            other => panic!("not refused: {other:?}"),
        }
    }
}
