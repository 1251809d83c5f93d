//! `catalog update`: AWS's own machine-readable Service Authorization Reference → the compact
//! catalog format of `data/iam-catalog.json.gz`, cached in the user's cache directory, and
//! [`active`], the catalog the command line uses: a valid cached copy when there is one that is
//! not older than the embedded one, else the embedded copy.
//!
//! The endpoint serves an index, `[{"service": "s3", "url": ".../v1/s3/s3.json"}, ...]`, and one
//! document per service: `{"Name": "s3", "Actions": [{"Name", "ActionConditionKeys",
//! "Annotations": {"Properties": {"IsList", "IsPermissionManagement", "IsTaggingOnly",
//! "IsWrite"}}, "Resources": [{"Name"}]}], "Resources": [{"Name", "ARNFormats",
//! "ConditionKeys"}], "ConditionKeys": [{"Name", "Types"}], "Operations": [{"Name",
//! "AuthorizedActions": [{"Name", "Service", "Context"}], "SDK"}], "Version"}`. The operations
//! are kept (see `operations.rs`): the embedded catalog has none, no package publishing them.

use super::{embedded, Catalog, CatalogError, ACCESS_LEVELS, FORMAT_VERSION};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// AWS's official endpoint of the Service Authorization Reference (one JSON document per service).
pub const DEFAULT_ENDPOINT: &str = "https://servicereference.us-east-1.amazonaws.com/";

/// Services fetched at once: the reference has 400-odd documents.
const PARALLEL: usize = 8;

/// The biggest service documents (ec2) are a few MB; refuse anything absurd.
const MAX_DOCUMENT: u64 = 64 * 1024 * 1024;

/// The cached file, `$XDG_CACHE_HOME/policy-miner/iam-catalog.json.gz` (or under `~/.cache`);
/// None when neither variable gives an absolute directory.
pub fn cache_path() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let base = std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".cache"))
        })?;
    Some(base.join("policy-miner").join("iam-catalog.json.gz"))
}

/// Which copy [`active`] chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    Cached(PathBuf),
}

struct Active {
    cached: Option<(Catalog, PathBuf)>,
    /// Why a valid cached file was not used (shown by `catalog show`); a corrupt one is warned
    /// about on stderr when it is read.
    note: Option<String>,
}

static ACTIVE: OnceLock<Active> = OnceLock::new();

/// The catalog the command line uses: the cached copy from `catalog update` when it is valid and
/// not older than the embedded one, else the embedded copy. A cached file that cannot be read is
/// reported on stderr once and ignored.
pub fn active() -> &'static Catalog {
    active_with_origin().0
}

/// [`active`] and which copy it is.
pub fn active_with_origin() -> (&'static Catalog, Origin) {
    let a = load_active();
    match &a.cached {
        Some((catalog, path)) => (catalog, Origin::Cached(path.clone())),
        None => (embedded(), Origin::Embedded),
    }
}

/// Why a cached copy that exists is not in use, if it is not.
pub fn cache_note() -> Option<&'static str> {
    load_active().note.as_deref()
}

fn load_active() -> &'static Active {
    ACTIVE.get_or_init(|| {
        let Some(path) = cache_path() else {
            return Active {
                cached: None,
                note: None,
            };
        };
        match read_cache(&path) {
            Ok(None) => Active {
                cached: None,
                note: None,
            },
            Ok(Some(c)) if c.source_date() < embedded().source_date() => Active {
                cached: None,
                note: Some(format!(
                    "the cached catalog {} ({}) is older than the embedded one; \
                     `policy-miner catalog update` refreshes it",
                    path.display(),
                    c.source_date()
                )),
            },
            Ok(Some(c)) => Active {
                cached: Some((c, path)),
                note: None,
            },
            Err(e) => {
                let note = format!(
                    "the cached IAM catalog {} is unusable ({e}); using the embedded copy. \
                     Run `policy-miner catalog update` to replace it, or delete the file",
                    path.display()
                );
                eprintln!("warning: {note}");
                Active {
                    cached: None,
                    note: None,
                }
            }
        }
    })
}

/// The catalog cached at `path`; None when there is no such file.
pub fn read_cache(path: &Path) -> Result<Option<Catalog>, CatalogError> {
    match std::fs::read(path) {
        Ok(bytes) => Catalog::from_gzip_bytes(&bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CatalogError::Decompress(e)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url} is not the Service Authorization Reference shape: {reason}")]
    Shape { url: String, reason: String },
    #[error("the catalog built from {0} does not load: {1}")]
    Build(String, CatalogError),
    #[error("cannot write the cache {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("no cache directory: set XDG_CACHE_HOME or HOME to an absolute path")]
    NoCacheDir,
}

/// What `catalog update` did.
#[derive(Debug)]
pub struct Updated {
    pub path: PathBuf,
    pub services: usize,
    pub actions: usize,
    /// Operations kept with the actions they authorize.
    pub operations: usize,
    pub date: String,
    pub source: String,
    pub bytes: usize,
}

/// Fetches the whole reference from `endpoint` and replaces the cache with it. Any failure leaves
/// the cache as it was: the new file is written beside it and renamed over it only at the end.
pub fn update(endpoint: &str) -> Result<Updated, UpdateError> {
    let path = cache_path().ok_or(UpdateError::NoCacheDir)?;
    let gzip = fetch(endpoint)?;
    let catalog =
        Catalog::from_gzip_bytes(&gzip).map_err(|e| UpdateError::Build(endpoint.to_string(), e))?;
    let write_err = |source| UpdateError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let tmp = path.with_extension(format!("gz.tmp{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&gzip).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    Ok(Updated {
        path,
        services: catalog.service_count(),
        actions: catalog.action_count(),
        operations: catalog.operation_count(),
        date: catalog.source_date().to_string(),
        source: catalog.source().to_string(),
        bytes: gzip.len(),
    })
}

#[derive(Deserialize)]
struct IndexEntry {
    service: String,
    url: String,
}

#[derive(Deserialize)]
struct ServiceDoc {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Actions", default)]
    actions: Vec<ActionDoc>,
    #[serde(rename = "Resources", default)]
    resources: Vec<ResourceDoc>,
    #[serde(rename = "ConditionKeys", default)]
    condition_keys: Vec<ConditionKeyDoc>,
    #[serde(rename = "Operations", default)]
    operations: Vec<OperationDoc>,
}

#[derive(Deserialize)]
struct OperationDoc {
    #[serde(rename = "Name")]
    name: String,
    /// Absent for services whose operations AWS has not mapped to actions yet.
    #[serde(rename = "AuthorizedActions", default)]
    authorized_actions: Vec<AuthorizedDoc>,
}

#[derive(Deserialize)]
struct AuthorizedDoc {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Service")]
    service: String,
    /// Condition keys and their values (`{"iam:PassedToService": ["ecs-tasks.amazonaws.com"]}`);
    /// kept when it is an object of strings or lists of strings, the only shape AWS describes.
    #[serde(rename = "Context", default)]
    context: Option<Value>,
}

#[derive(Deserialize)]
struct ActionDoc {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "ActionConditionKeys", default)]
    condition_keys: Vec<String>,
    #[serde(rename = "Annotations", default)]
    annotations: Option<Annotations>,
    #[serde(rename = "Resources", default)]
    resources: Vec<NameOnly>,
}

#[derive(Deserialize, Default)]
struct Annotations {
    #[serde(rename = "Properties", default)]
    properties: Properties,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
struct Properties {
    #[serde(default)]
    is_list: bool,
    #[serde(default)]
    is_permission_management: bool,
    #[serde(default)]
    is_tagging_only: bool,
    #[serde(default)]
    is_write: bool,
}

#[derive(Deserialize)]
struct NameOnly {
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Deserialize)]
struct ResourceDoc {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "ARNFormats", default)]
    arn_formats: Vec<String>,
    #[serde(rename = "ConditionKeys", default)]
    condition_keys: Vec<String>,
}

#[derive(Deserialize)]
struct ConditionKeyDoc {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Types", default)]
    types: Vec<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent(concat!("policy-miner/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, UpdateError> {
    let fail = |reason: String| UpdateError::Fetch {
        url: url.to_string(),
        reason,
    };
    let mut response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_DOCUMENT)
        .read_to_vec()
        .map_err(|e| fail(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(url: &str, bytes: &[u8]) -> Result<T, UpdateError> {
    serde_json::from_slice(bytes).map_err(|e| UpdateError::Shape {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

/// The whole reference, converted and gzipped.
fn fetch(endpoint: &str) -> Result<Vec<u8>, UpdateError> {
    let agent = agent();
    let index: Vec<IndexEntry> = parse(endpoint, &get(&agent, endpoint)?)?;
    if index.is_empty() {
        return Err(UpdateError::Shape {
            url: endpoint.to_string(),
            reason: "the index lists no service".to_string(),
        });
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, Value)>, UpdateError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..PARALLEL.min(index.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(entry) = index.get(i) else {
                            return Ok(done);
                        };
                        let doc: ServiceDoc = parse(&entry.url, &get(&agent, &entry.url)?)?;
                        done.push((i, convert(&entry.service, doc)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(UpdateError::Shape {
                        url: endpoint.to_string(),
                        reason: "a download thread failed".to_string(),
                    })
                })
            })
            .collect()
    });
    let mut services: Vec<(usize, Value)> = Vec::new();
    for r in results {
        services.extend(r?);
    }
    let mut services: Vec<Value> = services.into_iter().map(|(_, v)| v).collect();
    services.sort_by_key(|s| s["p"].as_str().unwrap_or("").to_ascii_lowercase());
    services.dedup_by(|a, b| a["p"] == b["p"]);
    let globals: Vec<Value> = embedded()
        .global_keys
        .iter()
        .map(|k| json!([k.0, k.1]))
        .collect();
    let doc = json!({
        "format": FORMAT_VERSION,
        "source": format!("AWS Service Authorization Reference, {endpoint}"),
        "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
        "license": "AWS public documentation data (Service Authorization Reference); \
                    global condition keys from the embedded catalog",
        "g": globals,
        "s": services,
    });
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(doc.to_string().as_bytes())
        .and_then(|()| enc.finish())
        .map_err(|e| UpdateError::Build(endpoint.to_string(), CatalogError::Decompress(e)))
}

/// One service document → the compact per-service entry (see scripts/update-catalog.py).
fn convert(prefix: &str, doc: ServiceDoc) -> Value {
    let prefix = if prefix.is_empty() { &doc.name } else { prefix };
    // Every key any action or resource names, with its type when the service defines it.
    let mut keys: BTreeMap<String, (String, String)> = BTreeMap::new();
    for k in &doc.condition_keys {
        let typ = k.types.first().cloned().unwrap_or_else(|| "String".into());
        keys.insert(k.name.to_ascii_lowercase(), (k.name.clone(), typ));
    }
    let referenced = doc
        .resources
        .iter()
        .flat_map(|r| &r.condition_keys)
        .chain(doc.actions.iter().flat_map(|a| &a.condition_keys));
    for k in referenced {
        keys.entry(k.to_ascii_lowercase())
            .or_insert_with(|| (k.clone(), "String".into()));
    }
    let conds: Vec<(String, String)> = keys.into_values().collect();
    let cidx: BTreeMap<String, usize> = conds
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.to_ascii_lowercase(), i))
        .collect();
    let refs = |names: &[String]| -> Vec<usize> {
        let mut out: Vec<usize> = names
            .iter()
            .filter_map(|n| cidx.get(&n.to_ascii_lowercase()).copied())
            .collect();
        out.dedup();
        out
    };
    // Source order is kept: ties between identical ARN formats go to the earlier type.
    let resources: Vec<&ResourceDoc> = doc
        .resources
        .iter()
        .filter(|r| !r.arn_formats.is_empty())
        .collect();
    let ridx: BTreeMap<String, usize> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.to_ascii_lowercase(), i))
        .collect();
    let r: Vec<Value> = resources
        .iter()
        .map(|r| json!([r.name, r.arn_formats[0], refs(&r.condition_keys)]))
        .collect();
    let mut actions: Vec<&ActionDoc> = doc.actions.iter().collect();
    actions.sort_by_key(|a| a.name.to_ascii_lowercase());
    actions.dedup_by_key(|a| a.name.to_ascii_lowercase());
    let a: Vec<Value> = actions
        .iter()
        .map(|a| {
            let p = a
                .annotations
                .as_ref()
                .map(|an| an.properties.clone())
                .unwrap_or_default();
            let level = if p.is_permission_management {
                "Permissions management"
            } else if p.is_tagging_only {
                "Tagging"
            } else if p.is_write {
                "Write"
            } else if p.is_list {
                "List"
            } else {
                "Read"
            };
            let level = ACCESS_LEVELS.iter().position(|l| *l == level).unwrap_or(0);
            // The reference does not say which resource types are required: none is marked.
            let rts: Vec<Value> = a
                .resources
                .iter()
                .filter_map(|r| ridx.get(&r.name.to_ascii_lowercase()))
                .map(|&i| json!([i, 0]))
                .collect();
            json!([a.name, level, rts, refs(&a.condition_keys)])
        })
        .collect();
    let name = embedded()
        .service_name(prefix)
        .unwrap_or(prefix)
        .to_string();
    let c: Vec<Value> = conds.iter().map(|(k, t)| json!([k, t])).collect();
    let mut out = json!({"p": prefix, "n": name, "c": c, "r": r, "a": a});
    let o = operations(&doc.operations);
    if !o.is_empty() {
        out["o"] = Value::Array(o);
    }
    out
}

/// The operations that list their authorized actions, sorted by name (see `operations.rs`).
fn operations(docs: &[OperationDoc]) -> Vec<Value> {
    let mut ops: Vec<&OperationDoc> = docs
        .iter()
        .filter(|o| !o.name.is_empty() && !o.authorized_actions.is_empty())
        .collect();
    ops.sort_by_key(|o| o.name.to_ascii_lowercase());
    ops.dedup_by_key(|o| o.name.to_ascii_lowercase());
    ops.iter()
        .map(|o| {
            let actions: Vec<Value> = o
                .authorized_actions
                .iter()
                .filter(|a| !a.name.is_empty() && !a.service.is_empty())
                .map(|a| json!([a.service, a.name, context(a.context.as_ref())]))
                .collect();
            json!([o.name, actions])
        })
        .collect()
}

/// `{"key": "v" | ["v", …]}` → `[["key", ["v", …]]]`, keys sorted; anything else → `[]`.
fn context(value: Option<&Value>) -> Value {
    let Some(Value::Object(map)) = value else {
        return json!([]);
    };
    let mut pairs: Vec<(&String, Vec<&str>)> = map
        .iter()
        .map(|(k, v)| {
            let values = match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            (k, values)
        })
        .collect();
    pairs.sort();
    Value::Array(pairs.into_iter().map(|(k, v)| json!([k, v])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_document_converts_to_the_compact_format() {
        let doc: ServiceDoc = serde_json::from_value(json!({
            "Name": "sqs",
            "Actions": [
                {"Name": "SendMessage", "ActionConditionKeys": ["aws:ResourceTag/${TagKey}"],
                 "Annotations": {"Properties": {"IsWrite": true}},
                 "Resources": [{"Name": "queue"}]},
                {"Name": "ListQueues", "Annotations": {"Properties": {"IsList": true}}},
                {"Name": "TagQueue", "Annotations": {"Properties":
                    {"IsWrite": true, "IsTaggingOnly": true}}, "Resources": [{"Name": "queue"}]}
            ],
            "Resources": [{"Name": "queue",
                "ARNFormats": ["arn:${Partition}:sqs:${Region}:${Account}:${QueueName}"],
                "ConditionKeys": ["aws:ResourceTag/${TagKey}"]}],
            "ConditionKeys": [{"Name": "aws:ResourceTag/${TagKey}", "Types": ["String"]}],
            "Version": "v1.3"
        }))
        .unwrap();
        let v = convert("sqs", doc);
        assert_eq!(v["p"], "sqs");
        assert_eq!(v["n"], embedded().service_name("sqs").unwrap());
        let names: Vec<&str> = v["a"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a[0].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ListQueues", "SendMessage", "TagQueue"]);
        let level = |i: usize| ACCESS_LEVELS[v["a"][i][1].as_u64().unwrap() as usize];
        assert_eq!([level(0), level(1), level(2)], ["List", "Write", "Tagging"]);
        assert_eq!(v["a"][0][2], json!([]));
        assert_eq!(v["a"][1][2], json!([[0, 0]]));
        assert!(v.get("o").is_none(), "no Operations, no key: {v}");
    }

    #[test]
    fn operations_are_kept_with_their_context() {
        // The shape of AWS's documentation; `Context` as it describes `iam:PassedToService`.
        let doc: ServiceDoc = serde_json::from_value(json!({
            "Name": "ecs",
            "Actions": [{"Name": "RunTask", "Resources": []}],
            "Resources": [],
            "Operations": [
                {"Name": "RunTask", "AuthorizedActions": [
                    {"Name": "RunTask", "Service": "ecs"},
                    {"Name": "PassRole", "Service": "iam",
                     "Context": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                    {"Name": "TagResource", "Service": "ecs", "Context": "unexpected"}
                 ], "SDK": [{"Name": "ecs", "Method": "run_task", "Package": "Boto3"}]},
                {"Name": "ListTasks", "SDK": [{"Name": "ecs", "Method": "list_tasks"}]},
                {"Name": "CreateCluster", "AuthorizedActions": [
                    {"Name": "CreateCluster", "Service": "ecs"}]}
            ]
        }))
        .unwrap();
        let v = convert("ecs", doc);
        assert_eq!(
            v["o"],
            json!([
                ["CreateCluster", [["ecs", "CreateCluster", []]]],
                [
                    "RunTask",
                    [
                        ["ecs", "RunTask", []],
                        [
                            "iam",
                            "PassRole",
                            [["iam:PassedToService", ["ecs-tasks.amazonaws.com"]]]
                        ],
                        ["ecs", "TagResource", []]
                    ]
                ]
            ])
        );
    }
}
