//! A live source (`observe --listen-csm`, `observe --proxy`) run as a child process that is killed
//! whatever happens to the test, so no listener outlives it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

pub struct Running {
    child: Option<Child>,
    /// The line that said it was ready.
    pub ready: String,
    pub stderr: Receiver<String>,
}

impl Running {
    /// Starts `cmd` and waits (30 s at most) for a line of its stderr containing `ready`.
    pub fn start(cmd: &mut Command, ready: &str) -> Running {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut running = Running {
            child: Some(child),
            ready: String::new(),
            stderr: rx,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match running.stderr.recv_timeout(left) {
                Ok(line) if line.contains(ready) => {
                    running.ready = line;
                    return running;
                }
                Ok(line) => seen.push(line),
                // Dropping `running` kills the child.
                Err(_) => panic!("no line with {ready:?} within 30 s; stderr: {seen:#?}"),
            }
        }
    }

    /// The process id, to look at its descriptors in /proc.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// SIGTERM, then the exit status, which must come within a few seconds; the rest of stderr.
    #[allow(unsafe_code)] // libc's kill: see the SAFETY below.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let sent = Instant::now();
        // SAFETY: kill(2) on the pid of our own child, which has not been waited for yet.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    sent.elapsed() < Duration::from_secs(5),
                    "took {:?} to exit after SIGTERM",
                    sent.elapsed()
                );
                std::thread::sleep(Duration::from_millis(50));
                let rest: Vec<String> = self.stderr.try_iter().collect();
                return (status, rest.join("\n"));
            }
            if sent.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("still running 5 s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A UDP port nothing listens on right now, for an SDK monitoring listener.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

/// `observe --listen-csm` on `port` for `role`, with `extra` flags, once it says it listens.
pub fn start_csm(db: &std::path::Path, port: u16, role: &str, extra: &[&str]) -> Running {
    let mut cmd = super::bin();
    cmd.args(["observe", "--db"])
        .arg(db)
        .args(["--listen-csm", &format!("127.0.0.1:{port}"), "--role", role])
        .args(extra);
    Running::start(&mut cmd, "listening for SDK monitoring")
}
