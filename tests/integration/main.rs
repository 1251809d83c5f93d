//! All integration tests in one binary: each file below drove a separate test binary before, and
//! every one of them linked the whole AWS SDK again (about 0.5 GB each in a debug build).
//! One binary links once, which keeps CI's build time and disk use down.

// Tests unwrap: clippy.toml allows it in #[test] functions, and this lets their helpers do it too.
#![allow(clippy::unwrap_used)]

mod common;

mod acceptance;
mod athena_source;
mod catalog_update;
mod csm;
mod drift;
mod ecs_source;
mod exchange;
mod explain;
mod fuzz_decoder;
mod fuzz_inputs;
mod fuzz_proxy;
mod generated_fleet;
mod hardening;
mod mapping_rules;
mod observe_errors;
mod observe_schedule;
mod propose_outputs;
mod proxy;
mod proxy_hostile;
mod role_selection;
mod role_split;
mod s3_source;
mod store;
mod tighten;
mod unscoped_findings;
mod usage;
mod verify;
