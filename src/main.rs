use clap::Parser;

fn main() {
    // Rust ignores SIGPIPE, so `policy-miner propose | head` would panic on the first write after
    // `head` exits; the default action ends the process quietly, as any Unix filter does.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = policy_miner::cli::Cli::parse();
    let code = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(policy_miner::cli::run(cli)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            1
        }
    };
    std::process::exit(code);
}
