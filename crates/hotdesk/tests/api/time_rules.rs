//! Deadlines, with the injected clock: time passes when the test says so.

use std::time::Duration;

use crate::helpers::*;

const MINUTE: Duration = Duration::from_secs(60);

fn timed(minutes: u32) -> String {
    format!("<exclusiveDuration><time>{minutes}</time></exclusiveDuration>")
}

async fn logged_in(app: &TestApp, device: &str) -> bool {
    app.em(&device_query(device)).await.contains("<userID>")
}

/// Wait (bounded) for the scheduler task to record `count` auto-logouts. This waits for a
/// task to run, not for time to pass: the clock has already moved.
async fn auto_logouts(app: &TestApp, count: usize) -> Vec<hotdesk::domain::Event> {
    for _ in 0..500 {
        let found: Vec<_> = app
            .events()
            .await
            .into_iter()
            .filter(|e| e.event.kind.as_str() == "autoLogout")
            .collect();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the scheduler did not record {count} auto-logouts");
}

#[tokio::test]
async fn a_one_minute_login_ends_when_the_clock_passes_a_minute() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", &timed(1)))
            .await,
        success()
    );
    app.clock.advance(Duration::from_secs(59));
    assert!(logged_in(&app, "SEP003094C25B15").await);
    app.clock.advance(Duration::from_secs(2));
    assert!(
        !logged_in(&app, "SEP003094C25B15").await,
        "a due login is over even before the scheduler runs"
    );
    let ended = auto_logouts(&app, 1).await;
    assert_eq!(ended[0].event.device.as_deref(), Some("SEP003094C25B15"));
    assert_eq!(ended[0].event.actor.as_deref(), Some("scheduler"));
    assert_eq!(ended[0].event.at, T0.plus(Duration::from_secs(61)));
    assert!(
        app.em(&device_query("SEP003094C25B15"))
            .await
            .contains("<lastlogin>john</lastlogin>")
    );
    // The device is free for the next user.
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "one", "")).await,
        success()
    );
}

#[tokio::test]
async fn indefinite_logins_stay() {
    let app = spawn_app().await;
    let xml = login_xml(
        "SEP003094C25B15",
        "john",
        "<exclusiveDuration><indefinite/></exclusiveDuration>",
    );
    assert_eq!(app.em(&xml).await, success());
    app.clock.advance(MINUTE * 60 * 24 * 365);
    assert!(logged_in(&app, "SEP003094C25B15").await);
}

#[tokio::test]
async fn the_users_maximum_caps_the_login() {
    let app = spawn_app_with(
        "[[users]]\nid = \"short\"\nprofiles = [\"UserDevProf\"]\nmax_login_minutes = 30\n",
    )
    .await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "short", &timed(120)))
            .await,
        success()
    );
    app.clock.advance(MINUTE * 29);
    assert!(logged_in(&app, "SEP003094C25B15").await);
    app.clock.advance(MINUTE);
    assert!(!logged_in(&app, "SEP003094C25B15").await);
    auto_logouts(&app, 1).await;
}

#[tokio::test]
async fn the_policy_maximum_applies_only_when_enforced() {
    let app = spawn_app_with("[policy]\nmax_login_minutes = 10\nenforce_max_login = false\n").await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    app.clock.advance(MINUTE * 11);
    assert!(
        logged_in(&app, "SEP003094C25B15").await,
        "not enforced: no limit"
    );

    app.import("[policy]\nmax_login_minutes = 10\nenforce_max_login = true\n")
        .await;
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "em", &timed(60)))
            .await,
        success()
    );
    app.clock.advance(MINUTE * 9);
    assert!(logged_in(&app, "SEP402CF4915265").await);
    app.clock.advance(MINUTE);
    assert!(!logged_in(&app, "SEP402CF4915265").await);
    auto_logouts(&app, 1).await;
}

#[tokio::test]
async fn the_scheduler_ends_logins_in_deadline_order() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", &timed(5)))
            .await,
        success()
    );
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "em", &timed(2))).await,
        success()
    );
    app.clock.advance(MINUTE * 3);
    let first = auto_logouts(&app, 1).await;
    assert_eq!(first[0].event.device.as_deref(), Some("SEP402CF4915265"));
    assert!(logged_in(&app, "SEP003094C25B15").await);
    app.clock.advance(MINUTE * 3);
    let both = auto_logouts(&app, 2).await;
    assert_eq!(both[1].event.device.as_deref(), Some("SEP003094C25B15"));
}
