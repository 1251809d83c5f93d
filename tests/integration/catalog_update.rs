//! `catalog update` against a local server speaking the official endpoint's shape (plain HTTP,
//! std::net), and the cache's use by `catalog show`: written, preferred, and ignored with a
//! warning when corrupt; a failed update never touches it.

use crate::common::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Serves `routes` (path → body) until the test process ends; returns the base URL.
fn serve(routes: impl Fn(&str) -> Option<(u16, String)> + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = routes(path).unwrap_or((404, "not found".to_string()));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// A tiny reference in the official shape: s3 with one real and one made-up action, and sqs.
fn official(base: &str, path: &str) -> Option<(u16, String)> {
    let body = match path {
        "/" => json!([
            {"service": "s3", "url": format!("{base}/v1/s3/s3.json")},
            {"service": "sqs", "url": format!("{base}/v1/sqs/sqs.json")}
        ]),
        "/v1/s3/s3.json" => json!({
            "Name": "s3",
            "Actions": [
                {"Name": "GetObject", "ActionConditionKeys": ["s3:TlsVersion"],
                 "Annotations": {"Properties": {"IsList": false, "IsPermissionManagement": false,
                                                "IsTaggingOnly": false, "IsWrite": false}},
                 "Resources": [{"Name": "object"}]},
                {"Name": "FrobnicateWidget", "ActionConditionKeys": [],
                 "Annotations": {"Properties": {"IsWrite": true}},
                 "Resources": [{"Name": "bucket"}]}
            ],
            "Resources": [
                {"Name": "bucket", "ARNFormats": ["arn:${Partition}:s3:::${BucketName}"]},
                {"Name": "object", "ARNFormats": ["arn:${Partition}:s3:::${BucketName}/${ObjectName}"],
                 "ConditionKeys": ["aws:ResourceTag/${TagKey}"]}
            ],
            "ConditionKeys": [{"Name": "s3:TlsVersion", "Types": ["Numeric"]}],
            "Version": "v1.4"
        }),
        "/v1/sqs/sqs.json" => json!({
            "Name": "sqs",
            "Actions": [{"Name": "ListQueues", "Annotations": {"Properties": {"IsList": true}}}],
            "Resources": [],
            "ConditionKeys": [],
            "Version": "v1.4"
        }),
        _ => return None,
    };
    Some((200, body.to_string()))
}

fn official_server() -> String {
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let b = base.clone();
    let url = serve(move |path| official(b.get().unwrap(), path));
    base.set(url.clone()).unwrap();
    url
}

fn in_home(home: &Path, args: &[&str]) -> Output {
    bin()
        .args(args)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .output()
        .unwrap()
}

fn cache_file(home: &Path) -> PathBuf {
    home.join("cache/policy-miner/iam-catalog.json.gz")
}

#[test]
fn update_writes_the_cache_and_show_reads_it() {
    let home = tempfile::tempdir().unwrap();
    let base = official_server();
    // Before: the made-up action does not exist, and the embedded copy answers.
    let out = in_home(home.path(), &["catalog", "show", "s3:GetObject"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Copy: embedded"), "{}", stdout(&out));
    let out = in_home(home.path(), &["catalog", "show", "s3:FrobnicateWidget"]);
    assert_eq!(out.status.code(), Some(1));

    let out = in_home(
        home.path(),
        &["catalog", "update", "--endpoint", &format!("{base}/")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 services, 3 actions"),
        "{}",
        stdout(&out)
    );
    assert!(cache_file(home.path()).is_file());

    let out = in_home(home.path(), &["catalog", "show", "S3:frobnicatewidget"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("s3:FrobnicateWidget"), "{text}");
    assert!(text.contains("Access level:  Write"), "{text}");
    assert!(
        text.contains("arn:${Partition}:s3:::${BucketName}"),
        "{text}"
    );
    assert!(text.contains("Copy: cached by `catalog update`"), "{text}");
    assert!(
        text.contains("AWS Service Authorization Reference"),
        "{text}"
    );

    let out = in_home(home.path(), &["catalog", "show", "s3:GetObject"]);
    let text = stdout(&out);
    assert!(text.contains("s3:TlsVersion (Numeric)"), "{text}");
    // The cached copy is the whole truth: what the tiny reference lacks is gone.
    let out = in_home(home.path(), &["catalog", "show", "s3:PutObject"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn a_failed_update_leaves_the_cache_untouched() {
    let home = tempfile::tempdir().unwrap();
    let base = official_server();
    let out = in_home(
        home.path(),
        &["catalog", "update", "--endpoint", &format!("{base}/")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let before = std::fs::read(cache_file(home.path())).unwrap();

    // Nothing listens on a port we just released: like being offline.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = in_home(
        home.path(),
        &[
            "catalog",
            "update",
            "--endpoint",
            &format!("http://127.0.0.1:{closed}/"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot fetch") && err.contains("network"),
        "{err}"
    );
    assert_eq!(std::fs::read(cache_file(home.path())).unwrap(), before);

    // An index that lists a document the server does not have: all or nothing.
    let broken = serve(|path| match path {
        "/" => Some((
            200,
            json!([{"service": "s3", "url": "http://127.0.0.1:9/x"}]).to_string(),
        )),
        _ => None,
    });
    let out = in_home(
        home.path(),
        &["catalog", "update", "--endpoint", &format!("{broken}/")],
    );
    assert_eq!(out.status.code(), Some(1));
    // Not the official shape at all.
    let html = serve(|_| Some((200, "<html>maintenance</html>".to_string())));
    let out = in_home(
        home.path(),
        &["catalog", "update", "--endpoint", &format!("{html}/")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not the Service Authorization Reference shape"));
    assert_eq!(std::fs::read(cache_file(home.path())).unwrap(), before);
}

#[test]
fn a_corrupt_cache_warns_and_the_embedded_copy_answers() {
    let home = tempfile::tempdir().unwrap();
    let cache = cache_file(home.path());
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::write(&cache, gzip(b"{\"format\": 1, \"truncated")).unwrap();
    let out = in_home(home.path(), &["catalog", "show", "s3:GetObject"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Copy: embedded"), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("warning: the cached IAM catalog").count(),
        1,
        "{err}"
    );
    assert!(err.contains(&cache.display().to_string()), "{err}");
}

/// A reference with operations, in the shape of AWS's documentation ("Simplified AWS service
/// information for programmatic access"): S3's `GetObject` with the authorized actions AWS's
/// example lists, and ECS's `RunTask` passing a role (`iam:PassRole` with the
/// `iam:PassedToService` context the same page describes). IAM itself is left out, so its action
/// is one the cached catalog does not know.
fn with_operations(base: &str, path: &str) -> Option<(u16, String)> {
    let object_action = |name: &str| {
        json!({"Name": name, "Annotations": {"Properties": {"IsList": false,
               "IsPermissionManagement": false, "IsTaggingOnly": false, "IsWrite": false}},
               "Resources": [{"Name": "object"}]})
    };
    let object_actions: Vec<serde_json::Value> = [
        "GetObject",
        "GetObjectLegalHold",
        "GetObjectRetention",
        "GetObjectTagging",
        "GetObjectVersion",
    ]
    .map(object_action)
    .to_vec();
    let body = match path {
        "/" => json!([
            {"service": "s3", "url": format!("{base}/v1/s3/s3.json")},
            {"service": "s3-object-lambda", "url": format!("{base}/v1/s3-object-lambda/s3-object-lambda.json")},
            {"service": "ecs", "url": format!("{base}/v1/ecs/ecs.json")}
        ]),
        "/v1/s3/s3.json" => json!({
            "Name": "s3",
            "Actions": object_actions,
            "Resources": [
                {"Name": "bucket", "ARNFormats": ["arn:${Partition}:s3:::${BucketName}"]},
                {"Name": "object", "ARNFormats": ["arn:${Partition}:s3:::${BucketName}/${ObjectName}"]}
            ],
            "ConditionKeys": [],
            "Operations": [{
                "Name": "GetObject",
                "AuthorizedActions": [
                    {"Name": "GetObject", "Service": "s3"},
                    {"Name": "GetObject", "Service": "s3-object-lambda"},
                    {"Name": "GetObjectLegalHold", "Service": "s3"},
                    {"Name": "GetObjectRetention", "Service": "s3"},
                    {"Name": "GetObjectTagging", "Service": "s3"},
                    {"Name": "GetObjectVersion", "Service": "s3"}
                ],
                "SDK": [{"Name": "s3", "Method": "get_object", "Package": "Boto3"}]
            }],
            "Version": "v1.4"
        }),
        "/v1/s3-object-lambda/s3-object-lambda.json" => json!({
            "Name": "s3-object-lambda",
            "Actions": [{"Name": "GetObject", "Annotations": {"Properties": {}}}],
            "Resources": [], "ConditionKeys": [], "Version": "v1.4"
        }),
        "/v1/ecs/ecs.json" => json!({
            "Name": "ecs",
            "Actions": [{"Name": "RunTask", "Annotations": {"Properties": {"IsWrite": true}},
                         "Resources": [{"Name": "task-definition"}]}],
            "Resources": [{"Name": "task-definition", "ARNFormats":
                ["arn:${Partition}:ecs:${Region}:${Account}:task-definition/${TaskDefinitionFamilyName}:${TaskDefinitionRevisionNumber}"]}],
            "ConditionKeys": [],
            "Operations": [
                {"Name": "RunTask",
                 "AuthorizedActions": [
                    {"Name": "RunTask", "Service": "ecs"},
                    {"Name": "PassRole", "Service": "iam",
                     "Context": {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]}}
                 ],
                 "SDK": [{"Name": "ecs", "Method": "run_task", "Package": "Boto3"}]},
                {"Name": "ListTasks",
                 "SDK": [{"Name": "ecs", "Method": "list_tasks", "Package": "Boto3"}]}
            ],
            "Version": "v1.4"
        }),
        _ => return None,
    };
    Some((200, body.to_string()))
}

#[test]
fn operations_are_kept_shown_and_checked_against_the_calls() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // The embedded copy has no operation data, and says so.
    let out = in_home(h, &["catalog", "show", "--operation", "s3:GetObject"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no operation data") && stderr(&out).contains("catalog update"),
        "{}",
        stderr(&out)
    );
    let out = in_home(h, &["catalog", "show", "s3:GetObject"]);
    assert!(
        stdout(&out).contains("no operation data"),
        "{}",
        stdout(&out)
    );

    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let b = base.clone();
    let url = serve(move |path| with_operations(b.get().unwrap(), path));
    base.set(url.clone()).unwrap();
    let out = in_home(h, &["catalog", "update", "--endpoint", &format!("{url}/")]);
    assert!(out.status.success(), "{}", stderr(&out));
    // RunTask and GetObject; ListTasks lists no authorized action and is not kept.
    assert!(
        stdout(&out).contains("3 services, 7 actions, 2 operations"),
        "{}",
        stdout(&out)
    );

    let out = in_home(h, &["catalog", "show", "--operation", "S3:getobject"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let listed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("    ") && !l.starts_with("      "))
        .map(str::trim)
        .collect();
    assert_eq!(
        listed,
        [
            "s3:GetObject",
            "s3-object-lambda:GetObject",
            "s3:GetObjectLegalHold",
            "s3:GetObjectRetention",
            "s3:GetObjectTagging",
            "s3:GetObjectVersion"
        ],
        "{text}"
    );
    assert!(text.starts_with("s3:GetObject (API operation)"), "{text}");
    assert!(!text.contains("no operation data"), "{text}");

    let run_task = stdout(&in_home(
        h,
        &["catalog", "show", "--operation", "ecs:RunTask"],
    ));
    assert!(
        run_task.contains("iam:PassRole  (not in this catalog)")
            && run_task.contains("iam:PassedToService = ecs-tasks.amazonaws.com"),
        "{run_task}"
    );
    let out = in_home(h, &["catalog", "show", "--operation", "s3:GetObjekt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did you mean s3:GetObject"),
        "{}",
        stderr(&out)
    );
    // An operation AWS has not mapped to actions is not kept.
    let out = in_home(h, &["catalog", "show", "--operation", "ecs:ListTasks"]);
    assert_eq!(out.status.code(), Some(1));

    // A GetObject call observed and proposed with the cached catalog: granted s3:GetObject only,
    // each other action AWS lists for the operation a finding saying why. The event is the shape
    // of AWS's S3 data-event example (CloudTrail log file examples for Amazon S3).
    let mut e = role_event("ev-get", "2026-11-20T09:00:00Z", "orders-task", "/unused");
    e["eventSource"] = json!("s3.amazonaws.com");
    e["eventName"] = json!("GetObject");
    e["eventCategory"] = json!("Data");
    e["readOnly"] = json!(true);
    e["requestParameters"] = json!({"bucketName": "orders-in", "key": "2026/11/20/a.csv",
        "Host": "orders-in.s3.eu-west-1.amazonaws.com"});
    e["resources"] = json!([
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::orders-in/2026/11/20/a.csv"},
        {"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::orders-in"}
    ]);
    let day = h.join("trail/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(
        day.join("111122223333_CloudTrail_eu-west-1_20261120T0900Z_a.json.gz"),
        gzip(json!({"Records": [e]}).to_string().as_bytes()),
    )
    .unwrap();
    let db = h.join("e.db").display().to_string();
    let out = in_home(
        h,
        &["observe", "--db", &db, h.join("trail").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = in_home(h, &["propose", "--db", &db, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let role = role(&report, "arn:aws:iam::111122223333:role/orders-task");
    let granted: Vec<&str> = role["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["action"].as_str().unwrap())
        .collect();
    assert_eq!(granted, ["s3:GetObject"], "nothing granted beyond the call");
    let mut gaps: Vec<(String, String)> = role["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "operation-action-not-granted")
        .map(|f| {
            assert_eq!(f["operation"], "s3:GetObject", "{f}");
            assert_eq!(f["example_event_id"], "ev-get", "{f}");
            assert_eq!(f["severity"], "info", "{f}");
            assert!(f["message"]
                .as_str()
                .unwrap()
                .contains(f["action"].as_str().unwrap()));
            (
                f["action"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    gaps.sort();
    let want: Vec<(String, String)> = [
        ("s3-object-lambda:GetObject", "other-service"),
        ("s3:GetObjectLegalHold", "depends-on-request"),
        ("s3:GetObjectRetention", "depends-on-request"),
        ("s3:GetObjectTagging", "depends-on-request"),
        ("s3:GetObjectVersion", "depends-on-request"),
    ]
    .iter()
    .map(|(a, r)| (a.to_string(), r.to_string()))
    .collect();
    assert_eq!(gaps, want);
    assert!(!role["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "action-not-listed-for-operation"));
}
