//! `/nbi/configservice/*`: roles, who is logged in where, history, forced logout, the policy.

use crate::helpers::*;
use crate::nbi_session::{Answer, call, login_body};
use std::time::{Duration, UNIX_EPOCH};

/// An operator and an auditor beside the demo's admin.
pub const ACCOUNTS: &str = r#"
[[admins]]
username = "ops"
password = "ops-pw"
role = "operator"

[[admins]]
username = "audit"
password = "audit-pw"
role = "auditor"
"#;

pub async fn session(app: &TestApp, user: &str, password: &str) -> String {
    let answer = call(app, "/nbi/login", None, &login_body(user, password, "")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.cookie()
}

pub async fn method(app: &TestApp, cookie: &str, name: &str, args: &str) -> Answer {
    let body = format!(
        "<{name}Request><protVersion>1.0</protVersion><reqId>m</reqId>{args}</{name}Request>"
    );
    call(
        app,
        &format!("/nbi/configservice/{name}"),
        Some(cookie),
        &body,
    )
    .await
}

#[tokio::test]
async fn each_role_gets_what_it_may_and_code_1000_for_the_rest() {
    let app = spawn_app_with(ACCOUNTS).await;
    let cases = [
        ("admin", "change-me", [true, true, true]),
        ("ops", "ops-pw", [true, true, false]),
        ("audit", "audit-pw", [true, false, false]),
    ];
    for (user, password, [read, operate, administer]) in cases {
        let cookie = session(&app, user, password).await;
        assert_eq!(
            app.em(&login_xml("SEP003094C25B15", "john", "")).await,
            success()
        );
        let listed = method(&app, &cookie, "listLogins", "").await;
        assert_eq!(
            listed.code(),
            if read { None } else { Some(1000) },
            "{user} listLogins: {}",
            listed.body
        );
        let forced = method(
            &app,
            &cookie,
            "forceLogout",
            "<device>SEP003094C25B15</device>",
        )
        .await;
        assert_eq!(
            forced.code(),
            if operate { None } else { Some(1000) },
            "{user} forceLogout: {}",
            forced.body
        );
        let set = method(
            &app,
            &cookie,
            "setPolicy",
            "<policy><maxLoginMinutes>30</maxLoginMinutes></policy>",
        )
        .await;
        assert_eq!(
            set.code(),
            if administer { None } else { Some(1000) },
            "{user} setPolicy: {}",
            set.body
        );
        // Refused calls changed nothing; clean up for the next role.
        if !operate {
            assert!(
                app.em(&device_query("SEP003094C25B15"))
                    .await
                    .contains("<userID>john</userID>")
            );
            assert_eq!(app.em(&logout_xml("SEP003094C25B15")).await, success());
        }
    }
    // Only the admin's setPolicy took effect.
    let cookie = session(&app, "audit", "audit-pw").await;
    assert!(
        method(&app, &cookie, "getPolicy", "")
            .await
            .body
            .contains("<maxLoginMinutes>30</maxLoginMinutes>")
    );
}

#[tokio::test]
async fn list_logins_shows_who_is_where_with_filters_and_paging_fields() {
    let app = spawn_app().await;
    let cookie = session(&app, "admin", "change-me").await;
    let timed = "<exclusiveDuration><time>60</time></exclusiveDuration>";
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", timed)).await,
        success()
    );
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "em@cisco.com", ""))
            .await,
        success()
    );
    let all = method(&app, &cookie, "listLogins", "").await;
    assert_eq!(
        all.body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<listLoginsResponse><protVersion>1.0</protVersion><reqId>m</reqId>\
         <startIndex>0</startIndex><totalCount>2</totalCount>\
         <login><device>SEP003094C25B15</device><user>john</user><profile>DPJOHNIPC</profile><app>appid</app>\
         <loggedInAt>2026-01-05T08:00:00.000Z</loggedInAt><deadline>2026-01-05T09:00:00.000Z</deadline></login>\
         <login><device>SEP402CF4915265</device><user>em@cisco.com</user><profile>EM-SCCP-Profile-7970</profile><app>appid</app>\
         <loggedInAt>2026-01-05T08:00:00.000Z</loggedInAt></login></listLoginsResponse>"
    );
    let by_user = method(&app, &cookie, "listLogins", "<user>EM@cisco.com</user>").await;
    assert!(
        by_user.body.contains("<totalCount>1</totalCount>")
            && by_user.body.contains("SEP402CF4915265")
    );
    let by_device = method(
        &app,
        &cookie,
        "listLogins",
        "<device>sep003094c25b15</device>",
    )
    .await;
    assert!(
        by_device.body.contains("<user>john</user>") && !by_device.body.contains("em@cisco.com")
    );
    let both = method(
        &app,
        &cookie,
        "listLogins",
        "<device>x</device><user>y</user>",
    )
    .await;
    assert_eq!(both.code(), Some(1003));
}

/// A login may last u32::MAX minutes (year ~10192): listed, its deadline is the last instant
/// RFC 3339 can name, not a failure of the whole answer.
#[tokio::test]
async fn a_deadline_past_year_9999_is_listed() {
    let app = spawn_app().await;
    let cookie = session(&app, "admin", "change-me").await;
    let forever = "<exclusiveDuration><time>4294967295</time></exclusiveDuration>";
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", forever)).await,
        success()
    );
    let listed = method(&app, &cookie, "listLogins", "").await;
    assert!(
        listed
            .body
            .contains("<deadline>9999-12-31T23:59:59.999Z</deadline>"),
        "{}",
        listed.body
    );
}

#[tokio::test]
async fn a_forced_logout_ends_the_login_with_its_event() {
    let app = spawn_app().await;
    let cookie = session(&app, "admin", "change-me").await;
    app.import("[policy]\nmultiple_login = \"allowed\"\n").await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "john", "")).await,
        success()
    );
    let forced = method(&app, &cookie, "forceLogout", "<user>JOHN</user>").await;
    assert_eq!(forced.code(), None, "{}", forced.body);
    assert_eq!(forced.body.matches("<login>").count(), 2);
    assert!(
        app.em(&device_query("SEP003094C25B15"))
            .await
            .contains("<none/><lastlogin>john</lastlogin>")
    );
    let events: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.event.kind.as_str() == "logout")
        .map(|e| {
            (
                e.event.device.unwrap(),
                e.event.actor.unwrap(),
                e.event.detail.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (
                "SEP003094C25B15".into(),
                "admin".into(),
                "forced logout from 127.0.0.1".into()
            ),
            (
                "SEP402CF4915265".into(),
                "admin".into(),
                "forced logout from 127.0.0.1".into()
            )
        ]
    );
    let again = method(
        &app,
        &cookie,
        "forceLogout",
        "<device>SEP003094C25B15</device>",
    )
    .await;
    assert_eq!(again.code(), Some(1001));
    assert_eq!(
        method(&app, &cookie, "forceLogout", "").await.code(),
        Some(1003)
    );

    let history = method(&app, &cookie, "loginHistory", "<user>john</user>").await;
    let kinds: Vec<&str> = history
        .body
        .match_indices("<kind>")
        .map(|(i, _)| &history.body[i + 6..i + 12])
        .collect();
    assert_eq!(
        kinds,
        vec!["login<", "login<", "logout", "logout"],
        "{}",
        history.body
    );
    let page = method(
        &app,
        &cookie,
        "loginHistory",
        "<user>john</user><limit>1</limit>",
    )
    .await;
    assert_eq!(page.body.matches("<event>").count(), 1);
}

#[tokio::test]
async fn set_policy_takes_effect_for_the_em_api_at_once() {
    let app = spawn_app().await;
    let cookie = session(&app, "admin", "change-me").await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "john", "")).await,
        failure(25, "User logged in elsewhere")
    );
    let set = method(
        &app,
        &cookie,
        "setPolicy",
        "<policy><multipleLogin>allowed</multipleLogin></policy>",
    )
    .await;
    assert!(
        set.body.contains("<multipleLogin>allowed</multipleLogin>"),
        "{}",
        set.body
    );
    assert!(
        set.body
            .contains("<maxConcurrentRequests>64</maxConcurrentRequests>"),
        "untouched fields keep their value"
    );
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "john", "")).await,
        success()
    );
    for bad in [
        "<policy><multipleLogin>sometimes</multipleLogin></policy>",
        "<policy><maxLoginMinutes>-1</maxLoginMinutes></policy>",
        "<policy><validateIp>yes</validateIp></policy>",
        "<policy><trustedIps><trustedIp>10.0.0.300</trustedIp></trustedIps></policy>",
        "<policy><colour>red</colour></policy>",
    ] {
        assert_eq!(
            method(&app, &cookie, "setPolicy", bad).await.code(),
            Some(1003),
            "{bad}"
        );
    }
    assert_eq!(
        method(&app, &cookie, "setPolicy", "").await.code(),
        Some(15)
    );
}

#[tokio::test]
async fn service_info_unknown_methods_and_wrong_roots() {
    let app = spawn_app().await;
    let cookie = session(&app, "admin", "change-me").await;
    let info = call(&app, "/nbi/configservice/GetServiceInfo", Some(&cookie), "").await;
    assert!(info.body.contains("<GetServiceInfoResponse><protVersion>1.0</protVersion><serviceName>configservice</serviceName>"), "{}", info.body);
    assert_eq!(
        method(&app, &cookie, "makeCoffee", "").await.code(),
        Some(1004)
    );
    let wrong = call(
        &app,
        "/nbi/configservice/listLogins",
        Some(&cookie),
        "<getPolicyRequest/>",
    )
    .await;
    assert_eq!(wrong.code(), Some(15));
    let anonymous = call(&app, "/nbi/configservice/listLogins", None, "").await;
    assert_eq!((anonymous.status, anonymous.code()), (401, Some(4)));
}

/// A body lost on the way (a proxy, a script's empty variable) must not turn into "all": an
/// empty body is code 13 and does nothing, as in CSM; only the `getServiceInfo` probe needs none.
#[tokio::test]
async fn an_empty_body_is_code_13_and_acts_on_nothing() {
    let app = spawn_app().await;
    let login = app.em(&login_xml("SEP003094C25B15", "john", "")).await;
    assert!(login.contains("<success/>"), "{login}");
    let cookie = session(&app, "admin", "change-me").await;
    for name in [
        "listLogins",
        "listUsers",
        "forceLogout",
        "getPolicy",
        "createChangeSet",
    ] {
        for body in ["", " \r\n "] {
            let answer = call(
                &app,
                &format!("/nbi/configservice/{name}"),
                Some(&cookie),
                body,
            )
            .await;
            assert_eq!(
                (answer.status, answer.code()),
                (200, Some(13)),
                "{name}: {}",
                answer.body
            );
            assert!(
                answer.body.contains(&format!("\n<{name}Response>")),
                "{}",
                answer.body
            );
            assert!(!answer.body.contains("<login>") && !answer.body.contains("<user>"));
        }
    }
    let listed = method(&app, &cookie, "listLogins", "").await;
    assert!(
        listed.body.contains("<user>john</user>"),
        "still logged in: {}",
        listed.body
    );
    let info = call(&app, "/nbi/configservice/getServiceInfo", Some(&cookie), "").await;
    assert_eq!(info.code(), None, "{}", info.body);
}

/// `loginHistory` says how far it read (`<lastSeq>`), so a filter that matches nothing in a
/// long stretch of events pages on past it instead of answering an empty page for good; and
/// `<from>`/`<to>` pick a time range.
#[tokio::test]
async fn login_history_pages_on_past_a_long_stretch_and_reads_a_time_range() {
    use hotdesk::domain::{Clock, EventKind, NewEvent, run_tx};
    let app = spawn_app().await;
    let start = app.clock.now();
    // 25,000 logins elsewhere (more than one call reads), written as the EM API would.
    let busy = 25_000;
    run_tx(app.store.as_ref(), move |tx| {
        for i in 0..busy {
            tx.append_event(&NewEvent {
                at: start,
                kind: EventKind::Login,
                actor: Some("appid".into()),
                device: Some(format!("SEPBUSY{i}")),
                user: Some(format!("user{i}")),
                profile: Some("p".into()),
                detail: None,
                state: None,
            })?;
        }
        Ok(Ok::<_, ()>(()))
    })
    .await
    .unwrap()
    .unwrap();
    app.clock.advance(Duration::from_secs(3600));
    let login = app.em(&login_xml("SEP003094C25B15", "john", "")).await;
    assert!(login.contains("<success/>"), "{login}");
    app.clock.advance(Duration::from_secs(3600));
    let logout = app.em(&logout_xml("SEP003094C25B15")).await;
    assert!(logout.contains("<success/>"), "{logout}");
    let cookie = session(&app, "admin", "change-me").await;

    // Page by page with the cursor each answer gives: john's two events arrive, in order.
    let (mut after, mut kinds, mut calls) = (0i64, Vec::new(), 0);
    while calls < 10 {
        calls += 1;
        let args = format!("<user>John</user><afterSeq>{after}</afterSeq>");
        let page = method(&app, &cookie, "loginHistory", &args).await;
        assert_eq!(page.code(), None, "{}", page.body);
        let next: i64 = between(&page.body, "<lastSeq>", "</lastSeq>")
            .parse()
            .unwrap();
        kinds.extend(
            page.body
                .match_indices("<kind>")
                .map(|(i, _)| page.body[i + 6..].split('<').next().unwrap().to_string()),
        );
        if next == after {
            break;
        }
        after = next;
    }
    assert_eq!(kinds, ["login", "logout"]);
    assert!(
        calls >= 3,
        "one call reads a bounded number of events: {calls}"
    );

    // The time range: only the logout is in the second hour.
    let hour = |h: u64| {
        humantime::format_rfc3339_millis(
            UNIX_EPOCH + Duration::from_millis(start.0 as u64) + Duration::from_secs(h * 3600),
        )
    };
    let range = format!(
        "<user>john</user><from>{}</from><to>{}</to>",
        hour(2),
        hour(3)
    );
    let page = method(&app, &cookie, "loginHistory", &range).await;
    assert_eq!(page.body.matches("<event>").count(), 1, "{}", page.body);
    assert!(page.body.contains("<kind>logout</kind>"), "{}", page.body);
    let range = format!(
        "<user>john</user><from>{}</from><to>{}</to>",
        hour(1),
        hour(2)
    );
    let page = method(&app, &cookie, "loginHistory", &range).await;
    assert!(page.body.contains("<kind>login</kind>") && !page.body.contains("logout"));

    for bad in [
        "<from>yesterday</from>".to_string(),
        format!("<from>{}</from><to>{}</to>", hour(2), hour(1)),
    ] {
        let answer = method(&app, &cookie, "loginHistory", &bad).await;
        assert_eq!(answer.code(), Some(1003), "{bad}: {}", answer.body);
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let from = text
        .find(open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no {open} in {text}"));
    let to = text[from..].find(close).unwrap() + from;
    &text[from..to]
}

/// `getDeviceState`: what a provisioning server needs to rebuild a phone, in one call; and the
/// same in each login and logout event.
#[tokio::test]
async fn device_state_gives_the_profile_a_device_takes_in_one_call_and_in_each_event() {
    let app = spawn_app_with(&format!(
        "{ACCOUNTS}\n[[profiles]]\nname = \"Lobby\"\ndescription = \"Lobby phone\"\nlines = [\"5000\"]\n\n\
         [[devices]]\nname = \"SEP003094C25B15\"\nmodel = \"Cisco 7970\"\nlogout_profile = \"lobby\"\n"
    ))
    .await;
    let audit = session(&app, "audit", "audit-pw").await;
    let state = |cookie: String, device: &'static str| {
        let app = &app;
        async move {
            method(
                app,
                &cookie,
                "getDeviceState",
                &format!("<name>{device}</name>"),
            )
            .await
        }
    };
    // Nobody: the logout profile, spelled as provisioned.
    let idle = state(audit.clone(), "sep003094c25b15").await;
    assert_eq!(idle.code(), None, "{}", idle.body);
    assert!(
        idle.body.contains(
            "<deviceState><device>SEP003094C25B15</device><emEnabled>true</emEnabled>\
             <model>Cisco 7970</model><loggedIn>false</loggedIn>\
             <profile><name>Lobby</name><description>Lobby phone</description>\
             <lines><line>5000</line></lines></profile>\
             <logoutProfile>Lobby</logoutProfile></deviceState>"
        ),
        "{}",
        idle.body
    );

    // John logs in for an hour: his profile and lines, since and until when.
    let hour = "<exclusiveDuration><time>60</time></exclusiveDuration>";
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", hour)).await,
        success()
    );
    let busy = state(audit.clone(), "SEP003094C25B15").await;
    assert!(
        busy.body.contains(
            "<app>appid</app><loggedIn>true</loggedIn><user>john</user>\
             <loggedInAt>2026-01-05T08:00:00.000Z</loggedInAt>\
             <deadline>2026-01-05T09:00:00.000Z</deadline>\
             <profile><name>DPJOHNIPC</name><description>John's IP Communicator profile</description>\
             <lines><line>1001</line></lines></profile>"
        ),
        "{}",
        busy.body
    );
    assert_eq!(state(audit.clone(), "SEPNOSUCH").await.code(), Some(1001));
    assert_eq!(
        method(&app, &audit, "getDeviceState", "").await.code(),
        Some(15)
    );

    // The events say the same: after the login, John's profile; after the logout, the lobby's.
    assert_eq!(app.em(&logout_xml("SEP003094C25B15")).await, success());
    let history = method(
        &app,
        &audit,
        "loginHistory",
        "<device>SEP003094C25B15</device>",
    )
    .await;
    let body = &history.body;
    let login = body.find("<kind>login</kind>").unwrap();
    let logout = body.find("<kind>logout</kind>").unwrap();
    assert!(
        body[login..logout].contains(
            "<state><loggedIn>true</loggedIn><user>john</user>\
             <loggedInAt>2026-01-05T08:00:00.000Z</loggedInAt>\
             <deadline>2026-01-05T09:00:00.000Z</deadline><profile><name>DPJOHNIPC</name>"
        ),
        "{body}"
    );
    assert!(
        body[logout..].contains(
            "<state><loggedIn>false</loggedIn><profile><name>Lobby</name>\
             <description>Lobby phone</description><lines><line>5000</line></lines></profile></state>"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn a_logout_profile_must_exist_and_keeps_its_profile_from_deletion() {
    let app = spawn_app().await;
    let admin = session(&app, "admin", "change-me").await;
    let add = |device: &'static str, logout: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            method(
                app,
                &admin,
                "addDevice",
                &format!(
                    "<device><name>{device}</name><logoutProfile>{logout}</logoutProfile></device>"
                ),
            )
            .await
        }
    };
    let unknown = add("SEPLOBBY1", "Nope").await;
    assert!(unknown.code().is_some(), "{}", unknown.body);
    assert!(unknown.body.contains("Nope"), "{}", unknown.body);
    assert_eq!(add("SEPLOBBY1", "userdevprof").await.code(), None);
    let got = method(&app, &admin, "getDevice", "<name>SEPLOBBY1</name>").await;
    assert!(
        got.body
            .contains("<logoutProfile>UserDevProf</logoutProfile>"),
        "{}",
        got.body
    );
    // In use by a device: not deleted (the users that name it are cleared first).
    for user in ["john", "one"] {
        let cleared = method(
            &app,
            &admin,
            "updateUser",
            &format!(
                "<user><id>{user}</id><profiles><profile>DPJOHNIPC</profile></profiles></user>"
            ),
        )
        .await;
        assert_eq!(cleared.code(), None, "{}", cleared.body);
    }
    let refused = method(
        &app,
        &admin,
        "deleteDeviceProfile",
        "<name>UserDevProf</name>",
    )
    .await;
    assert!(refused.code().is_some(), "{}", refused.body);
    assert!(refused.body.contains("SEPLOBBY1"), "{}", refused.body);
    // Cleared, it goes.
    let cleared = method(
        &app,
        &admin,
        "updateDevice",
        "<device><name>SEPLOBBY1</name><logoutProfile></logoutProfile></device>",
    )
    .await;
    assert_eq!(cleared.code(), None, "{}", cleared.body);
    let deleted = method(
        &app,
        &admin,
        "deleteDeviceProfile",
        "<name>UserDevProf</name>",
    )
    .await;
    assert_eq!(deleted.code(), None, "{}", deleted.body);
}
