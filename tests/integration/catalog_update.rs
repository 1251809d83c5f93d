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
