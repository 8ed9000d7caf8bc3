//! `hotdesk em bulk FILE.csv`: one EM operation per row, several at a time, the rows written
//! back in their order with `result,code,message` appended (README "Bulk files").
//!
//! A row is `action,device,user,profile,minutes`: `login` (user required; profile and minutes
//! optional, minutes a number or `indefinite`), `logout`, or `status` (who is on the device).
//! Rows run `--concurrency` at a time, except that a row naming the device or the user of a row
//! still in flight waits for it, so the rows of one phone or one person happen in file order (a
//! logout, whose user is whoever is on the device, counts as naming every user for logins);
//! a row the service answers with code 26 (busy) is tried again a few times.
//! A header row (its first field `action`) is kept, with the three column names appended. One
//! row's failure never stops the others: each gets its own result:
//! - `ok`: done (`status`: the message says who is logged in, or `nobody`);
//! - `failed`: the service refused it, with its code and message;
//! - `invalid`: the row cannot be sent (unknown action, no device, bad minutes); nothing sent;
//! - `error`: no answer (connection, TLS, HTTP status, not an EM answer).
//!
//! Exit status: 0 when every row is `ok`, 1 when any failed or was invalid, 2 when any had no
//! answer, or the file could not be read.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use futures_util::StreamExt as _;
use hotdesk_proto::client::EmReply;
use hotdesk_proto::{
    DeviceUserResult, EmMessage, ExclusiveDuration, Login, Logout, Operation, Origin, Query,
};

use super::{Connection, EmClient, stderr_is_terminal};

#[derive(Args)]
pub struct BulkArgs {
    /// The CSV file: `action,device,user,profile,minutes` per row.
    pub file: PathBuf,
    #[command(flatten)]
    pub connection: Connection,
    /// Rows in flight at once. Unified CM's "Maximum Concurrent Requests" is 5 by default:
    /// past it, code 26, which is tried again a few times; lower this against a busy one.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
}

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub result: &'static str,
    pub code: Option<u16>,
    pub message: String,
}

impl Outcome {
    fn ok(message: impl Into<String>) -> Self {
        Outcome {
            result: "ok",
            code: None,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Outcome {
            result: "invalid",
            code: None,
            message: message.into(),
        }
    }
}

/// The request a row asks for, or why it cannot be sent.
fn request(row: &csv::StringRecord, client: &EmClient) -> Result<EmMessage, String> {
    let field = |i: usize| row.get(i).map(str::trim).filter(|v| !v.is_empty());
    let action = field(0).ok_or("no action")?.to_ascii_lowercase();
    let device = field(1).ok_or("no device")?.to_string();
    let app = client.app().clone();
    Ok(match action.as_str() {
        "login" => {
            let user = field(2).ok_or("a login needs a user")?.to_string();
            let exclusive_duration = match field(4) {
                None => None,
                Some(m) if m.eq_ignore_ascii_case("indefinite") => {
                    Some(ExclusiveDuration::Indefinite)
                }
                Some(m) => match m.parse::<u32>() {
                    Ok(n) if n > 0 => Some(ExclusiveDuration::Minutes(n)),
                    _ => return Err(format!("minutes {m:?} is not a positive number")),
                },
            };
            EmMessage::Request {
                app,
                op: Operation::Login(Login {
                    device_name: device,
                    user_id: user,
                    device_profile: field(3).map(str::to_string),
                    exclusive_duration,
                    origin: Origin::default(),
                }),
            }
        }
        "logout" => EmMessage::Request {
            app,
            op: Operation::Logout(Logout {
                device_name: device,
                origin: Origin::default(),
            }),
        },
        "status" => EmMessage::Query {
            app,
            query: Query::DeviceUser {
                device_names: vec![device],
            },
            origin: Origin::default(),
        },
        other => {
            return Err(format!(
                "unknown action {other:?} (login, logout or status)"
            ));
        }
    })
}

/// The user key of a logout row: whoever is on its device.
const ANY_USER: &str = "u:*";

/// Pauses before each new try of a row the service answered with code 26 (busy).
const BUSY_RETRIES: [u64; 3] = [250, 1000, 3000];

/// Send one row and say how it went; a busy service is asked again, a few times.
async fn one(client: &EmClient, row: &csv::StringRecord) -> Outcome {
    let message = match request(row, client) {
        Ok(m) => m,
        Err(why) => return Outcome::invalid(why),
    };
    let mut answer = client.send(&message).await;
    for pause in BUSY_RETRIES {
        match &answer {
            Ok((_, EmReply::Failure { code: Some(26), .. })) => {
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                answer = client.send(&message).await;
            }
            _ => break,
        }
    }
    match answer {
        Err(e) => Outcome {
            result: "error",
            code: None,
            message: e.0,
        },
        Ok((_, EmReply::Failure { code, message })) => Outcome {
            result: "failed",
            code,
            message,
        },
        Ok((_, EmReply::DeviceUsers(devices))) => match devices.first() {
            Some(DeviceUserResult::Exists { user, .. }) => {
                Outcome::ok(user.clone().unwrap_or_else(|| "nobody".into()))
            }
            Some(DeviceUserResult::DoesNotExist { .. }) => Outcome {
                result: "failed",
                code: None,
                message: "no such device".into(),
            },
            None => Outcome {
                result: "error",
                code: None,
                message: "an empty answer".into(),
            },
        },
        Ok(_) => Outcome::ok(""),
    }
}

/// Run the rows of `args.file` and write them, with their outcome, to standard output.
pub async fn run(args: BulkArgs) -> ExitCode {
    let fail = |why: String| {
        eprintln!("hotdesk em bulk: {why}");
        ExitCode::from(2)
    };
    let mut reader = match csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(&args.file)
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot read {}: {e}", args.file.display())),
    };
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        match record {
            Ok(r) => rows.push(r),
            Err(e) => return fail(format!("{}: row {}: {e}", args.file.display(), i + 1)),
        }
    }
    let client = match EmClient::new(&args.connection) {
        Ok(c) => c,
        Err(e) => return fail(e.0),
    };
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(std::io::stdout().lock());
    let header = rows.first().is_some_and(|r| {
        r.get(0)
            .is_some_and(|a| a.trim().eq_ignore_ascii_case("action"))
    });
    let columns = rows.first().map_or(0, |r| r.len());
    if header {
        let mut names = rows.remove(0);
        names.extend(["result", "code", "message"]);
        if let Err(e) = out.write_record(&names) {
            return fail(format!("cannot write: {e}"));
        }
    }
    let progress = match stderr_is_terminal() {
        true => indicatif::ProgressBar::new(rows.len() as u64),
        false => indicatif::ProgressBar::hidden(),
    };
    // Spreadsheets leave rows of empty cells behind: not rows.
    rows.retain(|r| r.iter().any(|c| !c.trim().is_empty()));
    // Every row as wide as the header (or the five columns), so that the results stand under
    // their own column names whatever the row left out.
    let width = if header { columns } else { 5 };
    for row in &mut rows {
        while row.len() < width {
            row.push_field("");
        }
    }
    let (mut ok, mut failed, mut invalid, mut error) = (0u64, 0u64, 0u64, 0u64);
    // Rows run `concurrency` at a time, but a row that names a device or a user of a row still
    // in flight waits for it: a file's logout then login of one phone happen in that order.
    // A logout names no user, yet frees whoever was on the device: it stands for any user, so
    // a login waits for the logouts before it (and a logout for the logins before it).
    // Outcomes are written in the order of the rows, each as soon as those before it are.
    let keys = |r: &csv::StringRecord| -> [Option<String>; 2] {
        let key = |i: usize| {
            r.get(i)
                .map(|v| v.trim().to_lowercase())
                .filter(|v| !v.is_empty())
        };
        let user = match key(0).as_deref() {
            Some("logout") => Some(ANY_USER.to_string()),
            _ => key(2).map(|u| format!("u:{u}")),
        };
        [key(1).map(|d| format!("d:{d}")), user]
    };
    let clash = |a: &str, b: &str| {
        a == b || (a == ANY_USER && b.starts_with("u:")) || (b == ANY_USER && a.starts_with("u:"))
    };
    let mut outcomes: Vec<Option<Outcome>> = vec![None; rows.len()];
    let mut running = futures_util::stream::FuturesUnordered::new();
    let mut busy: Vec<(usize, [Option<String>; 2])> = Vec::new();
    let (mut next, mut written) = (0, 0);
    while written < rows.len() {
        let blocked = |i: usize, busy: &[(usize, [Option<String>; 2])]| {
            let mine = keys(&rows[i]);
            busy.iter().any(|(_, theirs)| {
                mine.iter()
                    .flatten()
                    .any(|k| theirs.iter().flatten().any(|t| clash(k, t)))
            })
        };
        while next < rows.len()
            && running.len() < args.concurrency as usize
            && !blocked(next, &busy)
        {
            let (client, row, index) = (&client, &rows[next], next);
            busy.push((index, keys(row)));
            running.push(async move { (index, one(client, row).await) });
            next += 1;
        }
        let Some((index, outcome)) = running.next().await else {
            break;
        };
        busy.retain(|(i, _)| *i != index);
        outcomes[index] = Some(outcome);
        while let Some(Some(outcome)) = outcomes.get(written) {
            let mut record = rows[written].clone();
            match outcome.result {
                "ok" => ok += 1,
                "failed" => failed += 1,
                "invalid" => invalid += 1,
                _ => error += 1,
            }
            let code = outcome.code.map(|c| c.to_string()).unwrap_or_default();
            record.extend([outcome.result, code.as_str(), outcome.message.as_str()]);
            if let Err(e) = out.write_record(&record) {
                return fail(format!("cannot write: {e}"));
            }
            progress.inc(1);
            written += 1;
        }
    }
    progress.finish_and_clear();
    if let Err(e) = out.flush() {
        return fail(format!("cannot write: {e}"));
    }
    drop(out);
    let _ = std::io::stdout().flush();
    eprintln!(
        "hotdesk em bulk: {} rows: {ok} ok, {failed} failed, {invalid} invalid, {error} without an answer",
        rows.len()
    );
    match (error, failed + invalid) {
        (0, 0) => ExitCode::SUCCESS,
        (0, _) => ExitCode::from(1),
        _ => ExitCode::from(2),
    }
}
