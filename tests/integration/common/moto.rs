//! A real moto server per test binary: the AWS wire protocols without AWS.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` on a free loopback port. Without it the test fails with a message
    /// saying how to get it, unless POLICY_MINER_SKIP_MOTO=1 asks to skip (then `None`).
    pub fn start() -> Option<Moto> {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Option<Moto> {
        Self::launch(env, None)
    }

    /// Serves HTTPS with the given certificate and key (PEM files).
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Option<Moto> {
        Self::launch(&[], Some((cert, key)))
    }

    fn launch(
        env: &[(&str, &str)],
        tls: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Option<Moto> {
        if std::env::var("POLICY_MINER_SKIP_MOTO").as_deref() == Ok("1") {
            eprintln!("skipping: POLICY_MINER_SKIP_MOTO=1");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((cert, key)) = tls {
            cmd.arg("-c").arg(cert).arg("-k").arg(key);
        }
        let child = cmd
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto_server ({e}): install it with `python3 -m pip install \
                     \"moto[server]\"` (.ci/run does), or set POLICY_MINER_SKIP_MOTO=1 to skip"
                )
            });
        let moto = Moto {
            child,
            endpoint: format!(
                "{}://127.0.0.1:{port}",
                if tls.is_some() { "https" } else { "http" }
            ),
        };
        // Loading the AWS managed policies takes moto a while on a busy machine.
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// Environment for a child process (or an SDK client) talking to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            // botocore reads its region from here, not from AWS_REGION.
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
