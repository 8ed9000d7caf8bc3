//! The command line (README "Configuration"): `serve`, `import`, `admin add`, `migrate`, ...

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::domain::admin::AdminSettings;
use crate::domain::directory::DirectorySource;
use crate::domain::directory_csv::{self, CsvKind};
use crate::domain::{Clock, Role, SystemClock, Timestamp, directory};
use crate::http::{Application, ServerOptions, shutdown_signal};
use crate::store;
use anyhow::Context;

const DEFAULT_DATABASE: &str = "sqlite://hotdesk-data/hotdesk.db";

/// `hotdesk --version`: the release and the revision it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("HOTDESK_GIT_REVISION"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "hotdesk",
    version = VERSION,
    about = "An Extension Mobility service that speaks Cisco's EM API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(Serve),
    /// Load a directory file (TOML) into the database: an upsert by ID or name.
    Import(Import),
    /// Manage admin API accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Create or upgrade the database schema and exit (serve and import also do it first).
    Migrate(Migrate),
    /// Write the directory and policy as a directory file, secrets as their hashes: a backup,
    /// or with `import`, a move to another database.
    Export(Export),
    /// Copy a SQLite database, consistent and compacted, while the service runs (for
    /// PostgreSQL use pg_dump).
    Backup(Backup),
    /// Delete events older than some days, except those a subscriber has not been sent yet.
    PruneEvents(PruneEvents),
    /// A client of any EM service (hotdesk or Cisco Unified CM): log in, log out, ask who is
    /// where. Exit status 0 done, 1 an EM failure, 2 no answer.
    #[command(subcommand)]
    Em(crate::client::EmCommand),
    /// Print the completions of this command for a shell, to install where the shell reads
    /// them (README "Packaging").
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man -l -` or /usr/share/man/man1/hotdesk.1.
    Man,
    /// Ask a running server whether it is ready (GET /healthz): exit 0 if it is, 1 if not.
    /// For a container's health check, which has no curl.
    Health {
        /// The server's base URL.
        #[arg(
            long,
            env = "HOTDESK_HEALTH_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
    },
}

#[derive(Args)]
struct Backup {
    /// The copy to write; it must not exist.
    target: std::path::PathBuf,
    #[command(flatten)]
    db: Database,
}

#[derive(Args)]
struct PruneEvents {
    /// Keep the events of the last this many days.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    older_than_days: u32,
    #[command(flatten)]
    db: Database,
}

#[derive(Args)]
struct Export {
    /// Write here instead of standard output (TOML).
    #[arg(long, short, conflicts_with = "dir")]
    output: Option<std::path::PathBuf>,
    /// `toml`, one file; or `csv`: users.csv, devices.csv and profiles.csv in DIR (the
    /// applications, admins and policy are in the TOML file only).
    #[arg(long, default_value = "toml", value_parser = ["toml", "csv"])]
    format: String,
    /// The folder of the CSV files (created if missing).
    #[arg(required_if_eq("format", "csv"))]
    dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    db: Database,
}

#[derive(Args)]
struct Migrate {
    #[command(flatten)]
    db: Database,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin API account, or set the password and role of an existing one. The
    /// password is read from HOTDESK_ADMIN_PASSWORD, else from the first line of stdin.
    Add(AdminAdd),
}

#[derive(Args)]
struct AdminAdd {
    /// The account's user name.
    name: String,
    /// admin (everything), operator (read, log users in and out) or auditor (read only).
    #[arg(long, default_value = "admin", value_parser = ["admin", "operator", "auditor"])]
    role: String,
    #[command(flatten)]
    db: Database,
}

#[derive(Args)]
struct SecretKey {
    /// The file of the key PINs are hashed under (64 hex digits), created with mode 0600 if
    /// missing. Default: secret.key beside the SQLite file, or hotdesk-data/secret.key for
    /// PostgreSQL. Every node of a database needs the same file.
    #[arg(long, env = "HOTDESK_SECRET_KEY_FILE")]
    secret_key_file: Option<std::path::PathBuf>,
}

impl SecretKey {
    fn load(&self, database: &str) -> anyhow::Result<crate::domain::pin::PinKey> {
        crate::keyfile::resolve(self.secret_key_file.as_deref(), database)
    }
}

#[derive(Args)]
struct Database {
    /// `sqlite://relative.db`, `sqlite:///absolute.db` or `postgres://user@host/db`.
    #[arg(long, env = "HOTDESK_DATABASE", default_value = DEFAULT_DATABASE)]
    database: String,
}

#[derive(Args)]
struct Serve {
    /// Address and port to listen on.
    #[arg(long, env = "HOTDESK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    db: Database,
    /// Load the built-in demo directory when the database is empty. Its passwords are public
    /// (the README lists them): it listens on loopback only.
    #[arg(long)]
    demo: bool,
    /// Open connections at most; past it a new connection is answered 503 and closed. The
    /// process's file descriptor limit (`ulimit -n`) must be above it.
    #[arg(long, env = "HOTDESK_MAX_CONNECTIONS", default_value_t = crate::http::serve::DEFAULT_MAX_CONNECTIONS as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// Minutes of inactivity after which an admin API session ends.
    #[arg(long, env = "HOTDESK_SESSION_TIMEOUT_MINS", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=1440))]
    session_timeout_mins: u32,
    /// Admin API sessions open at once, at most; one more login gets code 9.
    #[arg(long, env = "HOTDESK_MAX_SESSIONS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    max_sessions: u32,
    /// Start the clock at this instant (milliseconds since the Unix epoch). For tests that must
    /// see time pass while the service is down, without waiting for it.
    #[arg(long, hide = true, env = "HOTDESK_CLOCK_START")]
    clock_start: Option<i64>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key). The admin cookie is then
    /// marked Secure.
    #[arg(long, env = "HOTDESK_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "HOTDESK_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Seconds one PostgreSQL operation may take before the request fails (EM code 6),
    /// waiting for a connection included.
    #[arg(long, env = "HOTDESK_DATABASE_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    database_timeout_secs: u64,
    /// Load balancers in front of this node, as addresses or networks separated by commas
    /// (`10.0.0.2,10.0.1.0/24`): a request from one of them is taken to come from the address
    /// its `X-Forwarded-For` header names (for `validate_ip`, throttles and audit).
    #[arg(long, env = "HOTDESK_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// PEM file of extra CA certificates trusted for heartbeat and event callbacks (a private
    /// CA), besides the system's roots.
    #[arg(long, env = "HOTDESK_CALLBACK_CA")]
    callback_ca: Option<std::path::PathBuf>,
    #[command(flatten)]
    key: SecretKey,
    /// The base of the URLs the phone service sends phones (`https://em.example.com:8443`),
    /// when phones reach this node under another name than the one they ask for. Default:
    /// the request's Host.
    #[arg(long, env = "HOTDESK_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,
    /// How log lines are written to stderr: `text` for people, `json` (one object per line)
    /// for a log collector.
    #[arg(long, env = "HOTDESK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`). Colour codes only for a person
/// at a terminal, never in a file or a pipe.
fn init_logs(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

#[derive(Args)]
struct Import {
    /// The directory file: TOML, or CSV (`users*.csv`, `devices*.csv`, `profiles*.csv`).
    file: std::path::PathBuf,
    /// What a CSV file holds, when its name does not say (users, devices, profiles).
    #[arg(long, value_parser = ["users", "devices", "profiles"])]
    kind: Option<String>,
    #[command(flatten)]
    db: Database,
    #[command(flatten)]
    key: SecretKey,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(match &cli.command {
        Command::Serve(serve) => serve.log_format,
        _ => LogFormat::Text,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hotdesk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = match cli.command {
        Command::Em(command) => return runtime.block_on(crate::client::run(command)),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "hotdesk",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            return match man.render(&mut std::io::stdout()) {
                // `hotdesk man | head` closes the pipe early: not a failure.
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hotdesk: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Health { url } => return runtime.block_on(health(&url)),
        other => other,
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(args) => serve(args).await,
            Command::Import(args) => import(args).await,
            Command::Admin(AdminCommand::Add(args)) => admin_add(args).await,
            Command::Export(args) => {
                let store = open_for_command(&args.db.database).await?;
                let exported = directory::export(store.as_ref()).await?;
                if let (Some(dir), "csv") = (&args.dir, args.format.as_str()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                    for kind in CsvKind::ALL {
                        let path = dir.join(format!("{}.csv", kind.name()));
                        let text = directory_csv::write(&exported, kind)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                        std::fs::write(&path, text)
                            .with_context(|| format!("cannot write {}", path.display()))?;
                        println!("wrote {}", path.display());
                    }
                    return Ok(());
                }
                anyhow::ensure!(
                    args.dir.is_none(),
                    "a folder is for --format csv; TOML goes to --output"
                );
                let text = directory::to_toml(&exported);
                match &args.output {
                    Some(path) => std::fs::write(path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                    None => print!("{text}"),
                }
                Ok(())
            }
            Command::Backup(args) => backup(args).await,
            Command::PruneEvents(args) => {
                let store = open_for_command(&args.db.database).await?;
                let removed = crate::domain::retention::prune_events(
                    store.as_ref(),
                    &SystemClock::new(),
                    args.older_than_days,
                )
                .await?;
                println!(
                    "removed {removed} events older than {} days",
                    args.older_than_days
                );
                Ok(())
            }
            Command::Migrate(args) => {
                open_for_command(&args.db.database).await?;
                println!("the database schema is up to date");
                Ok(())
            }
            // Answered above, with their own exit status.
            Command::Em(_)
            | Command::Completions { .. }
            | Command::Man
            | Command::Health { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// GET `url`/healthz within 5 s: 0 when it answers 200.
async fn health(url: &str) -> ExitCode {
    let url = format!("{}/healthz", url.trim_end_matches('/'));
    let answer = async {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()?
            .get(&url)
            .send()
            .await
    };
    match answer.await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("hotdesk: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("hotdesk: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Serve) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = match args.clock_start {
        Some(ms) => Arc::new(SystemClock::starting_at(Timestamp(ms))),
        None => Arc::new(SystemClock::new()),
    };
    if args.demo {
        demo_listens_on_loopback(&args.listen)?;
    }
    let pin_key = args.key.load(&args.db.database)?;
    let store = store::open_with(
        &args.db.database,
        store::StoreOptions {
            timeout: std::time::Duration::from_secs(args.database_timeout_secs),
        },
    )
    .await?;
    if args.demo {
        if store.counts().await?.is_empty() {
            let dir = directory::parse("demo", directory::DEMO)?;
            let report =
                directory::import(&store, clock.as_ref(), &pin_key, "demo", dir, "demo").await?;
            println!("demo directory loaded: {report}");
            println!(
                "  app appid (certificate apppasswd, proxy rights); users john (extension 1001), em@cisco.com (2001), em, one (3001), each with PIN 12345;"
            );
            println!(
                "  devices SEP003094C25B15, SEP003094C25B49, SEP402CF4915265; admin admin/change-me"
            );
        } else {
            println!("demo: the database is not empty; nothing loaded");
        }
    }
    let admin = AdminSettings {
        session_timeout: std::time::Duration::from_secs(u64::from(args.session_timeout_mins) * 60),
        max_sessions: args.max_sessions,
    };
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let options = ServerOptions {
        admin,
        tls,
        callback_ca: args.callback_ca.as_deref().map(read).transpose()?,
        trusted_proxies: args.trusted_proxies,
        pin_key,
        public_url: args.public_url.clone(),
        limits: crate::http::serve::Limits {
            max_connections: args.max_connections as usize,
        },
    };
    let public_url = args.public_url;
    let app = Application::build(store, clock, &args.listen, options).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, database = %args.db.database, "hotdesk listening");
    println!("hotdesk listening on {scheme}://{addr}");
    println!(
        "phone service URL: {}/emapp/EMAppServlet?device=#DEVICENAME#",
        public_url.unwrap_or_else(|| format!("{scheme}://{addr}"))
    );
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

/// `serve --demo` has passwords anyone can read in the README: it must not be reachable from
/// another machine. Every address `listen` names must be loopback.
fn demo_listens_on_loopback(listen: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = listen
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --listen {listen}"))?
        .collect();
    if let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        anyhow::bail!(
            "--demo listens on loopback only (127.0.0.1 or [::1]), not {open}: its passwords are public. \
             Import a directory of your own to serve on other addresses"
        );
    }
    Ok(())
}

async fn import(args: Import) -> anyhow::Result<()> {
    let name = args.file.display().to_string();
    std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let csv_kind = match &args.kind {
        Some(kind) => CsvKind::parse(kind),
        None => CsvKind::of_file(&args.file),
    };
    let is_csv = name.to_ascii_lowercase().ends_with(".csv") || args.kind.is_some();
    let source = match csv_kind {
        Some(kind) => DirectorySource::csv_file(&args.file, kind),
        None if is_csv => anyhow::bail!(
            "{name}: which kind of CSV file is it? Name it users*.csv, devices*.csv or profiles*.csv, or give --kind"
        ),
        None => DirectorySource::toml_file(&args.file),
    };
    // A file that does not parse touches nothing: no key file made, no database created. The
    // import then reads it again, a piece at a time.
    source.check()?;
    let pin_key = args.key.load(&args.db.database)?;
    let store = open_for_command(&args.db.database).await?;
    let report =
        directory::import_source(&store, &SystemClock::new(), &pin_key, source, "import").await?;
    println!("imported {name}: {report}");
    Ok(())
}

async fn admin_add(args: AdminAdd) -> anyhow::Result<()> {
    let password = match std::env::var("HOTDESK_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    anyhow::ensure!(
        !password.is_empty(),
        "no password: set HOTDESK_ADMIN_PASSWORD or give it on stdin"
    );
    let role = Role::parse(&args.role).context("unknown role")?;
    // An admin account holds no PIN: no key file is needed, and none is made or bound.
    let pin_key = crate::domain::pin::PinKey::default();
    let store = open_for_command(&args.db.database).await?;
    // The same upsert as an import of one `[[admins]]` entry, with its configChange event.
    let file = directory::DirectoryFile {
        admins: vec![directory::AdminEntry {
            username: args.name.clone(),
            password: Some(password),
            role: Some(role),
        }],
        ..directory::DirectoryFile::default()
    };
    let report = directory::import(
        &store,
        &SystemClock::new(),
        &pin_key,
        "admin add",
        file,
        "cli",
    )
    .await?;
    let created = report.admins.0 == 1;
    println!(
        "{} admin account {} with role {}",
        if created { "created" } else { "updated" },
        args.name,
        role.as_str()
    );
    Ok(())
}

/// An absolute http(s) URL with no query or fragment, without its trailing `/`.
fn parse_public_url(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("`{text}` does not start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty()
        || text.len() > 128
        || text
            .chars()
            .any(|c| c.is_whitespace() || "?#\"<>@".contains(c))
    {
        return Err(format!(
            "`{text}` is not a base URL such as https://em.example.com:8443 (at most 128 characters, no query)"
        ));
    }
    Ok(text.to_string())
}

/// An address (`10.0.0.2`, a network of one) or a network (`10.0.1.0/24`).
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is not an IP address or network"))
}

async fn backup(args: Backup) -> anyhow::Result<()> {
    let store::DatabaseUrl::SqliteFile(path) = store::DatabaseUrl::parse(&args.db.database)? else {
        anyhow::bail!(
            "backup copies a SQLite file; for PostgreSQL use pg_dump, or `hotdesk export` for the directory"
        );
    };
    anyhow::ensure!(path.exists(), "there is no database at {}", path.display());
    anyhow::ensure!(
        !args.target.exists(),
        "{} exists already: the backup will not overwrite it",
        args.target.display()
    );
    let store =
        tokio::task::spawn_blocking(move || store::sqlite::SqliteStore::open(&path)).await??;
    store.backup(&args.target).await?;
    println!("wrote {}", args.target.display());
    Ok(())
}

/// The database for a one-off command (import, export, migrate, prune): these may read or
/// write a whole directory in one transaction, so they get minutes, not the seconds a
/// request gets.
async fn open_for_command(
    url: &str,
) -> Result<std::sync::Arc<dyn crate::domain::Store>, store::OpenError> {
    store::open_with(
        url,
        store::StoreOptions {
            timeout: std::time::Duration::from_secs(600),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_is_a_plain_base_url() {
        assert_eq!(
            parse_public_url("https://em.example.com:8443/").unwrap(),
            "https://em.example.com:8443"
        );
        assert_eq!(
            parse_public_url("http://10.0.0.5/hotdesk").unwrap(),
            "http://10.0.0.5/hotdesk"
        );
        for bad in [
            "em.example.com",
            "ftp://x",
            "https://",
            "https://a?b=1",
            "https://a#x",
            "https://u@a",
            "https://a b",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
        assert!(parse_public_url(&format!("https://{}", "a".repeat(130))).is_err());
    }
}
