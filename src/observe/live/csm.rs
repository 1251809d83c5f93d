//! `observe --listen-csm`: AWS SDK client-side monitoring datagrams → action-level evidence.

use super::{Common, Grant, Recorder, Seen, Stop};
use crate::source::csm::{self, Datagram, Mapped};
use crate::store::UNKNOWN_RESOURCE;
use std::net::SocketAddr;

/// The source recorded with every piece of evidence from here.
pub const SOURCE: &str = "csm";

pub struct Options {
    pub common: Common,
    pub listen: SocketAddr,
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
    /// Calls whose `Timestamp` lay too far from their arrival to be true: recorded at the
    /// arrival instead.
    pub timestamps_refused: u64,
}

/// Listens until SIGTERM or Ctrl-C; returns the counts.
pub async fn run(opts: Options) -> anyhow::Result<Counts> {
    let (store, role) = opts.common.open().await?;
    let socket = tokio::net::UdpSocket::bind(opts.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "--listen-csm {}: cannot listen for UDP datagrams ({e}); choose another address or port",
            opts.listen
        )
    })?;
    let local = socket.local_addr()?;
    if !opts.common.quiet {
        eprintln!(
            "listening for SDK monitoring datagrams on {local} for {role}; set AWS_CSM_ENABLED=true \
             AWS_CSM_HOST={} AWS_CSM_PORT={} in the application's environment",
            local.ip(),
            local.port()
        );
    }
    let mut stop = Stop::new()?;
    let catalog = crate::catalog::active();
    let mut ticker = opts.common.ticker();
    // A CSM datagram is at most 8 KB; anything longer is cut and then fails to parse.
    let mut buf = vec![0u8; 64 * 1024];
    let mut rec = Recorder::new(store, role, SOURCE, &opts.common);
    let mut counts = Counts::default();
    loop {
        tokio::select! {
            got = socket.recv_from(&mut buf) => {
                // Errors here are per datagram (an ICMP report, a truncated read): keep listening.
                let Ok((n, _)) = got else { continue };
                counts.datagrams += 1;
                let received_ms = chrono::Utc::now().timestamp_millis();
                fold(&buf[..n], received_ms, catalog, &mut rec, &mut counts);
                if rec.wants_flush() {
                    rec.start_flush();
                }
            }
            _ = ticker.tick() => rec.start_flush(),
            done = rec.write_done() => rec.after_write(done),
            _ = stop.wait() => break,
        }
    }
    counts.dropped = rec.dropped;
    counts.flushes = rec.close().await?;
    Ok(counts)
}

/// Counts a datagram that arrived at `received_ms` and records its call, if it holds one.
fn fold(
    bytes: &[u8],
    received_ms: i64,
    catalog: &crate::catalog::Catalog,
    rec: &mut Recorder,
    counts: &mut Counts,
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
    let (ms, refused) = csm::call_time(call.timestamp_ms, received_ms);
    if refused {
        counts.timestamps_refused += 1;
    }
    let seen = Seen {
        event_source: &call.service,
        event_name: &call.api,
        error_code: &call.error_code,
        ms,
    };
    match csm::map(&call, catalog) {
        Mapped::Action(action) => rec.grant(
            Grant {
                action: &action,
                resource: UNKNOWN_RESOURCE,
                condition: "",
                rule: SOURCE,
            },
            &seen,
        ),
        Mapped::NoPermission(why) => {
            counts.no_permission += 1;
            rec.ungranted("no_permission", why.to_string(), &seen);
        }
        Mapped::Unmapped(why) => {
            counts.unmapped += 1;
            rec.ungranted("unmapped", why, &seen);
        }
    }
}
