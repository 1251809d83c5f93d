use clap::Parser;

fn main() {
    let cli = policy_miner::cli::Cli::parse();
    // Rust ignores SIGPIPE, so `policy-miner propose | head` would panic on the first write after
    // `head` exits; the default action ends the process quietly, as any Unix filter does. Only
    // for commands that just print: one that talks to a network (the proxy sidecar, S3, IAM)
    // would be killed by a peer that closes its socket, losing what it had not written yet.
    #[cfg(unix)]
    if cli.command.is_stdout_filter() {
        default_sigpipe();
    }
    let code = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(policy_miner::cli::run(cli)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// SIGPIPE's default action: the process ends quietly when its reader goes away.
#[cfg(unix)]
#[allow(unsafe_code)] // libc's signal: see the SAFETY below.
fn default_sigpipe() {
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
