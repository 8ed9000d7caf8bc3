//! Rules that need a store misbehaving on purpose: a write held in flight (code 26 under real
//! concurrency) and a failing database (code 6).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hotdesk_proto::{EmResponse, ErrorCode, parse};
use tokio::sync::{Notify, Semaphore};

use super::{EmService, RequestContext};
use crate::domain::clock::{ManualClock, Timestamp};
use crate::domain::model::*;
use crate::domain::store::{ReadJob, Store, StoreError, StoreResult, TxJob};
use crate::domain::{Clock, directory};
use crate::store::sqlite::SqliteStore;

/// Permits of the open gate: more than any test has writes in flight.
const GATE: usize = 1000;

/// A real store whose writes can be held at a gate or made to fail.
struct Faulty {
    inner: SqliteStore,
    gate: Semaphore,
    /// Told when a write reaches the store while the gate is closed.
    entered: Notify,
    fail: AtomicBool,
    /// Write jobs offered to the store, failed ones included.
    writes: std::sync::atomic::AtomicU64,
    /// Read jobs run.
    reads: std::sync::atomic::AtomicU64,
}

#[async_trait::async_trait]
impl Store for Faulty {
    async fn read(&self, job: ReadJob) -> StoreResult<Box<dyn Any + Send>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read(job).await
    }
    async fn transact(&self, job: TxJob) -> StoreResult<Box<dyn Any + Send>> {
        if self.gate.available_permits() == 0 {
            self.entered.notify_one();
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        let _pass = self.gate.acquire().await.map_err(|_| StoreError::Closed)?;
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Database("disk on fire".into()));
        }
        self.inner.transact(job).await
    }
}

impl Faulty {
    /// An in-memory store with the gate open and writes succeeding.
    fn new() -> Arc<Faulty> {
        Arc::new(Faulty {
            inner: SqliteStore::open_in_memory().unwrap(),
            gate: Semaphore::new(GATE),
            entered: Notify::new(),
            fail: AtomicBool::new(false),
            writes: Default::default(),
            reads: Default::default(),
        })
    }
}

async fn service(policy: &str) -> (Arc<EmService>, Arc<Faulty>) {
    let faulty = Faulty::new();
    let store: Arc<dyn Store> = faulty.clone();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(1_000_000)));
    let pin_key = crate::domain::pin::PinKey::default();
    for (name, text) in [("demo", directory::DEMO), ("policy", policy)] {
        let dir = directory::parse(name, text).unwrap();
        directory::import(&store, clock.as_ref(), &pin_key, name, dir, "test")
            .await
            .unwrap();
    }
    (
        Arc::new(EmService::new(store, clock, Arc::default())),
        faulty,
    )
}

const APP: &str =
    "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>";

fn login(device: &str, user: &str) -> hotdesk_proto::EmMessage {
    parse(&format!(
        "<request>{APP}<login><deviceName>{device}</deviceName><userID>{user}</userID></login></request>"
    ))
    .unwrap()
}

fn code(r: &EmResponse) -> Option<ErrorCode> {
    match r {
        EmResponse::Failure(f) => Some(f.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_past_the_limit_is_busy_while_another_is_in_flight() {
    let (em, faulty) = service("[policy]\nmax_concurrent_requests = 1\n").await;
    let ctx = RequestContext::default();
    // Warm the credential cache so the held request is the only thing in the way.
    assert_eq!(
        em.handle(login("SEP402CF4915265", "em"), &ctx).await,
        EmResponse::Success
    );

    let held = faulty.gate.acquire_many(GATE as u32).await.unwrap();
    let first = tokio::spawn({
        let em = em.clone();
        async move {
            em.handle(login("SEP003094C25B15", "john"), &RequestContext::default())
                .await
        }
    });
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        faulty.entered.notified(),
    )
    .await
    .expect("the first login reaches the store");
    assert_eq!(em.in_flight(), 1, "the first login is held in the store");
    let reads = faulty.reads.load(Ordering::SeqCst);
    let second = em.handle(login("SEP003094C25B49", "one"), &ctx).await;
    assert_eq!(code(&second), Some(ErrorCode::Busy));
    assert_eq!(
        faulty.reads.load(Ordering::SeqCst),
        reads,
        "a full server refuses before it reads anything"
    );
    // So does a caller it has not authenticated: it cannot afford to find out.
    let stranger = parse(
        "<request><appInfo><appID>nobody</appID><appCertificate>x</appCertificate></appInfo>\
         <logout><deviceName>SEP003094C25B49</deviceName></logout></request>",
    )
    .unwrap();
    assert_eq!(
        code(&em.handle(stranger, &ctx).await),
        Some(ErrorCode::Busy)
    );
    assert_eq!(faulty.reads.load(Ordering::SeqCst), reads);
    drop(held);
    assert_eq!(first.await.unwrap(), EmResponse::Success);
    assert_eq!(em.in_flight(), 0, "slots are given back");
    assert_eq!(
        em.handle(login("SEP003094C25B49", "one"), &ctx).await,
        EmResponse::Success
    );
}

#[tokio::test]
async fn a_failing_database_is_code_6_and_changes_nothing() {
    let (em, faulty) = service("").await;
    let ctx = RequestContext::default();
    faulty.fail.store(true, Ordering::SeqCst);
    let answer = em.handle(login("SEP003094C25B15", "john"), &ctx).await;
    assert_eq!(
        answer,
        EmResponse::Failure(hotdesk_proto::Failure::new(ErrorCode::Database))
    );
    faulty.fail.store(false, Ordering::SeqCst);
    let state = faulty
        .device_state(&Key::of("SEP003094C25B15"), Timestamp(1_000_000))
        .await
        .unwrap();
    assert_eq!(state.unwrap().login, None);
    assert_eq!(
        em.handle(login("SEP003094C25B15", "john"), &ctx).await,
        EmResponse::Success
    );
}

/// Wait, within a bound, until `done` holds: for a background task to reach a state.
async fn until(what: &str, done: impl Fn() -> bool) {
    let wait = async {
        while !done() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("never: {what}"));
}

#[tokio::test]
async fn the_scheduler_waits_longer_after_each_failed_pass_instead_of_spinning() {
    let faulty = Faulty::new();
    let clock = ManualClock::new(Timestamp(1_000_000));
    let due = Login {
        device: "SEP1".into(),
        user: "john".into(),
        profile: "p".into(),
        app: "appid".into(),
        logged_in_at: Timestamp(0),
        deadline: Some(Timestamp(500_000)),
    };
    crate::domain::run_tx(&faulty.inner, move |tx| tx.put_login(&due).map(Ok::<_, ()>))
        .await
        .unwrap()
        .unwrap();
    faulty.fail.store(true, Ordering::SeqCst);
    let writes = || faulty.writes.load(Ordering::SeqCst);

    let (wake, shutdown) = (Arc::default(), Arc::new(Notify::new()));
    let task = tokio::spawn(crate::domain::scheduler::run(
        faulty.clone(),
        Arc::new(clock.clone()),
        wake,
        shutdown.clone(),
    ));
    until("the scheduler parks after its failed pass", || {
        clock.sleepers() > 0
    })
    .await;
    assert_eq!(
        writes(),
        1,
        "one try, then a pause: the clock has not moved"
    );

    clock.advance(std::time::Duration::from_millis(999));
    tokio::task::yield_now().await;
    assert_eq!(writes(), 1, "the first pause is a second");
    clock.advance(std::time::Duration::from_millis(1));
    until("a second try after the pause", || {
        writes() == 2 && clock.sleepers() > 0
    })
    .await;
    clock.advance(std::time::Duration::from_secs(1));
    tokio::task::yield_now().await;
    assert_eq!(writes(), 2, "the second pause is longer than the first");

    faulty.fail.store(false, Ordering::SeqCst);
    clock.advance(std::time::Duration::from_secs(1));
    until("a third try once the database is back", || writes() == 3).await;
    let mut ended = false;
    for _ in 0..10_000 {
        ended = faulty.inner.next_deadline().await.unwrap().is_none();
        if ended {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(ended, "the due login ended");
    assert_eq!(writes(), 3);
    shutdown.notify_one();
    task.await.unwrap();
}

/// More logins due than one batch of the store's (a thousand): a write ends them all first,
/// each as an auto-logout, and what it does itself then sees none of them as live.
#[tokio::test]
async fn a_write_ends_every_due_login_first_however_many_batches_that_takes() {
    const DUE: usize = 1_005;
    let mut dir = String::from("[[profiles]]\nname = \"P\"\n");
    for i in 0..DUE {
        dir.push_str(&format!(
            "[[users]]\nid = \"u{i}\"\nprofiles = [\"P\"]\n[[devices]]\nname = \"D{i}\"\n"
        ));
    }
    let (em, faulty) = service(&dir).await;
    let logins: Vec<Login> = (0..DUE)
        .map(|i| Login {
            device: format!("D{i}").into(),
            user: format!("u{i}").into(),
            profile: "P".into(),
            app: "appid".into(),
            logged_in_at: Timestamp(0),
            deadline: Some(Timestamp(500_000)),
        })
        .collect();
    crate::domain::run_tx(&faulty.inner, move |tx| {
        for l in &logins {
            tx.put_login(l)?;
        }
        Ok(Ok::<_, ()>(()))
    })
    .await
    .unwrap()
    .unwrap();
    let logout_all = parse(&format!("<request>{APP}<logoutAll/></request>")).unwrap();
    assert_eq!(
        em.handle(logout_all, &RequestContext::default()).await,
        EmResponse::Success
    );
    let events = faulty.inner.events_after(0, 10_000).await.unwrap();
    let count = |kind: EventKind| events.iter().filter(|e| e.event.kind == kind).count();
    assert_eq!(
        count(EventKind::AutoLogout),
        DUE,
        "every due login, as an auto-logout"
    );
    assert_eq!(
        count(EventKind::Logout),
        0,
        "none of them ended as if it were live"
    );
}

/// An unknown app ID is checked against a decoy hash, like a wrong certificate against the
/// app's: the time of the answer does not tell which IDs exist.
#[tokio::test]
async fn an_unknown_app_costs_one_argon2_check_like_a_wrong_certificate() {
    let (em, _) = service("").await;
    let ctx = RequestContext::default();
    let try_as = |id: &str, secret: &str| {
        parse(&format!(
            "<request><appInfo><appID>{id}</appID><appCertificate>{secret}</appCertificate></appInfo>\
             <logout><deviceName>SEP003094C25B49</deviceName></logout></request>"
        ))
        .unwrap()
    };
    let unknown = em.handle(try_as("nobody", "x"), &ctx).await;
    assert_eq!(code(&unknown), Some(ErrorCode::InvalidAppUser));
    assert_eq!(em.verified.argon2_runs(), 1);
    let wrong = em.handle(try_as("appid", "x"), &ctx).await;
    assert_eq!(code(&wrong), Some(ErrorCode::InvalidAppUser));
    assert_eq!(em.verified.argon2_runs(), 2);
}
