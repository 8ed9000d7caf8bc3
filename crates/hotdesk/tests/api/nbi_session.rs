//! The admin API's session layer (`/nbi/login`, `ping`, `logout`), over real HTTP.

use std::time::Duration;

use hotdesk::domain::admin::AdminSettings;

use crate::helpers::*;

const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

pub fn login_body(user: &str, password: &str, extra: &str) -> String {
    format!(
        "<loginRequest><protVersion>1.0</protVersion><reqId>r1</reqId>\
         <username>{user}</username><password>{password}</password>{extra}</loginRequest>"
    )
}

pub struct Answer {
    pub status: u16,
    pub set_cookie: Option<String>,
    pub body: String,
}

impl Answer {
    /// The number in the first `<code>` element, if any.
    pub fn code(&self) -> Option<u32> {
        let start = self.body.find("<code>")? + 6;
        self.body[start..].split('<').next()?.parse().ok()
    }

    /// The cookie value from `Set-Cookie: asCookie=...`.
    pub fn cookie(&self) -> String {
        let header = self.set_cookie.as_deref().expect("a Set-Cookie header");
        header
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("asCookie=")
            .unwrap()
            .to_string()
    }
}

pub async fn call(app: &TestApp, path: &str, cookie: Option<&str>, body: &str) -> Answer {
    call_at(app, &app.base, path, cookie, body).await
}

async fn call_at(
    app: &TestApp,
    base: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> Answer {
    let mut request = app
        .client
        .post(format!("{base}{path}"))
        .header("content-type", "text/xml")
        .body(body.to_string());
    if let Some(c) = cookie {
        request = request.header("cookie", format!("JSESSIONID=x; asCookie={c}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.text().await.unwrap();
    Answer {
        status,
        set_cookie,
        body,
    }
}

async fn login(app: &TestApp) -> String {
    let answer = call(
        app,
        "/nbi/login",
        None,
        &login_body("admin", "change-me", ""),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.cookie()
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_answers_the_session_terms() {
    let app = spawn_app().await;
    let answer = call(
        &app,
        "/nbi/login",
        None,
        &login_body("ADMIN", "change-me", ""),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        format!(
            "{PROLOG}<loginResponse><protVersion>1.0</protVersion><reqId>r1</reqId>\
             <serviceVersion>1.0</serviceVersion><sessionTimeoutInMins>15</sessionTimeoutInMins></loginResponse>"
        )
    );
    let header = answer.set_cookie.clone().unwrap();
    let value = answer.cookie();
    assert_eq!(value.len(), 64, "256 bits in hex: {header}");
    assert!(value.chars().all(|c| c.is_ascii_hexdigit()));
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(header.contains(attribute), "{header} lacks {attribute}");
    }
    // A new login is a new cookie.
    assert_ne!(login(&app).await, value);
    // The namespaced form of the request works as well.
    let namespaced = "<csm:loginRequest xmlns:csm=\"csm\"><username>admin</username><password>change-me</password></csm:loginRequest>";
    assert_eq!(call(&app, "/nbi/login", None, namespaced).await.status, 200);
}

#[tokio::test]
async fn calls_without_a_live_session_get_401_and_a_bare_base_error() {
    let app = spawn_app().await;
    let none = call(&app, "/nbi/ping", None, "").await;
    assert_eq!(none.status, 401);
    assert!(
        none.body
            .starts_with(&format!("{PROLOG}<baseError><code>4</code><description>")),
        "{}",
        none.body
    );
    let wrong = call(&app, "/nbi/ping", Some("00ff"), "").await;
    assert_eq!((wrong.status, wrong.code()), (401, Some(5)));
    let cookie = login(&app).await;
    let ok = call(
        &app,
        "/nbi/ping",
        Some(&cookie),
        "<pingRequest><reqId>p</reqId></pingRequest>",
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body,
        format!(
            "{PROLOG}<pingResponse><protVersion>1.0</protVersion><reqId>p</reqId></pingResponse>"
        )
    );
}

#[tokio::test]
async fn sessions_expire_after_the_timeout_and_ping_slides_it() {
    let app = spawn_app().await;
    let cookie = login(&app).await;
    app.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(call(&app, "/nbi/ping", Some(&cookie), "").await.status, 200);
    app.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(
        call(&app, "/nbi/ping", Some(&cookie), "").await.status,
        200,
        "28 minutes in, 14 after the last ping"
    );
    app.clock.advance(Duration::from_secs(15 * 60));
    let dead = call(&app, "/nbi/ping", Some(&cookie), "").await;
    assert_eq!((dead.status, dead.code()), (401, Some(5)));
    // And it stays dead.
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(
        call(&app, "/nbi/ping", Some(&cookie), "").await.code(),
        Some(5)
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let cookie = login(&app).await;
    let out = call(
        &app,
        "/nbi/logout",
        Some(&cookie),
        "<logoutRequest><protVersion>1.0</protVersion><reqId>123</reqId></logoutRequest>",
    )
    .await;
    assert_eq!(out.status, 200);
    assert_eq!(
        out.body,
        format!(
            "{PROLOG}<logoutResponse><protVersion>1.0</protVersion><reqId>123</reqId></logoutResponse>"
        )
    );
    let after = call(&app, "/nbi/ping", Some(&cookie), "").await;
    assert_eq!((after.status, after.code()), (401, Some(5)));
    let kinds: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.event.kind.as_str() == "adminSession")
        .map(|e| (e.event.actor.unwrap(), e.event.detail.unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("admin".to_string(), "login from 127.0.0.1".to_string()),
            ("admin".to_string(), "logout from 127.0.0.1".to_string())
        ]
    );
}

#[tokio::test]
async fn the_session_limit_is_code_9_until_one_ends_or_expires() {
    let settings = AdminSettings {
        max_sessions: 2,
        ..AdminSettings::default()
    };
    let app = spawn_app_with_settings("", settings).await;
    let first = login(&app).await;
    login(&app).await;
    let third = call(
        &app,
        "/nbi/login",
        None,
        &login_body("admin", "change-me", ""),
    )
    .await;
    assert_eq!((third.status, third.code()), (200, Some(9)));
    assert!(third.set_cookie.is_none());
    call(&app, "/nbi/logout", Some(&first), "").await;
    login(&app).await;
    assert_eq!(
        call(
            &app,
            "/nbi/login",
            None,
            &login_body("admin", "change-me", "")
        )
        .await
        .code(),
        Some(9)
    );
    app.clock.advance(Duration::from_secs(15 * 60));
    login(&app).await;
}

/// `/nbi/login` as `admin` with `password`, from `client`: its status and code.
async fn login_from(app: &TestApp, client: &reqwest::Client, password: &str) -> (u16, Option<u32>) {
    let response = client
        .post(format!("{}/nbi/login", app.base))
        .header("content-type", "text/xml")
        .body(login_body("admin", password, ""))
        .send()
        .await
        .unwrap();
    let answer = Answer {
        status: response.status().as_u16(),
        set_cookie: None,
        body: response.text().await.unwrap(),
    };
    (answer.status, answer.code())
}

/// Five failures a minute from an address: code 1007 for whatever it sends next, the right
/// password too, until the minute is over; another address is not held off.
#[tokio::test]
async fn bad_credentials_are_code_7_and_then_the_address_is_held_off() {
    use hotdesk::domain::admin::MAX_LOGIN_FAILURES_PER_ADDRESS;
    let app = spawn_app_with_options("", behind_a_proxy()).await;
    let (guesser, neighbour) = (client_at("10.1.2.3"), client_at("10.1.2.4"));
    for _ in 0..MAX_LOGIN_FAILURES_PER_ADDRESS {
        assert_eq!(login_from(&app, &guesser, "wrong").await, (401, Some(7)));
    }
    assert_eq!(
        login_from(&app, &guesser, "change-me").await,
        (401, Some(1007))
    );
    assert_eq!(login_from(&app, &neighbour, "change-me").await.0, 200);
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(login_from(&app, &guesser, "change-me").await.0, 200);
}

/// A name guessed from many addresses is held off except where it logged in before, and for a
/// minute only; an unknown name is refused like a wrong password.
#[tokio::test]
async fn a_name_guessed_too_often_is_held_off_except_where_it_logged_in() {
    use hotdesk::domain::admin::MAX_LOGIN_FAILURES_PER_NAME;
    let app = spawn_app_with_options("", behind_a_proxy()).await;
    let office = client_at("192.0.2.7");
    assert_eq!(login_from(&app, &office, "change-me").await.0, 200);
    for i in 0..MAX_LOGIN_FAILURES_PER_NAME {
        let guesser = client_at(&format!("10.3.0.{i}"));
        assert_eq!(login_from(&app, &guesser, "wrong").await, (401, Some(7)));
    }
    assert_eq!(
        login_from(&app, &client_at("10.4.0.1"), "change-me").await,
        (401, Some(1007))
    );
    assert_eq!(login_from(&app, &office, "change-me").await.0, 200);
    let unknown = call(&app, "/nbi/login", None, &login_body("nobody", "x", "")).await;
    assert_eq!((unknown.status, unknown.code()), (401, Some(7)));
    app.clock.advance(Duration::from_secs(60));
    login(&app).await;
}

#[tokio::test]
async fn envelope_errors_have_precise_codes() {
    let app = spawn_app().await;
    let v2 = login_body("admin", "change-me", "").replace("<protVersion>1.0", "<protVersion>2.0");
    assert_eq!(call(&app, "/nbi/login", None, &v2).await.code(), Some(17));
    assert_eq!(call(&app, "/nbi/login", None, "").await.code(), Some(13));
    assert_eq!(
        call(&app, "/nbi/login", None, "  \n ").await.code(),
        Some(13)
    );
    assert_eq!(
        call(&app, "/nbi/login", None, "<loginRequest><username>")
            .await
            .code(),
        Some(15)
    );
    let http = login_body(
        "admin",
        "change-me",
        "<heartbeatRequested>true</heartbeatRequested><callbackUrl>http://127.0.0.1:9/hb</callbackUrl>",
    );
    assert_eq!(call(&app, "/nbi/login", None, &http).await.code(), Some(16));
    let no_url = login_body(
        "admin",
        "change-me",
        "<heartbeatRequested>true</heartbeatRequested>",
    );
    assert_eq!(
        call(&app, "/nbi/login", None, &no_url).await.code(),
        Some(11)
    );
    let url_only = login_body(
        "admin",
        "change-me",
        "<callbackUrl>https://127.0.0.1:9/hb</callbackUrl>",
    );
    assert_eq!(
        call(&app, "/nbi/login", None, &url_only).await.code(),
        Some(11)
    );
    // None of these opened a session.
    assert!(
        app.events()
            .await
            .iter()
            .all(|e| e.event.kind.as_str() != "adminSession")
    );
    // In a live session, a broken body is an error inside the response, and the session lives.
    let cookie = login(&app).await;
    let broken = call(&app, "/nbi/ping", Some(&cookie), "<pingRequest><reqId>").await;
    assert_eq!((broken.status, broken.code()), (200, Some(15)));
    assert!(broken.body.contains("<pingResponse>"));
    let v2 = call(
        &app,
        "/nbi/logout",
        Some(&cookie),
        "<logoutRequest><protVersion>2.0</protVersion><reqId>9</reqId></logoutRequest>",
    )
    .await;
    assert_eq!((v2.status, v2.code()), (200, Some(17)));
    assert!(v2.body.contains("<reqId>9</reqId>"));
    assert_eq!(call(&app, "/nbi/ping", Some(&cookie), "").await.status, 200);
}

#[tokio::test]
async fn a_session_survives_a_restart_and_works_on_another_server() {
    let app = spawn_app().await;
    let cookie = login(&app).await;
    let other = app.another_server().await;
    assert_eq!(
        call_at(&app, &other, "/nbi/ping", Some(&cookie), "")
            .await
            .status,
        200
    );
    app.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(
        call_at(&app, &other, "/nbi/ping", Some(&cookie), "")
            .await
            .code(),
        Some(5)
    );
}
