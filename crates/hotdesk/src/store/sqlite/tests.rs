//! The SQLite backend against the `Store`/`Tx` contract, on real files in temporary folders.
//!
//! Batching is made deterministic without sleeping: a "gate" job holds the writer inside a
//! batch while the test queues the jobs that must share the next one.

use super::writer::{JobResult, MAX_BATCH};
use super::*;
use crate::domain::{
    DirectoryCounts, EventKind, Key, NewEvent, Policy, Timestamp, Tx, TxOutcome, User,
};
use crate::store::contract::{device, login, write};
use tempfile::TempDir;
use tokio::sync::oneshot;

fn temp_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("hotdesk.db")).unwrap();
    (dir, store)
}

/// A raw job with an explicit commit decision.
fn job<T, F>(commit: bool, f: F) -> TxJob
where
    T: Send + 'static,
    F: FnMut(&mut dyn Tx) -> StoreResult<T> + Send + 'static,
{
    let mut f = f;
    Box::new(move |tx: &mut dyn Tx| {
        Ok(TxOutcome {
            commit,
            output: Box::new(f(tx)?),
        })
    })
}

/// Holds the writer thread inside a batch until released.
struct Gate {
    answer: oneshot::Receiver<JobResult>,
    release: std::sync::mpsc::Sender<()>,
}

async fn hold_writer(store: &SqliteStore) -> Gate {
    let (started, is_started) = oneshot::channel();
    let mut started = Some(started);
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let answer = store
        .submit(job(true, move |_| {
            if let Some(started) = started.take() {
                let _ = started.send(());
            }
            let _ = wait.recv();
            Ok(())
        }))
        .unwrap();
    is_started.await.unwrap();
    Gate { answer, release }
}

impl Gate {
    async fn open(self) {
        self.release.send(()).unwrap();
        self.answer.await.unwrap().unwrap();
    }
}

fn user_version(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_on_a_fresh_file_and_reopening_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/folder/hotdesk.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.counts().await.unwrap(), DirectoryCounts::default());
    assert_eq!(store.policy().await.unwrap(), Policy::default());
    assert_eq!(store.next_deadline().await.unwrap(), None);
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
    drop(store);
    assert_eq!(user_version(&path), schema::latest_version());

    {
        let conn = Connection::open(&path).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for t in [
            "admins", "apps", "devices", "events", "logins", "policy", "profiles", "users",
        ] {
            assert!(tables.iter().any(|x| x == t), "{t} missing from {tables:?}");
        }
    }

    // Reopening runs nothing again and keeps working.
    let store = SqliteStore::open(&path).unwrap();
    assert!(write(&store, |tx| tx.upsert_device(&device("SEP1"))).await);
    drop(store);
    assert_eq!(user_version(&path), schema::latest_version());

    // A file from a newer hotdesk is refused rather than misread.
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(
        matches!(err, OpenError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_failed_or_panicking_job_leaves_no_trace_beside_a_committing_sibling() {
    let (_dir, store) = temp_store();
    let before = store.writer_stats();
    let gate = hold_writer(&store).await;
    // Queued while the writer is busy, so all four run in the next batch, in this order.
    let refused = store
        .submit(job(false, |tx| {
            tx.upsert_device(&device("REFUSED"))?;
            tx.append_event(&NewEvent::new(Timestamp(1), EventKind::ConfigChange))?;
            Ok("no")
        }))
        .unwrap();
    let kept = store
        .submit(job(true, |tx| {
            tx.upsert_device(&device("KEPT"))?;
            tx.append_event(&NewEvent::new(Timestamp(2), EventKind::ConfigChange))
        }))
        .unwrap();
    let failed = store
        .submit(Box::new(|tx: &mut dyn Tx| {
            tx.upsert_device(&device("FAILED"))?;
            Err(StoreError::Database("the job gave up".into()))
        }))
        .unwrap();
    let panicked = store
        .submit(Box::new(|tx: &mut dyn Tx| {
            tx.upsert_device(&device("PANICKED"))?;
            panic!("a bug in a rule")
        }))
        .unwrap();
    gate.open().await;

    let refused = refused.await.unwrap().unwrap();
    assert_eq!(*refused.downcast::<&str>().unwrap(), "no");
    kept.await.unwrap().unwrap();
    assert!(
        matches!(failed.await.unwrap(), Err(StoreError::Database(m)) if m == "the job gave up")
    );
    match panicked.await.unwrap() {
        Err(StoreError::Database(m)) => assert!(m.contains("a bug in a rule"), "{m}"),
        other => panic!("expected a database error, got {:?}", other.map(|_| ())),
    }

    // The gate's batch and one batch for the four.
    let after = store.writer_stats();
    assert_eq!(after.batches - before.batches, 2);
    assert_eq!(after.jobs - before.jobs, 5);

    for (name, present) in [
        ("KEPT", true),
        ("REFUSED", false),
        ("FAILED", false),
        ("PANICKED", false),
    ] {
        assert_eq!(
            store.device(&Key::of(name)).await.unwrap().is_some(),
            present,
            "{name}"
        );
    }
    let events = store.events_after(0, 10).await.unwrap();
    // The refused job's event took no number.
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(events[0].event.at, Timestamp(2));

    // The writer survived the panic.
    assert!(write(&store, |tx| tx.upsert_device(&device("AFTER"))).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_transactions_all_answer_and_land() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let name = format!("SEP{i:03}");
                let created = write(&*store, move |tx| tx.upsert_device(&device(&name))).await;
                // Reads run alongside the writes on the reader pool.
                let counts = store.counts().await.unwrap();
                (created, counts.devices)
            })
        })
        .collect();
    for task in tasks {
        let (created, seen) = task.await.unwrap();
        assert!(created);
        assert!((1..=200).contains(&seen));
    }
    assert_eq!(store.counts().await.unwrap().devices, 200);
    let stats = store.writer_stats();
    assert_eq!(stats.jobs, 200);
    assert!(stats.batches <= 200);
    assert_eq!(stats.failed_batches, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_jobs_share_one_commit() {
    let (_dir, store) = temp_store();
    let gate = hold_writer(&store).await;
    let answers: Vec<_> = (0..200)
        .map(|i| {
            store
                .submit(job(true, move |tx| {
                    tx.append_event(&NewEvent::new(Timestamp(i), EventKind::ConfigChange))
                }))
                .unwrap()
        })
        .collect();
    gate.open().await;
    for answer in answers {
        answer.await.unwrap().unwrap();
    }
    // Written in queue order: event i has sequence number i + 1.
    let events = store.events_after(0, 1_000).await.unwrap();
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as i64 + 1 && e.event.at == Timestamp(i as i64))
    );
    assert_eq!(
        store.writer_stats(),
        WriterStats {
            batches: 2,
            jobs: 201,
            failed_batches: 0
        }
    );
    assert_eq!(store.events_after(0, 1_000).await.unwrap().len(), 200);
    // 200 fit in one batch; more than MAX_BATCH would not, and that is by design.
    const { assert!(MAX_BATCH >= 200) };
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotdesk.db");
    let store = SqliteStore::open(&path).unwrap();
    write(&store, |tx| {
        tx.upsert_profile(&crate::domain::DeviceProfile {
            name: "P".into(),
            ..Default::default()
        })?;
        tx.upsert_user(&User {
            id: "em@cisco.com".into(),
            profiles: vec!["P".into()],
            ..User::default()
        })?;
        tx.put_login(&login("SEP1", "em@cisco.com", Some(77_000)))?;
        tx.append_event(&NewEvent::new(Timestamp(3), EventKind::Login))
    })
    .await;
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    let user = store.user(&Key::of("EM@CISCO.COM")).await.unwrap().unwrap();
    assert_eq!(
        (user.id.as_str(), user.profiles.as_slice()),
        ("em@cisco.com", &["P".into()][..])
    );
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(Timestamp(77_000))
    );
    let events = store.events_after(0, 10).await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.seq, e.event.kind))
            .collect::<Vec<_>>(),
        vec![(1, EventKind::Login)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_store_answers_queued_jobs_and_closes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotdesk.db");
    let store = SqliteStore::open(&path).unwrap();
    let gate = hold_writer(&store).await;
    let queued: Vec<_> = (0..10)
        .map(|i| {
            store
                .submit(job(true, move |tx| {
                    tx.upsert_device(&device(&format!("D{i}")))
                }))
                .unwrap()
        })
        .collect();
    // Drop waits for the writer, which waits for the gate: drop on another thread.
    let dropped = tokio::task::spawn_blocking(move || drop(store));
    gate.open().await;
    dropped.await.unwrap();
    for answer in queued {
        assert!(answer.await.unwrap().is_ok());
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.counts().await.unwrap().devices, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_memory_store_reads_what_it_wrote() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(store.location(), ":memory:");
    write(&store, |tx| {
        tx.upsert_device(&device("SEP1"))?;
        tx.put_login(&login("SEP1", "john", Some(10)))
    })
    .await;
    let state = store
        .device_state(&Key::of("sep1"), Timestamp(9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.login.map(|l| l.user), Some("john".into()));
    let state = store
        .device_state(&Key::of("sep1"), Timestamp(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.login, None);
    assert_eq!(store.counts().await.unwrap().devices, 1);

    // Two in-memory stores are separate databases.
    let other = SqliteStore::open_in_memory().unwrap();
    assert_eq!(other.counts().await.unwrap().devices, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_writes_a_consistent_copy() {
    let (dir, store) = temp_store();
    write(&store, |tx| tx.upsert_device(&device("SEP1"))).await;
    let copy = dir.path().join("backup.db");
    store.backup(&copy).await.unwrap();
    // The target must not exist: a backup never overwrites.
    assert!(store.backup(&copy).await.is_err());
    let restored = SqliteStore::open(&copy).unwrap();
    assert_eq!(
        restored.device(&Key::of("sep1")).await.unwrap(),
        Some(device("SEP1"))
    );
}

mod contract {
    use super::*;

    async fn store() -> Option<(TempDir, SqliteStore)> {
        Some(temp_store())
    }

    /// The store with the folder that holds its file.
    struct Held(#[allow(dead_code)] TempDir, SqliteStore);
    impl std::ops::Deref for Held {
        type Target = SqliteStore;
        fn deref(&self) -> &SqliteStore {
            &self.1
        }
    }

    async fn held() -> Option<Held> {
        store().await.map(|(d, s)| Held(d, s))
    }

    crate::contract_tests!(held());
}

/// A lookup runs on the calling thread; a job that panics there answers an error, as a read on
/// a blocking thread does, and the next lookup on that thread works.
#[tokio::test]
async fn a_panicking_lookup_answers_an_error_and_the_next_one_works() {
    let (_dir, store) = temp_store();
    let panicked = crate::domain::run_lookup(&store, |_| -> StoreResult<()> {
        panic!("a bug in a read job")
    })
    .await;
    assert!(
        matches!(&panicked, Err(StoreError::Database(m)) if m.contains("panicked")),
        "{panicked:?}"
    );
    let counts = crate::domain::run_lookup(&store, |r| r.counts())
        .await
        .unwrap();
    assert_eq!(counts, DirectoryCounts::default());
}
