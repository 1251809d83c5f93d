use clap::Parser;

fn main() {
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
