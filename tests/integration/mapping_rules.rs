//! The mapper over whole trail directories: every event of the fleet fixture (and, on demand, of
//! any directory of real trails) maps to grants the catalog accepts, or is unmapped with a reason.
//!
//! The rule cases of each service live beside its rules, in `src/mapping/<service>.rs`; the facts
//! behind them are in those files' docs and in `docs/mapping.md`.

use policy_miner::catalog;
use policy_miner::mapping::{map_call, Mapped};
use policy_miner::source::cloudtrail::decode;

/// What mapping every event of a directory gave.
#[derive(Default)]
struct Scan {
    events: u64,
    role_events: u64,
    mapped: u64,
    free: u64,
    /// "source name: reason" → count.
    unmapped: std::collections::BTreeMap<String, u64>,
    /// Grants whose action is not in the catalog or whose ARN the action does not take.
    invalid: Vec<String>,
    /// Successful calls granted on "*" by an action that takes resources.
    unscoped: std::collections::BTreeMap<String, u64>,
}

/// Maps every event of every file under `dir`. Events by other principals are mapped as if a
/// role had made them (same partition and account), to exercise the rules on every sample.
fn scan(dir: &std::path::Path) -> Scan {
    use policy_miner::call::Principal;
    use policy_miner::source::local::decompress;

    let mut r = Scan::default();
    let mut files = walkdir_files(dir);
    files.sort();
    for path in files {
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let Ok(bytes) = decompress(&raw) else {
            continue;
        };
        let _ = decode(&bytes, &mut |call| {
            r.events += 1;
            let mut call = call.clone();
            let pretend_role;
            if let Principal::Role { .. } = call.principal {
                r.role_events += 1;
            } else {
                let partition = call
                    .resources
                    .iter()
                    .find_map(|r| r.arn.strip_prefix("arn:")?.split(':').next())
                    .unwrap_or("aws");
                let account = call.recipient_account.unwrap_or("111111111111");
                pretend_role = format!("arn:{partition}:iam::{account}:role/pretend");
                call.principal = Principal::Role {
                    role_arn: &pretend_role,
                    session: "scan",
                };
            }
            match map_call(&call, catalog::embedded()) {
                Mapped::Grants(grants) => {
                    r.mapped += 1;
                    for g in &grants {
                        let Some(action) = catalog::embedded().action(&g.action) else {
                            r.invalid
                                .push(format!("{path:?}: action {} not in catalog", g.action));
                            continue;
                        };
                        if g.resource == "*" {
                            // Failed calls often carry no request parameters; they are never granted.
                            if action.takes_resources() && call.succeeded() {
                                *r.unscoped.entry(g.action.clone()).or_default() += 1;
                            }
                        } else if !policy_miner::mapping::accepts(&action, &g.resource) {
                            r.invalid.push(format!(
                                "{path:?}: {} does not accept {}",
                                g.action, g.resource
                            ));
                        }
                    }
                }
                Mapped::NoPermissionNeeded(_) => r.free += 1,
                Mapped::Unmapped(reason) => {
                    *r.unmapped
                        .entry(format!(
                            "{} {}: {reason}",
                            call.event_source, call.event_name
                        ))
                        .or_default() += 1
                }
            }
        });
    }
    eprintln!(
        "{} events ({} by roles): {} mapped, {} need no permission, {} unmapped, {} invalid",
        r.events,
        r.role_events,
        r.mapped,
        r.free,
        r.unmapped.values().sum::<u64>(),
        r.invalid.len()
    );
    for (what, n) in &r.unmapped {
        eprintln!("  unmapped {n:>3}  {what}");
    }
    for (action, n) in &r.unscoped {
        eprintln!("  \"*\" for {n:>3}  {action} (takes resources)");
    }
    for line in &r.invalid {
        eprintln!("  INVALID {line}");
    }
    r
}

/// The fleet fixture: every event (of any principal) maps to valid grants, and only the events
/// its README describes as unmappable are unmapped, each with a reason.
#[test]
fn every_fixture_event_maps_to_valid_grants_or_is_explained() {
    let r =
        scan(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet/trail"));
    assert!(r.events > 250, "{}", r.events);
    assert!(r.invalid.is_empty(), "{:?}", r.invalid);
    let unmapped: Vec<&str> = r
        .unmapped
        .keys()
        .map(|k| k.split(':').next().unwrap())
        .collect();
    assert_eq!(
        unmapped,
        [
            "kms.amazonaws.com RotateKey",
            "s3.amazonaws.com GetObjectAttributesV2",
            "signin.amazonaws.com ConsoleLogin",
            "signin.amazonaws.com GetSigninToken",
        ]
    );
    assert!(r.unmapped.keys().all(|k| k.contains("not an IAM action")));
}

/// Maps every event under `$POLICY_MINER_SCAN_DIR` (e.g. a directory of real trails) and prints
/// the unmapped events by reason; fails if any emitted action or ARN is invalid.
/// Run with `POLICY_MINER_SCAN_DIR=… cargo test --test integration mapping_rules:: -- --ignored --nocapture`.
#[test]
#[ignore = "reads a trail directory named by POLICY_MINER_SCAN_DIR"]
fn scan_trail_directory() {
    let Ok(dir) = std::env::var("POLICY_MINER_SCAN_DIR") else {
        eprintln!("POLICY_MINER_SCAN_DIR is not set; nothing scanned");
        return;
    };
    let r = scan(std::path::Path::new(&dir));
    assert!(r.invalid.is_empty(), "{} invalid grants", r.invalid.len());
}

fn walkdir_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
