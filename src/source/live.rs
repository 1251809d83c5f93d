//! What live sources (SDK monitoring, the proxy) share: the [`LiveSource`] trait they implement,
//! and the [`CallSink`] they hand their calls to (`observe`'s recorder).

use crate::mapping::{Mapped, UngrantedKind};
use crate::store::UNKNOWN_RESOURCE;
use std::future::Future;

/// A source that runs while the application does: started once the stop signal is watched, it
/// hands over what it receives until it is stopped. `observe` drives every live source the same
/// way (`observe::live::drive`), racing [`recv`](LiveSource::recv) against its flushes and the
/// stop signal.
pub trait LiveSource {
    /// One thing received (a datagram, an answered request), handed over by
    /// [`hand_over`](LiveSource::hand_over).
    type Received;

    /// Starts serving, if the source does not from the start.
    fn start(&mut self) {}

    /// The next thing received; `None` when the source has ended. Cancel-safe: nothing is lost
    /// when it is dropped before it resolves.
    fn recv(&mut self) -> impl Future<Output = Option<Self::Received>>;

    /// Maps what one received thing holds and hands the calls over to the sink.
    fn hand_over(&mut self, received: Self::Received, sink: &mut dyn CallSink);

    /// After the stop signal: stops serving, lets what is in flight finish, and gives back what
    /// was received and not handed over yet.
    fn stop(&mut self) -> impl Future<Output = Vec<Self::Received>> {
        std::future::ready(Vec::new())
    }
}

/// Where a live source hands its mapped calls.
pub trait CallSink {
    /// The role the calls are recorded for (the traffic does not say).
    fn role(&self) -> &str;
    /// One grant a call proved.
    fn grant(&mut self, grant: Grant, seen: &Seen);
    /// A call that needs no permission (`no_permission`) or that no IAM action fits (`unmapped`).
    fn ungranted(&mut self, kind: UngrantedKind, reason: String, seen: &Seen);

    /// Hands over one mapped call: each of its grants, or the call as ungranted. Returns what it
    /// came to, for the source's counts.
    fn mapped(&mut self, mapped: Mapped, seen: &Seen) -> Handed {
        match mapped {
            Mapped::Grants(grants) => {
                let mut unknown_resources = 0;
                for g in &grants {
                    if g.resource == UNKNOWN_RESOURCE {
                        unknown_resources += 1;
                    }
                    self.grant(
                        Grant {
                            action: &g.action,
                            resource: &g.resource,
                            condition: &g.condition,
                            rule: &g.rule,
                        },
                        seen,
                    );
                }
                Handed::Granted { unknown_resources }
            }
            Mapped::NoPermissionNeeded(why) => {
                self.ungranted(UngrantedKind::NoPermission, why.to_string(), seen);
                Handed::Ungranted(UngrantedKind::NoPermission)
            }
            Mapped::Unmapped(why) => {
                self.ungranted(UngrantedKind::Unmapped, why, seen);
                Handed::Ungranted(UngrantedKind::Unmapped)
            }
        }
    }
}

/// What a mapped call handed over came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    /// Its grants, this many of them with an unknown resource.
    Granted {
        unknown_resources: u64,
    },
    Ungranted(UngrantedKind),
}

/// One grant a call proved, as the evidence table keys it.
pub struct Grant<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub condition: &'a str,
    pub rule: &'a str,
}

/// The call as the source names it (for `explain` and the ungranted list).
pub struct Seen<'a> {
    pub event_source: &'a str,
    pub event_name: &'a str,
    /// `''` when the call succeeded.
    pub error_code: &'a str,
    pub ms: i64,
}

/// A time in milliseconds since the Unix epoch as the store spells it (now, when out of range).
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
