//! Who, behind a role session, made a call: the ECS or Fargate agent starting a task with the
//! execution role, or the application with the task role. A role that is both kinds is split
//! on this (`synth::split`), so only what the trail itself shows counts.
//!
//! The signals, and where each comes from:
//! - `invokedBy` (or, in older events, `sourceIPAddress`) `ecs-tasks.amazonaws.com`: the ECS
//!   service acting with the task's credentials. Real trails show it so for the role sessions ECS
//!   opens (the `flaws2.cloud` trail, 2018-11-28: `AssumeRole` of `ecsTaskExecutionRole` with
//!   `invokedBy`, `sourceIPAddress` and `userAgent` all `ecs-tasks.amazonaws.com`). The image
//!   pulls and secret reads of a task start are taken to carry it too, as `bench`'s generated
//!   trail writes them; no public record of those calls was found to confirm their exact shape,
//!   so a call that shows nothing of the kind is not assumed to be the agent's.
//! - `userAgent` starting `Amazon ECS Agent - v…`: the container agent of EC2 instances, which
//!   sends that agent string (the ECS developer guide's CloudTrail example of
//!   `RegisterContainerInstance`: `"Amazon ECS Agent - v1.12.2 (ecda8a6) (+http://aws.amazon.com/ecs/)"`).
//! - `userAgent` starting `Docker `: the `awslogs` log driver, which runs in the Docker daemon
//!   and prefixes the SDK's agent with `Docker <version> (<os>)` (moby,
//!   `daemon/logger/awslogs/cloudwatchlogs.go`, `DockerUserAgentHandler`).
//! - Any other user agent, with no AWS service acting: code in the task's containers (an AWS
//!   SDK, the CLI), which is the application.
//!
//! A call made by another service for the role (`invokedBy` `ssm.amazonaws.com`: KMS decrypting
//! a SecureString parameter) belongs to whoever made the call that caused it, which the trail
//! does not link; it is unknown, like a call without a user agent.

use serde::{Deserialize, Serialize};

/// One call's caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Caller {
    /// The ECS container agent or the Fargate agent (the execution role's user).
    Agent,
    /// The application in the task's containers (the task role's user).
    App,
    /// The trail does not say.
    Unknown,
}

/// The ECS service principal that acts with a task's roles.
pub const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";

impl Caller {
    /// The caller a CloudTrail event shows: from `invokedBy` (or a service named in
    /// `sourceIPAddress`) and `userAgent`. See the module's documentation for the sources.
    pub fn of_event(invoked_by: Option<&str>, user_agent: Option<&str>) -> Caller {
        match invoked_by {
            Some(ECS_TASKS) => return Caller::Agent,
            Some(_) => return Caller::Unknown,
            None => {}
        }
        match user_agent.map(str::trim) {
            Some(ua) if ua == ECS_TASKS => Caller::Agent,
            Some(ua) if ua.starts_with("Amazon ECS Agent") || ua.starts_with("Docker ") => {
                Caller::Agent
            }
            Some(ua)
                if !ua.is_empty() && !ua.ends_with(".amazonaws.com") && ua != "AWS Internal" =>
            {
                Caller::App
            }
            _ => Caller::Unknown,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Caller::Agent => 1,
            Caller::App => 2,
            Caller::Unknown => 4,
        }
    }
}

/// The callers seen for one piece of evidence: a set of [`Caller`]s, stored as a small bit set
/// (`evidence.callers`) so that folding stays an OR and one row per key. Empty for evidence
/// stored before callers were recorded, which reads as unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Callers(u8);

impl Callers {
    pub fn of(caller: Caller) -> Callers {
        Callers(caller.bit())
    }

    /// From the stored integer; bits this version does not know are dropped.
    pub fn from_stored(bits: i64) -> Callers {
        Callers((bits & 0b111) as u8)
    }

    pub fn stored(self) -> i64 {
        i64::from(self.0)
    }

    pub fn add(&mut self, caller: Caller) {
        self.0 |= caller.bit();
    }

    pub fn merge(&mut self, other: Callers) {
        self.0 |= other.0;
    }

    pub fn contains(self, caller: Caller) -> bool {
        self.0 & caller.bit() != 0 || (caller == Caller::Unknown && self.0 == 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_calls_are_told_by_service_and_user_agent() {
        assert_eq!(
            Caller::of_event(Some(ECS_TASKS), Some(ECS_TASKS)),
            Caller::Agent
        );
        assert_eq!(
            Caller::of_event(
                None,
                Some("Amazon ECS Agent - v1.12.2 (ecda8a6) (+http://aws.amazon.com/ecs/)")
            ),
            Caller::Agent
        );
        assert_eq!(
            Caller::of_event(
                None,
                Some("Docker 25.0.8 (linux) aws-sdk-go/1.55.5 (go1.22.7; linux; amd64)")
            ),
            Caller::Agent
        );
    }

    #[test]
    fn application_calls_carry_an_sdk_agent_and_no_service() {
        let sdk = "aws-sdk-java/1.12.765 Linux/5.10 OpenJDK_64-Bit_Server_VM/11.0.25+9-LTS";
        assert_eq!(Caller::of_event(None, Some(sdk)), Caller::App);
        assert_eq!(
            Caller::of_event(None, Some("Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0")),
            Caller::App
        );
    }

    #[test]
    fn calls_by_other_services_or_without_agent_are_unknown() {
        // SSM decrypting a SecureString for whoever read it: the trail does not say who.
        assert_eq!(
            Caller::of_event(Some("ssm.amazonaws.com"), Some("ssm.amazonaws.com")),
            Caller::Unknown
        );
        assert_eq!(Caller::of_event(None, None), Caller::Unknown);
        assert_eq!(
            Caller::of_event(None, Some("AWS Internal")),
            Caller::Unknown
        );
    }

    #[test]
    fn a_set_folds_by_union_and_empty_reads_as_unknown() {
        let mut set = Callers::default();
        assert!(set.contains(Caller::Unknown));
        set.add(Caller::Agent);
        assert!(set.contains(Caller::Agent) && !set.contains(Caller::Unknown));
        set.merge(Callers::of(Caller::App));
        assert!(set.contains(Caller::App));
        assert_eq!(Callers::from_stored(set.stored()), set);
    }
}
