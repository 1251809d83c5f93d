//! The proxy as a [`LiveSource`] (`observe --proxy`): the application's AWS traffic, forwarded and
//! decoded, → calls mapped exactly as CloudTrail events are, with their resources.

use super::body::{Observed, Stats};
use super::decode::Call;
use super::server::{Config, Proxy};
use super::tls::{self, Authority};
use crate::call::{ApiCall, Principal};
use crate::catalog::Catalog;
use crate::mapping::{map_call, map_call_unread, Mapped, UngrantedKind};
use crate::source::live::{CallSink, Handed, LiveSource, Seen};
use crate::source::setup::SetupError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The source recorded with every piece of evidence from here.
pub const SOURCE: &str = "proxy";

/// Calls waiting for the recorder; past this they are dropped (and counted), never waited for.
const QUEUE: usize = 8192;
/// How long in-flight requests may still finish after SIGTERM.
const GRACE: Duration = Duration::from_millis(1500);

/// What the proxy is told (besides the role and the database).
pub struct Settings {
    pub listen: SocketAddr,
    pub ca_dir: PathBuf,
    pub upstream_ca: Option<PathBuf>,
    pub intercept: Vec<String>,
    pub body_cap: usize,
    /// Client connections open at once; more are refused.
    pub max_connections: usize,
    /// How long a client may take to send request headers (and a tunnel's TLS handshake).
    pub idle_timeout: Duration,
}

/// Counts for the summary printed on exit.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counts {
    pub requests: u64,
    pub aws_calls: u64,
    pub recorded: u64,
    pub not_aws: u64,
    pub tunnels: u64,
    pub unmapped: u64,
    pub no_permission: u64,
    pub unknown_resources: u64,
    pub upstream_errors: u64,
    pub refused_connections: u64,
    pub refused_destinations: u64,
    pub dropped: u64,
    pub flushes: u64,
}

/// The proxy, listening, for one role.
pub struct ProxySource {
    /// The role's account: the account of the resources.
    account: String,
    rx: tokio::sync::mpsc::Receiver<Observed>,
    /// Until started.
    proxy: Option<(Arc<Proxy>, tokio::net::TcpListener)>,
    server: Option<tokio::task::JoinHandle<()>>,
    stats: Arc<Stats>,
    counts: Counts,
}

impl ProxySource {
    /// Loads (or creates) the CA and listens; says where, unless `quiet`.
    pub async fn bind(
        settings: &Settings,
        role: &str,
        quiet: bool,
    ) -> Result<ProxySource, SetupError> {
        let account = role
            .split(':')
            .nth(4)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                SetupError::Failed(format!(
                    "{role}: not an IAM role ARN (arn:aws:iam::<account>:role/<name>); the account \
                     of the resources comes from it"
                ))
            })?
            .to_string();
        let authority = Arc::new(Authority::load_or_create(&settings.ca_dir)?);
        let upstream = tls::upstream_config(settings.upstream_ca.as_deref())?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|e| {
                SetupError::Failed(format!(
                    "--proxy {}: cannot listen ({e}); choose another address or port",
                    settings.listen
                ))
            })?;
        let local = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Observed>(QUEUE);
        let proxy = Arc::new(Proxy::new(
            Config {
                authority: authority.clone(),
                intercept: settings.intercept.clone(),
                upstream,
                body_cap: settings.body_cap,
                body_budget: 64 * 1024 * 1024,
                max_connections: settings.max_connections,
                header_timeout: settings.idle_timeout,
            },
            tx,
        ));
        let stats = proxy.stats.clone();
        if !quiet {
            eprintln!(
                "proxy listening on {local} for {role}; CA certificate {}: set HTTPS_PROXY=http://{local} \
                 AWS_CA_BUNDLE={} (and NO_PROXY=169.254.170.2,169.254.169.254) in the application's \
                 environment",
                authority.cert_path.display(),
                authority.cert_path.display()
            );
        }
        warn_if_reachable_from_the_network(local);
        Ok(ProxySource {
            account,
            rx,
            proxy: Some((proxy, listener)),
            server: None,
            stats,
            counts: Counts::default(),
        })
    }

    /// The counts so far, the proxy's own included; `dropped` adds the recorder's.
    pub fn counts(&self, recorder_dropped: u64) -> Counts {
        let stats = &self.stats;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let mut counts = self.counts.clone();
        counts.requests = load(&stats.requests);
        counts.aws_calls = load(&stats.aws_calls);
        counts.not_aws = load(&stats.not_aws);
        counts.tunnels = load(&stats.tunnels);
        counts.upstream_errors = load(&stats.upstream_errors);
        counts.refused_connections = load(&stats.refused_connections);
        counts.refused_destinations = load(&stats.refused_destinations);
        counts.dropped = load(&stats.dropped) + recorder_dropped;
        counts
    }
}

impl LiveSource for ProxySource {
    type Received = Observed;

    fn start(&mut self) {
        if let Some((proxy, listener)) = self.proxy.take() {
            self.server = Some(tokio::spawn(proxy.serve(listener)));
        }
        // The catalog is loaded (and a cached copy that cannot be read reported) now.
        crate::catalog::active();
    }

    async fn recv(&mut self) -> Option<Observed> {
        self.rx.recv().await
    }

    fn hand_over(&mut self, seen: Observed, sink: &mut dyn CallSink) {
        record(
            &seen,
            &self.account,
            crate::catalog::active(),
            sink,
            &mut self.counts,
        );
    }

    /// No new connections; requests under way get a moment to be answered and recorded.
    async fn stop(&mut self) -> Vec<Observed> {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        let deadline = Instant::now() + GRACE;
        while self.stats.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut left = Vec::new();
        while let Ok(seen) = self.rx.try_recv() {
            left.push(seen);
        }
        left
    }
}

/// Said even with --quiet: on an address other machines can reach, anyone there may use the
/// proxy to reach other hosts through this one, and add calls of their own (signed with their own
/// credentials, sent to AWS through it) to the role's evidence.
fn warn_if_reachable_from_the_network(local: SocketAddr) {
    if local.ip().is_loopback() {
        return;
    }
    eprintln!(
        "warning: --proxy {local} is not a loopback address: the proxy is an unauthenticated \
         relay that anyone who can reach this address may use, to reach other hosts and to add \
         AWS calls of their own to the role's evidence; listen on 127.0.0.1 (an ECS sidecar \
         shares it with the application) unless only trusted machines can reach it"
    );
}

/// Maps one observed call as CloudTrail evidence is mapped, and folds it in.
fn record(
    seen: &Observed,
    account: &str,
    catalog: &Catalog,
    rec: &mut dyn CallSink,
    counts: &mut Counts,
) {
    counts.recorded += 1;
    let call = match &seen.call {
        Ok(call) => call,
        Err(undecoded) => {
            counts.unmapped += 1;
            let source = format!("{}.amazonaws.com", undecoded.scope.service);
            rec.ungranted(
                UngrantedKind::Unmapped,
                undecoded.reason.clone(),
                &Seen {
                    event_source: &source,
                    event_name: "(unknown operation)",
                    error_code: &seen.error_code,
                    ms: seen.ms,
                },
            );
            return;
        }
    };
    let event_source = format!("{}.amazonaws.com", call.scope.service);
    let role = rec.role().to_string();
    let mapped = map_decoded(call, &seen.error_code, seen.ms, &role, account, catalog);
    let s = Seen {
        event_source: &event_source,
        event_name: &call.operation,
        error_code: &seen.error_code,
        ms: seen.ms,
    };
    match rec.mapped(mapped, &s) {
        Handed::Granted { unknown_resources } => counts.unknown_resources += unknown_resources,
        Handed::Ungranted(UngrantedKind::NoPermission) => counts.no_permission += 1,
        Handed::Ungranted(UngrantedKind::Unmapped) => counts.unmapped += 1,
    }
}

/// What one decoded call of `role` proves, mapped exactly as its CloudTrail event would be.
/// Parameters that were not read, or could not be, leave the resource of an action that takes one
/// unknown ([`UNKNOWN_RESOURCE`]), never `*`: seeing no resource is not seeing "any resource".
pub fn map_decoded(
    call: &Call,
    error_code: &str,
    ms: i64,
    role: &str,
    account: &str,
    catalog: &Catalog,
) -> Mapped {
    let event_source = format!("{}.amazonaws.com", call.scope.service);
    let event_time = crate::source::live::time(ms);
    let params = call.params.as_ref().map(|p| p.to_string());
    let api_call = ApiCall {
        event_id: "",
        event_time: &event_time,
        event_source: &event_source,
        event_name: &call.operation,
        region: &call.scope.region,
        principal: Principal::Role {
            role_arn: role,
            session: "",
        },
        error_code: (!error_code.is_empty()).then_some(error_code),
        invoked_by: None,
        // The proxy is the application's (its HTTPS_PROXY); where the agent's calls could pass
        // it too (a host-wide proxy), the side is left to the synthesis rules.
        caller: crate::call::Caller::Unknown,
        recipient_account: None,
        principal_account: Some(account),
        request_parameters: params.as_deref(),
        resources: Vec::new(),
    };
    if call.params.is_none() {
        map_call_unread(&api_call, catalog)
    } else {
        map_call(&api_call, catalog)
    }
}
