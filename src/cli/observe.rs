use crate::observe::{window, TimeWindow};
use std::path::PathBuf;

/// Read CloudTrail logs and record, per role, the API calls it made.
///
/// Three modes: trail files and `s3://` trail buckets (PATH…, with --since/--until, --account,
/// --region); a live HTTP(S) proxy beside the application (--proxy ADDR); a live SDK-monitoring
/// listener (--listen-csm ADDR). --task-definitions goes with any of them, or alone; --ecs (task
/// definitions read from ECS) with PATH or alone.
///
/// Reads `.json` and `.json.gz` files (directories recursively) in every CloudTrail shape:
/// `{"Records":[…]}`, a JSON array, a single event, one event per line, LookupEvents output.
/// Only calls by IAM role sessions become evidence; other principals are counted. Files already
/// observed (same content) are not counted again, so it can run on a schedule over the same
/// directory; a run stopped by Ctrl-C, SIGTERM or even SIGKILL is finished by the next one.
#[derive(Debug, clap::Args)]
#[command(after_help = super::exit::help_for("observe"))]
pub struct Args {
    /// ECS task definitions (files or directories of `.json`), as `aws ecs
    /// describe-task-definition` prints them or as register-task-definition input. Maps each role
    /// to its families and to its kind (task or execution role). Repeatable.
    #[arg(long = "task-definitions", value_name = "PATH")]
    pub task_definitions: Vec<PathBuf>,

    /// Read the task definitions from ECS: every revision, ACTIVE and INACTIVE (deregistered),
    /// registered before --until, in each --region (default: AWS_REGION), with the usual
    /// credentials and AWS_ENDPOINT_URL. Only revisions the database lacks are described, so a
    /// scheduled run asks for new ones only. Needs ecs:ListTaskDefinitions and
    /// ecs:DescribeTaskDefinition. With PATH or alone.
    #[arg(long, conflicts_with = "live")]
    pub ecs: bool,

    /// CloudTrail files or directories, or trail buckets as `s3://bucket/prefix/` (account and
    /// organization layouts; credentials, region and endpoint from the usual AWS environment:
    /// AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL). Objects are remembered by key and ETag, so a
    /// scheduled run downloads only new ones. Without PATH, --task-definitions are loaded alone
    /// (e.g. for a live source's --family).
    #[arg(value_name = "PATH", required_unless_present_any = ["listen_csm", "proxy", "task_definitions", "ecs"])]
    pub inputs: Vec<PathBuf>,

    /// Instead of reading CloudTrail, listen on ADDR (UDP, e.g. `127.0.0.1:31000`) for AWS SDK
    /// client-side monitoring datagrams (AWS_CSM_ENABLED=true AWS_CSM_HOST AWS_CSM_PORT in the
    /// application's environment) and record each call's action, with an unknown resource, until
    /// SIGTERM or Ctrl-C. Needs --role or --family.
    #[arg(help_heading = "Mode: live SDK monitoring (--listen-csm)")]
    #[arg(long = "listen-csm", value_name = "ADDR", group = "live", conflicts_with_all = ["inputs", "since", "until", "proxy"])]
    pub listen_csm: Option<std::net::SocketAddr>,

    /// Instead of reading CloudTrail, run an HTTP(S) proxy on ADDR (TCP, e.g. `127.0.0.1:8080`)
    /// for the application's AWS traffic (HTTPS_PROXY=http://ADDR and AWS_CA_BUNDLE=<CA file> in
    /// its environment): each signed request is forwarded unchanged, decoded to its operation and
    /// resources, and recorded like CloudTrail evidence, until SIGTERM or Ctrl-C. Needs --role or
    /// --family.
    #[arg(help_heading = "Mode: live HTTP(S) proxy (--proxy)")]
    #[arg(long, value_name = "ADDR", group = "live", conflicts_with_all = ["inputs", "since", "until"])]
    pub proxy: Option<std::net::SocketAddr>,

    /// --proxy: directory of the proxy's certificate authority: `ca.pem` (give it to the
    /// application as AWS_CA_BUNDLE) and `ca-key.pem` (mode 0600), created on first use and
    /// reused after. Default: $XDG_DATA_HOME/policy-miner/ca (~/.local/share/policy-miner/ca).
    #[arg(help_heading = "Mode: live HTTP(S) proxy (--proxy)")]
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,

    /// --proxy: also trust the certificates in FILE (PEM) when connecting to AWS, besides the
    /// Mozilla and system roots: for an endpoint with a private CA (a test server, a
    /// TLS-inspecting corporate proxy).
    #[arg(help_heading = "Mode: live HTTP(S) proxy (--proxy)")]
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,

    /// --proxy: decrypt and record HTTPS and HTTP to HOST too (besides *.amazonaws.com,
    /// *.amazonaws.com.cn, *.api.aws), for AWS endpoints under another name, a local test
    /// endpoint on the loopback included; `.example.com` takes a whole domain. Traffic to other
    /// hosts is never recorded: tunnels are passed through untouched (to port 443 only), and
    /// neither goes to loopback or link-local addresses. Repeatable.
    #[arg(help_heading = "Mode: live HTTP(S) proxy (--proxy)")]
    #[arg(long, value_name = "HOST")]
    pub intercept: Vec<String>,

    /// --proxy: read request bodies up to BYTES to decode their parameters; a larger JSON or
    /// form body streams through unread and its call is recorded with an unknown resource.
    #[arg(help_heading = "Mode: live HTTP(S) proxy (--proxy)")]
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body: usize,

    /// --proxy: client connections open at once, CONNECT tunnels included; one more gets a 503
    /// and is closed at once. Each takes a file descriptor or two (a tunnel's upstream), so keep
    /// twice this (plus a few dozen) under `ulimit -n`.
    #[arg(help_heading = "Mode: live HTTP(S) proxy (--proxy)")]
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// --proxy: a client must send a request's headers within SECONDS of connecting or of its
    /// previous response (so idle kept-alive connections close after it), and finish the TLS
    /// handshake of a decrypted tunnel within it too. Any connection or tunnel silent both ways
    /// for 16 minutes is closed whatever this is.
    #[arg(help_heading = "Mode: live HTTP(S) proxy (--proxy)")]
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,

    /// --listen-csm, --proxy: the role the application runs as (its ARN, as CloudTrail names it).
    #[arg(help_heading = "Live sources (--proxy, --listen-csm)")]
    #[arg(long, value_name = "ARN", requires = "live", conflicts_with = "family",
          value_parser = crate::attribution::RoleKey::require_arn)]
    pub role: Option<String>,

    /// --listen-csm, --proxy: the application is this task family; its role is taken from the
    /// task definitions in the database (see --kind).
    #[arg(help_heading = "Live sources (--proxy, --listen-csm)")]
    #[arg(long, value_name = "FAMILY", requires = "live")]
    pub family: Option<String>,

    /// --listen-csm, --proxy with --family: which of the family's roles makes the calls.
    #[arg(help_heading = "Live sources (--proxy, --listen-csm)")]
    #[arg(long, value_name = "KIND", default_value = "task", value_parser = ["task", "execution"])]
    pub kind: String,

    /// --listen-csm, --proxy: write the calls gathered at least this often (seconds).
    #[arg(help_heading = "Live sources (--proxy, --listen-csm)")]
    #[arg(long, value_name = "SECONDS", default_value_t = 5, requires = "live")]
    pub flush_every: u64,

    /// --listen-csm, --proxy: after each write, also write all the database's evidence to FILE
    /// (replaced atomically), as `policy-miner export --out FILE` would, for `policy-miner
    /// import` where propose runs. Put it on a volume that outlives the task (EFS, a bind mount).
    #[arg(help_heading = "Live sources (--proxy, --listen-csm)")]
    #[arg(long, value_name = "FILE", requires = "live")]
    pub export: Option<PathBuf>,

    /// Trail buckets: read only this account's logs (`AWSLogs/[o-…/]<account>/`); Athena tables:
    /// only events whose recipientAccountId is ID. Repeatable.
    #[arg(help_heading = "Mode: trail files and s3:// buckets (PATH…)")]
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,

    /// Trail buckets: read only this region's logs (`…/CloudTrail/<region>/`); Athena tables: only
    /// events whose awsRegion is REGION; --ecs: read this region's task definitions. Repeatable.
    #[arg(help_heading = "Mode: trail files and s3:// buckets (PATH…)")]
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,

    /// Trail buckets: requests in flight at once, listing prefixes and fetching objects, whatever
    /// the number of cores (each object is a round trip, mostly spent waiting). Throttling
    /// (SlowDown, 503) and dropped connections are retried with backoff.
    #[arg(help_heading = "Mode: trail files and s3:// buckets (PATH…)")]
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub s3_concurrency: u16,

    /// Count only events at or after TIME: RFC 3339 (`2026-11-02T00:00:00Z`), a day
    /// (`2026-11-02`, midnight UTC) or a duration before now (`90s`, `30m`, `12h`, `7d`, `2w`).
    /// A directory walk skips files delivered on a day (`…/YYYY/MM/DD/…` of the delivery path)
    /// that ends before it. Events of a file left out by the window stay countable: a later run
    /// with another window, or none, counts them (and nothing twice).
    #[arg(help_heading = "Mode: trail files and s3:// buckets (PATH…)")]
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Count only events before TIME (same forms as --since). A directory walk skips files
    /// delivered more than a day after it (CloudTrail may deliver records late).
    #[arg(help_heading = "Mode: trail files and s3:// buckets (PATH…)")]
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// athena://: stop the query (StopQueryExecution) if it has not finished after SECONDS;
    /// nothing is recorded then, and the run exits as for an unreadable input.
    #[arg(help_heading = "Mode: Athena table (athena://WORKGROUP/DATABASE.TABLE)")]
    #[arg(long, value_name = "SECONDS", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub athena_timeout: u64,

    /// athena://: where Athena writes the query's results (`s3://bucket/prefix/`), for a
    /// workgroup that does not set its own output location.
    #[arg(help_heading = "Mode: Athena table (athena://WORKGROUP/DATABASE.TABLE)")]
    #[arg(long, value_name = "S3_URL")]
    pub athena_output: Option<String>,

    /// athena://: the table has the partition columns `account` and `region` besides
    /// `timestamp` (an organization trail's table, as the README creates it): --account and
    /// --region filter on them too, so Athena reads only those accounts' and regions' logs.
    #[arg(help_heading = "Mode: Athena table (athena://WORKGROUP/DATABASE.TABLE)")]
    #[arg(long)]
    pub athena_account_region_partitions: bool,

    /// athena://: print the SQL a first run over this window would send, and exit without
    /// sending it (later runs also leave out the windows earlier runs counted).
    #[arg(help_heading = "Mode: Athena table (athena://WORKGROUP/DATABASE.TABLE)")]
    #[arg(long)]
    pub print_query: bool,

    /// Print only warnings and errors: no summary, no progress bar.
    #[arg(long, short)]
    pub quiet: bool,

    /// Seconds to wait while another policy-miner process writes to the database before giving
    /// up with an error (exit 1). Two observers on one database take turns per batch and never
    /// count a file twice.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub lock_timeout: u64,
}

pub async fn run(db: PathBuf, args: Args) -> anyhow::Result<i32> {
    // clap's `requires` does not see an argument that belongs to a group: checked here.
    let proxy_flags =
        args.ca_dir.is_some() || args.upstream_ca.is_some() || !args.intercept.is_empty();
    if proxy_flags && args.proxy.is_none() {
        eprintln!("error: --ca-dir, --upstream-ca and --intercept go with --proxy ADDR");
        return Ok(super::EXIT_USAGE);
    }
    if let Some(listen) = args.listen_csm {
        return listen_csm(db, listen, args).await;
    }
    if let Some(listen) = args.proxy {
        return proxy(db, listen, args).await;
    }
    let now = chrono::Utc::now();
    let parse = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| window::parse_time(t, now).map_err(|e| anyhow::anyhow!("--{flag}: {e}")))
            .transpose()
    };
    let (since, until) = match (parse("since", &args.since), parse("until", &args.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Ok(super::EXIT_USAGE);
        }
    };
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            eprintln!("error: --since ({s}) must be before --until ({u})");
            return Ok(super::EXIT_USAGE);
        }
    }
    if args.print_query {
        return Ok(print_query(&args, &TimeWindow::new(since, until)));
    }
    let summary = crate::observe::run(crate::observe::Options {
        db,
        inputs: args.inputs,
        task_definitions: args.task_definitions,
        ecs: args.ecs,
        window: TimeWindow::new(since, until),
        progress: !args.quiet,
        lock_timeout: std::time::Duration::from_secs(args.lock_timeout),
        accounts: args.accounts,
        regions: args.regions,
        athena: crate::observe::AthenaOptions {
            timeout: std::time::Duration::from_secs(args.athena_timeout),
            output: args.athena_output,
            account_region_partitions: args.athena_account_region_partitions,
        },
        s3_concurrency: usize::from(args.s3_concurrency),
    })
    .await?;
    for w in summary.warnings() {
        // Paths and S3 keys are names other people chose.
        eprintln!("warning: {}", crate::text::printable_lines(&w.to_string()));
    }
    if !args.quiet {
        eprint!(
            "{}",
            crate::text::printable_lines(&crate::output::observe::summary(&summary))
        );
    } else if summary.interrupted {
        eprintln!(
            "interrupted: {} file(s) not read; run the same command again to read them",
            summary.files_not_started
        );
    }
    Ok(exit_status(&summary))
}

/// What both live sources are told; `None` (after saying why) without --role or --family.
fn live_common(flag: &str, db: PathBuf, args: &Args) -> Option<crate::observe::live::Common> {
    use crate::observe::live::{Common, RoleChoice};
    let role = match (&args.role, &args.family) {
        (Some(arn), _) => RoleChoice::Arn(arn.clone()),
        (None, Some(family)) => RoleChoice::Family {
            family: family.clone(),
            kind: crate::attribution::RoleKind::parse(&args.kind)
                .unwrap_or(crate::attribution::RoleKind::Task),
        },
        (None, None) => {
            eprintln!(
                "error: {flag} needs --role ARN or --family FAMILY: the traffic does not say \
                 which role made the call"
            );
            return None;
        }
    };
    Some(Common {
        db,
        role,
        flush_every: std::time::Duration::from_secs(args.flush_every.max(1)),
        max_keys: 1000,
        lock_timeout: std::time::Duration::from_secs(args.lock_timeout),
        quiet: args.quiet,
        export: args.export.clone(),
    })
}

async fn listen_csm(db: PathBuf, listen: std::net::SocketAddr, args: Args) -> anyhow::Result<i32> {
    use crate::observe::live::csm;
    let Some(common) = live_common("--listen-csm", db, &args) else {
        return Ok(super::EXIT_USAGE);
    };
    let counts = csm::run(csm::Options { common, listen }).await?;
    if counts.invalid > 0 || counts.dropped > 0 {
        eprintln!(
            "warning: {} datagram(s) were not SDK monitoring messages; {} call(s) were dropped \
             while the database could not be written",
            counts.invalid, counts.dropped
        );
    }
    if counts.timestamps_refused > 0 {
        eprintln!(
            "warning: {} call(s) carried a Timestamp more than {} minutes from when they \
             arrived (a wrong clock, or datagrams forged by whoever can reach the port); they \
             were recorded at their arrival time",
            counts.timestamps_refused,
            crate::store::times::MAX_SKEW.num_minutes()
        );
    }
    if !args.quiet {
        eprintln!(
            "stopped: {} datagram(s), {} call(s) recorded in {} write(s) ({} without an IAM \
             action, {} needing no permission); {} per-attempt record(s) ignored",
            counts.datagrams,
            counts.calls,
            counts.flushes,
            counts.unmapped,
            counts.no_permission,
            counts.not_calls
        );
    }
    Ok(0)
}

async fn proxy(db: PathBuf, listen: std::net::SocketAddr, args: Args) -> anyhow::Result<i32> {
    use crate::observe::live::proxy;
    let Some(common) = live_common("--proxy", db, &args) else {
        return Ok(super::EXIT_USAGE);
    };
    let Some(ca_dir) = args.ca_dir.clone().or_else(default_ca_dir) else {
        eprintln!("error: --proxy: no home directory to keep the CA in; give --ca-dir DIR");
        return Ok(super::EXIT_USAGE);
    };
    let quiet = args.quiet;
    let counts = proxy::run(proxy::Options {
        common,
        settings: proxy::Settings {
            listen,
            ca_dir,
            upstream_ca: args.upstream_ca,
            intercept: args.intercept,
            body_cap: args.max_body,
            max_connections: args.max_connections as usize,
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
        },
    })
    .await?;
    if counts.refused_connections > 0 {
        eprintln!(
            "warning: {} connection(s) refused: --max-connections {} were open at once; raise \
             it if the application needs more",
            counts.refused_connections, args.max_connections
        );
    }
    if counts.dropped > 0 {
        eprintln!(
            "warning: {} call(s) were not recorded: the recorder fell behind or the database \
             could not be written",
            counts.dropped
        );
    }
    if !quiet {
        eprintln!(
            "stopped: {} request(s) forwarded, {} of them AWS calls; {} call(s) recorded in {} \
             write(s) ({} without an IAM action, {} needing no permission, {} grant(s) with an \
             unknown resource); {} not AWS calls (not recorded), {} refused (403), {} \
             upstream error(s)",
            counts.requests,
            counts.aws_calls,
            counts.recorded,
            counts.flushes,
            counts.unmapped,
            counts.no_permission,
            counts.unknown_resources,
            counts.not_aws,
            counts.refused_destinations,
            counts.upstream_errors
        );
    }
    Ok(0)
}

/// `--print-query`: the SQL of each `athena://` input, as a first run would send it.
fn print_query(args: &Args, window: &TimeWindow) -> i32 {
    use crate::source::athena::{covered, query, AthenaTable};
    let covered = covered(window, chrono::Utc::now());
    let mut printed = false;
    for input in &args.inputs {
        let Some(url) = input.to_str().filter(|u| u.starts_with("athena://")) else {
            continue;
        };
        let table = match AthenaTable::parse(url) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {url}: {e}");
                return super::EXIT_USAGE;
            }
        };
        println!(
            "{}",
            query::build(&query::Scope {
                database: &table.database,
                table: &table.table,
                window: &covered,
                counted: &[],
                accounts: &args.accounts,
                regions: &args.regions,
                account_region_partitions: args.athena_account_region_partitions,
            })
        );
        printed = true;
    }
    if !printed {
        eprintln!("error: --print-query needs an athena://WORKGROUP/DATABASE.TABLE input");
        return super::EXIT_USAGE;
    }
    super::exit::SUCCESS
}

fn default_ca_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(data.join("policy-miner/ca"))
}

/// Observe's exit status: interrupted, some input lost, or everything read.
fn exit_status(summary: &crate::observe::Summary) -> i32 {
    if summary.interrupted {
        super::exit::INTERRUPTED
    } else if summary.lost_input() {
        super::exit::INPUT_SKIPPED
    } else {
        super::exit::SUCCESS
    }
}
