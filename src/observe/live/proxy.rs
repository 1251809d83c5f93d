//! `observe --proxy`: the application's AWS traffic, forwarded and decoded, → evidence with
//! resources, mapped exactly as CloudTrail events are.

use super::{Common, Grant, Recorder, Seen, Stop};
use crate::call::{ApiCall, Principal};
use crate::catalog::Catalog;
use crate::mapping::{map_call, Mapped, ANY_RESOURCE};
use crate::source::proxy::body::Observed;
use crate::source::proxy::decode::Call;
use crate::source::proxy::server::{Config, Proxy};
use crate::source::proxy::tls::{self, Authority};
use crate::store::UNKNOWN_RESOURCE;
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

pub struct Options {
    pub common: Common,
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

/// Serves until SIGTERM or Ctrl-C; returns the counts.
pub async fn run(opts: Options) -> anyhow::Result<Counts> {
    let (store, role) = opts.common.open().await?;
    let account = role
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{role}: not an IAM role ARN (arn:aws:iam::<account>:role/<name>); the account \
                 of the resources comes from it"
            )
        })?
        .to_string();
    let authority = Arc::new(Authority::load_or_create(&opts.ca_dir)?);
    let upstream = tls::upstream_config(opts.upstream_ca.as_deref())?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "--proxy {}: cannot listen ({e}); choose another address or port",
                opts.listen
            )
        })?;
    let local = listener.local_addr()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Observed>(QUEUE);
    let proxy = Arc::new(Proxy::new(
        Config {
            authority: authority.clone(),
            intercept: opts.intercept.clone(),
            upstream,
            body_cap: opts.body_cap,
            body_budget: 64 * 1024 * 1024,
            max_connections: opts.max_connections,
            header_timeout: opts.idle_timeout,
        },
        tx,
    ));
    let stats = proxy.stats.clone();
    if !opts.common.quiet {
        eprintln!(
            "proxy listening on {local} for {role}; CA certificate {}: set HTTPS_PROXY=http://{local} \
             AWS_CA_BUNDLE={} (and NO_PROXY=169.254.170.2,169.254.169.254) in the application's \
             environment",
            authority.cert_path.display(),
            authority.cert_path.display()
        );
    }
    warn_if_reachable_from_the_network(local);
    let mut stop = Stop::new()?;
    let server = tokio::spawn(proxy.serve(listener));
    let catalog = crate::catalog::active();
    let mut ticker = opts.common.ticker();
    let mut rec = Recorder::new(store, role, SOURCE, &opts.common);
    let mut counts = Counts::default();
    loop {
        tokio::select! {
            Some(seen) = rx.recv() => {
                record(&seen, &account, catalog, &mut rec, &mut counts);
                if rec.wants_flush() {
                    rec.start_flush();
                }
            }
            _ = ticker.tick() => rec.start_flush(),
            done = rec.write_done() => rec.after_write(done),
            _ = stop.wait() => break,
        }
    }
    // No new connections; requests under way get a moment to be answered and recorded.
    server.abort();
    let deadline = Instant::now() + GRACE;
    while stats.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while let Ok(seen) = rx.try_recv() {
        record(&seen, &account, catalog, &mut rec, &mut counts);
    }
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    counts.requests = load(&stats.requests);
    counts.aws_calls = load(&stats.aws_calls);
    counts.not_aws = load(&stats.not_aws);
    counts.tunnels = load(&stats.tunnels);
    counts.upstream_errors = load(&stats.upstream_errors);
    counts.refused_connections = load(&stats.refused_connections);
    counts.refused_destinations = load(&stats.refused_destinations);
    counts.dropped = load(&stats.dropped) + rec.dropped;
    counts.flushes = rec.close().await?;
    Ok(counts)
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
    rec: &mut Recorder,
    counts: &mut Counts,
) {
    counts.recorded += 1;
    let call = match &seen.call {
        Ok(call) => call,
        Err(undecoded) => {
            counts.unmapped += 1;
            let source = format!("{}.amazonaws.com", undecoded.scope.service);
            rec.ungranted(
                "unmapped",
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
    match mapped {
        Mapped::Grants(grants) => {
            for g in &grants {
                if g.resource == UNKNOWN_RESOURCE {
                    counts.unknown_resources += 1;
                }
                rec.grant(
                    Grant {
                        action: &g.action,
                        resource: &g.resource,
                        condition: &g.condition,
                        rule: &g.rule,
                    },
                    &s,
                );
            }
        }
        Mapped::NoPermissionNeeded(why) => {
            counts.no_permission += 1;
            rec.ungranted("no_permission", why.to_string(), &s);
        }
        Mapped::Unmapped(why) => {
            counts.unmapped += 1;
            rec.ungranted("unmapped", why, &s);
        }
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
    let event_time = super::time(ms);
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
        recipient_account: None,
        principal_account: Some(account),
        request_parameters: params.as_deref(),
        resources: Vec::new(),
    };
    let mut mapped = map_call(&api_call, catalog);
    if let (Mapped::Grants(grants), None) = (&mut mapped, &call.params) {
        for g in grants.iter_mut() {
            let takes_resources = catalog
                .action(&g.action)
                .is_none_or(|a| a.takes_resources());
            if g.resource == ANY_RESOURCE && takes_resources {
                g.resource = UNKNOWN_RESOURCE.to_string();
            }
        }
    }
    mapped
}
