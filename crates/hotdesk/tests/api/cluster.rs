//! Several real `hotdesk serve` processes over one PostgreSQL database (docs/scale-out.md): racing
//! logins through all of them, auto-logouts that happen once, sessions valid everywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hotdesk::domain::{EventKind, Timestamp};
use hotdesk::store::testing::scratch_postgres;

use crate::helpers::*;
use crate::process::{BIN, Server, start_with};

const USERS: usize = 30;
const DEVICES: usize = 10;

/// One app with proxy rights, an admin, `USERS` users who may use profile P, `DEVICES` phones.
fn directory() -> String {
    let mut d = String::from(
        "[policy]\nmultiple_login = \"not-allowed\"\n\n\
         [[apps]]\nid = \"appid\"\ncertificate = \"apppasswd\"\nproxy = true\n\n\
         [[admins]]\nusername = \"admin\"\npassword = \"change-me\"\nrole = \"admin\"\n\n\
         [[profiles]]\nname = \"P\"\n\n",
    );
    for u in 0..USERS {
        d.push_str(&format!(
            "[[users]]\nid = \"u{u:02}\"\nprofiles = [\"P\"]\n\n"
        ));
    }
    for n in 0..DEVICES {
        d.push_str(&format!("[[devices]]\nname = \"SEPD{n:02}\"\n\n"));
    }
    d
}

fn device_name(n: usize) -> String {
    format!("SEPD{n:02}")
}

/// Start `count` nodes at once, all with the secret key file `key`; each is up when it has
/// run its start-up auto-logout pass.
fn start_nodes(url: &str, key: &Path, count: usize, clock_start: Timestamp) -> Vec<Server> {
    let handles: Vec<_> = (0..count)
        .map(|_| {
            let url = url.to_string();
            let key = key.display().to_string();
            std::thread::spawn(move || {
                start_with(&url, clock_start.0, &["--secret-key-file", &key])
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// The user each node says is on each device.
async fn who_is_where(node: &Server) -> BTreeMap<String, String> {
    let mut seen = BTreeMap::new();
    for n in 0..DEVICES {
        let answer = node.em(&device_query(&device_name(n))).await;
        if let Some(start) = answer.find("<userID>") {
            let user = answer[start + 8..].split('<').next().unwrap().to_string();
            seen.insert(device_name(n), user);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_over_one_database_agree_on_everything() {
    let Some(schema) = scratch_postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.toml");
    std::fs::write(&file, directory()).unwrap();
    let key = dir.path().join("secret.key");
    let out = Command::new(BIN)
        .arg("import")
        .arg(&file)
        .args(["--database", &schema.url])
        .arg("--secret-key-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes = start_nodes(&schema.url, &key, 3, T0);

    // Every user tries two devices at once, through two different nodes: one hour each.
    let timed = "<exclusiveDuration><time>60</time></exclusiveDuration>";
    let attempts: Vec<(usize, usize, usize)> = (0..USERS)
        .flat_map(|u| [(u, u % DEVICES, u % 3), (u, (u + 3) % DEVICES, (u + 1) % 3)])
        .collect();
    let answers = futures::future::join_all(attempts.iter().map(|&(u, d, node)| {
        let xml = login_xml(&device_name(d), &format!("u{u:02}"), timed);
        let node = &nodes[node];
        async move { node.em(&xml).await }
    }))
    .await;
    let mut won: BTreeMap<String, String> = BTreeMap::new();
    let mut users_placed = BTreeSet::new();
    for (&(u, d, _), answer) in attempts.iter().zip(&answers) {
        if *answer == success() {
            let user = format!("u{u:02}");
            assert!(
                won.insert(device_name(d), user.clone()).is_none(),
                "two successes for {}",
                device_name(d)
            );
            assert!(users_placed.insert(user), "u{u:02} got two devices");
        } else {
            assert!(
                *answer == failure(18, "Another user logged in")
                    || *answer == failure(25, "User logged in elsewhere"),
                "{answer}"
            );
        }
    }
    assert_eq!(won.len(), DEVICES, "every device was taken by someone");
    // Every node sees every acknowledged login.
    for node in &nodes {
        assert_eq!(who_is_where(node).await, won);
    }

    // An admin session opened on one node works on the others.
    let login = "<loginRequest><protVersion>1.0</protVersion><username>admin</username>\
                 <password>change-me</password></loginRequest>";
    let response = nodes[0]
        .client
        .post(format!("{}/nbi/login", nodes[0].base))
        .body(login)
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap()[..73].to_string();
    for node in &nodes[1..] {
        let ping = node
            .client
            .post(format!("{}/nbi/ping", node.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(ping.status(), 200);
    }

    // Two hours later, three nodes start at once: each login ends exactly once.
    for node in nodes {
        node.terminate();
    }
    let later = T0.plus(Duration::from_secs(2 * 3600));
    let nodes = start_nodes(&schema.url, &key, 3, later);
    let store = hotdesk::store::open(&schema.url).await.unwrap();
    let events = store.events_after(0, 10_000).await.unwrap();
    let ended: Vec<String> = events
        .iter()
        .filter(|e| e.event.kind == EventKind::AutoLogout)
        .map(|e| e.event.device.clone().unwrap())
        .collect();
    let mut unique = ended.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ended.len(), "an auto-logout happened twice");
    assert_eq!(unique, won.keys().cloned().collect::<Vec<_>>());
    // The event sequence has no gaps.
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    for node in &nodes {
        assert!(who_is_where(node).await.is_empty());
    }
    for node in nodes {
        node.terminate();
    }
}
