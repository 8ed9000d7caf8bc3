//! The contract every [`Store`] backend keeps, as test bodies over `&dyn Store`. Each backend's
//! tests run all of them through [`contract_tests!`], so the SQLite and PostgreSQL backends are
//! held to the same behaviour by the same code.

use crate::domain::{
    Admin, AppUser, ChangeSet, Device, DeviceProfile, DirectoryCounts, EntityKind, EventKind, Key,
    Login, MultipleLogin, NewEvent, PhoneMenu, PinGuard, Policy, Role, Store, StoreResult,
    Timestamp, Tx, User, run_read, run_tx,
};

/// Generate one `#[tokio::test]` per contract test, each on a store made by `$make` (an async
/// expression giving something that derefs to `dyn Store`, or `None` to skip).
#[macro_export]
#[doc(hidden)]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            every_entity_round_trips_and_is_found_case_insensitively,
            logins_are_stored_and_due_ones_are_hidden_from_reads,
            removals_return_exactly_what_they_removed,
            events_get_increasing_sequence_numbers_and_page,
            names_page_and_filter_and_deletes_take_their_lists_along,
            change_sets_keep_their_edits_in_order_until_removed,
            a_refused_job_leaves_no_trace,
            a_user_names_only_profiles_that_exist,
            one_node_at_a_time_holds_a_delivery_lease,
            pruning_keeps_what_a_subscriber_still_needs,
            concurrent_transactions_all_answer_and_land,
            users_are_found_by_extension,
            pin_guards_and_hashes_are_kept_per_user,
            a_phone_menu_is_taken_once,
            the_first_pin_key_recorded_stays,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                let Some(store) = $make.await else { return };
                $crate::store::contract::$name(&*store).await;
            }
        )*
    };
}

/// Run `f` as a committing job and return its value.
pub(crate) async fn write<T, F>(store: &dyn Store, f: F) -> T
where
    T: Send + 'static,
    F: FnMut(&mut dyn Tx) -> StoreResult<T> + Send + 'static,
{
    let mut f = f;
    run_tx(store, move |tx| f(tx).map(Ok::<T, ()>))
        .await
        .unwrap()
        .unwrap()
}

pub(crate) fn device(name: &str) -> Device {
    Device {
        name: name.into(),
        model: Some("Cisco 8845".into()),
        em_enabled: true,
        logout_profile: None,
    }
}

pub(crate) fn login(device: &str, user: &str, deadline: Option<i64>) -> Login {
    Login {
        device: device.into(),
        user: user.into(),
        profile: "UserDevProf".into(),
        app: "appid".into(),
        logged_in_at: Timestamp(1_000),
        deadline: deadline.map(Timestamp),
    }
}

pub(crate) async fn every_entity_round_trips_and_is_found_case_insensitively(store: &dyn Store) {
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
        extension: Some("1001".into()),
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
        trusted_ips: vec!["10.0.0.5".to_string(), "10.1.0.0/16".to_string()].into(),
        allow_proxy: false,
        min_pin_length: 6,
        phone_service: false,
    };

    let created = write(store, {
        let (app, user, profile, admin, policy) = (
            app.clone(),
            user.clone(),
            profile.clone(),
            admin.clone(),
            policy.clone(),
        );
        move |tx| {
            // The user names two profiles, which exist first (a foreign key).
            let created = [
                tx.upsert_app(&app)?,
                tx.upsert_profile(&profile)?,
                tx.upsert_profile(&DeviceProfile {
                    name: "DPJOHNIPC".into(),
                    ..DeviceProfile::default()
                })?,
                tx.upsert_user(&user)?,
                tx.upsert_device(&device("SEP003094C25B15"))?,
                tx.upsert_admin(&admin)?,
            ];
            tx.set_policy(&policy)?;
            Ok(created)
        }
    })
    .await;
    assert_eq!(created, [true; 6]);

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
            profiles: 2,
            devices: 1,
            admins: 1
        }
    );

    // The transaction side sees the same rows.
    let seen = write(store, |tx| {
        Ok((
            tx.user(&Key::of("John"))?,
            tx.app(&Key::of("appid"))?,
            tx.admin(&Key::of("ADMIN"))?,
            tx.exists(EntityKind::DeviceProfile, &Key::of("USERDEVPROF"))?,
            tx.exists(EntityKind::DeviceProfile, &Key::of("nope"))?,
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
    let created = write(store, {
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
    let a = write(store, |tx| tx.admin(&Key::of("admin"))).await;
    assert_eq!(a, Some(admin2));
    assert_eq!(store.policy().await.unwrap(), Policy::default());
    assert_eq!(store.counts().await.unwrap().users, 1);
}

pub(crate) async fn logins_are_stored_and_due_ones_are_hidden_from_reads(store: &dyn Store) {
    write(store, |tx| {
        for d in ["SEP1", "SEP2", "SEP3"] {
            tx.upsert_device(&device(d))?;
        }
        tx.put_login(&login("SEP1", "john", Some(5_000)))?;
        tx.put_login(&login("SEP2", "john", None))?;
        tx.put_login(&login("SEP3", "jane", Some(9_000)))?;
        // The device comes back as it is, for the ended login's event; an unknown one: None.
        assert_eq!(tx.set_last_user(&Key::of("nope"), "bob")?, None);
        assert_eq!(
            tx.set_last_user(&Key::of("sep3"), "bob")?,
            Some(device("SEP3"))
        );
        Ok(())
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
    let (on_sep1, johns) = write(store, |tx| {
        Ok((
            {
                let device = tx.lock_device(&Key::of("sep1"))?;
                tx.device_login(&device)?
            },
            {
                let user = tx.lock_user(&Key::of("john"))?;
                tx.user_logins(&user)?
            },
        ))
    })
    .await;
    assert_eq!(on_sep1, Some(login("SEP1", "john", Some(5_000))));
    assert_eq!(johns.len(), 2);

    // put_login replaces the login on the same device.
    write(store, |tx| {
        tx.put_login(&login("sep1", "jane", Some(20_000)))
    })
    .await;
    let state = store
        .device_state(&Key::of("SEP1"), Timestamp(6_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.login.map(|l| l.user), Some("jane".into()));
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

pub(crate) async fn removals_return_exactly_what_they_removed(store: &dyn Store) {
    write(store, |tx| {
        tx.put_login(&login("SEP1", "a", Some(1_000)))?;
        tx.put_login(&login("SEP2", "b", Some(2_000)))?;
        tx.put_login(&login("SEP3", "c", Some(2_001)))?;
        tx.put_login(&login("SEP4", "d", None))?;
        tx.put_login(&login("SEP5", "e", Some(500)))
    })
    .await;

    let due = write(store, |tx| tx.remove_due_logins(Timestamp(2_000))).await;
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
        write(store, |tx| tx.remove_due_logins(Timestamp(2_000)))
            .await
            .is_empty()
    );
    assert_eq!(store.next_deadline().await.unwrap(), Some(Timestamp(2_001)));

    let removed = write(store, |tx| tx.remove_login(&Key::of("sep4"))).await;
    assert_eq!(removed, Some(login("SEP4", "d", None)));
    assert_eq!(
        write(store, |tx| tx.remove_login(&Key::of("sep4"))).await,
        None
    );

    write(store, |tx| tx.put_login(&login("SEP6", "f", None))).await;
    let all = write(store, |tx| tx.remove_all_logins()).await;
    assert_eq!(
        all.iter().map(|l| l.device.as_str()).collect::<Vec<_>>(),
        ["SEP3", "SEP6"]
    );
    assert_eq!(store.next_deadline().await.unwrap(), None);
    assert!(write(store, |tx| tx.remove_all_logins()).await.is_empty());
}

pub(crate) async fn events_get_increasing_sequence_numbers_and_page(store: &dyn Store) {
    let start = write(store, |tx| tx.last_event_seq()).await;
    write(store, |tx| {
        for i in 0..5 {
            let event = NewEvent::for_login(
                Timestamp(i),
                EventKind::Login,
                &login("SEP1", "john", None),
                "appid",
            )
            .detail(format!("n{i}"));
            tx.append_event(&event)?;
        }
        tx.append_event(&NewEvent::new(Timestamp(9), EventKind::ConfigChange))
    })
    .await;
    let first = store.events_after(start, 4).await.unwrap();
    // Numbered in order, without gaps, after whatever was there.
    assert_eq!(
        first.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (start + 1..=start + 4).collect::<Vec<_>>()
    );
    assert_eq!(first[0].event.detail.as_deref(), Some("n0"));
    assert_eq!(first[0].event.actor.as_deref(), Some("appid"));
    assert_eq!(first[0].event.device.as_deref(), Some("SEP1"));
    assert_eq!(first[0].event.profile.as_deref(), Some("UserDevProf"));
    let rest = store.events_after(first[3].seq, 4).await.unwrap();
    assert_eq!(
        rest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![start + 5, start + 6]
    );
    assert_eq!(
        rest[1].event,
        NewEvent::new(Timestamp(9), EventKind::ConfigChange)
    );
    assert!(store.events_after(start + 6, 4).await.unwrap().is_empty());
    assert_eq!(write(store, |tx| tx.last_event_seq()).await, start + 6);

    // A rolled-back transaction takes no number; the next one continues the sequence.
    let refused = run_tx(store, |tx| {
        tx.append_event(&NewEvent::new(Timestamp(10), EventKind::Logout))?;
        Ok(Err::<(), ()>(()))
    })
    .await
    .unwrap();
    assert!(refused.is_err());
    write(store, |tx| {
        tx.append_event(&NewEvent::new(Timestamp(11), EventKind::Logout))
    })
    .await;
    let next = store.events_after(start + 6, 4).await.unwrap();
    assert_eq!(
        next.iter().map(|e| (e.seq, e.event.at)).collect::<Vec<_>>(),
        vec![(start + 7, Timestamp(11))]
    );
}

/// A job that says no, or fails, writes nothing; its neighbours are unaffected.
pub(crate) async fn a_refused_job_leaves_no_trace(store: &dyn Store) {
    let refused = run_tx(store, |tx| {
        tx.upsert_device(&device("SEP-REFUSED"))?;
        tx.append_event(&NewEvent::new(Timestamp(1), EventKind::ConfigChange))?;
        Ok(Err::<(), &str>("no"))
    })
    .await
    .unwrap();
    assert_eq!(refused, Err("no"));
    let failed = run_tx(store, |tx| {
        tx.upsert_device(&device("SEP-FAILED"))?;
        Err::<Result<(), ()>, _>(crate::domain::StoreError::Database("boom".into()))
    })
    .await;
    assert!(failed.is_err());
    write(store, |tx| tx.upsert_device(&device("SEP-KEPT"))).await;
    assert_eq!(store.device(&Key::of("sep-refused")).await.unwrap(), None);
    assert_eq!(store.device(&Key::of("sep-failed")).await.unwrap(), None);
    assert!(store.device(&Key::of("sep-kept")).await.unwrap().is_some());
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
}

/// The schema keeps a user's profile list honest whatever the rules above it do: a name of no
/// profile is refused, and so is deleting a profile a user still names.
pub(crate) async fn a_user_names_only_profiles_that_exist(store: &dyn Store) {
    let user = |profile: &str| User {
        id: "kim".into(),
        profiles: vec![profile.into()],
        ..User::default()
    };
    let ghost = run_tx(store, move |tx| {
        tx.upsert_user(&user("Ghost")).map(Ok::<_, ()>)
    })
    .await;
    assert!(ghost.is_err(), "{ghost:?}");
    assert_eq!(store.user(&Key::of("kim")).await.unwrap(), None);

    write(store, move |tx| {
        tx.upsert_profile(&DeviceProfile {
            name: "Real".into(),
            ..DeviceProfile::default()
        })?;
        tx.upsert_user(&user("real"))
    })
    .await;
    let deleted = run_tx(store, |tx| {
        tx.delete(EntityKind::DeviceProfile, &Key::of("real"))
            .map(Ok::<_, ()>)
    })
    .await;
    assert!(deleted.is_err(), "{deleted:?}");
    assert!(store.profile(&Key::of("REAL")).await.unwrap().is_some());
    let kim = store.user(&Key::of("kim")).await.unwrap().unwrap();
    assert_eq!(kim.profiles, ["real"]);
}

/// Many transactions at once: every one answers and lands, and their events form one
/// sequence without gaps or duplicates.
pub(crate) async fn concurrent_transactions_all_answer_and_land(store: &dyn Store) {
    const N: i64 = 100;
    let results = futures::future::join_all((0..N).map(|i| {
        write(store, move |tx| {
            let created = tx.upsert_device(&device(&format!("SEP{i:03}")))?;
            tx.append_event(&NewEvent::new(Timestamp(i), EventKind::ConfigChange))?;
            Ok(created)
        })
    }))
    .await;
    assert!(results.into_iter().all(|created| created));
    assert_eq!(store.counts().await.unwrap().devices, N as u64);
    let seqs: Vec<i64> = store
        .events_after(0, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=N).collect::<Vec<_>>());
}

pub(crate) async fn names_page_and_filter_and_deletes_take_their_lists_along(store: &dyn Store) {
    write(store, |tx| {
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
    let (total, page) = run_read(store, |r| r.names(EntityKind::Device, Some("sep"), 1, 10))
        .await
        .unwrap();
    assert_eq!(total, 3);
    assert_eq!(page, vec![Key::of("sep-b"), Key::of("sep-c")]);
    let (all, _) = run_read(store, |r| r.names(EntityKind::Device, None, 0, 0))
        .await
        .unwrap();
    assert_eq!(all, 4);

    let (users, deleted, again) = write(store, |tx| {
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
    let left = write(store, |tx| {
        tx.delete(EntityKind::DeviceProfile, &Key::of("P1"))?;
        tx.profile_users(&Key::of("p1"), 5)
    })
    .await;
    assert!(left.is_empty());
    assert_eq!(store.profile(&Key::of("p1")).await.unwrap(), None);
}

pub(crate) async fn change_sets_keep_their_edits_in_order_until_removed(store: &dyn Store) {
    let set = ChangeSet {
        id: "cs1".into(),
        owner: "admin".into(),
        created_at: Timestamp(5),
        edits: vec!["first".into()],
    };
    let (n2, n3, got) = write(store, move |tx| {
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
    let (removed, gone) = write(store, |tx| {
        Ok((tx.remove_change_set("cs1")?, tx.change_set("cs1")?))
    })
    .await;
    assert!(removed && gone.is_none());
}

fn user_with(id: &str, extension: Option<&str>) -> User {
    User {
        id: id.into(),
        extension: extension.map(str::to_string),
        ..User::default()
    }
}

pub(crate) async fn users_are_found_by_extension(store: &dyn Store) {
    write(store, |tx| {
        tx.upsert_user(&user_with("Zoe", Some("2001")))?;
        tx.upsert_user(&user_with("amy", Some("2001")))?;
        tx.upsert_user(&user_with("bob", Some("2002")))?;
        tx.upsert_user(&user_with("cy", None))?;
        Ok(())
    })
    .await;
    let found = |ext: &'static str, limit: u32| async move {
        run_read(store, move |r| r.users_with_extension(ext, limit))
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(found("2001", 5).await, vec!["amy", "Zoe"], "by key");
    assert_eq!(found("2001", 1).await, vec!["amy"]);
    assert_eq!(found("2002", 2).await, vec!["bob"]);
    assert!(found("20", 2).await.is_empty(), "whole extensions only");
    assert!(found("", 2).await.is_empty());
}

pub(crate) async fn pin_guards_and_hashes_are_kept_per_user(store: &dyn Store) {
    let guard = PinGuard {
        failures: 5,
        window_start: Timestamp(10),
        locked_until: Some(Timestamp(900_010)),
    };
    let (set, missing) = write(store, move |tx| {
        tx.upsert_user(&user_with("Anna", None))?;
        tx.put_pin_guard(&Key::of("anna"), Some(&guard))?;
        Ok((
            tx.set_pin_hash(&Key::of("ANNA"), "$hmac-sha256$k=1$ab")?,
            tx.set_pin_hash(&Key::of("nobody"), "x")?,
        ))
    })
    .await;
    assert!(set && !missing);
    let read = write(store, |tx| tx.pin_guard(&Key::of("anna"))).await;
    assert_eq!(read, Some(guard));
    assert_eq!(
        store
            .user(&Key::of("anna"))
            .await
            .unwrap()
            .unwrap()
            .pin_hash,
        Some("$hmac-sha256$k=1$ab".into())
    );
    // Updated in place, then forgotten; a deleted user takes its guard along.
    let later = PinGuard {
        failures: 1,
        window_start: Timestamp(20),
        locked_until: None,
    };
    let in_tx = write(store, move |tx| {
        tx.put_pin_guard(&Key::of("anna"), Some(&later))?;
        tx.pin_guard(&Key::of("anna"))
    })
    .await;
    assert_eq!(in_tx, Some(later));
    write(store, |tx| tx.put_pin_guard(&Key::of("anna"), None)).await;
    assert_eq!(
        write(store, |tx| tx.pin_guard(&Key::of("anna"))).await,
        None
    );
    write(store, move |tx| {
        tx.put_pin_guard(&Key::of("anna"), Some(&guard))?;
        tx.delete(EntityKind::User, &Key::of("anna"))
    })
    .await;
    assert_eq!(
        write(store, |tx| tx.pin_guard(&Key::of("anna"))).await,
        None
    );
}

pub(crate) async fn a_phone_menu_is_taken_once(store: &dyn Store) {
    let menu = |hash: &str, expires: i64| PhoneMenu {
        token_hash: hash.into(),
        device: "SEP1".into(),
        user: "john".into(),
        profiles: vec!["A".into(), "B \"quoted\"".into()],
        expires_at: Timestamp(expires),
    };
    let (m1, m2) = (menu("h1", 100), menu("h2", 200));
    write(store, move |tx| {
        tx.insert_phone_menu(&m1)?;
        tx.insert_phone_menu(&m2)
    })
    .await;
    let (first, second) = write(store, |tx| {
        Ok((tx.take_phone_menu("h1")?, tx.take_phone_menu("h1")?))
    })
    .await;
    assert_eq!(first, Some(menu("h1", 100)));
    assert_eq!(second, None);
    let (removed, left) = write(store, |tx| {
        Ok((
            tx.remove_phone_menus("SEP2", Timestamp(200))?,
            tx.take_phone_menu("h2")?,
        ))
    })
    .await;
    assert_eq!((removed, left), (1, None), "due at its instant");
    let (m3, m4) = (menu("h3", 900), menu("h4", 900));
    let (removed, left) = write(store, move |tx| {
        tx.insert_phone_menu(&m3)?;
        tx.insert_phone_menu(&PhoneMenu {
            device: "SEP2".into(),
            ..m4.clone()
        })?;
        Ok((
            tx.remove_phone_menus("SEP1", Timestamp(200))?,
            tx.take_phone_menu("h4")?.is_some(),
        ))
    })
    .await;
    assert_eq!((removed, left), (1, true), "only that device's live menus");
}

pub(crate) async fn the_first_pin_key_recorded_stays(store: &dyn Store) {
    let ids = write(store, |tx| {
        Ok((tx.claim_pin_key_id("key-a")?, tx.claim_pin_key_id("key-b")?))
    })
    .await;
    assert_eq!(ids, ("key-a".to_string(), "key-a".to_string()));
}

/// The event-delivery lease: one holder at a time, renewable by it, free once it lapses.
pub(crate) async fn one_node_at_a_time_holds_a_delivery_lease(store: &dyn Store) {
    subscribed_session(store, 0).await;
    let claim = |node: &'static str, now: i64| {
        write(store, move |tx| {
            tx.claim_delivery("h1", node, Timestamp(now), Timestamp(now + 30_000))
        })
    };
    assert!(claim("a", 0).await, "free: a takes it");
    assert!(!claim("b", 10_000).await, "a holds it until 30 s");
    assert!(claim("a", 20_000).await, "a renews it, now until 50 s");
    assert!(!claim("b", 49_999).await);
    assert!(claim("b", 50_000).await, "lapsed: b takes over");
    assert!(!claim("a", 50_001).await);
    // Only the holder moves the cursor, and only from where it is.
    let advance = |node: &'static str, from: i64, to: i64| {
        write(store, move |tx| {
            tx.advance_delivery("h1", node, from, to, Timestamp(90_000))
        })
    };
    assert!(!advance("a", 0, 1).await, "a lost the lease");
    assert!(advance("b", 0, 1).await);
    assert!(!advance("b", 0, 2).await, "the cursor is at 1 now");
    assert!(advance("b", 1, 2).await);
    assert_eq!(
        write(store, |tx| tx.session("h1"))
            .await
            .unwrap()
            .events_after,
        Some(2)
    );
    // The advance renewed b's lease to 90 s.
    assert!(!claim("a", 89_999).await);
    assert!(
        !write(store, |tx| tx.claim_delivery(
            "no-such-session",
            "a",
            Timestamp(0),
            Timestamp(1)
        ))
        .await
    );
}

/// Pruning removes old events but never one a subscriber has not been sent, and the numbers go
/// on from where they were.
pub(crate) async fn pruning_keeps_what_a_subscriber_still_needs(store: &dyn Store) {
    write(store, |tx| {
        for at in 1..=6 {
            tx.append_event(&NewEvent::new(Timestamp(at), EventKind::ConfigChange))?;
        }
        Ok(())
    })
    .await;
    // A subscriber that has been sent events 1 and 2 only.
    subscribed_session(store, 2).await;
    let seqs = |events: Vec<crate::domain::Event>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        crate::domain::retention::prune_events_before(store, Timestamp(5))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        seqs(store.events_after(0, 10).await.unwrap()),
        vec![3, 4, 5, 6]
    );
    write(store, |tx| tx.set_subscription("h1", None)).await;
    assert_eq!(
        crate::domain::retention::prune_events_before(store, Timestamp(5))
            .await
            .unwrap(),
        2
    );
    assert_eq!(seqs(store.events_after(0, 10).await.unwrap()), vec![5, 6]);
    write(store, |tx| {
        tx.append_event(&NewEvent::new(Timestamp(7), EventKind::Login))
    })
    .await;
    assert_eq!(
        seqs(store.events_after(0, 10).await.unwrap()),
        vec![5, 6, 7]
    );
}

/// Session `h1` of operator `ops`, subscribed to the events after `after`.
async fn subscribed_session(store: &dyn Store, after: i64) {
    write(store, move |tx| {
        tx.upsert_admin(&Admin {
            username: "ops".into(),
            password_hash: "$pw".into(),
            role: Role::Operator,
        })?;
        tx.insert_session(&crate::domain::AdminSession {
            token_hash: "h1".into(),
            username: "ops".into(),
            role: Role::Operator,
            created_at: Timestamp(0),
            expires_at: Timestamp(1_000_000),
            callback_url: Some("https://client.example/events".into()),
            peer: None,
            events_after: Some(after),
        })
    })
    .await;
}
