//! Calls mapped once per shape, not once per distinct value of one of their parameters.
//!
//! A third of a busy trail's events can be calls that differ from every other in one parameter
//! only: S3 object calls on keys never seen before (uploads, date-partitioned paths), ECR layer
//! checks and downloads (one per layer digest), role assumptions (one per session name), log
//! streams created (one per task the `awslogs` driver starts), KMS calls S3 makes for an object
//! encrypted with a KMS key (one per object, named in the encryption context). Each was mapped on
//! its own (parsing its parameters, planning, checking the ARN against the catalog): the largest
//! cost of folding a trail of many small files. A call of [`SHAPES`] is mapped once with a
//! placeholder for that parameter's value, and what it maps to is used for every value:
//! - [`Use::Placed`]: the mapping puts the value, as it is, at the end of the one resource it
//!   grants (S3 objects: `s3.rs`, `object_arn`; log streams: `logs.rs`, `candidates`). Only a
//!   plain value (letters, digits, `/._-=`: nothing JSON or policy syntax escapes, no `:` for the
//!   ARN parser to see) is placed so; the grant has the value put back in the placeholder's
//!   place.
//! - [`Use::Conditioned`]: the mapping puts the value, as it is, in the one grant's condition, as
//!   one of its values (KMS: `kms.rs`, `condition`, the object's ARN in
//!   `kms:EncryptionContext:aws:s3:arn`). Only a plain value (as above, and `:`) is taken so;
//!   the grant has the value put back in the placeholder's place.
//! - [`Use::Unread`]: the mapping never reads the parameter (ECR: `ecr.rs` reads the repository
//!   only; STS: `sts.rs` reads the role, tags and source identity), whatever its value (a string,
//!   or the list of digests a layer check names). The mapping is used as it is.
//!
//! A shape's mapping is used only when the placeholder is where its use says and nowhere else
//! (one grant ending with it, or nowhere at all); any other outcome maps each call of that shape
//! on its own, as before. The tests below hold the shaped mappings to the direct ones.

use crate::call::{ApiCall, EventResource};
use crate::source::json::Scanner;

/// The value put in the place of the parameter's.
pub(super) const PLACEHOLDER: &str = "policy-miner-shape.value";
/// The placeholder as a JSON string, for a value that is not one.
const QUOTED: &str = "\"policy-miner-shape.value\"";

/// How a shape's mapping uses the parameter taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    Placed,
    Conditioned,
    Unread,
}

/// Calls of one shape.
struct Shape {
    source: &'static str,
    names: &'static [&'static str],
    /// The parameter taken out: a string, or for an unread one any value; a member of the
    /// object `within` when it names one.
    field: &'static str,
    within: Option<&'static str>,
    usage: Use,
    /// For a placed value, what comes before it in the ARNs of the event's `resources[]` that
    /// end with it: those have the placeholder put there too.
    after: &'static str,
}

const SHAPES: &[Shape] = &[
    Shape {
        source: "s3.amazonaws.com",
        names: S3_OBJECT_CALLS,
        field: "key",
        within: None,
        usage: Use::Placed,
        after: "/",
    },
    Shape {
        source: "logs.amazonaws.com",
        names: &["CreateLogStream"],
        field: "logStreamName",
        within: None,
        usage: Use::Placed,
        after: ":log-stream:",
    },
    Shape {
        source: "kms.amazonaws.com",
        names: &[
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
        ],
        field: "aws:s3:arn",
        within: Some("encryptionContext"),
        usage: Use::Conditioned,
        after: "",
    },
    Shape {
        source: "ecr.amazonaws.com",
        names: &["GetDownloadUrlForLayer"],
        field: "layerDigest",
        within: None,
        usage: Use::Unread,
        after: "",
    },
    Shape {
        source: "ecr.amazonaws.com",
        names: &["BatchCheckLayerAvailability"],
        field: "layerDigests",
        within: None,
        usage: Use::Unread,
        after: "",
    },
    Shape {
        source: "sts.amazonaws.com",
        names: &["AssumeRole"],
        field: "roleSessionName",
        within: None,
        usage: Use::Unread,
        after: "",
    },
];

/// S3 object calls whose mapping places the key in the object's ARN and nowhere else.
const S3_OBJECT_CALLS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "PutObject",
    "DeleteObject",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetObjectAttributes",
    "RestoreObject",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
];

/// A call of [`SHAPES`] with its parameter's value taken out. Nothing is copied: the folder
/// hashes the shaped call from these pieces for every call of a shape, and builds it
/// ([`Shaped::materialize`]) only for the first of each.
pub(super) struct Shaped<'a> {
    pub value: &'a str,
    pub usage: Use,
    /// The request parameters before and after the value, and what stands in its place.
    before: &'a str,
    after: &'a str,
    placeholder: &'static str,
    /// What comes before a placed value in the ARNs of `resources[]` that end with it.
    arn_head_ends: &'static str,
}

/// A shaped call's own text: its request parameters and the ARNs of its `resources[]`.
pub(super) struct Materialized {
    request: String,
    arns: Vec<String>,
}

impl<'a> Shaped<'a> {
    /// The call's value and shape, when it is a call of [`SHAPES`] whose request parameters
    /// name the parameter once: as a plain string if it is placed or conditioned (and, if
    /// conditioned, named by none of the event's `resources[]`); if it is unread, as a string
    /// without escapes or as any other value (taken out whole, a string put in its place).
    pub(super) fn of(call: &ApiCall<'a>) -> Option<Shaped<'a>> {
        let shape = SHAPES
            .iter()
            .find(|s| call.event_source == s.source && s.names.contains(&call.event_name))?;
        let usage = shape.usage;
        let request = call.request_parameters?;
        let (key, quoted) = match shape.within {
            None => only(request, shape.field)?,
            Some(object) => only(only_object(request, object)?, shape.field)?,
        };
        let plain = match usage {
            Use::Placed => quoted && is_plain(key, b""),
            Use::Conditioned => quoted && is_plain(key, b":"),
            Use::Unread => true,
        };
        // A value the event's resources[] name could reach the mapping another way.
        if !plain
            || (usage == Use::Conditioned && call.resources.iter().any(|r| r.arn.contains(key)))
        {
            return None;
        }
        // `key` lies within `request`: where, by address.
        let at = (key.as_ptr() as usize).checked_sub(request.as_ptr() as usize)?;
        Some(Shaped {
            value: key,
            usage,
            before: request.get(..at)?,
            after: request.get(at + key.len()..)?,
            placeholder: if quoted { PLACEHOLDER } else { QUOTED },
            arn_head_ends: shape.after,
        })
    }

    /// The shaped call's request parameters, in three pieces.
    pub(super) fn request(&self) -> [&str; 3] {
        [self.before, self.placeholder, self.after]
    }

    /// The ARN of `resource` in the shaped call, in two pieces: for a placed value, the one
    /// ending with it ends with the placeholder instead; any other is kept whole.
    pub(super) fn arn<'r>(&self, resource: &EventResource<'r>) -> [&'r str; 2]
    where
        'a: 'r,
    {
        match resource.arn.strip_suffix(self.value) {
            Some(head) if self.usage == Use::Placed && head.ends_with(self.arn_head_ends) => {
                [head, PLACEHOLDER]
            }
            _ => [resource.arn, ""],
        }
    }

    /// The shaped call's text, to map it.
    pub(super) fn materialize(&self, call: &ApiCall<'a>) -> Materialized {
        Materialized {
            request: self.request().concat(),
            arns: call
                .resources
                .iter()
                .map(|r| self.arn(r).concat())
                .collect(),
        }
    }
}

impl Materialized {
    /// `call` with the placeholder for its value.
    pub(super) fn call<'s, 'a: 's>(&'s self, call: &ApiCall<'a>) -> ApiCall<'s> {
        let mut shaped: ApiCall<'s> = call.clone();
        shaped.request_parameters = Some(&self.request);
        shaped.resources = call
            .resources
            .iter()
            .zip(&self.arns)
            .map(|(r, arn)| EventResource {
                arn,
                resource_type: r.resource_type,
            })
            .collect();
        shaped
    }
}

/// The value of the one top-level `field` member: a string without escapes (its text, true), or
/// any other value (its whole JSON text, false).
fn only<'r>(request: &'r str, field: &str) -> Option<(&'r str, bool)> {
    let mut scan = Scanner::new(request, 0);
    scan.skip_ascii_whitespace().ok()?;
    scan.expect(b'{').ok()?;
    let mut key = None;
    let mut first = true;
    while let Some(name) = scan.next_key(first).ok()? {
        first = false;
        if name == field {
            if key.is_some() {
                return None; // twice: left to the mapping, whichever it reads
            }
            key = Some(match scan.peek().ok()? {
                b'"' => (scan.opt_str().ok()??, true),
                _ => (scan.raw_value().ok()?, false),
            });
        } else {
            scan.skip_value().ok()?;
        }
    }
    key
}

/// Letters, digits, `/._-=` and the bytes of `also`: nothing JSON or policy syntax escapes.
fn is_plain(key: &str, also: &[u8]) -> bool {
    !key.is_empty()
        && key.len() <= 1024
        && key.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'/' | b'.' | b'_' | b'-' | b'=')
                || also.contains(&b)
        })
}

/// The text of the one top-level `field` member, when it is an object.
fn only_object<'r>(request: &'r str, field: &str) -> Option<&'r str> {
    match only(request, field)? {
        (object, false) if object.starts_with('{') => Some(object),
        _ => None,
    }
}

/// The resource (placed) or condition (conditioned) `shaped` of a shape's grant, with the value
/// `key` put back where its use says.
#[cfg(test)]
pub(super) fn put_back(usage: Use, shaped: &str, key: &str) -> Option<String> {
    let mut out = String::new();
    put_back_into(usage, shaped, key, &mut out).then_some(out)
}

/// [`put_back`] into `out` (emptied first), which a folder reuses for every call of a shape;
/// false when the placeholder is not where the use says.
pub(super) fn put_back_into(usage: Use, shaped: &str, key: &str, out: &mut String) -> bool {
    out.clear();
    let around = match usage {
        Use::Placed => shaped.strip_suffix(PLACEHOLDER).map(|head| (head, "")),
        Use::Conditioned => condition_around(shaped),
        Use::Unread => None,
    };
    let Some((head, tail)) = around else {
        return false;
    };
    out.reserve(head.len() + key.len() + tail.len());
    out.extend([head, key, tail]);
    true
}

/// What comes before and after the placeholder in `shaped`, when it holds it once, as one JSON
/// string of its own (one of a condition's values).
pub(super) fn condition_around(shaped: &str) -> Option<(&str, &str)> {
    let at = shaped.find(PLACEHOLDER)?;
    let (head, tail) = (&shaped[..at], &shaped[at + PLACEHOLDER.len()..]);
    (!tail.contains(PLACEHOLDER) && head.ends_with('"') && tail.starts_with('"'))
        .then_some((head, tail))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::call::{Caller, Principal};
    use crate::mapping::{map_call, Mapped};

    pub(in crate::observe) fn call<'a>(
        name: &'a str,
        request: &'a str,
        resources: Vec<EventResource<'a>>,
    ) -> ApiCall<'a> {
        let source = match name {
            "GetDownloadUrlForLayer" | "BatchCheckLayerAvailability" => "ecr.amazonaws.com",
            "AssumeRole" => "sts.amazonaws.com",
            "CreateLogStream" => "logs.amazonaws.com",
            "Decrypt" | "GenerateDataKey" | "Encrypt" => "kms.amazonaws.com",
            _ => "s3.amazonaws.com",
        };
        ApiCall {
            event_id: "e",
            event_time: "2026-11-02T10:00:00Z",
            event_source: source,
            event_name: name,
            region: "eu-west-1",
            principal: Principal::Role {
                role_arn: "arn:aws:iam::111122223333:role/app",
                session: "s",
            },
            error_code: None,
            invoked_by: None,
            caller: Caller::Unknown,
            recipient_account: Some("111122223333"),
            principal_account: Some("111122223333"),
            request_parameters: Some(request),
            resources,
        }
    }

    /// What the folder does with a shape: the shaped mapping, the value put back if placed.
    fn by_shape(call: &ApiCall, catalog: &crate::catalog::Catalog) -> Option<Mapped> {
        let shape = Shaped::of(call)?;
        let mapped = map_call(&shape.materialize(call).call(call), catalog);
        let Mapped::Grants(mut grants) = mapped else {
            return None;
        };
        if shape.usage != Use::Unread {
            let [g] = grants.as_mut_slice() else {
                return None;
            };
            let field = if shape.usage == Use::Placed {
                &mut g.resource
            } else {
                &mut g.condition
            };
            *field = put_back(shape.usage, field, shape.value)?;
        }
        let placeholder = grants.iter().any(|g| {
            [&g.action, &g.resource, &g.condition, &g.rule]
                .iter()
                .any(|s| s.contains(PLACEHOLDER))
        });
        (!placeholder).then_some(Mapped::Grants(grants))
    }

    /// Whether `c` has a shape; if it has, what it maps to by its shape must be what it maps to
    /// on its own.
    fn as_on_its_own(c: &ApiCall, what: &str) -> bool {
        let catalog = crate::catalog::active();
        let Some(by_shape) = by_shape(c, catalog) else {
            return false;
        };
        let direct = map_call(c, catalog);
        assert_eq!(format!("{by_shape:?}"), format!("{direct:?}"), "{what}");
        true
    }

    #[test]
    fn a_plain_key_maps_by_shape_exactly_as_on_its_own() {
        let keys = [
            "a",
            "reports/2026/11/02/part-0001.json.gz",
            "year=2026/month=11/day=02/x.parquet",
            "dir/",
            "x_y-z.bin",
        ];
        let mut shaped = 0;
        for name in S3_OBJECT_CALLS
            .iter()
            .chain(["CopyObject", "DeleteObjects"].iter())
        {
            for key in keys {
                for extra in ["", r#","versionId":"3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY""#] {
                    let request = format!(
                        r#"{{"bucketName":"orders-docs","Host":"orders-docs.s3.eu-west-1.amazonaws.com","key":"{key}"{extra}}}"#
                    );
                    let object = format!("arn:aws:s3:::orders-docs/{key}");
                    let resources = vec![
                        EventResource {
                            arn: &object,
                            resource_type: Some("AWS::S3::Object"),
                        },
                        EventResource {
                            arn: "arn:aws:s3:::orders-docs",
                            resource_type: Some("AWS::S3::Bucket"),
                        },
                    ];
                    let c = call(name, &request, resources);
                    shaped += usize::from(as_on_its_own(&c, &format!("{name} {key} {extra}")));
                }
            }
        }
        // Every listed call has a shape; copies and batch deletes never do.
        assert_eq!(shaped, S3_OBJECT_CALLS.len() * keys.len() * 2);
    }

    #[test]
    fn a_plain_stream_name_maps_by_shape_exactly_as_on_its_own() {
        let catalog = crate::catalog::active();
        let names = [
            "ecs/report-cron/64ba46bbd99c27e52fffb7ce7b88dcf7",
            "api/web/0a1b",
            "s",
            "2026/11/02/[$LATEST]", // not plain: no shape
            "a:b",                  // not plain: no shape
        ];
        let mut shaped = 0;
        for name in names {
            let stream = format!(
                "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/report-cron:log-stream:{name}"
            );
            for resources in [
                Vec::new(),
                vec![EventResource {
                    arn: &stream,
                    resource_type: None,
                }],
            ] {
                let request =
                    format!(r#"{{"logGroupName":"/ecs/report-cron","logStreamName":"{name}"}}"#);
                let c = call("CreateLogStream", &request, resources);
                let direct = format!("{:?}", map_call(&c, catalog));
                assert!(direct.contains(":log-stream:"), "{direct}");
                shaped += usize::from(as_on_its_own(&c, name));
            }
        }
        assert_eq!(
            shaped,
            3 * 2,
            "the plain names, with and without resources[]"
        );
    }

    #[test]
    fn an_object_s_encryption_context_maps_by_shape_exactly_as_on_its_own() {
        let key = "arn:aws:kms:eu-west-1:111122223333:key/bc08c96e-1f3a-4c6b-9e0f-efdb6c22be77";
        let objects = [
            "arn:aws:s3:::orders-docs/customers/c-0145/object-3.bin",
            "arn:aws:s3:::orders-docs/a",
            "arn:aws:s3:::orders-docs/k*",    // not plain: no shape
            "arn:aws:s3:::orders-docs/a\\/b", // an escape: no shape
        ];
        let mut shaped = 0;
        for name in ["Decrypt", "GenerateDataKey", "Encrypt"] {
            for object in objects {
                for invoked_by in [Some("s3.amazonaws.com"), None] {
                    let request = format!(
                        r#"{{"keyId":"{key}","encryptionContext":{{"aws:s3:arn":"{object}"}},"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}}"#
                    );
                    let mut c = call(
                        name,
                        &request,
                        vec![EventResource {
                            arn: key,
                            resource_type: Some("AWS::KMS::Key"),
                        }],
                    );
                    c.invoked_by = invoked_by;
                    let direct = format!("{:?}", map_call(&c, crate::catalog::active()));
                    // Only a call S3 made names the object, in the grant's condition.
                    assert_eq!(
                        direct.contains("kms:EncryptionContext:aws:s3:arn"),
                        invoked_by.is_some(),
                        "{direct}"
                    );
                    shaped += usize::from(as_on_its_own(&c, &format!("{name} {object}")));
                }
            }
        }
        // The plain objects of the calls S3 made; the others' shaped mappings do not fit.
        assert_eq!(shaped, 3 * 2);
        // A value resources[] names too is never taken out.
        let object = "arn:aws:s3:::orders-docs/a";
        let request = format!(r#"{{"encryptionContext":{{"aws:s3:arn":"{object}"}}}}"#);
        let resources = vec![EventResource {
            arn: object,
            resource_type: None,
        }];
        assert!(Shaped::of(&call("Decrypt", &request, resources)).is_none());
        let nested = r#"{"encryptionContext":{"aws:s3:arn":"arn:aws:s3:::b/k"}}"#;
        let c = call("Decrypt", nested, Vec::new());
        assert_eq!(
            Shaped::of(&c)
                .unwrap()
                .materialize(&c)
                .call(&c)
                .request_parameters,
            Some(r#"{"encryptionContext":{"aws:s3:arn":"policy-miner-shape.value"}}"#)
        );
    }

    #[test]
    fn an_unread_parameter_changes_nothing_the_call_maps_to() {
        let catalog = crate::catalog::active();
        for (name, request, field) in [
            (
                "GetDownloadUrlForLayer",
                r#"{"repositoryName":"team/api","registryId":"999988887777","layerDigest":"VALUE"}"#,
                "layerDigest",
            ),
            (
                "AssumeRole",
                r#"{"roleArn":"arn:aws:iam::999988887777:role/deploy","roleSessionName":"VALUE","tags":[{"key":"team","value":"a"}]}"#,
                "roleSessionName",
            ),
        ] {
            let mut seen = Vec::new();
            for value in ["sha256:1fa8661d", "a-b_c.d", "with space", "zz-session-42"] {
                let request = request.replace("VALUE", value);
                let c = call(name, &request, Vec::new());
                let shape = Shaped::of(&c).unwrap();
                assert_eq!((shape.value, shape.usage), (value, Use::Unread), "{field}");
                let direct = format!("{:?}", map_call(&c, catalog));
                assert!(!direct.contains(value), "{name} names its {field}");
                assert_eq!(
                    format!("{:?}", by_shape(&c, catalog).unwrap()),
                    direct,
                    "{name} {value}"
                );
                seen.push(direct);
            }
            seen.dedup();
            assert_eq!(seen.len(), 1, "{name}: one mapping whatever the {field}");
        }
        // A layer check names its digests in a list: taken out whole.
        let mut seen = Vec::new();
        for digests in [
            r#"["sha256:1fa8661d"]"#,
            r#"["sha256:aa","sha256:bb"]"#,
            "[]",
            "null",
        ] {
            let request = format!(
                r#"{{"repositoryName":"team/api","layerDigests":{digests},"registryId":"999988887777"}}"#
            );
            let c = call("BatchCheckLayerAvailability", &request, Vec::new());
            let shape = Shaped::of(&c).unwrap();
            assert_eq!((shape.value, shape.usage), (digests, Use::Unread));
            assert_eq!(
                shape.materialize(&c).call(&c).request_parameters,
                Some(
                    r#"{"repositoryName":"team/api","layerDigests":"policy-miner-shape.value","registryId":"999988887777"}"#
                )
            );
            let direct = format!("{:?}", map_call(&c, catalog));
            assert!(direct.contains("repository/team/api"), "{direct}");
            assert_eq!(format!("{:?}", by_shape(&c, catalog).unwrap()), direct);
            seen.push(direct);
        }
        seen.dedup();
        assert_eq!(seen.len(), 1, "one mapping whatever the digests");
    }

    #[test]
    fn only_one_plain_top_level_key_has_a_shape() {
        let plain = |request: &'static str| {
            let c = call("GetObject", request, Vec::new());
            Shaped::of(&c).map(|o| o.value.to_string())
        };
        assert_eq!(
            plain(r#"{"bucketName":"b","key":"k/1"}"#).as_deref(),
            Some("k/1")
        );
        assert_eq!(
            plain(r#"{"bucketName":"b","key":"k*"}"#),
            None,
            "policy syntax"
        );
        assert_eq!(
            plain(r#"{"bucketName":"b","key":"k\/1"}"#),
            None,
            "an escape"
        );
        assert_eq!(plain(r#"{"bucketName":"b","key":"a:b"}"#), None, "a colon");
        assert_eq!(plain(r#"{"bucketName":"b","key":""}"#), None, "empty");
        assert_eq!(plain(r#"{"key":"a","key":"b"}"#), None, "twice");
        assert_eq!(
            plain(r#"{"bucketName":"b","x":{"key":"k"}}"#),
            None,
            "nested"
        );
        assert_eq!(plain(r#"{"bucketName":"b","key":"k""#), None, "cut short");
        let c = call(
            "GetObject",
            r#"{"bucketName":"b","key":"k/1"}"#,
            vec![EventResource {
                arn: "arn:aws:s3:::b/k/1",
                resource_type: None,
            }],
        );
        let object = Shaped::of(&c).unwrap().materialize(&c);
        let shaped = object.call(&c);
        assert_eq!(
            shaped.request_parameters,
            Some(r#"{"bucketName":"b","key":"policy-miner-shape.value"}"#)
        );
        assert_eq!(
            shaped.resources[0].arn,
            "arn:aws:s3:::b/policy-miner-shape.value"
        );
    }
}
