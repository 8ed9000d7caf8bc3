//! `hotdesk-loadgen`: drives a hotdesk server over loopback with real EM API requests and
//! reports throughput, latency percentiles and the outcome of every answer.
//!
//! ```text
//! hotdesk-loadgen directory --devices 2000 --users 2000 > lg.toml   # then: hotdesk import lg.toml
//! hotdesk-loadgen --url http://127.0.0.1:8080 --scenario mixed --concurrency 32 --duration 10
//! ```
//!
//! It only ever talks to loopback (the URL must resolve to 127.0.0.0/8 or ::1), and every run is
//! bounded in time (`--duration`, at most 300 s, plus one request timeout) and optionally in count.

mod directory;
mod em;
mod run;
mod stats;
mod target;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The longest run allowed, in seconds.
pub const MAX_DURATION_SECS: u64 = 300;
/// Device and user names carry five digits (more past 99,999).
pub const MAX_ENTITIES: u32 = 1_000_000;

#[derive(Parser)]
#[command(
    name = "hotdesk-loadgen",
    version,
    about = "Load generator for hotdesk's EM API (loopback only)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Print a directory file (TOML) with the devices, users, profile, app and policy the load
    /// scenarios expect, for `hotdesk import`.
    Directory(DirectoryArgs),
}

#[derive(Args)]
struct DirectoryArgs {
    /// Devices LGDEV00000, LGDEV00001, ...
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=MAX_ENTITIES as i64))]
    devices: u32,
    /// Users lguser00000, lguser00001, ..., each with the profile LGPROF.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=MAX_ENTITIES as i64))]
    users: u32,
    /// The application user (with proxy rights) the load generator calls the API as.
    #[arg(long, default_value = "appid")]
    app: String,
    /// Its certificate.
    #[arg(long, default_value = "apppasswd")]
    certificate: String,
    /// Give every user a distinct 6-digit PIN, to measure what hashing PINs adds to an import.
    #[arg(long)]
    pins: bool,
}

#[derive(Args)]
pub struct RunArgs {
    /// The server's base URL; it must resolve to a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// What to send.
    #[arg(long, value_enum, default_value_t = Scenario::Query)]
    pub scenario: Scenario,
    /// Requests in flight at once (one worker, one connection each).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Stop sending after this many seconds (at most 300).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_SECS))]
    pub duration: u64,
    /// Stop after this many requests, if that comes before --duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Application user ID (appInfo/appID).
    #[arg(long, default_value = "appid")]
    pub app: String,
    /// Application certificate (appInfo/appCertificate).
    #[arg(long, default_value = "apppasswd")]
    pub certificate: String,
    /// Devices provisioned (LGDEV00000..): queries pick among them, workers own the first ones.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=MAX_ENTITIES as i64))]
    pub devices: u32,
    /// Users provisioned (lguser00000..): worker i logs in user i.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=MAX_ENTITIES as i64))]
    pub users: u32,
    /// Give up on one request after this many seconds (counted as a transport error).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub timeout: u64,
    /// Seed of the random device choice, so that runs are repeatable.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the results as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON results to this file.
    #[arg(long, value_name = "FILE")]
    pub json_file: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// deviceUserQuery of one random device per request.
    Query,
    /// Each worker owns one device and one user and alternates login and logout.
    LoginLogout,
    /// 80% query, 20% login/logout (each worker still owns its device and user).
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Query => "query",
            Scenario::LoginLogout => "login-logout",
            Scenario::Mixed => "mixed",
        }
    }

    fn writes(self) -> bool {
        self != Scenario::Query
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Directory(d)) => {
            print!(
                "{}",
                directory::render(d.devices, d.users, &d.app, &d.certificate, d.pins)
            );
            ExitCode::SUCCESS
        }
        None => match run_main(cli.run) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hotdesk-loadgen: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_main(args: RunArgs) -> Result<(), String> {
    if args.scenario.writes() {
        let owned = args.devices.min(args.users);
        if args.concurrency > owned {
            return Err(format!(
                "--scenario {} gives each worker its own device and user: --concurrency {} needs \
                 at least that many --devices and --users (have {} and {})",
                args.scenario.name(),
                args.concurrency,
                args.devices,
                args.users
            ));
        }
    }
    let target = target::Target::resolve(&args.url)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let report = runtime.block_on(run::run(&args, &target))?;
    let json = report.to_json(&args, &target);
    if let Some(path) = &args.json_file {
        std::fs::write(path, format!("{json}\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.to_text(&args, &target));
    }
    for (what, sample) in &report.samples {
        eprintln!("hotdesk-loadgen: first {what}: {sample}");
    }
    Ok(())
}

fn timeout(args: &RunArgs) -> Duration {
    Duration::from_secs(args.timeout)
}
