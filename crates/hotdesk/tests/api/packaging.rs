//! What a packager ships: the version, completions, the manual page, the systemd unit, the
//! container's health check.

use std::process::Command;

use crate::helpers::*;
use crate::process::BIN;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_version_names_the_revision_it_was_built_from() {
    let (ok, out) = run(&["--version"]);
    assert!(ok);
    let expected = format!("hotdesk {} (", env!("CARGO_PKG_VERSION"));
    assert!(out.starts_with(&expected), "{out}");
    let revision = out
        .trim_end()
        .trim_end_matches(')')
        .rsplit('(')
        .next()
        .unwrap();
    assert!(!revision.is_empty(), "{out}");
}

#[test]
fn completions_and_the_manual_page_come_from_the_command_line_itself() {
    for (shell, mark) in [
        ("bash", "_hotdesk()"),
        ("zsh", "#compdef hotdesk"),
        ("fish", "complete -c hotdesk"),
    ] {
        let (ok, out) = run(&["completions", shell]);
        assert!(ok, "{shell}");
        assert!(
            out.contains(mark),
            "{shell}: {}",
            &out[..out.len().min(200)]
        );
        assert!(
            out.contains("serve") && out.contains("logout-all"),
            "{shell}"
        );
    }
    let (ok, man) = run(&["man"]);
    assert!(ok);
    assert!(
        man.contains(".TH hotdesk 1"),
        "{}",
        &man[..man.len().min(200)]
    );
    assert!(man.contains("Extension Mobility"));
}

/// `systemd-analyze verify` (Debian's systemd) on the unit as shipped, with its ExecStart
/// pointing at this build (verify checks that the program exists), and without looking for
/// the manual page it names (`hotdesk man` makes it; a package installs it).
#[test]
fn the_systemd_unit_verifies() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "systemd-analyze is needed under CI (Debian's systemd package)"
        );
        eprintln!("skipped: systemd-analyze is not installed (Debian's systemd package)");
        return;
    };
    assert!(probe.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contrib/hotdesk.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/hotdesk serve"));
    for hardening in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotdesk.service");
    std::fs::write(&path, unit.replace("/usr/bin/hotdesk", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A unit with a mistake does not pass: the check can fail.
    let broken = dir.path().join("broken.service");
    std::fs::write(
        &broken,
        unit.replace("ProtectSystem=strict", "ProtectSystem=sometimes")
            .replace("/usr/bin/hotdesk", BIN),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&broken)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("protect system value") && said.contains("sometimes"),
        "a broken unit passed: {said}"
    );
}

#[tokio::test]
async fn the_health_check_says_whether_the_server_answers() {
    let app = spawn_app().await;
    let base = app.base.clone();
    let up = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["health", "--url", &base])
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(up.success());
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let down = Command::new(BIN)
        .args(["health", "--url", &closed])
        .status()
        .unwrap();
    assert_eq!(down.code(), Some(1));
}
