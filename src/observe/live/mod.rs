//! Live sources: evidence gathered while the application runs (`observe --listen-csm`,
//! `observe --proxy`), recorded with its source.
//!
//! The sources themselves are in `source/` (`csm.rs`, `proxy/live.rs`), each a
//! [`LiveSource`]; [`drive`] runs any of them the same way. `csm.rs` and `proxy.rs` here only
//! open the store, start their source and report its counts.
//!
//! Both hand their calls to a [`Recorder`]: an in-memory aggregate keyed like the evidence table,
//! written to the store every `flush_every` or as soon as it holds `max_keys` keys, so memory does
//! not grow with the request rate, only with the number of distinct calls (and that is capped
//! too). A write runs beside the source, which goes on folding calls into a fresh aggregate: a
//! slow disk must not stop the calls from being read (the proxy's queue would overflow). On
//! SIGTERM or Ctrl-C the aggregate is written and the source exits. A restart adds to the same
//! rows, so only the calls since the last flush are lost to a SIGKILL.

pub mod csm;
pub mod proxy;

use crate::attribution::RoleKind;
use crate::mapping::UngrantedKind;
use crate::source::live::{time, CallSink, LiveSource};
pub use crate::source::live::{Grant, Seen};
use crate::source::setup::SetupError;
use crate::store::{EvidenceRow, Store, UngrantedRow};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What every live source is told.
pub struct Common {
    pub db: PathBuf,
    pub role: RoleChoice,
    pub flush_every: Duration,
    /// Distinct keys that trigger a flush before `flush_every` is up.
    pub max_keys: usize,
    pub lock_timeout: Duration,
    pub quiet: bool,
    /// Where to keep a fresh `policy-miner export` snapshot of the database after each write.
    pub export: Option<PathBuf>,
}

impl Common {
    /// The store, and the role its evidence is recorded for.
    async fn open(&self) -> Result<(Store, String), SetupError> {
        let store = Store::open_with(&self.db, true, self.lock_timeout).await?;
        let role = self.role.resolve(&store).await?;
        Ok((store, role))
    }

    fn ticker(&self) -> tokio::time::Interval {
        let mut ticker = tokio::time::interval(self.flush_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    }
}

/// Which role the application runs as: neither datagrams nor proxied requests say.
pub enum RoleChoice {
    Arn(String),
    /// The family's task or execution role, from the task definitions in the store.
    Family {
        family: String,
        kind: RoleKind,
    },
}

impl RoleChoice {
    /// The role ARN, looked up in the store for a family.
    pub async fn resolve(&self, store: &Store) -> Result<String, SetupError> {
        match self {
            RoleChoice::Arn(arn) => Ok(arn.clone()),
            RoleChoice::Family { family, kind } => family_role(store, family, *kind).await,
        }
    }
}

#[derive(Debug, Clone)]
struct Tally {
    count: i64,
    first_ms: i64,
    last_ms: i64,
    event_source: String,
    event_name: String,
    rule: String,
}

impl Tally {
    fn bump(&mut self, ms: i64) {
        self.count += 1;
        self.first_ms = self.first_ms.min(ms);
        self.last_ms = self.last_ms.max(ms);
    }

    /// Adds `other` up; the origin stays that of the earlier first call.
    fn merge(&mut self, other: Tally) {
        if other.first_ms < self.first_ms {
            self.event_source = other.event_source;
            self.event_name = other.event_name;
            self.rule = other.rule;
        }
        self.count += other.count;
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
    }
}

type GrantedKeys = HashMap<(String, String, String, String), Tally>;
type UngrantedKeys = HashMap<(String, String, String), (UngrantedKind, String, Tally)>;

/// An aggregate being written, given back with the outcome (to be kept if the write failed).
pub struct Written {
    result: Result<(), crate::store::StoreError>,
    granted: GrantedKeys,
    ungranted: UngrantedKeys,
}

/// Aggregated live evidence of one role from one source, between flushes.
pub struct Recorder {
    store: Arc<Store>,
    role: String,
    source: &'static str,
    export: Option<PathBuf>,
    /// (action, resource, condition, error code) → tally.
    granted: GrantedKeys,
    /// (event source, event name, error code) → (kind, reason, tally).
    ungranted: UngrantedKeys,
    /// The write under way, if any.
    writing: Option<tokio::task::JoinHandle<Written>>,
    max_keys: usize,
    /// Past this, new keys are dropped (and counted) until a flush succeeds: the bound on memory
    /// when the database cannot be written.
    hard_cap: usize,
    pub flushes: u64,
    /// Calls of a new key while the aggregate was full and could not be written.
    pub dropped: u64,
}

impl Recorder {
    pub fn new(store: Store, role: String, source: &'static str, common: &Common) -> Recorder {
        let max_keys = common.max_keys;
        Recorder {
            export: common.export.clone(),
            store: Arc::new(store),
            writing: None,
            role,
            source,
            granted: HashMap::new(),
            ungranted: HashMap::new(),
            max_keys: max_keys.max(1),
            hard_cap: max_keys.saturating_mul(4).max(1),
            flushes: 0,
            dropped: 0,
        }
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    fn len(&self) -> usize {
        self.granted.len() + self.ungranted.len()
    }

    /// Whether enough distinct keys are held to write them now rather than at the next tick.
    pub fn wants_flush(&self) -> bool {
        self.len() >= self.max_keys
    }

    pub fn grant(&mut self, g: Grant, seen: &Seen) {
        let key = (
            g.action.to_string(),
            g.resource.to_string(),
            g.condition.to_string(),
            seen.error_code.to_string(),
        );
        let full = self.len() >= self.hard_cap;
        match self.granted.get_mut(&key) {
            Some(t) => t.bump(seen.ms),
            None if full => self.dropped += 1,
            None => {
                let t = tally(seen, g.rule);
                self.granted.insert(key, t);
            }
        }
    }

    /// A call that needs no permission (`no_permission`) or that no IAM action fits (`unmapped`).
    pub fn ungranted(&mut self, kind: UngrantedKind, reason: String, seen: &Seen) {
        let key = (
            seen.event_source.to_string(),
            seen.event_name.to_string(),
            seen.error_code.to_string(),
        );
        let full = self.len() >= self.hard_cap;
        match self.ungranted.get_mut(&key) {
            Some((_, _, t)) => t.bump(seen.ms),
            None if full => self.dropped += 1,
            None => {
                let t = tally(seen, "");
                self.ungranted.insert(key, (kind, reason, t));
            }
        }
    }

    /// Starts writing the aggregate beside the source, unless a write is under way (the next
    /// starts when it is done) or there is nothing to write.
    pub fn start_flush(&mut self) {
        if self.writing.is_some() || self.len() == 0 {
            return;
        }
        let granted = std::mem::take(&mut self.granted);
        let ungranted = std::mem::take(&mut self.ungranted);
        let (evidence, ungranted_rows) = rows(&self.role, &granted, &ungranted);
        let store = self.store.clone();
        let source = self.source;
        let export = self.export.clone();
        self.writing = Some(tokio::spawn(async move {
            let result = store.write_live(source, &evidence, &ungranted_rows).await;
            if result.is_ok() {
                write_export(&store, export.as_deref()).await;
            }
            Written {
                result,
                granted,
                ungranted,
            }
        }));
    }

    /// Resolves when the write under way is done (never, when there is none). Cancel-safe: the
    /// write goes on and is awaited again.
    pub async fn write_done(&mut self) -> Option<Written> {
        let Some(writing) = self.writing.as_mut() else {
            return std::future::pending().await;
        };
        let done = writing.await;
        self.writing = None;
        // A write task only ends by returning: a panic in it is a bug, reported as a failure.
        done.ok()
    }

    /// Counts a finished write; a failed one's calls go back into the aggregate for the next
    /// try (with what came meanwhile), and the next write starts if one is due.
    pub fn after_write(&mut self, done: Option<Written>) {
        match done {
            Some(Written { result: Ok(()), .. }) => self.flushes += 1,
            Some(Written {
                result: Err(e),
                granted,
                ungranted,
            }) => {
                eprintln!("warning: {e:#}; the calls are kept in memory and written later");
                for (key, tally) in granted {
                    match self.granted.get_mut(&key) {
                        Some(t) => t.merge(tally),
                        None => {
                            self.granted.insert(key, tally);
                        }
                    }
                }
                for (key, (kind, reason, tally)) in ungranted {
                    match self.ungranted.get_mut(&key) {
                        Some((_, _, t)) => t.merge(tally),
                        None => {
                            self.ungranted.insert(key, (kind, reason, tally));
                        }
                    }
                }
            }
            None => eprintln!("warning: a write of live evidence failed unexpectedly"),
        }
        if self.wants_flush() {
            self.start_flush();
        }
    }

    /// Writes what is held now and waits for it (and for a write under way first).
    pub async fn flush(&mut self) {
        if self.writing.is_some() {
            let done = self.write_done().await;
            self.after_write(done);
        }
        self.start_flush();
        if self.writing.is_some() {
            let done = self.write_done().await;
            self.after_write(done);
        }
    }

    /// The last flush; returns the number of flushes, or an error if some calls could still not
    /// be written.
    pub async fn close(mut self) -> Result<u64, SetupError> {
        self.flush().await;
        let unwritten = self.len();
        let path = self.store.path().to_path_buf();
        if let Ok(store) = Arc::try_unwrap(self.store) {
            store.close().await;
        }
        if unwritten > 0 {
            return Err(SetupError::Failed(format!(
                "{}: {unwritten} aggregated call(s) could not be written before exiting (see the \
                 warnings above)",
                path.display()
            )));
        }
        Ok(self.flushes)
    }
}

/// The aggregate as rows of the evidence tables.
fn rows(
    role: &str,
    granted: &GrantedKeys,
    ungranted: &UngrantedKeys,
) -> (Vec<EvidenceRow>, Vec<UngrantedRow>) {
    let evidence = granted
        .iter()
        .map(
            |((action, resource, condition, error_code), t)| EvidenceRow {
                role_arn: role.to_string(),
                action: action.clone(),
                resource: resource.clone(),
                condition: condition.clone(),
                error_code: error_code.clone(),
                count: t.count,
                first_seen: time(t.first_ms),
                last_seen: time(t.last_ms),
                // Live sources have no event id to point back to.
                example_event_id: String::new(),
                event_source: t.event_source.clone(),
                event_name: t.event_name.clone(),
                rule: t.rule.clone(),
                // Live sources do not tell the agent from the application yet: unknown, left
                // to the synthesis rules when a role used as both kinds is split.
                callers: crate::call::Callers::default(),
            },
        )
        .collect();
    let ungranted = ungranted
        .iter()
        .map(
            |((event_source, event_name, error_code), (kind, reason, t))| UngrantedRow {
                role_arn: role.to_string(),
                event_source: event_source.clone(),
                event_name: event_name.clone(),
                error_code: error_code.clone(),
                kind: kind.as_str().to_string(),
                reason: reason.clone(),
                count: t.count,
                first_seen: time(t.first_ms),
                last_seen: time(t.last_ms),
                example_event_id: String::new(),
            },
        )
        .collect();
    (evidence, ungranted)
}

/// Keeps the `--export` snapshot current after a write.
async fn write_export(store: &Store, path: Option<&std::path::Path>) {
    let Some(path) = path else { return };
    let written = match store.export().await {
        Ok(snapshot) => snapshot.write_to(path),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = written {
        eprintln!(
            "warning: --export {}: {e:#}; tried again after the next write",
            path.display()
        );
    }
}

fn tally(seen: &Seen, rule: &str) -> Tally {
    Tally {
        count: 1,
        first_ms: seen.ms,
        last_ms: seen.ms,
        event_source: seen.event_source.to_string(),
        event_name: seen.event_name.to_string(),
        rule: rule.to_string(),
    }
}

impl CallSink for Recorder {
    fn role(&self) -> &str {
        &self.role
    }

    fn grant(&mut self, grant: Grant, seen: &Seen) {
        Recorder::grant(self, grant, seen)
    }

    fn ungranted(&mut self, kind: UngrantedKind, reason: String, seen: &Seen) {
        Recorder::ungranted(self, kind, reason, seen)
    }
}

/// Runs a live source until SIGTERM or Ctrl-C, recording what it hands over (written every
/// `flush_every`, or sooner when many keys are held); then stops it and records what it still
/// had. The recorder is left to be closed.
pub async fn drive<S: LiveSource>(
    source: &mut S,
    rec: &mut Recorder,
    common: &Common,
) -> Result<(), SetupError> {
    let mut stop = Stop::new()?;
    source.start();
    let mut ticker = common.ticker();
    loop {
        tokio::select! {
            Some(received) = source.recv() => {
                source.hand_over(received, rec);
                if rec.wants_flush() {
                    rec.start_flush();
                }
            }
            _ = ticker.tick() => rec.start_flush(),
            done = rec.write_done() => rec.after_write(done),
            _ = stop.wait() => break,
        }
    }
    for received in source.stop().await {
        source.hand_over(received, rec);
    }
    Ok(())
}

/// SIGTERM (ECS stopping the task) or Ctrl-C, whichever comes first.
pub(crate) struct Stop {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Stop {
    pub(crate) fn new() -> Result<Stop, SetupError> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    pub(crate) async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// The role of the family's latest task definition in the store.
async fn family_role(store: &Store, family: &str, kind: RoleKind) -> Result<String, SetupError> {
    let defs = store.task_definitions().await?;
    // Ordered by revision: the last one is the latest.
    let latest = defs
        .iter()
        .filter(|d| d.definition.family == family)
        .map(|d| &d.definition)
        .next_back();
    let Some(def) = latest else {
        return Err(SetupError::Failed(format!(
            "--family {family}: no task definition of that family in {}; load it with \
             `policy-miner observe --task-definitions FILE …` first, or give --role ARN",
            store.path().display()
        )));
    };
    let role = match kind {
        RoleKind::Task => def.task_role.clone(),
        RoleKind::Execution => def.execution_role.clone(),
    };
    let role = role.filter(|r| !r.is_empty()).ok_or_else(|| {
        SetupError::Failed(format!(
            "--family {family}: its latest task definition has no {} role; give --role ARN",
            kind.as_str()
        ))
    })?;
    // ECS also takes a bare role name there; evidence must go under the ARN CloudTrail names,
    // path included, which the name alone does not tell.
    crate::attribution::RoleKey::require_arn(&role).map_err(|why| {
        SetupError::Failed(format!(
            "--family {family}: its latest task definition names the {} role `{role}`: {why};              give --role with the role's ARN",
            kind.as_str()
        ))
    })
}
