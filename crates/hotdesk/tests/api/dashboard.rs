//! `/ui`: the dashboard as a browser without JavaScript uses it (forms, redirects, the cookie),
//! and its live stream as `EventSource` reads it. The real browser test is
//! `tests/browser/dashboard.mjs`.

use std::time::Duration;

use crate::helpers::*;

use crate::configservice::ACCOUNTS;

/// A browser: no redirects followed (the tests look at them), one session cookie.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: Option<String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    set_cookie: Option<String>,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Signed in as `user`; panics unless the server agrees.
    async fn signed_in(app: &'a TestApp, user: &str, password: &str) -> Browser<'a> {
        let mut b = Browser::new(app);
        let page = b.sign_in(user, password).await;
        assert_eq!(page.status, 303, "{}", page.body);
        b
    }

    async fn sign_in(&mut self, user: &str, password: &str) -> Page {
        let page = self
            .send(
                self.client
                    .post(self.url("/ui/login"))
                    .form(&[("username", user), ("password", password)]),
            )
            .await;
        if let Some(c) = &page.set_cookie {
            let value = c
                .split(';')
                .next()
                .unwrap()
                .strip_prefix("asCookie=")
                .unwrap();
            self.cookie = Some(value.to_string());
        }
        page
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base)
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(self.url(path))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.client.post(self.url(path)).form(form)).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Page {
        if let Some(c) = &self.cookie {
            request = request.header("cookie", format!("asCookie={c}"));
        }
        let response = request.send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        Page {
            status: response.status().as_u16(),
            location: header("location"),
            set_cookie: header("set-cookie"),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }
}

/// The rows of the logins table, as `device user` pairs.
fn rows(page: &str) -> Vec<String> {
    page.split("<tr data-device=\"")
        .skip(1)
        .map(|r| {
            let device = r.split('"').next().unwrap();
            let user = r
                .split("/ui/history?user=")
                .nth(1)
                .and_then(|u| u.split('>').nth(1))
                .and_then(|u| u.split('<').next())
                .unwrap();
            format!("{device} {user}")
        })
        .collect()
}

#[tokio::test]
async fn signing_in_takes_the_admin_apis_accounts_and_sets_its_cookie() {
    let app = spawn_app_with(ACCOUNTS).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/ui").await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/ui/login"))
    );
    let form = browser.get("/ui/login").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("id=\"sign-in\""));
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );

    let wrong = browser.sign_in("ops", "nope").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("id=\"error\""), "{}", wrong.body);
    assert!(wrong.set_cookie.is_none());

    let right = browser.sign_in("ops", "ops-pw").await;
    assert_eq!(
        (right.status, right.location.as_deref()),
        (303, Some("/ui"))
    );
    let cookie = right.set_cookie.unwrap();
    for part in ["asCookie=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    // The same session as the admin API's: it answers a method with that cookie.
    let listed =
        crate::configservice::method(&app, browser.cookie.as_deref().unwrap(), "listLogins", "")
            .await;
    assert_eq!(listed.code(), None, "{}", listed.body);

    let page = browser.get("/ui").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ops · operator"), "{}", page.body);
    let out = browser.post("/ui/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/ui/login"));
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(browser.get("/ui").await.status, 303);
}

#[tokio::test]
async fn an_operator_forces_a_logout_and_finds_it_in_the_history() {
    let app = spawn_app_with(ACCOUNTS).await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let ops = Browser::signed_in(&app, "ops", "ops-pw").await;
    let page = ops.get("/ui").await;
    assert_eq!(rows(&page.body), ["SEP003094C25B15 john"]);
    assert!(page.body.contains("aria-label=\"Log out SEP003094C25B15\""));

    let done = ops
        .post(
            "/ui/force-logout",
            &[("device", "SEP003094C25B15"), ("q", ""), ("page", "1")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with("/ui?"));
    assert!(rows(&ops.get("/ui").await.body).is_empty());
    assert!(
        app.em(&device_query("SEP003094C25B15"))
            .await
            .contains("<none/>")
    );

    let history = ops.get("/ui/history?device=sep003094c25b15").await;
    assert_eq!(history.status, 200);
    let body = &history.body;
    let login = body.find("<td>login</td>").expect("the login");
    let logout = body.find("<td>logout</td>").expect("the forced logout");
    assert!(login < logout, "oldest first");
    assert!(body[logout..].contains("<td>ops</td>"), "{body}");

    // A time range that ends before the login shows nothing.
    let before = ops
        .get("/ui/history?device=SEP003094C25B15&to=2026-01-05T07:00")
        .await;
    assert!(!before.body.contains("<td>login</td>"), "{}", before.body);
    let bad = ops.get("/ui/history?from=yesterday").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn an_auditor_sees_no_logout_button_and_the_server_refuses_the_action() {
    let app = spawn_app_with(ACCOUNTS).await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let audit = Browser::signed_in(&app, "audit", "audit-pw").await;
    let page = audit.get("/ui").await;
    assert_eq!(rows(&page.body), ["SEP003094C25B15 john"]);
    assert!(!page.body.contains("force-logout"), "{}", page.body);
    assert!(!page.body.contains("import-form"));

    let refused = audit
        .post("/ui/force-logout", &[("device", "SEP003094C25B15")])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("auditor"), "{}", refused.body);
    assert_eq!(rows(&audit.get("/ui").await.body), ["SEP003094C25B15 john"]);
}

#[tokio::test]
async fn the_table_searches_by_device_or_user_and_pages() {
    let mut extra = String::new();
    for i in 0..60 {
        extra.push_str(&format!(
            "[[users]]\nid = \"u{i:02}\"\nprofiles = [\"UserDevProf\"]\n\n\
             [[devices]]\nname = \"SEPB{i:02}\"\n\n"
        ));
    }
    let app = spawn_app_with(&extra).await;
    for i in 0..60 {
        assert_eq!(
            app.em(&login_xml(&format!("SEPB{i:02}"), &format!("u{i:02}"), ""))
                .await,
            success()
        );
    }
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let admin = Browser::signed_in(&app, "admin", "change-me").await;
    let first = admin.get("/ui").await;
    assert_eq!(rows(&first.body).len(), 50);
    assert!(first.body.contains("Page 1 of 2"), "{}", first.body);
    assert!(first.body.contains("61 logins"));
    let second = admin.get("/ui?page=2").await;
    assert_eq!(rows(&second.body).len(), 11);
    assert!(second.body.contains("rel=\"prev\""));

    // By device, any case; by user; nothing.
    let found = admin.get("/ui?q=sepb1").await;
    assert_eq!(rows(&found.body).len(), 10, "{}", found.body);
    assert_eq!(
        rows(&admin.get("/ui?q=JOHN").await.body),
        ["SEP003094C25B15 john"]
    );
    let none = admin.get("/ui?q=nobody").await;
    assert!(rows(&none.body).is_empty());
    assert!(none.body.contains("Nobody is logged in that matches"));

    // The fragment the page's script swaps in, with the same search.
    let fragment = admin.get("/ui/logins?q=u05").await;
    assert_eq!(fragment.status, 200);
    assert_eq!(rows(&fragment.body), ["SEPB05 u05"]);
    assert!(!fragment.body.contains("<html"));
    let gone = Browser::new(&app).get("/ui/logins").await;
    assert_eq!(gone.status, 401);

    // The chart ends at the count now.
    assert!(first.body.contains("now 61 · highest 61"), "{}", first.body);
}

#[tokio::test]
async fn an_upload_imports_through_the_same_path_and_names_a_bad_line() {
    let app = spawn_app_with(ACCOUNTS).await;
    let upload = |user: &'static str, password: &'static str, text: &'static str| {
        let app = &app;
        async move {
            let browser = Browser::signed_in(app, user, password).await;
            let part = reqwest::multipart::Part::text(text).file_name("people.toml");
            let form = reqwest::multipart::Form::new().part("directory", part);
            browser
                .send(
                    browser
                        .client
                        .post(browser.url("/ui/import"))
                        .multipart(form),
                )
                .await
        }
    };
    let good = "[[users]]\nid = \"pat\"\npin = \"24680\"\nprofiles = [\"UserDevProf\"]\n";
    let done = upload("admin", "change-me", good).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("people.toml: "), "{}", done.body);
    assert!(
        app.store
            .user(&hotdesk::domain::Key::of("pat"))
            .await
            .unwrap()
            .is_some()
    );
    let import = app
        .events()
        .await
        .into_iter()
        .rev()
        .find(|e| e.event.kind == hotdesk::domain::EventKind::ConfigChange)
        .unwrap();
    assert_eq!(import.event.actor.as_deref(), Some("admin"));

    let bad = upload("admin", "change-me", "[[users]]\nid = \n").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("people.toml:2:"), "{}", bad.body);

    let refused = upload("ops", "ops-pw", good).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}

/// A server-sent event stream, read as `EventSource` reads it.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug, PartialEq)]
struct Message {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

impl Stream {
    async fn open(app: &TestApp, cookie: &str, last_id: Option<&str>, after: &str) -> Stream {
        let mut request = app
            .client
            .get(format!("{}/ui/events?after={after}", app.base))
            .header("cookie", format!("asCookie={cookie}"));
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next message (comments and keep-alives skipped); bounded.
    async fn next(&mut self) -> Message {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut m = Message {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        m.id = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        m.event = Some(v.trim().to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        m.data.push_str(v.trim_start());
                        any = true;
                    }
                }
                if any {
                    return m;
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream is open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

fn field(data: &str, name: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(data).unwrap()[name].clone()
}

#[tokio::test]
async fn the_live_stream_resumes_from_the_last_event_id_without_gaps() {
    let app = spawn_app().await;
    let cookie = crate::configservice::session(&app, "admin", "change-me").await;
    let start = app.events().await.last().map_or(0, |e| e.seq);

    let mut stream = Stream::open(&app, &cookie, None, &start.to_string()).await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let first = stream.next().await;
    assert_eq!(field(&first.data, "kind"), "login");
    assert_eq!(field(&first.data, "device"), "SEP003094C25B15");
    assert_eq!(field(&first.data, "user"), "john");
    let seen = first.id.clone().unwrap();
    drop(stream);

    // While nobody listens: a logout and a login.
    assert_eq!(app.em(&logout_xml("SEP003094C25B15")).await, success());
    assert_eq!(
        app.em(&login_xml("SEP402CF4915265", "em", "")).await,
        success()
    );
    let missed: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e.seq > seen.parse::<i64>().unwrap())
        .map(|e| e.seq.to_string())
        .collect();

    // The browser reconnects with the id it last saw (and its first URL's `after`).
    let mut again = Stream::open(&app, &cookie, Some(&seen), &start.to_string()).await;
    let a = again.next().await;
    let b = again.next().await;
    assert_eq!(field(&a.data, "kind"), "logout");
    assert_eq!(field(&b.data, "kind"), "login");
    assert_eq!(field(&b.data, "user"), "em");
    assert_eq!(vec![a.id.unwrap(), b.id.unwrap()], missed);

    // The session ends: the stream says so and closes.
    let out = crate::nbi_session::call(&app, "/nbi/logout", Some(&cookie), "").await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        app.em(&logout_xml("SEP402CF4915265")).await,
        success(),
        "an event wakes the stream"
    );
    loop {
        let m = again.next().await;
        if m.event.as_deref() == Some("signedOut") {
            break;
        }
    }
}

#[tokio::test]
async fn the_stream_needs_a_session() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/ui/events", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_live_parts_of_the_page_do_not_keep_a_session_open() {
    let app = spawn_app().await;
    let admin = Browser::signed_in(&app, "admin", "change-me").await;
    // A person who loads the page is active; the script's refreshes are not.
    app.clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(admin.get("/ui/logins").await.status, 200);
    assert_eq!(admin.get("/ui/chart").await.status, 200);
    app.clock.advance(Duration::from_secs(6 * 60));
    assert_eq!(admin.get("/ui/logins").await.status, 401);
    let page = admin.get("/ui").await;
    assert_eq!(page.location.as_deref(), Some("/ui/login"));
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused() {
    let app = spawn_app().await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let admin = Browser::signed_in(&app, "admin", "change-me").await;
    let forced = |headers: &'static [(&'static str, &'static str)]| {
        let admin = &admin;
        async move {
            let mut request = admin
                .client
                .post(admin.url("/ui/force-logout"))
                .form(&[("device", "SEP003094C25B15")]);
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            admin.send(request).await
        }
    };
    let cross = forced(&[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(cross.status, 403, "{}", cross.body);
    let sibling = forced(&[("sec-fetch-site", "same-site")]).await;
    assert_eq!(sibling.status, 403);
    let elsewhere = forced(&[("origin", "http://evil.example")]).await;
    assert_eq!(elsewhere.status, 403);
    assert_eq!(rows(&admin.get("/ui").await.body), ["SEP003094C25B15 john"]);
    let sign_in = Browser::new(&app)
        .send(
            Browser::new(&app)
                .client
                .post(format!("{}/ui/login", app.base))
                .header("sec-fetch-site", "cross-site")
                .form(&[("username", "admin"), ("password", "change-me")]),
        )
        .await;
    assert_eq!(sign_in.status, 403);
    assert!(sign_in.set_cookie.is_none());

    // From the page itself.
    let host = app.base.trim_start_matches("http://").to_string();
    let origin = app.base.clone();
    let done = admin
        .send(
            admin
                .client
                .post(admin.url("/ui/force-logout"))
                .header("sec-fetch-site", "same-origin")
                .header("origin", origin)
                .header("host", host)
                .form(&[("device", "SEP003094C25B15")]),
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
}

#[tokio::test]
async fn a_long_history_pages_on() {
    let app = spawn_app().await;
    for _ in 0..101 {
        assert_eq!(
            app.em(&login_xml("SEP003094C25B15", "john", "")).await,
            success()
        );
        assert_eq!(app.em(&logout_xml("SEP003094C25B15")).await, success());
    }
    let admin = Browser::signed_in(&app, "admin", "change-me").await;
    let first = admin.get("/ui/history?device=SEP003094C25B15").await;
    assert_eq!(first.body.matches("<td>login</td>").count(), 100);
    // The templates escape `/` too, as `&#x2f;`.
    let next = first
        .body
        .replace("&#x2f;", "/")
        .split("href=\"")
        .find_map(|h| h.strip_prefix("/ui/history?"))
        .and_then(|h| h.split('"').next())
        .expect("a link to the later events")
        .replace("&amp;", "&");
    let second = admin.get(&format!("/ui/history?{next}")).await;
    assert_eq!(second.body.matches("<td>login</td>").count(), 1);
    assert_eq!(second.body.matches("<td>logout</td>").count(), 1);
    assert!(!second.body.contains("id=\"next\""), "{}", second.body);
}

#[tokio::test]
async fn a_stream_resumes_from_what_it_is_told_and_never_past_the_newest_event() {
    let app = spawn_app().await;
    let cookie = crate::configservice::session(&app, "admin", "change-me").await;
    assert_eq!(
        app.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let login = app.events().await.last().unwrap().seq;
    // A Last-Event-ID that is no number: the page's own `after` counts.
    let mut stream = Stream::open(&app, &cookie, Some("abc"), &(login - 1).to_string()).await;
    let m = stream.next().await;
    assert_eq!(m.id, Some(login.to_string()));
    drop(stream);
    // Past the newest (a database restored from an older copy): from the newest on.
    let mut stream = Stream::open(&app, &cookie, Some("999999"), "0").await;
    assert_eq!(app.em(&logout_xml("SEP003094C25B15")).await, success());
    let m = stream.next().await;
    assert_eq!(field(&m.data, "kind"), "logout");
}
