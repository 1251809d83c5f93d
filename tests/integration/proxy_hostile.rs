//! `observe --proxy` against hostile clients, through the real binary: each test names what the
//! attacker sends, what the user sees, and what stays untouched. Signed-looking requests to hosts
//! that are not AWS's never become evidence; the proxy never connects to the machine's own
//! services for hosts it does not intercept; its CA vouches only for the tunnel's own host; and
//! no client holds connections, descriptors or time beyond the limits.

use crate::common::live::Running;
use crate::common::*;
use crate::proxy::{evidence_from, start_proxy, ROLE};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fake SigV4 header: anyone can write one; only AWS would check it.
fn fake_signature(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDATTACKER/20261201/us-east-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=0000"
    )
}

/// A service on the loopback that answers 200 `{}` to every request and counts the
/// connections it gets: what an attacker wants the proxy to record, or to reach.
struct Loopback {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Loopback {
    fn start() -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    read_request(&mut conn);
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n\
                          Content-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                });
            }
        });
        Loopback { addr, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads one request: its head, then the body its Content-Length announces.
fn read_request(conn: &mut TcpStream) {
    let head = read_head(conn);
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = conn.read_exact(&mut body);
}

/// Bytes up to the blank line ending a message head, read one at a time so that nothing after
/// it (a TLS handshake) is consumed.
fn read_head(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn proxy_addr(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Sends `request` on a new connection to the proxy; what came back before it closed (or 10 s).
fn exchange(proxy: &str, request: &[u8]) -> String {
    let mut conn = TcpStream::connect(proxy_addr(proxy)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn count(db: &Path, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    read_db(db, async |c| {
        sqlx::query_scalar(sql.as_str()).fetch_one(c).await.unwrap()
    })
}

/// The attacker sends a plain-HTTP request in absolute form to a service of theirs on the
/// loopback, with a made-up SigV4 header for iam:CreateUser. The user sees a 403 naming the
/// loopback and a summary without a single AWS call; the loopback service is never contacted and
/// the database holds no evidence, nor any call at all.
#[test]
fn a_signed_looking_request_to_a_loopback_service_is_refused_and_never_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let service = Loopback::start();
    let (proxy, url) = start_proxy(&db, &dir.path().join("ca"), &[]);
    let body = "Action=CreateUser&UserName=backdoor&Version=2010-05-08";
    let request = format!(
        "POST http://{addr}/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n{body}",
        addr = service.addr,
        auth = fake_signature("iam"),
        len = body.len()
    );
    let answer = exchange(&url, request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("loopback"), "{answer}");
    let (status, summary) = proxy.terminate();
    assert!(status.success(), "{summary}");
    assert!(summary.contains("0 of them AWS calls"), "{summary}");
    assert!(summary.contains("1 refused (403)"), "{summary}");
    assert_eq!(
        service.connections(),
        0,
        "the loopback service was contacted"
    );
    assert_eq!(evidence_from(&db, "proxy"), vec![]);
    assert_eq!(count(&db, "evidence_sources"), 0);
    assert_eq!(count(&db, "ungranted_calls"), 0);
}

/// The attacker sends SSM GetParameter to an endpoint the user named (`--intercept 127.0.0.1`),
/// with a JSON body nested deeper than the parser goes. The user sees the call answered and
/// recorded with an unknown resource (`?`); no grant on `*` reaches the evidence or the policy.
#[test]
fn a_body_too_deep_to_parse_is_recorded_with_an_unknown_resource_never_star() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let service = Loopback::start();
    let (proxy, url) = start_proxy(&db, &dir.path().join("ca"), &["--intercept", "127.0.0.1"]);
    let body = format!(
        r#"{{"Name": "/app/flag", "X": {}1{}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let request = format!(
        "POST http://{addr}/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\
         X-Amz-Target: AmazonSSM.GetParameter\r\nContent-Type: application/x-amz-json-1.1\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n{body}",
        addr = service.addr,
        auth = fake_signature("ssm"),
        len = body.len()
    );
    let answer = exchange(&url, request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (status, summary) = proxy.terminate();
    assert!(status.success(), "{summary}");
    assert_eq!(
        evidence_from(&db, "proxy"),
        vec![(
            "ssm:GetParameter".to_string(),
            "?".to_string(),
            String::new(),
            1
        )]
    );
    let report = proposal_json(db.to_str().unwrap());
    let proposal = role(&report, ROLE);
    let policy = proposal["policy"].to_string();
    assert!(!policy.contains(r#""*""#), "{policy}");
    let findings = proposal["findings"].to_string();
    assert!(findings.contains("ssm:GetParameter"), "{findings}");
}

/// The attacker asks for tunnels into the machine: to a loopback service's own port, to port 443
/// of `localhost` and of the instance metadata address, and to SSH on a public name. The user
/// sees a 403 for each, saying why; the loopback service is never contacted.
#[test]
fn tunnels_to_the_machine_itself_or_to_ports_other_than_443_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let service = Loopback::start();
    let (proxy, url) = start_proxy(&dir.path().join("live.db"), &dir.path().join("ca"), &[]);
    let cases = [
        (service.addr.to_string(), "port 443 only"),
        ("localhost:443".to_string(), "loopback"),
        ("169.254.169.254:443".to_string(), "link-local"),
        ("[::ffff:127.0.0.1]:443".to_string(), "loopback"),
        ("example.com:22".to_string(), "port 443 only"),
    ];
    for (target, why) in cases {
        let answer = exchange(
            &url,
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(answer.starts_with("HTTP/1.1 403"), "{target}: {answer}");
        assert!(answer.contains(why), "{target}: {answer}");
    }
    assert_eq!(
        service.connections(),
        0,
        "the loopback service was contacted"
    );
    assert!(proxy.terminate().0.success());
}

/// A TLS handshake inside a CONNECT tunnel to `target`, asking for `name`, trusting only what
/// the proxy's CA signed (and the usual roots).
fn handshake_in_tunnel(
    proxy: &str,
    target: &str,
    name: rustls::pki_types::ServerName<'static>,
    ca: &Path,
) -> Result<(), String> {
    let mut tcp = TcpStream::connect(proxy_addr(proxy)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .unwrap();
    let head = read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let config = policy_miner::source::proxy::tls::upstream_config(Some(ca)).unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    for _ in 0..50 {
        if !tls.is_handshaking() {
            return Ok(());
        }
        tls.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Err("the handshake did not finish".to_string())
}

/// The attacker opens a tunnel to an intercepted host and asks, in the client hello, for a
/// certificate for `www.google.com`. The user's proxy refuses the handshake: its CA signs no
/// certificate for a host the tunnel does not go to. The same tunnel without a name (an IP
/// address) still gets its certificate.
#[test]
fn a_tunnel_gets_a_certificate_for_its_connect_host_only() {
    use rustls::pki_types::ServerName;
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let (proxy, url) = start_proxy(
        &dir.path().join("live.db"),
        &ca_dir,
        &["--intercept", "127.0.0.1"],
    );
    let ca = ca_dir.join("ca.pem");
    let google = ServerName::try_from("www.google.com").unwrap();
    let refused = handshake_in_tunnel(&url, "127.0.0.1:9", google, &ca);
    assert!(
        refused.is_err(),
        "a certificate for www.google.com was issued"
    );
    let own = ServerName::from(std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST));
    handshake_in_tunnel(&url, "127.0.0.1:9", own, &ca).expect("the tunnel's own certificate");
    assert!(proxy.terminate().0.success());
}

fn open_descriptors(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// The attacker opens 60 connections and sends nothing. The user's proxy (`--max-connections
/// 8`) keeps 8, answers the others 503 at once and closes them, says so on stderr, and serves a
/// new client as soon as a slot is free; its descriptors stay within the limit.
#[test]
fn excess_connections_are_refused_at_once_and_descriptors_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (proxy, url) = start_proxy(
        &dir.path().join("live.db"),
        &dir.path().join("ca"),
        &["--max-connections", "8"],
    );
    let before = open_descriptors(proxy.pid());
    let mut held: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(proxy_addr(&url)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    if let (Some(before), Some(now)) = (before, open_descriptors(proxy.pid())) {
        assert!(now <= before + 8 + 4, "{before} descriptors, then {now}");
    }
    let mut busy = 0;
    let mut silent = 0;
    for conn in &mut held {
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut answer = Vec::new();
        match conn.read_to_end(&mut answer) {
            Ok(_) => {
                let answer = String::from_utf8_lossy(&answer);
                assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
                assert!(answer.contains("--max-connections"), "{answer}");
                busy += 1;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                silent += 1
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((silent, busy), (8, 52));
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = exchange(
            &url,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        if answer.starts_with("HTTP/1.1 400") {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came free: {answer}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, said) = proxy.terminate();
    assert!(status.success(), "{said}");
    // At least the 52, and any retry above that came before a slot was free.
    assert!(said.contains("connection(s) refused"), "{said}");
    assert!(said.contains("--max-connections 8"), "{said}");
}

/// The attacker connects and sends nothing, or half a request line, or one request and then
/// nothing. With `--idle-timeout 1` the user's proxy closes each of them within seconds instead
/// of holding them for ever.
#[test]
fn clients_that_send_nothing_or_half_a_request_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (proxy, url) = start_proxy(
        &dir.path().join("live.db"),
        &dir.path().join("ca"),
        &["--idle-timeout", "1"],
    );
    let sends: [&[u8]; 3] = [
        b"",
        b"GET http://example.com/ HTTP/1.1\r\nHost: exa",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    let started = Instant::now();
    let conns: Vec<TcpStream> = sends
        .iter()
        .map(|send| {
            let mut c = TcpStream::connect(proxy_addr(&url)).unwrap();
            c.write_all(send).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c
        })
        .collect();
    for (mut conn, send) in conns.into_iter().zip(sends) {
        let mut got = Vec::new();
        match conn.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{:?} still open: {e}", String::from_utf8_lossy(send)),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(proxy.terminate().0.success());
}

/// The user starts the proxy on every interface. They see a warning that it is an
/// unauthenticated relay anyone reaching the address may use; on the loopback, no such warning.
#[test]
fn listening_beyond_the_loopback_warns_of_an_open_relay() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let mut cmd = bin();
    cmd.args(["observe", "--db"])
        .arg(&db)
        .args(["--proxy", "0.0.0.0:0", "--role", ROLE, "--ca-dir"])
        .arg(dir.path().join("ca"));
    let open = Running::start(&mut cmd, "proxy listening on ");
    let warning = open
        .stderr
        .recv_timeout(Duration::from_secs(5))
        .expect("a warning after the ready line");
    assert!(warning.contains("unauthenticated relay"), "{warning}");
    assert!(warning.contains("127.0.0.1"), "{warning}");
    assert!(open.terminate().0.success());
    let (local, _) = start_proxy(&db, &dir.path().join("ca"), &[]);
    let (status, said) = local.terminate();
    assert!(status.success(), "{said}");
    assert!(!said.contains("unauthenticated"), "{said}");
}
