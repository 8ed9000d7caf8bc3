//! The SQLite backend against the `Store`/`Tx` contract, on real files in temporary folders.
//!
//! Batching is made deterministic without sleeping: a "gate" job holds the writer inside a
//! batch while the test queues the jobs that must share the next one.

use super::writer::{JobResult, MAX_BATCH};
use super::*;
use crate::domain::{
    Admin, ChangeSet, EventKind, MultipleLogin, NewEvent, Role, Tx, TxOutcome, run_read, run_tx,
};
use tempfile::TempDir;
use tokio::sync::oneshot;

fn temp_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("hotdesk.db")).unwrap();
    (dir, store)
}

/// Run `f` as a committing job and return its value.
async fn write<T, F>(store: &SqliteStore, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> StoreResult<T> + Send + 'static,
{
    run_tx(store, move |tx| f(tx).map(Ok::<T, ()>))
        .await
        .unwrap()
        .unwrap()
}

/// A raw job with an explicit commit decision.
fn job<T, F>(commit: bool, f: F) -> TxJob
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> StoreResult<T> + Send + 'static,
{
    Box::new(move |tx: &mut dyn Tx| {
        Ok(TxOutcome {
            commit,
            output: Box::new(f(tx)?),
        })
    })
}

fn device(name: &str) -> Device {
    Device {
        name: name.into(),
        model: Some("Cisco 8845".into()),
        em_enabled: true,
    }
}

fn login(device: &str, user: &str, deadline: Option<i64>) -> Login {
    Login {
        device: device.into(),
        user: user.into(),
        profile: "UserDevProf".into(),
        app: "appid".into(),
        logged_in_at: Timestamp(1_000),
        deadline: deadline.map(Timestamp),
    }
}

/// Holds the writer thread inside a batch until released.
struct Gate {
    answer: oneshot::Receiver<JobResult>,
    release: std::sync::mpsc::Sender<()>,
}

async fn hold_writer(store: &SqliteStore) -> Gate {
    let (started, is_started) = oneshot::channel();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let answer = store
        .submit(job(true, move |_| {
            let _ = started.send(());
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
async fn every_entity_round_trips_and_is_found_case_insensitively() {
    let (_dir, store) = temp_store();
    let app = AppUser {
        id: "AppID".into(),
        certificate_hashes: vec!["$argon2id$new".into(), "$argon2id$old".into()],
        proxy: true,
    };
    let user = User {
        id: "john".into(),
        pin_hash: Some("$pin".into()),
        password_hash: None,
        name: Some("John Doe".into()),
        profiles: vec!["UserDevProf".into(), "DPJOHNIPC".into()],
        max_login_minutes: Some(480),
    };
    let profile = DeviceProfile {
        name: "UserDevProf".into(),
        description: Some("John's desk".into()),
        lines: vec!["1001".into(), "1002".into()],
    };
    let admin = Admin {
        username: "Admin".into(),
        password_hash: "$pw".into(),
        role: Role::Operator,
    };
    let policy = Policy {
        multiple_login: MultipleLogin::AutoLogout,
        max_login_minutes: 600,
        enforce_max_login: true,
        remember_last_user: false,
        max_concurrent_requests: 7,
        validate_ip: true,
        trusted_ips: vec!["10.0.0.5".into(), "10.1.0.0/16".into()],
        allow_proxy: false,
    };

    let created = write(&store, {
        let (app, user, profile, admin, policy) = (
            app.clone(),
            user.clone(),
            profile.clone(),
            admin.clone(),
            policy.clone(),
        );
        move |tx| {
            let created = [
                tx.upsert_app(&app)?,
                tx.upsert_user(&user)?,
                tx.upsert_profile(&profile)?,
                tx.upsert_device(&device("SEP003094C25B15"))?,
                tx.upsert_admin(&admin)?,
            ];
            tx.set_policy(&policy)?;
            Ok(created)
        }
    })
    .await;
    assert_eq!(created, [true; 5]);

    assert_eq!(
        store.app(&Key::of("APPID")).await.unwrap(),
        Some(app.clone())
    );
    assert_eq!(
        store.user(&Key::of("JOHN")).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.profile(&Key::of("userdevprof")).await.unwrap(),
        Some(profile.clone())
    );
    let found = store
        .device(&Key::of("sep003094c25b15"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, device("SEP003094C25B15"));
    assert_eq!(store.policy().await.unwrap(), policy);
    assert_eq!(store.user(&Key::of("jane")).await.unwrap(), None);
    assert_eq!(store.device(&Key::of("SEPX")).await.unwrap(), None);
    assert_eq!(
        store.counts().await.unwrap(),
        DirectoryCounts {
            apps: 1,
            users: 1,
            profiles: 1,
            devices: 1,
            admins: 1
        }
    );

    // The transaction side sees the same rows.
    let seen = write(&store, |tx| {
        Ok((
            tx.user(&Key::of("John"))?,
            tx.app(&Key::of("appid"))?,
            tx.admin(&Key::of("ADMIN"))?,
            tx.profile_exists(&Key::of("USERDEVPROF"))?,
            tx.profile_exists(&Key::of("nope"))?,
        ))
    })
    .await;
    assert_eq!(
        seen,
        (
            Some(user.clone()),
            Some(app.clone()),
            Some(admin.clone()),
            true,
            false
        )
    );

    // Second upserts update, keep the new spelling, and replace lists.
    let user2 = User {
        id: "John".into(),
        profiles: vec!["DPJOHNIPC".into()],
        ..user.clone()
    };
    let app2 = AppUser {
        certificate_hashes: vec!["$argon2id$newer".into()],
        ..app.clone()
    };
    let profile2 = DeviceProfile {
        lines: vec![],
        description: None,
        ..profile.clone()
    };
    let admin2 = Admin {
        role: Role::Auditor,
        ..admin.clone()
    };
    let created = write(&store, {
        let (user2, app2, profile2, admin2) = (
            user2.clone(),
            app2.clone(),
            profile2.clone(),
            admin2.clone(),
        );
        move |tx| {
            let created = [
                tx.upsert_user(&user2)?,
                tx.upsert_app(&app2)?,
                tx.upsert_profile(&profile2)?,
                tx.upsert_device(&Device {
                    em_enabled: false,
                    ..device("sep003094c25b15")
                })?,
                tx.upsert_admin(&admin2)?,
            ];
            tx.set_policy(&Policy::default())?;
            Ok(created)
        }
    })
    .await;
    assert_eq!(created, [false; 5]);
    assert_eq!(store.user(&Key::of("john")).await.unwrap(), Some(user2));
    assert_eq!(store.app(&Key::of("appid")).await.unwrap(), Some(app2));
    assert_eq!(
        store.profile(&Key::of("UserDevProf")).await.unwrap(),
        Some(profile2)
    );
    let d = store
        .device(&Key::of("SEP003094C25B15"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.name.as_str(), d.em_enabled), ("sep003094c25b15", false));
    let a = write(&store, |tx| tx.admin(&Key::of("admin"))).await;
    assert_eq!(a, Some(admin2));
    assert_eq!(store.policy().await.unwrap(), Policy::default());
    assert_eq!(store.counts().await.unwrap().users, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_are_stored_and_due_ones_are_hidden_from_reads() {
    let (_dir, store) = temp_store();
    write(&store, |tx| {
        for d in ["SEP1", "SEP2", "SEP3"] {
            tx.upsert_device(&device(d))?;
        }
        tx.put_login(&login("SEP1", "john", Some(5_000)))?;
        tx.put_login(&login("SEP2", "john", None))?;
        tx.put_login(&login("SEP3", "jane", Some(9_000)))?;
        tx.set_last_user(&Key::of("sep3"), "bob")
    })
    .await;

    let state = store
        .device_state(&Key::of("sep1"), Timestamp(4_999))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.device, device("SEP1"));
    assert_eq!(state.login, Some(login("SEP1", "john", Some(5_000))));
    assert_eq!(state.last_user, None);
    // Due exactly at its deadline: hidden.
    let state = store
        .device_state(&Key::of("SEP1"), Timestamp(5_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.login, None);
    let state = store
        .device_state(&Key::of("SEP3"), Timestamp(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.last_user.as_deref(), Some("bob"));
    assert_eq!(
        store
            .device_state(&Key::of("SEP9"), Timestamp(0))
            .await
            .unwrap(),
        None
    );

    let devices = |logins: Vec<Login>| logins.into_iter().map(|l| l.device).collect::<Vec<_>>();
    assert_eq!(
        devices(
            store
                .user_logins(&Key::of("JOHN"), Timestamp(0))
                .await
                .unwrap()
        ),
        ["SEP1", "SEP2"]
    );
    assert_eq!(
        devices(
            store
                .user_logins(&Key::of("john"), Timestamp(5_000))
                .await
                .unwrap()
        ),
        ["SEP2"]
    );
    assert_eq!(store.next_deadline().await.unwrap(), Some(Timestamp(5_000)));

    // Inside a transaction, due logins are still there (the scheduler removes them).
    let (on_sep1, johns) = write(&store, |tx| {
        Ok((
            tx.device_login(&Key::of("sep1"))?,
            tx.user_logins(&Key::of("john"))?,
        ))
    })
    .await;
    assert_eq!(on_sep1, Some(login("SEP1", "john", Some(5_000))));
    assert_eq!(johns.len(), 2);

    // put_login replaces the login on the same device.
    write(&store, |tx| {
        tx.put_login(&login("sep1", "jane", Some(20_000)))
    })
    .await;
    let state = store
        .device_state(&Key::of("SEP1"), Timestamp(6_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.login.map(|l| l.user), Some("jane".to_string()));
    assert_eq!(
        devices(
            store
                .user_logins(&Key::of("john"), Timestamp(0))
                .await
                .unwrap()
        ),
        ["SEP2"]
    );
    assert_eq!(store.next_deadline().await.unwrap(), Some(Timestamp(9_000)));
}

#[tokio::test(flavor = "multi_thread")]
async fn removals_return_exactly_what_they_removed() {
    let (_dir, store) = temp_store();
    write(&store, |tx| {
        tx.put_login(&login("SEP1", "a", Some(1_000)))?;
        tx.put_login(&login("SEP2", "b", Some(2_000)))?;
        tx.put_login(&login("SEP3", "c", Some(2_001)))?;
        tx.put_login(&login("SEP4", "d", None))?;
        tx.put_login(&login("SEP5", "e", Some(500)))
    })
    .await;

    let due = write(&store, |tx| tx.remove_due_logins(Timestamp(2_000))).await;
    let names: Vec<_> = due
        .iter()
        .map(|l| (l.device.as_str(), l.deadline))
        .collect();
    assert_eq!(
        names,
        [
            ("SEP5", Some(Timestamp(500))),
            ("SEP1", Some(Timestamp(1_000))),
            ("SEP2", Some(Timestamp(2_000)))
        ]
    );
    assert!(
        write(&store, |tx| tx.remove_due_logins(Timestamp(2_000)))
            .await
            .is_empty()
    );
    assert_eq!(store.next_deadline().await.unwrap(), Some(Timestamp(2_001)));

    let removed = write(&store, |tx| tx.remove_login(&Key::of("sep4"))).await;
    assert_eq!(removed, Some(login("SEP4", "d", None)));
    assert_eq!(
        write(&store, |tx| tx.remove_login(&Key::of("sep4"))).await,
        None
    );

    write(&store, |tx| tx.put_login(&login("SEP6", "f", None))).await;
    let all = write(&store, |tx| tx.remove_all_logins()).await;
    assert_eq!(
        all.iter().map(|l| l.device.as_str()).collect::<Vec<_>>(),
        ["SEP3", "SEP6"]
    );
    assert_eq!(store.next_deadline().await.unwrap(), None);
    assert!(write(&store, |tx| tx.remove_all_logins()).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn events_get_increasing_sequence_numbers_and_page() {
    let (_dir, store) = temp_store();
    let seqs = write(&store, |tx| {
        let mut seqs = Vec::new();
        for i in 0..5 {
            let event = NewEvent::for_login(
                Timestamp(i),
                EventKind::Login,
                &login("SEP1", "john", None),
                "appid",
            )
            .detail(format!("n{i}"));
            seqs.push(tx.append_event(&event)?);
        }
        seqs.push(tx.append_event(&NewEvent::new(Timestamp(9), EventKind::ConfigChange))?);
        Ok(seqs)
    })
    .await;
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let first = store.events_after(0, 4).await.unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[..4]);
    assert_eq!(first[0].event.detail.as_deref(), Some("n0"));
    assert_eq!(first[0].event.actor.as_deref(), Some("appid"));
    assert_eq!(first[0].event.device.as_deref(), Some("SEP1"));
    assert_eq!(first[0].event.profile.as_deref(), Some("UserDevProf"));
    let rest = store.events_after(first[3].seq, 4).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[4..]);
    assert_eq!(
        rest[1].event,
        NewEvent::new(Timestamp(9), EventKind::ConfigChange)
    );
    assert!(store.events_after(seqs[5], 4).await.unwrap().is_empty());

    // A later transaction continues the sequence.
    let next = write(&store, |tx| {
        tx.append_event(&NewEvent::new(Timestamp(10), EventKind::Logout))
    })
    .await;
    assert!(next > seqs[5]);
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
    let seq = *kept.await.unwrap().unwrap().downcast::<i64>().unwrap();
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
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [seq]);
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
                let created = write(&store, move |tx| tx.upsert_device(&device(&name))).await;
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
    let mut seqs = Vec::new();
    for answer in answers {
        seqs.push(*answer.await.unwrap().unwrap().downcast::<i64>().unwrap());
    }
    // Answered in queue order with the sequence they were written in.
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
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
    let seq = write(&store, |tx| {
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
        ("em@cisco.com", &["P".to_string()][..])
    );
    assert_eq!(
        store.next_deadline().await.unwrap(),
        Some(Timestamp(77_000))
    );
    assert_eq!(store.events_after(0, 10).await.unwrap()[0].seq, seq);
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

#[tokio::test]
async fn names_page_and_filter_and_deletes_take_their_lists_along() {
    let (_dir, store) = temp_store();
    write(&store, |tx| {
        for name in ["SEP-B", "sep-a", "SEP-C", "OTHER"] {
            tx.upsert_device(&device(name))?;
        }
        tx.upsert_profile(&DeviceProfile {
            name: "P1".into(),
            description: None,
            lines: vec!["1001".into()],
        })?;
        tx.upsert_user(&User {
            id: "u1".into(),
            profiles: vec!["P1".into()],
            ..User::default()
        })
    })
    .await;
    let (total, page) = run_read(&store, |r| r.names(EntityKind::Device, Some("sep"), 1, 10))
        .await
        .unwrap();
    assert_eq!(total, 3);
    assert_eq!(page, vec![Key::of("sep-b"), Key::of("sep-c")]);
    let (all, _) = run_read(&store, |r| r.names(EntityKind::Device, None, 0, 0))
        .await
        .unwrap();
    assert_eq!(all, 4);

    let (users, deleted, again) = write(&store, |tx| {
        let users = tx.profile_users(&Key::of("p1"), 5)?;
        let deleted = tx.delete(EntityKind::User, &Key::of("U1"))?;
        let again = tx.delete(EntityKind::User, &Key::of("u1"))?;
        Ok((users, deleted, again))
    })
    .await;
    assert_eq!(
        (users, deleted, again),
        (vec!["u1".to_string()], true, false)
    );
    let left = write(&store, |tx| {
        tx.delete(EntityKind::DeviceProfile, &Key::of("P1"))?;
        tx.profile_users(&Key::of("p1"), 5)
    })
    .await;
    assert!(left.is_empty());
    assert_eq!(store.profile(&Key::of("p1")).await.unwrap(), None);
}

#[tokio::test]
async fn change_sets_keep_their_edits_in_order_until_removed() {
    let (_dir, store) = temp_store();
    let set = ChangeSet {
        id: "cs1".into(),
        owner: "admin".into(),
        created_at: Timestamp(5),
        edits: vec!["first".into()],
    };
    let (n2, n3, got) = write(&store, move |tx| {
        tx.insert_change_set(&set)?;
        let n2 = tx.stage_edit("cs1", "second")?;
        let n3 = tx.stage_edit("cs1", "third")?;
        Ok((n2, n3, tx.change_set("cs1")?))
    })
    .await;
    assert_eq!((n2, n3), (2, 3));
    let got = got.unwrap();
    assert_eq!(got.edits, vec!["first", "second", "third"]);
    assert_eq!(
        (got.owner.as_str(), got.created_at),
        ("admin", Timestamp(5))
    );
    let (removed, gone) = write(&store, |tx| {
        Ok((tx.remove_change_set("cs1")?, tx.change_set("cs1")?))
    })
    .await;
    assert!(removed && gone.is_none());
}
