//! `observe --listen-csm`: AWS SDK client-side monitoring datagrams → action-level evidence.
//! The listener is `source::csm::Listener`; this records what it hands over.

use super::{Common, Recorder};
use crate::source::csm::Listener;
pub use crate::source::csm::{Counts, SOURCE};
use crate::source::setup::SetupError;
use std::net::SocketAddr;

pub struct Options {
    pub common: Common,
    pub listen: SocketAddr,
}

/// Listens until SIGTERM or Ctrl-C; returns the counts.
pub async fn run(opts: Options) -> Result<Counts, SetupError> {
    let (store, role) = opts.common.open().await?;
    let mut listener = Listener::bind(opts.listen).await?;
    let local = listener.local_addr()?;
    if !opts.common.quiet {
        eprintln!(
            "listening for SDK monitoring datagrams on {local} for {role}; set AWS_CSM_ENABLED=true \
             AWS_CSM_HOST={} AWS_CSM_PORT={} in the application's environment",
            local.ip(),
            local.port()
        );
    }
    let mut rec = Recorder::new(store, role, SOURCE, &opts.common);
    super::drive(&mut listener, &mut rec, &opts.common).await?;
    let mut counts = listener.counts;
    counts.dropped = rec.dropped;
    counts.flushes = rec.close().await?;
    Ok(counts)
}
