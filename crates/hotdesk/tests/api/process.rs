//! The real binary: restarts, `kill -9`, the CLI.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hotdesk::domain::Key;

use crate::helpers::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_hotdesk");

/// Run the binary with `args` and `envs`; its standard output, once it has succeeded.
pub fn run_ok(args: &[&str], envs: &[(&str, &Path)]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub struct Server {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    /// Where the server's log (stderr) goes.
    log: tempfile::NamedTempFile,
}

/// Start `hotdesk serve --demo` on a SQLite file.
fn start(db: &Path, clock_start_ms: i64) -> Server {
    start_with(
        &format!("sqlite://{}", db.display()),
        clock_start_ms,
        &["--demo"],
    )
}

/// Start `hotdesk serve` on a free loopback port over `database` and wait (bounded) for its
/// "listening" line: it prints it after start-up's auto-logout pass.
pub fn start_with(database: &str, clock_start_ms: i64, extra: &[&str]) -> Server {
    start_logging(database, clock_start_ms, extra, "warn")
}

/// As [`start_with`], logging what `rust_log` (`RUST_LOG`) asks for.
pub fn start_logging(
    database: &str,
    clock_start_ms: i64,
    extra: &[&str],
    rust_log: &str,
) -> Server {
    // The log goes to a file, to be shown if the server does not come up.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .args(extra)
        .env("HOTDESK_CLOCK_START", clock_start_ms.to_string())
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("the hotdesk binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("hotdesk listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let Ok(base) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the server did not report its address; its log:\n{}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
    };
    Server {
        child,
        base,
        client: reqwest::Client::new(),
        log,
    }
}

impl Drop for Server {
    /// A test that fails half-way must not leave servers running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    pub async fn em(&self, xml: &str) -> String {
        post_em(&self.client, &self.base, xml).await
    }

    pub fn kill_9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    pub fn terminate(mut self) {
        self.stop();
    }

    /// Stop gracefully and hand back everything the server logged.
    pub fn terminate_and_read_log(mut self) -> String {
        self.stop();
        std::fs::read_to_string(self.log.path()).unwrap()
    }

    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "a graceful shutdown exits 0: {status}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_login_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/folder/hotdesk.db");
    let server = start(&db, T0.0);
    assert_eq!(
        server.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    server.kill_9();

    let store = hotdesk::store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let state = store
        .device_state(&Key::of("SEP003094C25B15"), T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.login.map(|l| l.user), Some("john".into()));
    drop(store);

    let again = start(&db, T0.0);
    assert!(
        again
            .em(&device_query("SEP003094C25B15"))
            .await
            .contains("<userID>john</userID>")
    );
    again.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_that_fell_due_while_down_is_logged_out_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotdesk.db");
    let server = start(&db, T0.0);
    let timed = "<exclusiveDuration><time>1</time></exclusiveDuration>";
    assert_eq!(
        server
            .em(&login_xml("SEP003094C25B15", "john", timed))
            .await,
        success()
    );
    assert_eq!(
        server.em(&login_xml("SEP402CF4915265", "em", "")).await,
        success()
    );
    server.terminate();

    // Two hours later.
    let later = T0.plus(Duration::from_secs(7200));
    let server = start(&db, later.0);
    let answer = server.em(&device_query("SEP003094C25B15")).await;
    assert!(
        answer.contains("<none/><lastlogin>john</lastlogin>"),
        "{answer}"
    );
    assert!(
        server
            .em(&device_query("SEP402CF4915265"))
            .await
            .contains("<userID>em</userID>")
    );
    server.terminate();

    let store = hotdesk::store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let auto: Vec<_> = store
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind.as_str() == "autoLogout")
        .collect();
    assert_eq!(auto.len(), 1);
    assert_eq!(auto[0].event.device.as_deref(), Some("SEP003094C25B15"));
    assert!(auto[0].event.at >= later, "ended at start-up, not before");
    assert_eq!(store.next_deadline().await.unwrap(), None);
}

#[test]
fn import_upserts_and_names_file_line_and_key_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[users]]\nid = \"ann\"\npin = \"1\"\nprofiles = [\"P1\"]\n\n[[profiles]]\nname = \"P1\"\n\n[[devices]]\nname = \"SEPA\"\n",
    )
    .unwrap();
    for round in ["1 new, 0 updated", "0 new, 1 updated"] {
        let out = Command::new(BIN)
            .arg("import")
            .arg(&good)
            .args(["--database", &db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("users: 1 ({round})")), "{stdout}");
    }

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[devices]]\nname = \"SEPB\"\nemEnabled = false\n").unwrap();
    let out = Command::new(BIN)
        .arg("import")
        .arg(&bad)
        .args(["--database", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:1: ", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("emEnabled"), "{stderr}");

    // A file that does not parse touches nothing: no database made, no key file written.
    let fresh = dir.path().join("fresh.db");
    let key = dir.path().join("fresh.key");
    let out = Command::new(BIN)
        .arg("import")
        .arg(&bad)
        .args(["--database", &format!("sqlite://{}", fresh.display())])
        .arg("--secret-key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !fresh.exists() && !key.exists(),
        "the refused file left files behind"
    );

    let dangling = dir.path().join("dangling.toml");
    std::fs::write(
        &dangling,
        "[[users]]\nid = \"bob\"\nprofiles = [\"Nope\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("import")
        .arg(&dangling)
        .args(["--database", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("profile `Nope` is not defined"));
}

/// `hotdesk admin add`: the first account of a fresh install, from stdin or the environment.
#[tokio::test(flavor = "multi_thread")]
async fn admin_add_makes_accounts_whose_sessions_survive_a_restart() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let url = format!("sqlite://{}", db.display());
    let mut child = Command::new(BIN)
        .args([
            "admin",
            "add",
            "ops",
            "--role",
            "operator",
            "--database",
            &url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ops secret\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "created admin account ops with role operator\n"
    );
    let out = Command::new(BIN)
        .args(["admin", "add", "root", "--database", &url])
        .env("HOTDESK_ADMIN_PASSWORD", "root-pw")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["admin", "add", "nobody", "--database", &url])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "an empty password is refused");
    let out = Command::new(BIN)
        .args(["admin", "add", "x", "--role", "god", "--database", &url])
        .env("HOTDESK_ADMIN_PASSWORD", "pw")
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unknown role is refused");

    let server = start(&db, T0.0);
    let login = |user: &str, password: &str| {
        format!(
            "<loginRequest><protVersion>1.0</protVersion><username>{user}</username>\
             <password>{password}</password></loginRequest>"
        )
    };
    let client = reqwest::Client::new();
    let post = |base: String, path: &'static str, cookie: Option<String>, body: String| {
        let client = client.clone();
        async move {
            let mut request = client.post(format!("{base}{path}")).body(body);
            if let Some(c) = cookie {
                request = request.header("cookie", format!("asCookie={c}"));
            }
            let response = request.send().await.unwrap();
            let cookie = response
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().unwrap().to_string());
            (
                response.status().as_u16(),
                cookie,
                response.text().await.unwrap(),
            )
        }
    };
    let (status, set_cookie, body) = post(
        server.base.clone(),
        "/nbi/login",
        None,
        login("ops", "ops secret"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cookie = set_cookie.unwrap()[9..73].to_string();
    let (status, _, _) = post(
        server.base.clone(),
        "/nbi/login",
        None,
        login("root", "root-pw"),
    )
    .await;
    assert_eq!(status, 200);

    // The session outlives the process that opened it.
    server.terminate();
    let server = start(&db, T0.0 + 60_000);
    let (status, _, body) = post(
        server.base.clone(),
        "/nbi/configservice/setPolicy",
        Some(cookie.clone()),
        "<setPolicyRequest><protVersion>1.0</protVersion><policy/></setPolicyRequest>".into(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("<code>1000</code>"), "an operator: {body}");
    let (status, _, _) = post(
        server.base.clone(),
        "/nbi/ping",
        Some(cookie),
        String::new(),
    )
    .await;
    assert_eq!(status, 200);
    server.terminate();
}

/// `hotdesk export` then `import`: a whole installation moves from SQLite to PostgreSQL and
/// back, secrets (as hashes) included, and works there.
#[tokio::test(flavor = "multi_thread")]
async fn export_and_import_move_an_installation_between_backends() {
    let Some(schema) = hotdesk::store::testing::scratch_postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("a.db").display());
    let back = format!("sqlite://{}", dir.path().join("b.db").display());
    // PIN hashes move with the installation only under the same secret key.
    let key = dir.path().join("secret.key");
    let run = |args: &[&str]| run_ok(args, &[("HOTDESK_SECRET_KEY_FILE", key.as_path())]);
    // The demo directory, then a policy change, in SQLite.
    let demo = dir.path().join("demo.toml");
    std::fs::write(&demo, hotdesk::domain::directory::DEMO).unwrap();
    run(&["import", demo.to_str().unwrap(), "--database", &sqlite]);
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[policy]\nmultiple_login = \"auto-logout\"\ntrusted_ips = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    run(&["import", policy.to_str().unwrap(), "--database", &sqlite]);

    let first = dir.path().join("first.toml");
    run(&[
        "export",
        "--database",
        &sqlite,
        "--output",
        first.to_str().unwrap(),
    ]);
    let exported = std::fs::read_to_string(&first).unwrap();
    assert!(exported.contains("$argon2id$"), "{exported}");
    assert!(
        exported.contains("pin = \"$hmac-sha256$") && !exported.contains("12345"),
        "{exported}"
    );
    assert!(exported.contains("extension = \"1001\""), "{exported}");
    assert!(
        exported.contains("multiple_login = \"auto-logout\"")
            && exported.contains("trusted_ips = [\"10.0.0.0/8\"]"),
        "{exported}"
    );
    assert!(!exported.contains("apppasswd") && !exported.contains("change-me"));

    run(&["import", first.to_str().unwrap(), "--database", &schema.url]);
    let from_postgres = run(&["export", "--database", &schema.url]);
    assert_eq!(from_postgres, exported);
    let again = dir.path().join("again.toml");
    std::fs::write(&again, &from_postgres).unwrap();
    run(&["import", again.to_str().unwrap(), "--database", &back]);
    assert_eq!(run(&["export", "--database", &back]), exported);

    // The moved installation works: the app's certificate and the admin's password.
    let server = start_with(
        &schema.url,
        T0.0,
        &["--secret-key-file", key.to_str().unwrap()],
    );
    assert_eq!(
        server.em(&login_xml("SEP003094C25B15", "john", "")).await,
        success()
    );
    let login = server
        .client
        .post(format!("{}/nbi/login", server.base))
        .body(
            "<loginRequest><username>admin</username><password>change-me</password></loginRequest>",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    server.terminate();
}

/// `hotdesk backup` copies a SQLite database whole; `prune-events` keeps recent events.
#[test]
fn backup_copies_the_database_and_prune_keeps_recent_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let copy = dir.path().join("copy.db");
    let run = |args: &[&str]| Command::new(BIN).args(args).output().unwrap();
    let demo = dir.path().join("demo.toml");
    std::fs::write(&demo, hotdesk::domain::directory::DEMO).unwrap();
    assert!(
        run(&["import", demo.to_str().unwrap(), "--database", &db])
            .status
            .success()
    );

    let out = run(&["backup", copy.to_str().unwrap(), "--database", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied = format!("sqlite://{}", copy.display());
    let export = |url: &str| run(&["export", "--database", url]).stdout;
    assert_eq!(export(&copied), export(&db));
    // Never over an existing file, and not for PostgreSQL.
    let again = run(&["backup", copy.to_str().unwrap(), "--database", &db]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let pg = run(&[
        "backup",
        "x.db",
        "--database",
        "postgres://u@127.0.0.1:1/db",
    ]);
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));

    // The import's event is from just now: a day's retention keeps it.
    let out = run(&["prune-events", "--older-than-days", "1", "--database", &db]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "removed 0 events older than 1 days\n"
    );
}

/// The secret key file: made beside the SQLite file with mode 0600 on first use, and a server
/// given another key refuses to start rather than refuse every PIN.
#[test]
fn a_server_with_another_secret_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("d.db").display());
    let demo = dir.path().join("demo.toml");
    std::fs::write(&demo, hotdesk::domain::directory::DEMO).unwrap();
    run_ok(&["import", demo.to_str().unwrap(), "--database", &db], &[]);
    let key = dir.path().join("secret.key");
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64, "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let other = dir.path().join("other.key");
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
        .arg("--secret-key-file")
        .arg(&other)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not the one this database's PINs are hashed under"),
        "{stderr}"
    );
    // An import with the wrong key is refused the same way, and writes nothing.
    let out = Command::new(BIN)
        .args(["import", demo.to_str().unwrap(), "--database", &db])
        .env("HOTDESK_SECRET_KEY_FILE", &other)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secret-key-file"));
}

/// The demo directory exported as CSV files imports back into a new database as it was:
/// its users, profiles and devices export alike, PIN hashes included (same key file).
#[test]
fn a_csv_export_imports_back_identically_and_a_bad_cell_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let a = format!("sqlite://{}", dir.path().join("a.db").display());
    let b = format!("sqlite://{}", dir.path().join("b.db").display());
    let key = dir.path().join("secret.key");
    let run = |args: &[&str]| run_ok(args, &[("HOTDESK_SECRET_KEY_FILE", key.as_path())]);
    let demo = dir.path().join("demo.toml");
    std::fs::write(
        &demo,
        format!(
            "{}\n[[devices]]\nname = \"SEPLOBBY\"\nem_enabled = false\nlogout_profile = \"userdevprof\"\n",
            hotdesk::domain::directory::DEMO
        ),
    )
    .unwrap();
    run(&["import", demo.to_str().unwrap(), "--database", &a]);
    let csv = dir.path().join("csv");
    let wrote = run(&[
        "export",
        "--format",
        "csv",
        csv.to_str().unwrap(),
        "--database",
        &a,
    ]);
    assert_eq!(wrote.lines().count(), 3, "{wrote}");
    let users = std::fs::read_to_string(csv.join("users.csv")).unwrap();
    assert!(
        users.starts_with("id,name,pin,password,extension,profiles,max_login_minutes\n"),
        "{users}"
    );
    assert!(users.contains("john,John Doe,$hmac-sha256$"), "{users}");
    assert!(users.contains(",1001,DPJOHNIPC;UserDevProf,"), "{users}");
    // Profiles first: users and devices name them.
    for file in ["profiles.csv", "users.csv", "devices.csv"] {
        let out = run(&["import", csv.join(file).to_str().unwrap(), "--database", &b]);
        assert!(out.starts_with("imported "), "{out}");
    }
    let export = |db: &str| {
        let text = run(&["export", "--database", db]);
        let dir = hotdesk::domain::directory::parse("x", &text).unwrap();
        serde_json::to_string(&(dir.users, dir.profiles, dir.devices)).unwrap()
    };
    assert_eq!(export(&b), export(&a));

    // A bad cell: the file, the row and the column, and nothing imported.
    let bad = dir.path().join("users-new.csv");
    std::fs::write(&bad, "id,max_login_minutes\nann,60\nbob,later\n").unwrap();
    let out = Command::new(BIN)
        .args(["import", bad.to_str().unwrap(), "--database", &b])
        .env("HOTDESK_SECRET_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: row 3, column max_login_minutes: \"later\" is not a number of minutes",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(!export(&b).contains("\"ann\""));
    // A CSV file whose name says nothing needs --kind.
    let vague = dir.path().join("people.csv");
    std::fs::write(&vague, "id\nann\n").unwrap();
    let out = Command::new(BIN)
        .args(["import", vague.to_str().unwrap(), "--database", &b])
        .env("HOTDESK_SECRET_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kind"));
    run(&[
        "import",
        vague.to_str().unwrap(),
        "--kind",
        "users",
        "--database",
        &b,
    ]);
    assert!(export(&b).contains("\"ann\""));
}

/// `serve --demo` has public passwords: it refuses an address other machines can reach, before
/// it creates a database, and starts on loopback.
#[test]
fn demo_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
        let out = Command::new(BIN)
            .args(["serve", "--demo", "--listen", listen, "--database"])
            .arg(format!("sqlite://{}", db.display()))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{listen}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--demo listens on loopback only"),
            "{listen}: {stderr}"
        );
        assert!(!db.exists(), "{listen}: no database was made");
    }
}
