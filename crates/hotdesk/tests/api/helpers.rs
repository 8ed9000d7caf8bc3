//! `spawn_app()` and friends.

use std::sync::Arc;

use hotdesk::domain::admin::AdminSettings;
use hotdesk::domain::{Clock, Event, ManualClock, Store, Timestamp, directory};
use hotdesk::http::{Application, ServerOptions};
use hotdesk::store;
use hotdesk::store::testing::{POSTGRES_ENV, ScratchSchema, scratch_postgres};

/// 2026-01-05 08:00 UTC: a Monday morning at the office.
pub const T0: Timestamp = Timestamp(1_767_600_000_000);

pub struct TestApp {
    pub base: String,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
    pub db_url: String,
    /// The PostgreSQL schema of this test, when the suite runs on PostgreSQL.
    _schema: Option<ScratchSchema>,
    pub options: ServerOptions,
    _dir: tempfile::TempDir,
}

/// The demo directory plus `extra` (TOML in the directory-file format), on a fresh SQLite file.
pub async fn spawn_app_with(extra: &str) -> TestApp {
    spawn_app_with_settings(extra, AdminSettings::default()).await
}

/// As [`spawn_app_with`], with admin API limits of the test's choosing.
pub async fn spawn_app_with_settings(extra: &str, admin: AdminSettings) -> TestApp {
    spawn_app_with_options(extra, ServerOptions::from(admin)).await
}

/// As [`spawn_app_with`], with server options of the test's choosing.
pub async fn spawn_app_with_options(extra: &str, options: ServerOptions) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (db_url, schema) = database(&dir);
    let store = store::open(&db_url).await.unwrap();
    let clock = ManualClock::new(T0);
    for (name, text) in [("demo", directory::DEMO), ("extra", extra)] {
        let parsed = directory::parse(name, text).unwrap();
        directory::import(&store, &clock, &options.pin_key, name, parsed, "test")
            .await
            .unwrap();
    }
    start(store, clock, db_url, schema, options, dir).await
}

/// A server over an existing database (`db_url`), as it is: nothing is imported.
pub async fn spawn_app_on(db_url: &str, options: ServerOptions) -> TestApp {
    let store = store::open(db_url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    start(
        store,
        ManualClock::new(T0),
        db_url.to_string(),
        None,
        options,
        dir,
    )
    .await
}

/// Serve `store` and wrap it all in a [`TestApp`].
async fn start(
    store: Arc<dyn Store>,
    clock: ManualClock,
    db_url: String,
    schema: Option<ScratchSchema>,
    options: ServerOptions,
    dir: tempfile::TempDir,
) -> TestApp {
    let base = serve(store.clone(), &clock, options.clone()).await;
    TestApp {
        base,
        clock,
        store,
        client: client_for(&options),
        db_url,
        _schema: schema,
        options,
        _dir: dir,
    }
}

/// A server over the SQLite file at `path` (wherever it is: a small disk of the test's own),
/// with the demo directory and `extra` loaded.
pub async fn spawn_app_at(path: &std::path::Path, extra: &str) -> TestApp {
    let db_url = format!("sqlite://{}", path.display());
    let store = store::open(&db_url).await.unwrap();
    let clock = ManualClock::new(T0);
    let options = ServerOptions::default();
    for (name, text) in [("demo", directory::DEMO), ("extra", extra)] {
        let parsed = directory::parse(name, text).unwrap();
        directory::import(&store, &clock, &options.pin_key, name, parsed, "test")
            .await
            .unwrap();
    }
    start(
        store,
        clock,
        db_url,
        None,
        options,
        tempfile::tempdir().unwrap(),
    )
    .await
}

/// Server options for HTTPS with a fresh self-signed certificate for 127.0.0.1 (which
/// [`TestApp::client`] trusts).
pub fn tls_options() -> ServerOptions {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    ServerOptions {
        tls: Some((
            cert.cert.pem().into_bytes(),
            cert.signing_key.serialize_pem().into_bytes(),
        )),
        ..ServerOptions::default()
    }
}

/// The variable that runs the whole suite on PostgreSQL: `HOTDESK_TEST_BACKEND=postgres`
/// (with `HOTDESK_TEST_POSTGRES` naming the server). Otherwise each test gets a SQLite file.
pub const BACKEND_ENV: &str = "HOTDESK_TEST_BACKEND";

/// A fresh database for one test, on the backend the suite runs on.
fn database(dir: &tempfile::TempDir) -> (String, Option<ScratchSchema>) {
    match std::env::var(BACKEND_ENV).as_deref() {
        Ok("postgres") => {
            let schema = scratch_postgres()
                .unwrap_or_else(|| panic!("{BACKEND_ENV}=postgres needs {POSTGRES_ENV}"));
            (schema.url.clone(), Some(schema))
        }
        Ok("sqlite") | Err(_) => (
            format!("sqlite://{}", dir.path().join("hotdesk.db").display()),
            None,
        ),
        Ok(other) => panic!("{BACKEND_ENV}={other}: use sqlite or postgres"),
    }
}

/// A client that trusts the server's own certificate when it serves TLS.
fn client_for(options: &ServerOptions) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    if let Some((cert, _)) = &options.tls {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(cert).unwrap());
    }
    builder.build().unwrap()
}

/// Start a server over `store` on a free loopback port; its base URL.
async fn serve(store: Arc<dyn Store>, clock: &ManualClock, options: ServerOptions) -> String {
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let app = Application::build(
        store,
        Arc::new(clock.clone()) as Arc<dyn Clock>,
        "127.0.0.1:0",
        options,
    )
    .await
    .unwrap();
    let base = format!("{scheme}://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    base
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

pub fn servlet(base: &str) -> String {
    format!("{base}/emservice/EMServiceServlet")
}

/// The exact bytes the server should send for a body.
pub fn doc(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>{body}</response>")
}

pub fn failure(code: u16, message: &str) -> String {
    doc(&format!(
        "<failure><error code=\"{code}\">{message}</error></failure>"
    ))
}

pub fn success() -> String {
    doc("<success/>")
}

pub const APP: &str =
    "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>";

pub fn login_xml(device: &str, user: &str, extra: &str) -> String {
    format!(
        "<request>{APP}<login><deviceName>{device}</deviceName><userID>{user}</userID>{extra}</login></request>"
    )
}

/// The app of [`APP`], for documents written with hotdesk-proto's request writer.
fn app() -> hotdesk_proto::AppInfo {
    hotdesk_proto::AppInfo {
        app_id: "appid".into(),
        certificate: hotdesk_proto::Credential::Plain("apppasswd".into()),
    }
}

pub fn logout_xml(device: &str) -> String {
    hotdesk_proto::client::write_request(&hotdesk_proto::EmMessage::Request {
        app: app(),
        op: hotdesk_proto::Operation::Logout(hotdesk_proto::Logout {
            device_name: device.into(),
            origin: hotdesk_proto::Origin::default(),
        }),
    })
}

pub fn device_query(device: &str) -> String {
    hotdesk_proto::client::write_request(&hotdesk_proto::EmMessage::Query {
        app: app(),
        query: hotdesk_proto::Query::DeviceUser {
            device_names: vec![device.into()],
        },
        origin: hotdesk_proto::Origin::default(),
    })
}

impl TestApp {
    /// POST the document as the form field `xml`, as Cisco documents.
    pub async fn em(&self, xml: &str) -> String {
        post_em(&self.client, &self.base, xml).await
    }

    /// Another server process's view: a new store on the same database file, its own server,
    /// the same clock. Its base URL.
    pub async fn another_server(&self) -> String {
        let store = store::open(&self.db_url).await.unwrap();
        serve(store, &self.clock, self.options.clone()).await
    }

    pub async fn events(&self) -> Vec<Event> {
        self.store.events_after(0, 10_000).await.unwrap()
    }

    /// Apply a directory fragment (policy changes, more users) while the server runs.
    pub async fn import(&self, toml_text: &str) {
        let parsed = directory::parse("test", toml_text).unwrap();
        directory::import(
            &self.store,
            &self.clock,
            &self.options.pin_key,
            "test",
            parsed,
            "test",
        )
        .await
        .unwrap();
    }
}

/// POST an EM document as the form field `xml` and return the answer, asserting the framing
/// that every answer shares: HTTP 200 and `text/xml; charset=utf-8`.
/// A client whose requests come from `addr`, for a server that trusts loopback as its proxy
/// ([`behind_a_proxy`]): the address its throttles and `validate_ip` see.
pub fn client_at(addr: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", addr.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Options for a server behind a load balancer on loopback, so that [`client_at`] works.
pub fn behind_a_proxy() -> ServerOptions {
    ServerOptions {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..ServerOptions::default()
    }
}

pub async fn post_em(client: &reqwest::Client, base: &str, xml: &str) -> String {
    let response = client
        .post(servlet(base))
        .form(&[("xml", xml)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/xml; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// Validate `xml` against one of the DTDs the server itself serves, with xmllint.
pub async fn assert_valid(base: &str, dtd_file: &str, xml: &str) {
    let dtd = reqwest::get(format!("{base}/emservice/jsp/{dtd_file}"))
        .await
        .unwrap();
    assert_eq!(dtd.status(), 200, "the server serves {dtd_file}");
    let dtd = dtd.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dtd_path = dir.path().join(dtd_file);
    let doc_path = dir.path().join("doc.xml");
    std::fs::write(&dtd_path, dtd).unwrap();
    std::fs::write(&doc_path, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--dtdvalid")
        .arg(&dtd_path)
        .arg(&doc_path)
        .output()
        .expect("xmllint runs (install libxml2-utils; the test script does)");
    assert!(
        out.status.success(),
        "{xml}\ndoes not validate against {dtd_file}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
