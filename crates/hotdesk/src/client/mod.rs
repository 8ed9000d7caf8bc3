//! `hotdesk em ...`: a client of any EM service, hotdesk or Cisco Unified CM (README "The EM
//! client"). It writes each request with `hotdesk_proto::client` and reads the answer with the
//! same module, so it depends on nothing of hotdesk's own but the documented wire.
//!
//! Exit status: 0 when the service did it, 1 when it answered with an EM failure (its code and
//! message are printed), 2 when no answer could be had (connection, TLS, HTTP status, a body
//! that is not an EM answer).

pub mod bulk;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use hotdesk_proto::client::{EmReply, read_response, write_request};
use hotdesk_proto::{
    AppInfo, Credential, DeviceUserResult, EmMessage, ExclusiveDuration, Login, Logout, Operation,
    Origin, Query, UserDevices, UserProfiles,
};

/// The servlet's path, added to a `--server` that names only the host.
pub const SERVLET: &str = "/emservice/EMServiceServlet";

#[derive(Subcommand)]
pub enum EmCommand {
    /// Log a user in on a device.
    Login(LoginArgs),
    /// Log out whoever is on a device.
    Logout(DeviceArgs),
    /// Log out every user from every device (needs proxy rights).
    LogoutAll(Connection),
    /// Who is logged in on these devices.
    Device(DevicesArgs),
    /// Which devices these users are logged in on.
    User(UsersArgs),
    /// The device profiles of these users.
    Profiles(UsersArgs),
    /// Whether these users exist on the service.
    CheckUser(UsersArgs),
    /// One operation per row of a CSV file (`action,device,user,profile,minutes`), the rows
    /// written back with `result,code,message`.
    Bulk(bulk::BulkArgs),
}

/// Where and as whom.
#[derive(Args, Clone)]
pub struct Connection {
    /// The service: `https://cucm.example.com:8443` (the servlet's path is added) or the
    /// servlet's whole URL.
    #[arg(long, env = "HOTDESK_EM_SERVER")]
    pub server: String,
    /// The application user's ID (appID).
    #[arg(long, env = "HOTDESK_EM_APP")]
    pub app: String,
    /// Its certificate (password). `-` reads it from standard input; better still, set
    /// HOTDESK_EM_CERTIFICATE, so that it is not on the process list.
    #[arg(long, env = "HOTDESK_EM_CERTIFICATE", hide_env_values = true)]
    pub certificate: String,
    /// Print the service's answer as it came, instead of a table.
    #[arg(long)]
    pub xml: bool,
    /// Accept a certificate that does not verify (a lab's self-signed Unified CM).
    #[arg(long)]
    pub insecure: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout: u64,
}

#[derive(Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long)]
    pub device: String,
    #[arg(long)]
    pub user: String,
    /// The device profile; without it, the user's default.
    #[arg(long)]
    pub profile: Option<String>,
    /// Log out automatically after this many minutes.
    #[arg(long, conflicts_with = "indefinite", value_parser = clap::value_parser!(u32).range(1..))]
    pub minutes: Option<u32>,
    /// No automatic logout.
    #[arg(long)]
    pub indefinite: bool,
}

#[derive(Args)]
pub struct DeviceArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long)]
    pub device: String,
}

#[derive(Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// A device; give it several times to ask for several in one request.
    #[arg(long, required = true)]
    pub device: Vec<String>,
}

#[derive(Args)]
pub struct UsersArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// A user ID; give it several times to ask for several in one request.
    #[arg(long, required = true)]
    pub user: Vec<String>,
}

/// Why no answer could be had.
#[derive(Debug)]
pub struct Transport(pub String);

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A connection to one EM service, for one or many requests.
pub struct EmClient {
    http: reqwest::Client,
    url: String,
    app: AppInfo,
}

impl EmClient {
    pub fn new(c: &Connection) -> Result<EmClient, Transport> {
        let certificate = match c.certificate.as_str() {
            "-" => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| Transport(format!("cannot read the certificate: {e}")))?;
                text.trim_end_matches(['\r', '\n']).to_string()
            }
            given => given.to_string(),
        };
        // No redirects: a redirected POST would carry the certificate wherever it points
        // (plain HTTP included), or turn into a GET without the document.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(c.timeout))
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(c.insecure)
            .build()
            .map_err(|e| Transport(format!("cannot set up HTTPS: {e}")))?;
        Ok(EmClient {
            http,
            url: servlet_url(&c.server)?,
            app: AppInfo {
                app_id: c.app.clone(),
                certificate: Credential::Plain(certificate),
            },
        })
    }

    /// Send one request; the answer as it came and as read.
    pub async fn send(&self, message: &EmMessage) -> Result<(String, EmReply), Transport> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("xml", &write_request(message))
            .finish();
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| Transport(describe(&e)))?;
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.map_err(|e| Transport(describe(&e)))?;
        if status.is_redirection() {
            return Err(Transport(format!(
                "the service answered HTTP {status}, to {}: give that URL as --server",
                location.as_deref().unwrap_or("(no Location)")
            )));
        }
        if !status.is_success() {
            return Err(Transport(format!("the service answered HTTP {status}")));
        }
        let reply = read_response(&text).map_err(|e| Transport(e.to_string()))?;
        Ok((text, reply))
    }

    pub fn app(&self) -> &AppInfo {
        &self.app
    }
}

/// reqwest's error with its causes: "error sending request" alone says nothing.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// `--server` as the servlet's URL.
pub fn servlet_url(server: &str) -> Result<String, Transport> {
    let url = reqwest::Url::parse(server)
        .map_err(|e| Transport(format!("--server {server:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Transport(format!(
            "--server {server:?} is not http or https"
        )));
    }
    Ok(match url.path() {
        "" | "/" => format!("{}{SERVLET}", server.trim_end_matches('/')),
        _ => server.to_string(),
    })
}

/// The request of a command (`bulk` has one per row).
fn message(command: &EmCommand, app: &AppInfo) -> Option<EmMessage> {
    let request = |op| EmMessage::Request {
        app: app.clone(),
        op,
    };
    let query = |query| EmMessage::Query {
        app: app.clone(),
        query,
        origin: Origin::default(),
    };
    Some(match command {
        EmCommand::Login(a) => request(Operation::Login(Login {
            device_name: a.device.clone(),
            user_id: a.user.clone(),
            device_profile: a.profile.clone(),
            exclusive_duration: match (a.minutes, a.indefinite) {
                (Some(m), _) => Some(ExclusiveDuration::Minutes(m)),
                (None, true) => Some(ExclusiveDuration::Indefinite),
                (None, false) => None,
            },
            origin: Origin::default(),
        })),
        EmCommand::Logout(a) => request(Operation::Logout(Logout {
            device_name: a.device.clone(),
            origin: Origin::default(),
        })),
        EmCommand::LogoutAll(_) => request(Operation::LogoutAll {
            origin: Origin::default(),
        }),
        EmCommand::Device(a) => query(Query::DeviceUser {
            device_names: a.device.clone(),
        }),
        EmCommand::User(a) => query(Query::UserDevices {
            user_ids: a.user.clone(),
        }),
        EmCommand::Profiles(a) => query(Query::DeviceProfile {
            user_ids: a.user.clone(),
        }),
        EmCommand::CheckUser(a) => query(Query::CheckUser {
            user_ids: a.user.clone(),
        }),
        // A request per row: bulk::run.
        EmCommand::Bulk(_) => return None,
    })
}

fn connection(command: &EmCommand) -> &Connection {
    match command {
        EmCommand::Login(a) => &a.connection,
        EmCommand::Logout(a) => &a.connection,
        EmCommand::LogoutAll(c) => c,
        EmCommand::Device(a) => &a.connection,
        EmCommand::User(a) | EmCommand::Profiles(a) | EmCommand::CheckUser(a) => &a.connection,
        EmCommand::Bulk(a) => &a.connection,
    }
}

/// Run one `hotdesk em` command: print the answer, and say how it went in the exit status.
pub async fn run(command: EmCommand) -> ExitCode {
    if let EmCommand::Bulk(args) = command {
        return bulk::run(args).await;
    }
    let c = connection(&command);
    let client = match EmClient::new(c) {
        Ok(client) => client,
        Err(e) => return transport_failed(&e),
    };
    let Some(message) = message(&command, client.app()) else {
        return transport_failed(&Transport("no request to send".into()));
    };
    let (raw, reply) = match client.send(&message).await {
        Ok(answer) => answer,
        Err(e) => return transport_failed(&e),
    };
    if c.xml {
        println!("{}", raw.trim_end());
    } else {
        print!("{}", table(&reply));
    }
    match reply {
        EmReply::Failure { code, message } => {
            let code = code.map_or_else(|| "without a code".to_string(), |c| c.to_string());
            eprintln!("hotdesk em: failed, code {code}: {message}");
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

fn transport_failed(e: &Transport) -> ExitCode {
    eprintln!("hotdesk em: no answer: {e}");
    ExitCode::from(2)
}

/// An answer as a person reads it: one row per device or user, columns aligned.
pub fn table(reply: &EmReply) -> String {
    let rows: Vec<Vec<String>> = match reply {
        EmReply::Success => return "ok\n".to_string(),
        EmReply::Failure { .. } => return String::new(),
        EmReply::DeviceUsers(items) => {
            let mut rows = vec![cells(&["DEVICE", "USER", "LAST USER", "EMCC"])];
            for d in items {
                rows.push(match d {
                    DeviceUserResult::Exists {
                        name,
                        user,
                        last_login,
                        emcc,
                    } => vec![
                        name.clone(),
                        user.clone().unwrap_or_else(|| "-".into()),
                        last_login.clone().unwrap_or_else(|| "-".into()),
                        if *emcc { "yes" } else { "no" }.into(),
                    ],
                    DeviceUserResult::DoesNotExist { name } => {
                        vec![
                            name.clone(),
                            "(no such device)".into(),
                            "".into(),
                            "".into(),
                        ]
                    }
                });
            }
            rows
        }
        EmReply::UserDevices(items) => {
            let mut rows = vec![cells(&["USER", "DEVICES"])];
            for u in items {
                let devices = match &u.devices {
                    UserDevices::LoggedIn(d) => d.join(", "),
                    UserDevices::None => "-".into(),
                    UserDevices::DoesNotExist => "(no such user)".into(),
                };
                rows.push(vec![u.user_id.clone(), devices]);
            }
            rows
        }
        EmReply::DeviceProfiles(items) => {
            let mut rows = vec![cells(&["USER", "PROFILE", "DEFAULT"])];
            for u in items {
                match &u.profiles {
                    UserProfiles::Profiles(p) => {
                        for p in p {
                            let default = if p.is_default { "yes" } else { "no" };
                            rows.push(vec![u.user_id.clone(), p.name.clone(), default.into()]);
                        }
                    }
                    UserProfiles::None => rows.push(cells(&[&u.user_id, "-", ""])),
                    UserProfiles::DoesNotExist => {
                        rows.push(cells(&[&u.user_id, "(no such user)", ""]))
                    }
                }
            }
            rows
        }
        EmReply::CheckUser(items) => {
            let mut rows = vec![cells(&["USER", "EXISTS"])];
            for u in items {
                rows.push(vec![
                    u.user_id.clone(),
                    if u.exists { "yes" } else { "no" }.into(),
                ]);
            }
            rows
        }
    };
    aligned(&rows)
}

fn cells(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Whether stderr is a person's terminal (for a progress bar).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_without_a_path_gets_the_servlets() {
        assert_eq!(
            servlet_url("https://cucm.example.com:8443").unwrap(),
            "https://cucm.example.com:8443/emservice/EMServiceServlet"
        );
        assert_eq!(
            servlet_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080/emservice/EMServiceServlet"
        );
        assert_eq!(
            servlet_url("https://h/emservice/EMServiceServlet").unwrap(),
            "https://h/emservice/EMServiceServlet"
        );
        assert!(servlet_url("cucm.example.com").is_err());
        assert!(servlet_url("ftp://h").is_err());
    }
}
