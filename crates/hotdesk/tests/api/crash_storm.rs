//! A crash storm: a real `hotdesk serve` under a mixed load (EM logins and logins at the phone,
//! logouts, logins refused because the user is elsewhere, logoutAll), killed with SIGKILL at a
//! random moment, restarted, twenty times over, on SQLite and on PostgreSQL. After each kill the store is opened as it
//! was left and checked:
//!
//! - every acknowledged operation is there; the one in flight at the kill is either wholly
//!   there or not at all (a logoutAll included: all its logins end, or none);
//! - no device has two users, and under `not-allowed` no user is on two devices;
//! - the events, numbered 1, 2, 3... without a gap, replayed from the start, give exactly the
//!   logins in the store.
//!
//! Each worker owns its devices and users, so that what it was told is what the store must
//! hold, with no guessing about other workers' order. The seed is printed: `CRASH_SEED=n`
//! replays a storm.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotdesk::domain::{EventKind, Timestamp, run_read};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::helpers::*;
use crate::process::{Server, start_with};

const CYCLES: usize = 20;
const WORKERS: usize = 4;
const PER_WORKER: usize = 6;
const N: usize = WORKERS * PER_WORKER;
/// Every storm user's PIN, for logins at the phone.
const PIN: &str = "24680";

fn device(i: usize) -> String {
    format!("CSDEV{i:02}")
}

fn user(i: usize) -> String {
    format!("csuser{i:02}")
}

fn directory() -> String {
    // The demo's policy is `not-allowed`, and the test relies on it.
    let mut toml = String::from(hotdesk::domain::directory::DEMO);
    assert!(toml.contains("multiple_login = \"not-allowed\""));
    for i in 0..N {
        toml.push_str(&format!(
            "\n[[users]]\nid = \"{}\"\npin = \"{PIN}\"\nprofiles = [\"UserDevProf\"]\n\n[[devices]]\nname = \"{}\"\n",
            user(i),
            device(i)
        ));
    }
    toml
}

/// Who is on each device, as the answers told it.
type Logins = BTreeMap<usize, usize>;

/// What a request in flight at the kill would have changed: the device, and its user after.
#[derive(Debug, Clone, Copy)]
enum InFlight {
    Login { device: usize, user: usize },
    Logout { device: usize },
    LogoutAll,
}

impl InFlight {
    fn device(self) -> Option<usize> {
        match self {
            InFlight::Login { device, .. } | InFlight::Logout { device } => Some(device),
            InFlight::LogoutAll => None,
        }
    }
}

/// The model of the store, from acknowledged answers only.
#[derive(Default)]
struct Model {
    logins: Logins,
    in_flight: Vec<InFlight>,
    acknowledged: u64,
}

/// Send one EM document; `None` when the connection failed (the server died under it).
async fn send(client: &reqwest::Client, base: &str, xml: &str) -> Option<String> {
    let response = client
        .post(servlet(base))
        .form(&[("xml", xml)])
        .send()
        .await
        .ok()?;
    assert_eq!(
        response.status(),
        200,
        "never anything but 200 from the EM API"
    );
    response.text().await.ok()
}

fn code(answer: &str) -> Option<&str> {
    let start = answer.find("code=\"")? + 6;
    answer[start..].split('"').next()
}

/// A login at the phone (the phone service's one-step login by user ID and PIN): the screen
/// it answers, or `None` when the connection failed.
async fn phone_login(client: &reqwest::Client, base: &str, d: usize, u: usize) -> Option<String> {
    let url = format!(
        "{base}/emapp/EMAppServlet?device={}&action=login&userid={}&pin={PIN}",
        device(d),
        user(u)
    );
    let response = client.get(url).send().await.ok()?;
    assert_eq!(
        response.status(),
        200,
        "a phone is always answered a screen"
    );
    response.text().await.ok()
}

/// One worker's load until its server dies: operations on its own devices and users, logins
/// through the EM API or at the phone.
async fn work(worker: usize, base: String, model: Arc<Mutex<Model>>, seed: u64) {
    let client = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mine = worker * PER_WORKER..(worker + 1) * PER_WORKER;
    for _ in 0..10_000 {
        let (d, u) = (
            rng.random_range(mine.clone()),
            rng.random_range(mine.clone()),
        );
        let (op, xml) = {
            let m = model.lock().unwrap();
            match m.logins.get(&d) {
                Some(_) => (InFlight::Logout { device: d }, logout_xml(&device(d))),
                None => (
                    InFlight::Login { device: d, user: u },
                    login_xml(&device(d), &user(u), ""),
                ),
            }
        };
        model.lock().unwrap().in_flight.push(op);
        let at_phone = matches!(op, InFlight::Login { .. }) && rng.random_bool(0.5);
        let answer = match op {
            InFlight::Login { device, user } if at_phone => {
                phone_login(&client, &base, device, user).await
            }
            _ => send(&client, &base, &xml).await,
        };
        let Some(answer) = answer else {
            return; // Killed: the operation stays in flight.
        };
        let mut m = model.lock().unwrap();
        m.in_flight.retain(|o| o.device() != op.device());
        m.acknowledged += 1;
        match op {
            InFlight::Login { device, user } => {
                let elsewhere = m.logins.values().any(|&x| x == user);
                match (elsewhere, at_phone) {
                    (true, false) => {
                        assert_eq!(code(&answer), Some("25"), "user elsewhere: {answer}")
                    }
                    (true, true) => assert!(
                        answer.contains("Logged in on another phone (25)"),
                        "user elsewhere, at the phone: {answer}"
                    ),
                    (false, false) => {
                        assert_eq!(answer, success(), "login of a free user at a free device")
                    }
                    (false, true) => assert!(
                        answer.contains(&format!("{} is logged in", self::user(user))),
                        "login at the phone of a free user at a free device: {answer}"
                    ),
                }
                if !elsewhere {
                    m.logins.insert(device, user);
                }
            }
            InFlight::Logout { device } => {
                assert_eq!(answer, success(), "logout of a device with a user");
                m.logins.remove(&device);
            }
            InFlight::LogoutAll => unreachable!(),
        }
    }
}

/// The store as the kill left it (opened as a node starting would: events a dead node left
/// unnumbered get their numbers), checked against the model; the model is then what the
/// store holds.
async fn check(url: &str, model: &Mutex<Model>, cycle: usize) {
    let store = hotdesk::store::open(url).await.unwrap();
    let now = Timestamp(T0.0);
    let logins = run_read(&*store, move |r| r.live_logins(now))
        .await
        .unwrap();
    let index = |name: &str, prefix: &str| -> Option<usize> {
        name.to_ascii_lowercase()
            .strip_prefix(prefix)
            .and_then(|n| n.parse().ok())
    };
    let mut stored = Logins::new();
    for l in &logins {
        let (Some(d), Some(u)) = (
            index(l.device.as_ref(), "csdev"),
            index(l.user.as_ref(), "csuser"),
        ) else {
            continue;
        };
        assert!(
            stored.insert(d, u).is_none(),
            "cycle {cycle}: device {d} has two users"
        );
    }
    let mut users: Vec<usize> = stored.values().copied().collect();
    users.sort();
    let before = users.len();
    users.dedup();
    assert_eq!(
        before,
        users.len(),
        "cycle {cycle}: a user on two devices: {stored:?}"
    );

    // Replay the events from the start.
    let mut replayed: BTreeMap<String, String> = BTreeMap::new();
    let mut next = 1;
    let mut after = 0;
    for _ in 0..10_000 {
        let page = store.events_after(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            assert_eq!(
                e.seq, next,
                "cycle {cycle}: events are numbered without a gap"
            );
            next += 1;
            let (Some(d), u) = (e.event.device.clone(), e.event.user.clone()) else {
                continue;
            };
            match e.event.kind {
                EventKind::Login => {
                    let u = u.expect("a login event names its user");
                    assert!(
                        replayed
                            .insert(d.to_ascii_lowercase(), u.to_ascii_lowercase())
                            .is_none(),
                        "cycle {cycle}: event {} logs in on an occupied device",
                        e.seq
                    );
                }
                EventKind::Logout | EventKind::AutoLogout => {
                    assert!(
                        replayed.remove(&d.to_ascii_lowercase()).is_some(),
                        "cycle {cycle}: event {} logs out an empty device",
                        e.seq
                    );
                }
                _ => {}
            }
        }
    }
    let current: BTreeMap<String, String> = logins
        .iter()
        .map(|l| {
            (
                l.device.as_ref().to_ascii_lowercase(),
                l.user.as_ref().to_ascii_lowercase(),
            )
        })
        .collect();
    assert_eq!(
        replayed, current,
        "cycle {cycle}: the events replayed are the logins"
    );

    reconcile(model, stored, cycle);
    tokio::task::spawn_blocking(move || drop(store))
        .await
        .unwrap();
}

/// What was acknowledged is in the store; what was in flight is there or not, whole. The
/// model becomes what the store holds.
fn reconcile(model: &Mutex<Model>, stored: Logins, cycle: usize) {
    let mut m = model.lock().unwrap();
    let mut expected = m.logins.clone();
    for op in std::mem::take(&mut m.in_flight) {
        match op {
            InFlight::Login { device, user } => {
                if stored.get(&device) == Some(&user) && !expected.contains_key(&device) {
                    expected.insert(device, user);
                }
            }
            InFlight::Logout { device } => {
                if !stored.contains_key(&device) {
                    expected.remove(&device);
                }
            }
            InFlight::LogoutAll => {
                if stored.is_empty() {
                    expected.clear();
                }
            }
        }
    }
    assert_eq!(
        stored, expected,
        "cycle {cycle}: the store is what was acknowledged"
    );
    m.logins = stored;
}

/// A server over `url`, its database connections named `name` (PostgreSQL's
/// `application_name`), so that the test can tell when a killed one's are gone.
fn start(url: &str, name: &str, key: &std::path::Path) -> Server {
    let url = if url.starts_with("postgres") {
        let join = if url.contains('?') { '&' } else { '?' };
        format!("{url}{join}application_name={name}")
    } else {
        url.to_string()
    };
    start_with(&url, T0.0, &["--secret-key-file", key.to_str().unwrap()])
}

/// On PostgreSQL, wait (bounded) until the database has ended every connection of the killed
/// server `name`: one that had sent its COMMIT may still finish it, after the check began.
async fn gone(url: &str, name: &str) {
    if !url.starts_with("postgres") {
        return;
    }
    let (url, name) = (url.to_string(), name.to_string());
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for _ in 0..1000 {
            let row = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&name],
                )
                .unwrap();
            if row.get::<_, i64>(0) == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the killed server's database connections did not end");
    })
    .await
    .unwrap();
}

async fn storm(url: &str) {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!(
        "crash storm on {}: CRASH_SEED={seed}",
        url.split('?').next().unwrap_or(url)
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.toml");
    std::fs::write(&file, directory()).unwrap();
    let key = dir.path().join("secret.key");
    crate::process::run_ok(
        &["import", file.to_str().unwrap(), "--database", url],
        &[("HOTDESK_SECRET_KEY_FILE", &key)],
    );
    let model = Arc::new(Mutex::new(Model::default()));
    for cycle in 0..CYCLES {
        let name = format!("storm{}c{cycle}", seed % 1_000_000);
        let server = start(url, &name, &key);
        let base = server.base.clone();
        let client = reqwest::Client::new();
        // One cycle in four: a logoutAll, sometimes answered before the kill, sometimes not.
        let logout_all = rng.random_bool(0.25).then(|| {
            model.lock().unwrap().in_flight.push(InFlight::LogoutAll);
            let (client, base, model) = (client.clone(), base.clone(), model.clone());
            let xml = format!("<request>{APP}<logoutAll/></request>");
            tokio::spawn(async move {
                if let Some(answer) = send(&client, &base, &xml).await {
                    // Answered: done, or refused and not done; in flight no longer.
                    let mut m = model.lock().unwrap();
                    m.in_flight.retain(|o| !matches!(o, InFlight::LogoutAll));
                    if answer.contains("<success") {
                        m.logins.clear();
                    }
                }
            })
        });
        if let Some(task) = logout_all {
            if rng.random_bool(0.5) {
                task.await.unwrap();
            } else {
                // Killed at once, mid-logoutAll or before it began.
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
                server.kill_9();
                task.abort();
                gone(url, &name).await;
                check(url, &model, cycle).await;
                continue;
            }
        }
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| tokio::spawn(work(w, base.clone(), model.clone(), rng.random())))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
        server.kill_9();
        for w in workers {
            w.await.unwrap();
        }
        gone(url, &name).await;
        check(url, &model, cycle).await;
    }
    let m = model.lock().unwrap();
    eprintln!(
        "crash storm: {CYCLES} kills, {} operations acknowledged",
        m.acknowledged
    );
    assert!(m.acknowledged > CYCLES as u64, "the load ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_kill_9s_under_load_on_sqlite_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    storm(&format!(
        "sqlite://{}",
        dir.path().join("storm.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_kill_9s_under_load_on_postgres_lose_nothing_acknowledged() {
    let Some(schema) = hotdesk::store::testing::scratch_postgres() else {
        return;
    };
    storm(&schema.url).await;
}
