//! The phone service, walked by the phone simulator over real HTTP: log in with one profile,
//! with a pick of three, by extension; log out; change the PIN; the menu's single use; every
//! refusal's exact text; the PIN lockout, across two servers; an older release's database.

use std::time::Duration;

use hotdesk::domain::admin::AdminSettings;
use hotdesk::domain::pin::PinCheck;
use hotdesk::domain::{EventKind, Key};
use hotdesk::http::ServerOptions;

use crate::configservice::{method, session};
use crate::helpers::*;
use crate::phone_sim::{Field, Phone, Screen};

/// The service URL an administrator configures for Extension Mobility.
pub const SERVICE: &str = "/emapp/EMAppServlet?device=#DEVICENAME#";
const SERVICE_DN: &str = "/emapp/EMAppServlet?device=#DEVICENAME#&loginType=DN";
const CHANGE_PIN: &str = "/changecredential/ChangeCredentialServlet?device=#DEVICENAME#";

const DESK: &str = "SEP003094C25B15";
const OTHER_DESK: &str = "SEP402CF4915265";

const PEOPLE: &str = r#"
[[profiles]]
name = "TRI-A"
description = "Desk, 3rd floor"

[[profiles]]
name = "TRI-B"
description = "Reception"

[[profiles]]
name = "TRI-C"

[[users]]
id = "tri"
name = "Tri Three"
pin = "2580"
extension = "4001"
profiles = ["TRI-A", "TRI-B", "TRI-C"]

[[users]]
id = "twin1"
pin = "1111"
extension = "5000"
profiles = ["UserDevProf"]

[[users]]
id = "twin2"
pin = "2222"
extension = "5000"
profiles = ["UserDevProf"]

[[users]]
id = "nopin"
profiles = ["UserDevProf"]

[[devices]]
name = "SEPNOEM000001"
em_enabled = false
"#;

async fn people() -> TestApp {
    spawn_app_with(PEOPLE).await
}

fn phone(app: &TestApp, device: &str) -> Phone {
    Phone::new(&app.client, &app.base, SERVICE, device)
}

/// Open the service and submit `id` and `pin` in the login form.
async fn log_in(phone: &mut Phone, id: &str, pin: &str) {
    phone.open_service().await;
    phone.submit(&[("User ID", id), ("PIN", pin)]).await;
}

async fn who_is_on(app: &TestApp, device: &str) -> String {
    app.em(&device_query(device)).await
}

fn field(display_name: &str, param: &str, flags: &str) -> Field {
    Field {
        display_name: display_name.into(),
        param: param.into(),
        default_value: String::new(),
        flags: flags.into(),
    }
}

#[tokio::test]
async fn a_user_with_one_profile_logs_in_and_out_at_the_phone() {
    let app = people().await;
    let mut desk = phone(&app, DESK);
    let Screen::Input {
        title,
        prompt,
        fields,
        ..
    } = desk.open_service().await.clone()
    else {
        panic!("{:?}", desk.screen)
    };
    assert_eq!(
        (title.as_str(), prompt.as_str()),
        ("Extension Mobility", "Enter your user ID and PIN")
    );
    assert_eq!(
        fields,
        vec![field("User ID", "userid", "A"), field("PIN", "pin", "NP")]
    );
    desk.submit(&[("User ID", "one"), ("PIN", "12345")]).await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
    assert_eq!(desk.soft_keys(), vec!["Logout", "Exit"]);

    // A login like any other: in the EM queries, in the admin API, with its event.
    assert!(who_is_on(&app, DESK).await.contains("<userID>one</userID>"));
    let cookie = session(&app, "admin", "change-me").await;
    let logins = method(&app, &cookie, "listLogins", "").await;
    assert!(
        logins.body.contains(
            "<device>SEP003094C25B15</device><user>one</user><profile>UserDevProf</profile><app>phone</app>"
        ),
        "{}",
        logins.body
    );
    let login = app
        .events()
        .await
        .into_iter()
        .rfind(|e| e.event.kind == EventKind::Login)
        .unwrap()
        .event;
    assert_eq!(
        (
            login.actor.as_deref(),
            login.user.as_deref(),
            login.device.as_deref()
        ),
        (Some("phone"), Some("one"), Some(DESK))
    );

    // Opening the service again shows who is logged in; Logout ends it.
    desk.open_service().await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
    desk.press("Logout").await;
    assert_eq!(desk.text(), "one is logged out");
    assert_eq!(
        who_is_on(&app, DESK).await,
        doc(
            "<deviceUserResults><device name=\"SEP003094C25B15\"><none/><lastlogin>one</lastlogin><emccDevice>no</emccDevice></device></deviceUserResults>"
        )
    );
    let history = method(&app, &cookie, "loginHistory", "<user>one</user>").await;
    assert!(
        history.body.contains("<kind>logout</kind>")
            && history.body.contains("<actor>phone</actor>"),
        "{}",
        history.body
    );
    // The next person finds the last user filled in ("Remember the Last User Logged In").
    let Screen::Input { fields, .. } = desk.open_service().await.clone() else {
        panic!()
    };
    assert_eq!(fields[0].default_value, "one");
}

#[tokio::test]
async fn a_user_with_three_profiles_picks_the_second() {
    let app = people().await;
    let mut desk = phone(&app, DESK);
    log_in(&mut desk, "Tri", "2580").await;
    let Some(Screen::Menu {
        title,
        prompt,
        items,
    }) = desk.screen.clone()
    else {
        panic!("{:?}", desk.screen)
    };
    assert_eq!(
        (title.as_str(), prompt.as_str()),
        ("Choose a profile", "Log in tri with")
    );
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, vec!["Desk, 3rd floor", "Reception", "TRI-C"]);
    desk.pick(2).await;
    assert_eq!(desk.text(), "Tri Three (tri) is logged in\nProfile: TRI-B");
    let state = app
        .store
        .device_state(&Key::of(DESK), T0)
        .await
        .unwrap()
        .unwrap();
    let login = state.login.unwrap();
    assert_eq!(
        (
            login.user.as_str(),
            login.profile.as_str(),
            login.app.as_str()
        ),
        ("tri", "TRI-B", "phone")
    );
    desk.press("Logout").await;
    assert_eq!(desk.text(), "tri is logged out");
}

#[tokio::test]
async fn a_user_logs_in_by_extension() {
    let app = people().await;
    let mut desk = Phone::new(&app.client, &app.base, SERVICE_DN, DESK);
    let Screen::Input { prompt, fields, .. } = desk.open_service().await.clone() else {
        panic!()
    };
    assert_eq!(prompt, "Enter extension and PIN");
    assert_eq!(
        fields,
        vec![field("Extension", "userid", "T"), field("PIN", "pin", "NP")]
    );
    desk.submit(&[("Extension", "3001"), ("PIN", "12345")])
        .await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
    desk.press("Logout").await;
    assert_eq!(desk.text(), "one is logged out");
    // A user with several profiles gets the menu by extension too.
    desk.open_service().await;
    desk.submit(&[("Extension", "4001"), ("PIN", "2580")]).await;
    desk.pick(1).await;
    assert_eq!(desk.text(), "Tri Three (tri) is logged in\nProfile: TRI-A");
}

#[tokio::test]
async fn a_changed_pin_is_the_one_that_logs_in() {
    let app = people().await;
    let mut desk = Phone::new(&app.client, &app.base, CHANGE_PIN, DESK);
    let Screen::Input { title, fields, .. } = desk.open_service().await.clone() else {
        panic!()
    };
    assert_eq!(title, "Change PIN");
    let shown: Vec<(&str, &str)> = fields
        .iter()
        .map(|f| (f.display_name.as_str(), f.flags.as_str()))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("User ID", "A"),
            ("Old PIN", "NP"),
            ("New PIN", "NP"),
            ("New PIN again", "NP")
        ]
    );
    let change = |old: &'static str, new: &'static str, again: &'static str| {
        [
            ("User ID", "one"),
            ("Old PIN", old),
            ("New PIN", new),
            ("New PIN again", again),
        ]
    };
    // What is refused, and why, before the old PIN is even tried.
    for (fields, text) in [
        (
            change("12345", "2468", "2469"),
            "The new PINs differ: try again",
        ),
        (change("12345", "246", "246"), "A PIN has at least 4 digits"),
        (change("12345", "24a8", "24a8"), "A PIN is 1 to 16 digits"),
        (
            change("12345", "12345", "12345"),
            "The new PIN is the old one",
        ),
        (
            change("00000", "2468", "2468"),
            "Please try to login again (201)",
        ),
        (
            change("", "2468", "2468"),
            "Please try to login again (202)",
        ),
    ] {
        desk.open_service().await;
        desk.submit(&fields).await;
        assert_eq!(desk.text(), text);
        assert_eq!(desk.soft_keys(), vec!["Retry", "Exit"]);
    }
    desk.press("Retry").await;
    desk.submit(&change("12345", "246813", "246813")).await;
    assert_eq!(desk.text(), "The PIN of one is changed");
    let event = app.events().await.pop().unwrap().event;
    assert_eq!(
        (event.kind, event.actor.as_deref(), event.user.as_deref()),
        (EventKind::ConfigChange, Some("phone"), Some("one"))
    );

    let mut login = phone(&app, DESK);
    log_in(&mut login, "one", "12345").await;
    assert_eq!(login.text(), "Please try to login again (201)");
    log_in(&mut login, "one", "246813").await;
    assert_eq!(login.text(), "one is logged in\nProfile: UserDevProf");

    // The policy's minimum applies to the next change.
    app.import("[policy]\nmin_pin_length = 8\n").await;
    desk.open_service().await;
    desk.submit(&change("246813", "1357", "1357")).await;
    assert_eq!(desk.text(), "A PIN has at least 8 digits");
}

#[tokio::test]
async fn a_menu_works_once_for_two_minutes_on_its_own_phone() {
    let app = people().await;
    let mut desk = phone(&app, DESK);

    // Following one item uses up the whole menu.
    log_in(&mut desk, "tri", "2580").await;
    let first = desk.menu_item(1);
    desk.pick(2).await;
    assert_eq!(desk.text(), "Tri Three (tri) is logged in\nProfile: TRI-B");
    desk.press("Logout").await;
    desk.open(&first.url).await;
    assert_eq!(desk.text(), "Please try to login again (201)");
    assert!(
        who_is_on(&app, DESK).await.contains("<none/><lastlogin>"),
        "the used menu logged nobody in"
    );

    // Another phone cannot use it, and trying does not use it up for its own phone.
    log_in(&mut desk, "tri", "2580").await;
    let item = desk.menu_item(3);
    let elsewhere = item.url.replace(DESK, OTHER_DESK);
    assert_ne!(elsewhere, item.url);
    let mut other = phone(&app, OTHER_DESK);
    other.open(&elsewhere).await;
    assert_eq!(other.text(), "Please try to login again (201)");
    assert!(who_is_on(&app, OTHER_DESK).await.contains("<none/><none/>"));
    app.clock.advance(Duration::from_secs(119));
    desk.pick(3).await;
    assert_eq!(desk.text(), "Tri Three (tri) is logged in\nProfile: TRI-C");
    desk.press("Logout").await;

    // Two minutes after it was shown, a menu is dead.
    log_in(&mut desk, "tri", "2580").await;
    app.clock.advance(Duration::from_secs(120));
    desk.pick(1).await;
    assert_eq!(desk.text(), "Please try to login again (201)");
    assert!(who_is_on(&app, DESK).await.contains("<none/>"));
}

/// Each refusal as the phone shows it, with the code in parentheses.
#[tokio::test]
async fn every_refusal_shows_its_code() {
    let app = &people().await;
    let get = |path: String| async move {
        let mut p = Phone::new(&app.client, &app.base, "", "");
        p.open(&format!("{}{path}", app.base)).await;
        p.text().to_string()
    };
    let submit = |device: &'static str, id: &'static str, pin: &'static str| async move {
        let mut p = phone(app, device);
        log_in(&mut p, id, pin).await;
        p.text().to_string()
    };
    assert_eq!(
        submit(DESK, "one", "99999").await,
        "Please try to login again (201)"
    );
    assert_eq!(
        submit(DESK, "nopin", "1234").await,
        "Please try to login again (201)",
        "a user without a PIN cannot log in at a phone"
    );
    assert_eq!(
        submit(DESK, "one", "").await,
        "Please try to login again (202)"
    );
    assert_eq!(
        submit(DESK, "  ", "12345").await,
        "Please try to login again (202)"
    );
    assert_eq!(
        get("/emapp/EMAppServlet".into()).await,
        "Device name empty (207)"
    );
    assert_eq!(
        get("/emapp/EMAppServlet?device=&action=login&userid=one&pin=12345".into()).await,
        "Device name empty (207)"
    );
    assert_eq!(
        get(format!("/emapp/EMAppServlet?device={DESK}&loginType=SP")).await,
        "LoginType invalid (215)"
    );
    assert_eq!(
        get(format!(
            "/emapp/EMAppServlet?device={DESK}&loginType=DN&action=login&userid=5000&pin=1111"
        ))
        .await,
        "DN has multiple users (216)"
    );
    assert_eq!(
        get("/emapp/EMAppServlet?device=SEPNOSUCH0001".into()).await,
        "Device does not exist (11)"
    );
    assert_eq!(
        get("/emapp/EMAppServlet?device=SEPNOEM000001".into()).await,
        "Login is disabled on this phone (22)"
    );
    assert_eq!(submit(DESK, "nobody", "1234").await, "User not found (23)");
    assert_eq!(
        get(format!(
            "/emapp/EMAppServlet?device={DESK}&loginType=DN&action=login&userid=9999&pin=1111"
        ))
        .await,
        "User not found (23)"
    );

    // 18: a login application put someone on the phone after the form was shown.
    let mut desk = phone(app, DESK);
    desk.open_service().await;
    assert_eq!(app.em(&login_xml(DESK, "john", "")).await, success());
    desk.submit(&[("User ID", "one"), ("PIN", "12345")]).await;
    assert_eq!(desk.text(), "Another user is logged in (18)");
    assert_eq!(desk.soft_keys(), vec!["Retry", "Exit"]);
    // The Retry key leads back to the service, which now shows who is there.
    desk.press("Retry").await;
    assert_eq!(
        desk.text(),
        "John Doe (john) is logged in\nProfile: DPJOHNIPC"
    );

    // 25: logged in elsewhere, and the policy allows one phone per user.
    assert_eq!(
        submit(OTHER_DESK, "john", "12345").await,
        "Logged in on another phone (25)"
    );
}

#[tokio::test]
async fn the_sixth_pin_is_refused_for_fifteen_minutes_even_when_right() {
    let app = people().await;
    let mut desk = phone(&app, DESK);
    for _ in 0..5 {
        log_in(&mut desk, "one", "11111").await;
        assert_eq!(desk.text(), "Please try to login again (201)");
    }
    log_in(&mut desk, "one", "12345").await;
    assert_eq!(desk.text(), "Please try to login again (201)");
    let lockout = app.events().await.pop().unwrap().event;
    assert_eq!(
        (
            lockout.kind,
            lockout.user.as_deref(),
            lockout.device.as_deref()
        ),
        (EventKind::PinLockout, Some("one"), Some(DESK))
    );
    // Every node agrees: the store holds the count.
    let other = app.another_server().await;
    let mut there = Phone::new(&app.client, &other, SERVICE, OTHER_DESK);
    log_in(&mut there, "one", "12345").await;
    assert_eq!(there.text(), "Please try to login again (201)");
    // Others are not locked, and the EM API is not affected.
    log_in(&mut there, "tri", "2580").await;
    assert!(matches!(there.screen, Some(Screen::Menu { .. })));
    assert_eq!(app.em(&login_xml(OTHER_DESK, "one", "")).await, success());
    assert_eq!(app.em(&logout_xml(OTHER_DESK)).await, success());

    app.clock.advance(Duration::from_secs(14 * 60 + 59));
    log_in(&mut desk, "one", "12345").await;
    assert_eq!(desk.text(), "Please try to login again (201)");
    app.clock.advance(Duration::from_secs(1));
    log_in(&mut there, "one", "12345").await;
    assert_eq!(there.text(), "one is logged in\nProfile: UserDevProf");
}

#[tokio::test]
async fn a_right_pin_forgets_the_wrong_ones_before_it() {
    let app = people().await;
    let mut desk = phone(&app, DESK);
    for _ in 0..4 {
        log_in(&mut desk, "one", "11111").await;
    }
    log_in(&mut desk, "one", "12345").await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
    desk.press("Logout").await;
    for _ in 0..4 {
        log_in(&mut desk, "one", "11111").await;
    }
    log_in(&mut desk, "one", "12345").await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
}

#[tokio::test]
async fn an_administrator_setting_a_pin_ends_its_lockout() {
    let app = people().await;
    let mut desk = phone(&app, DESK);
    for _ in 0..5 {
        log_in(&mut desk, "one", "11111").await;
    }
    let cookie = session(&app, "admin", "change-me").await;
    let set = method(
        &app,
        &cookie,
        "updateUser",
        "<user><id>one</id><pin>97531</pin><extension>3002</extension></user>",
    )
    .await;
    assert_eq!(set.code(), None, "{}", set.body);
    assert!(
        set.body.contains("<extension>3002</extension>"),
        "{}",
        set.body
    );
    assert!(!set.body.contains("97531"), "{}", set.body);
    log_in(&mut desk, "one", "97531").await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
    // A PIN no phone can type is refused.
    let bad = method(
        &app,
        &cookie,
        "updateUser",
        "<user><id>one</id><pin>12ab</pin></user>",
    )
    .await;
    assert_eq!(bad.code(), Some(1003), "{}", bad.body);
}

#[tokio::test]
async fn a_logout_key_left_from_an_earlier_user_ends_nobody_else() {
    let app = people().await;
    let mut desk = phone(&app, DESK);
    log_in(&mut desk, "one", "12345").await;
    let Some(Screen::Text { soft_keys, .. }) = desk.screen.clone() else {
        panic!()
    };
    let stale_logout = soft_keys[0].url.clone();
    desk.press("Logout").await;
    log_in(&mut desk, "john", "12345").await;
    desk.pick(1).await;
    assert_eq!(
        desk.text(),
        "John Doe (john) is logged in\nProfile: DPJOHNIPC"
    );
    desk.open(&stale_logout).await;
    assert_eq!(desk.text(), "No user is logged in (19)");
    assert!(
        who_is_on(&app, DESK)
            .await
            .contains("<userID>john</userID>")
    );
}

#[tokio::test]
async fn with_the_phone_service_off_every_screen_says_so() {
    let app = spawn_app_with("[policy]\nphone_service = false\n").await;
    let mut desk = phone(&app, DESK);
    desk.open_service().await;
    assert_eq!(desk.text(), "Extension Mobility at the phone is turned off");
    assert_eq!(desk.soft_keys(), vec!["Exit"]);
    desk.open(&format!(
        "{}/emapp/EMAppServlet?device={DESK}&action=login&userid=one&pin=12345",
        app.base
    ))
    .await;
    assert_eq!(desk.text(), "Extension Mobility at the phone is turned off");
    assert!(who_is_on(&app, DESK).await.contains("<none/>"));
    // The EM API still works.
    assert_eq!(app.em(&login_xml(DESK, "one", "")).await, success());
}

#[tokio::test]
async fn urls_follow_the_public_url_else_the_host_the_phone_asked_for() {
    let app = spawn_app_with_options(
        "",
        ServerOptions {
            public_url: Some("https://em.example.com:8443/".into()),
            ..ServerOptions::from(AdminSettings::default())
        },
    )
    .await;
    let mut desk = phone(&app, DESK);
    let Screen::Input { url, .. } = desk.open_service().await.clone() else {
        panic!()
    };
    assert_eq!(
        url,
        "https://em.example.com:8443/emapp/EMAppServlet?device=SEP003094C25B15&loginType=UID&action=login"
    );
    let plain = spawn_app().await;
    let answer = plain
        .client
        .get(format!("{}/emapp/EMAppServlet?device={DESK}", plain.base))
        .header("Host", "phones.example:8080")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        answer.contains(
            "<URL>http://phones.example:8080/emapp/EMAppServlet?device=SEP003094C25B15&amp;loginType=UID&amp;action=login</URL>"
        ),
        "{answer}"
    );
    // A Host that is not a plain host name is not copied into URLs.
    let answer = plain
        .client
        .get(format!("{}/emapp/EMAppServlet?device={DESK}", plain.base))
        .header("Host", "evil.example/<x>")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        answer.contains(&format!("<URL>{}/emapp/", plain.base)),
        "{answer}"
    );
}

#[tokio::test]
async fn the_phone_service_works_over_https() {
    let app = spawn_app_with_options(PEOPLE, tls_options()).await;
    assert!(app.base.starts_with("https://"));
    let mut desk = phone(&app, DESK);
    log_in(&mut desk, "tri", "2580").await;
    assert!(desk.menu_item(1).url.starts_with(&app.base));
    desk.pick(1).await;
    assert_eq!(desk.text(), "Tri Three (tri) is logged in\nProfile: TRI-A");
    desk.press("Logout").await;
    assert_eq!(desk.text(), "tri is logged out");
    assert!(
        desk.urls_received
            .iter()
            .all(|u| u.starts_with("https://") || u == "SoftKey:Exit")
    );
}

/// PINs the previous release stored (argon2, before the secret key) still log their users in,
/// and are rewritten under the key at that first use.
#[tokio::test]
async fn a_database_of_the_previous_release_still_logs_its_users_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("release-0.1.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/release-0.1.db"),
        &db,
    )
    .unwrap();
    let app = spawn_app_on(
        &format!("sqlite://{}", db.display()),
        ServerOptions::default(),
    )
    .await;
    let before = app.store.user(&Key::of("anna")).await.unwrap().unwrap();
    assert!(
        before
            .pin_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$")
    );

    let mut desk = phone(&app, "SEPOLD000001");
    log_in(&mut desk, "anna", "2468").await;
    assert_eq!(
        desk.text(),
        "Anna Old-Release (anna) is logged in\nProfile: ANNA-DESK"
    );
    let after = app.store.user(&Key::of("anna")).await.unwrap().unwrap();
    let rewritten = after.pin_hash.unwrap();
    assert_eq!(
        app.options
            .pin_key
            .check(&Key::of("anna"), "2468", &rewritten),
        PinCheck::Right
    );
    assert!(rewritten.starts_with("$hmac-sha256$"), "{rewritten}");
    desk.press("Logout").await;
    // Still right after the rewrite; a wrong one is still wrong; the other user too.
    log_in(&mut desk, "anna", "2468").await;
    assert!(
        desk.text()
            .starts_with("Anna Old-Release (anna) is logged in")
    );
    desk.press("Logout").await;
    log_in(&mut desk, "ben", "13578").await;
    assert_eq!(desk.text(), "Please try to login again (201)");
    log_in(&mut desk, "ben", "13579").await;
    assert!(matches!(desk.screen, Some(Screen::Menu { ref items, .. }) if items.len() == 2));
    // The release's application user still works on the EM API.
    let kiosk =
        "<appInfo><appID>kiosk</appID><appCertificate>kiosk-secret</appCertificate></appInfo>";
    assert!(
        app.em(&format!(
            "<query>{kiosk}<deviceUserQuery><deviceName>SEPOLD000001</deviceName></deviceUserQuery></query>"
        ))
        .await
        .contains("<device name=\"SEPOLD000001\">")
    );
}

#[tokio::test]
async fn the_em_rules_of_the_policy_apply_at_the_phone_too() {
    let app = spawn_app_with(
        "[[users]]\nid = \"lost\"\npin = \"4444\"\n\n\
         [policy]\nvalidate_ip = true\ntrusted_ips = [\"10.9.9.9\"]\n",
    )
    .await;
    let mut desk = phone(&app, DESK);
    desk.open_service().await;
    assert_eq!(desk.text(), "Untrusted IP address (28)");
    // From an untrusted address no PIN is even tried: right or wrong, the answer is 28, and
    // wrong ones lock nobody.
    for pin in [
        "11111", "22222", "33333", "44444", "55555", "66666", "12345",
    ] {
        desk.open(&format!(
            "{}/emapp/EMAppServlet?device={DESK}&action=login&userid=one&pin={pin}",
            app.base
        ))
        .await;
        assert_eq!(desk.text(), "Untrusted IP address (28)");
    }
    let mut change = Phone::new(&app.client, &app.base, CHANGE_PIN, DESK);
    change.open_service().await;
    assert_eq!(change.text(), "Untrusted IP address (28)");
    app.import("[policy]\nvalidate_ip = false\n").await;
    log_in(&mut desk, "one", "12345").await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
    desk.press("Logout").await;
    log_in(&mut desk, "lost", "4444").await;
    assert_eq!(desk.text(), "Device profile not found (12)");
    // One phone per user, auto-logout: the phone login ends the other, as any login does.
    app.import("[policy]\nmultiple_login = \"auto-logout\"\n")
        .await;
    assert_eq!(app.em(&login_xml(OTHER_DESK, "one", "")).await, success());
    log_in(&mut desk, "one", "12345").await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
    assert!(
        who_is_on(&app, OTHER_DESK)
            .await
            .contains("<none/><lastlogin>one</lastlogin>")
    );
}

/// The PIN crosses the network once, in the phone's own submit. It is in no URL the service
/// sends, no log line (at debug level), and no row of the database.
#[tokio::test(flavor = "multi_thread")]
async fn the_pin_is_in_no_url_no_log_line_and_no_row() {
    const FIRST: &str = "73914682";
    const WRONG: &str = "46172039";
    const NEW: &str = "58206491";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotdesk.db");
    let file = dir.path().join("people.toml");
    std::fs::write(
        &file,
        format!(
            "{}\n[[users]]\nid = \"pat\"\npin = \"{FIRST}\"\nprofiles = [\"UserDevProf\", \"DPJOHNIPC\"]\n",
            hotdesk::domain::directory::DEMO
        ),
    )
    .unwrap();
    let url = format!("sqlite://{}", db.display());
    crate::process::run_ok(&["import", file.to_str().unwrap(), "--database", &url], &[]);
    std::fs::remove_file(&file).unwrap();
    let server = crate::process::start_logging(&url, T0.0, &[], "debug");

    let mut desk = Phone::new(&server.client, &server.base, SERVICE, DESK);
    log_in(&mut desk, "pat", WRONG).await;
    assert_eq!(desk.text(), "Please try to login again (201)");
    log_in(&mut desk, "pat", FIRST).await;
    desk.pick(2).await;
    assert_eq!(desk.text(), "pat is logged in\nProfile: DPJOHNIPC");
    desk.press("Logout").await;
    let mut change = Phone::new(&server.client, &server.base, CHANGE_PIN, DESK);
    change.open_service().await;
    change
        .submit(&[
            ("User ID", "pat"),
            ("Old PIN", FIRST),
            ("New PIN", NEW),
            ("New PIN again", NEW),
        ])
        .await;
    assert_eq!(change.text(), "The PIN of pat is changed");
    log_in(&mut desk, "pat", NEW).await;
    assert!(matches!(desk.screen, Some(Screen::Menu { .. })));

    let urls: Vec<&String> = desk
        .urls_received
        .iter()
        .chain(&change.urls_received)
        .collect();
    assert!(urls.len() > 10, "{urls:?}");
    let log = server.terminate_and_read_log();
    assert!(
        log.contains("path=\"/emapp/EMAppServlet\""),
        "the log is the server's: {log}"
    );
    for pin in [FIRST, WRONG, NEW] {
        for url in &urls {
            assert!(!url.contains(pin), "{pin} in {url}");
        }
        assert!(!log.contains(pin), "{pin} in the log:\n{log}");
    }

    // Every value of every row, but the hashes that stand for secrets.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let is_hash = |v: &str| {
        v.starts_with("$hmac-sha256$")
            || v.starts_with("$argon2id$")
            || (v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut values = 0;
    for table in tables {
        let mut st = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = st.column_count();
        let mut rows = st.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let text = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    rusqlite::types::ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => continue,
                };
                values += 1;
                if is_hash(&text) {
                    continue;
                }
                for pin in [FIRST, WRONG, NEW] {
                    assert!(!text.contains(pin), "{pin} in {table}: {text}");
                }
            }
        }
    }
    assert!(values > 100, "{values} values read");
}

#[tokio::test]
async fn the_admin_api_sets_the_phone_policy() {
    let app = people().await;
    let cookie = session(&app, "admin", "change-me").await;
    let got = method(&app, &cookie, "getPolicy", "").await;
    assert!(
        got.body
            .contains("<minPinLength>4</minPinLength><phoneService>true</phoneService>"),
        "{}",
        got.body
    );
    let bad = method(
        &app,
        &cookie,
        "setPolicy",
        "<policy><minPinLength>17</minPinLength></policy>",
    )
    .await;
    assert_eq!(bad.code(), Some(1003), "{}", bad.body);
    let off = method(
        &app,
        &cookie,
        "setPolicy",
        "<policy><phoneService>false</phoneService><minPinLength>6</minPinLength></policy>",
    )
    .await;
    assert_eq!(off.code(), None, "{}", off.body);
    let mut desk = phone(&app, DESK);
    desk.open_service().await;
    assert_eq!(desk.text(), "Extension Mobility at the phone is turned off");
    let user = method(&app, &cookie, "getUser", "<id>tri</id>").await;
    assert!(
        user.body.contains("<extension>4001</extension>"),
        "{}",
        user.body
    );
}

#[tokio::test]
async fn a_new_menu_ends_the_phones_earlier_one() {
    let app = people().await;
    let mut desk = phone(&app, DESK);
    log_in(&mut desk, "tri", "2580").await;
    let earlier = desk.menu_item(2);
    // Somebody else (or the same person again) logs in at the same phone.
    log_in(&mut desk, "john", "12345").await;
    let later = desk.menu_item(1);
    desk.open(&earlier.url).await;
    assert_eq!(desk.text(), "Please try to login again (201)");
    desk.open(&later.url).await;
    assert_eq!(
        desk.text(),
        "John Doe (john) is logged in\nProfile: DPJOHNIPC"
    );
}

#[tokio::test]
async fn a_screen_that_cannot_fit_a_phone_says_so() {
    let long = format!("SEP{}", "A".repeat(300));
    let app = spawn_app_with(&format!("[[devices]]\nname = \"{long}\"\n")).await;
    let mut desk = phone(&app, &long);
    desk.open_service().await;
    assert_eq!(desk.text(), hotdesk_proto::phone::DOES_NOT_FIT);
}

#[tokio::test]
async fn a_logout_by_extension_leads_back_to_the_extension_form() {
    let app = people().await;
    let mut desk = Phone::new(&app.client, &app.base, SERVICE_DN, DESK);
    desk.open_service().await;
    desk.submit(&[("Extension", "3001"), ("PIN", "12345")])
        .await;
    desk.press("Logout").await;
    assert_eq!(desk.text(), "one is logged out");
    let Screen::Input { fields, .. } = desk.press("Login").await.clone() else {
        panic!("{:?}", desk.screen)
    };
    assert_eq!(fields[0].display_name, "Extension");
}

/// A guesser trying one PIN on many users is not slowed by any user's lockout: its address is.
#[tokio::test]
async fn an_address_that_fails_too_often_is_refused_for_a_minute() {
    let app = spawn_app_with_options(PEOPLE, behind_a_proxy()).await;
    let (sprayer, neighbour) = (client_at("10.1.2.3"), client_at("10.1.2.4"));
    let mut desk = Phone::new(&sprayer, &app.base, SERVICE, DESK);
    for i in 0..hotdesk::domain::phone::MAX_FAILURES_PER_ADDRESS {
        // Unknown users and wrong PINs, one each per user: no user's lockout is reached.
        let (id, pin) = if i % 2 == 0 {
            (format!("nobody{i}"), "1234")
        } else {
            (
                ["one", "tri", "twin1", "john"][(i as usize / 2) % 4].to_string(),
                "0000",
            )
        };
        log_in(&mut desk, &id, pin).await;
        assert_ne!(desk.text(), "one is logged in\nProfile: UserDevProf");
    }
    log_in(&mut desk, "one", "12345").await;
    assert_eq!(
        desk.text(),
        "Please try to login again (201)",
        "the address is refused"
    );
    let mut next_desk = Phone::new(&neighbour, &app.base, SERVICE, OTHER_DESK);
    log_in(&mut next_desk, "one", "12345").await;
    assert_eq!(next_desk.text(), "one is logged in\nProfile: UserDevProf");
    next_desk.press("Logout").await;
    app.clock.advance(Duration::from_secs(60));
    log_in(&mut desk, "one", "12345").await;
    assert_eq!(desk.text(), "one is logged in\nProfile: UserDevProf");
}
