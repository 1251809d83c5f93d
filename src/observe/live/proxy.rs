//! `observe --proxy`: the application's AWS traffic, forwarded and decoded, → evidence with
//! resources, mapped exactly as CloudTrail events are. The proxy is
//! `source::proxy::live::ProxySource`; this records what it hands over.

use super::{Common, Recorder};
use crate::source::proxy::live::ProxySource;
pub use crate::source::proxy::live::Settings;
pub use crate::source::proxy::live::{map_decoded, Counts, SOURCE};
use crate::source::setup::SetupError;

pub struct Options {
    pub common: Common,
    pub settings: Settings,
}

/// Serves until SIGTERM or Ctrl-C; returns the counts.
pub async fn run(opts: Options) -> Result<Counts, SetupError> {
    let (store, role) = opts.common.open().await?;
    let mut source = ProxySource::bind(&opts.settings, &role, opts.common.quiet).await?;
    let mut rec = Recorder::new(store, role, SOURCE, &opts.common);
    super::drive(&mut source, &mut rec, &opts.common).await?;
    let mut counts = source.counts(rec.dropped);
    counts.flushes = rec.close().await?;
    Ok(counts)
}
