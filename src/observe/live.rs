//! `observe --listen-csm`: AWS SDK client-side monitoring datagrams → evidence, live.
//!
//! Calls are folded into an in-memory aggregate keyed by (action, outcome), written to the store
//! every `flush_every` or as soon as it holds `max_keys` keys, so memory does not grow with the
//! request rate, only with the number of distinct actions (and that is capped too). On SIGTERM or
//! Ctrl-C the aggregate is written and the listener exits. A restart adds to the same rows, so
//! only the calls since the last flush are lost to a SIGKILL.

use crate::attribution::RoleKind;
use crate::source::csm::{self, Datagram, Mapped};
use crate::store::{EvidenceRow, Store, UngrantedRow, UNKNOWN_RESOURCE};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The source recorded with every piece of evidence from here.
pub const SOURCE: &str = "csm";

pub struct Options {
    pub db: PathBuf,
    pub listen: SocketAddr,
    pub role: RoleChoice,
    pub flush_every: Duration,
    /// Distinct keys that trigger a flush before `flush_every` is up.
    pub max_keys: usize,
    pub lock_timeout: Duration,
    pub quiet: bool,
}

/// Which role the monitored application runs as: the datagrams do not say.
pub enum RoleChoice {
    Arn(String),
    /// The family's task or execution role, from the task definitions in the store.
    Family {
        family: String,
        kind: RoleKind,
    },
}

/// Counts for the summary printed on exit.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counts {
    pub datagrams: u64,
    pub calls: u64,
    pub not_calls: u64,
    pub invalid: u64,
    pub unmapped: u64,
    pub no_permission: u64,
    /// Calls of a new key while the aggregate was full and could not be written.
    pub dropped: u64,
    pub flushes: u64,
}

#[derive(Debug, Clone)]
struct Tally {
    count: i64,
    first_ms: i64,
    last_ms: i64,
    service: String,
    api: String,
}

#[derive(Default)]
struct Aggregate {
    /// (action, error code) → tally.
    granted: HashMap<(String, String), Tally>,
    /// (service, api, error code) → (kind, reason, tally).
    ungranted: HashMap<(String, String, String), (&'static str, String, Tally)>,
}

impl Aggregate {
    fn len(&self) -> usize {
        self.granted.len() + self.ungranted.len()
    }
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn bump(t: &mut Tally, ms: i64) {
    t.count += 1;
    t.first_ms = t.first_ms.min(ms);
    t.last_ms = t.last_ms.max(ms);
}

/// Listens until SIGTERM or Ctrl-C; returns the counts.
pub async fn run(opts: Options) -> anyhow::Result<Counts> {
    let store = Store::open_with(&opts.db, true, opts.lock_timeout).await?;
    let role = match &opts.role {
        RoleChoice::Arn(arn) => arn.clone(),
        RoleChoice::Family { family, kind } => family_role(&store, family, *kind).await?,
    };
    let socket = tokio::net::UdpSocket::bind(opts.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "--listen-csm {}: cannot listen for UDP datagrams ({e}); choose another address or port",
            opts.listen
        )
    })?;
    let local = socket.local_addr()?;
    if !opts.quiet {
        eprintln!(
            "listening for SDK monitoring datagrams on {local} for {role}; set AWS_CSM_ENABLED=true \
             AWS_CSM_HOST={} AWS_CSM_PORT={} in the application's environment",
            local.ip(),
            local.port()
        );
    }
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let catalog = crate::catalog::active();
    let mut ticker = tokio::time::interval(opts.flush_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A CSM datagram is at most 8 KB; anything longer is cut and then fails to parse.
    let mut buf = vec![0u8; 64 * 1024];
    let mut agg = Aggregate::default();
    let mut counts = Counts::default();
    // Past this, new keys are dropped (and counted) until a flush succeeds: the bound on memory
    // when the database cannot be written.
    let hard_cap = opts.max_keys.saturating_mul(4).max(1);
    loop {
        tokio::select! {
            got = socket.recv_from(&mut buf) => {
                // Errors here are per datagram (an ICMP report, a truncated read): keep listening.
                let Ok((n, _)) = got else { continue };
                counts.datagrams += 1;
                fold(&buf[..n], catalog, &mut agg, &mut counts, hard_cap);
                if agg.len() >= opts.max_keys {
                    flush(&store, &role, &mut agg, &mut counts).await;
                }
            }
            _ = ticker.tick() => flush(&store, &role, &mut agg, &mut counts).await,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    flush(&store, &role, &mut agg, &mut counts).await;
    let unwritten = agg.len();
    store.close().await;
    if unwritten > 0 {
        anyhow::bail!(
            "{}: {unwritten} aggregated call(s) could not be written before exiting (see the \
             warnings above)",
            opts.db.display()
        );
    }
    Ok(counts)
}

fn fold(
    bytes: &[u8],
    catalog: &crate::catalog::Catalog,
    agg: &mut Aggregate,
    counts: &mut Counts,
    hard_cap: usize,
) {
    let call = match csm::parse(bytes) {
        Datagram::Call(c) => c,
        Datagram::NotACall => {
            counts.not_calls += 1;
            return;
        }
        Datagram::Invalid(_) => {
            counts.invalid += 1;
            return;
        }
    };
    counts.calls += 1;
    let ms = call
        .timestamp_ms
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let full = agg.len() >= hard_cap;
    let tally = || Tally {
        count: 1,
        first_ms: ms,
        last_ms: ms,
        service: call.service.clone(),
        api: call.api.clone(),
    };
    let (kind, reason) = match csm::map(&call, catalog) {
        Mapped::Action(action) => {
            let key = (action, call.error_code.clone());
            match agg.granted.get_mut(&key) {
                Some(t) => bump(t, ms),
                None if full => counts.dropped += 1,
                None => {
                    agg.granted.insert(key, tally());
                }
            }
            return;
        }
        Mapped::NoPermission(why) => {
            counts.no_permission += 1;
            ("no_permission", why.to_string())
        }
        Mapped::Unmapped(why) => {
            counts.unmapped += 1;
            ("unmapped", why)
        }
    };
    let key = (
        call.service.clone(),
        call.api.clone(),
        call.error_code.clone(),
    );
    match agg.ungranted.get_mut(&key) {
        Some((_, _, t)) => bump(t, ms),
        None if full => counts.dropped += 1,
        None => {
            agg.ungranted.insert(key, (kind, reason, tally()));
        }
    }
}

/// Writes the aggregate; on failure keeps it for the next try and says why.
async fn flush(store: &Store, role: &str, agg: &mut Aggregate, counts: &mut Counts) {
    if agg.len() == 0 {
        return;
    }
    let evidence: Vec<EvidenceRow> = agg
        .granted
        .iter()
        .map(|((action, error_code), t)| EvidenceRow {
            role_arn: role.to_string(),
            action: action.clone(),
            resource: UNKNOWN_RESOURCE.to_string(),
            condition: String::new(),
            error_code: error_code.clone(),
            count: t.count,
            first_seen: time(t.first_ms),
            last_seen: time(t.last_ms),
            // A datagram has no event id to point back to.
            example_event_id: String::new(),
            event_source: t.service.clone(),
            event_name: t.api.clone(),
            rule: SOURCE.to_string(),
        })
        .collect();
    let ungranted: Vec<UngrantedRow> = agg
        .ungranted
        .iter()
        .map(
            |((service, api, error_code), (kind, reason, t))| UngrantedRow {
                role_arn: role.to_string(),
                event_source: service.clone(),
                event_name: api.clone(),
                error_code: error_code.clone(),
                kind: kind.to_string(),
                reason: reason.clone(),
                count: t.count,
                first_seen: time(t.first_ms),
                last_seen: time(t.last_ms),
                example_event_id: String::new(),
            },
        )
        .collect();
    match store.write_live(SOURCE, &evidence, &ungranted).await {
        Ok(()) => {
            agg.granted.clear();
            agg.ungranted.clear();
            counts.flushes += 1;
        }
        Err(e) => eprintln!("warning: {e:#}; the calls are kept in memory and written later"),
    }
}

/// The role of the family's latest task definition in the store.
async fn family_role(store: &Store, family: &str, kind: RoleKind) -> anyhow::Result<String> {
    let defs = store.task_definitions().await?;
    // Ordered by revision: the last one is the latest.
    let latest = defs
        .iter()
        .filter(|d| d.definition.family == family)
        .map(|d| &d.definition)
        .next_back();
    let Some(def) = latest else {
        anyhow::bail!(
            "--family {family}: no task definition of that family in {}; load it with \
             `policy-miner observe --task-definitions FILE …` first, or give --role ARN",
            store.path().display()
        );
    };
    let role = match kind {
        RoleKind::Task => def.task_role.clone(),
        RoleKind::Execution => def.execution_role.clone(),
    };
    role.filter(|r| !r.is_empty()).ok_or_else(|| {
        anyhow::anyhow!(
            "--family {family}: its latest task definition has no {} role; give --role ARN",
            kind.as_str()
        )
    })
}
