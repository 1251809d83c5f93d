//! `observe --proxy`: the application's AWS traffic, forwarded and decoded, → evidence with
//! resources, mapped exactly as CloudTrail events are. The proxy is
//! `source::proxy::live::ProxySource`; this records what it hands over.

use super::{Common, Recorder};
pub use crate::source::proxy::live::{map_decoded, Counts, SOURCE};
use crate::source::proxy::live::{ProxySource, Settings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

/// Serves until SIGTERM or Ctrl-C; returns the counts.
pub async fn run(opts: Options) -> anyhow::Result<Counts> {
    let (store, role) = opts.common.open().await?;
    let settings = Settings {
        listen: opts.listen,
        ca_dir: opts.ca_dir,
        upstream_ca: opts.upstream_ca,
        intercept: opts.intercept,
        body_cap: opts.body_cap,
        max_connections: opts.max_connections,
        idle_timeout: opts.idle_timeout,
    };
    let mut source = ProxySource::bind(&settings, &role, opts.common.quiet).await?;
    let mut rec = Recorder::new(store, role, SOURCE, &opts.common);
    super::drive(&mut source, &mut rec, &opts.common).await?;
    let mut counts = source.counts(rec.dropped);
    counts.flushes = rec.close().await?;
    Ok(counts)
}
