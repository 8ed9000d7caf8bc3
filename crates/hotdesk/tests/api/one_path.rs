//! One provisioning path: a random directory file imported into one server, and the same
//! entities created one by one through the admin API of another, export byte for byte alike.
//! Names are spelled in random case wherever they are referred to.

use hotdesk::domain::directory::{self, AppEntry, DirectoryFile, OneOrMany, ProfileEntry};
use hotdesk::domain::directory::{AdminEntry, DeviceEntry, UserEntry};
use hotdesk::domain::{Role, secrets};
use hotdesk::http::ServerOptions;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::configservice::{method, session};
use crate::helpers::*;

/// Stored secrets: hashes, which both paths keep as they are (hashing the same secret twice
/// gives two salts, and the exports would differ for that reason alone).
struct Hashes(Vec<String>);

/// `name` with each letter's case picked by the bits of `case`.
fn spell(name: &str, case: u32) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| match (case >> (i % 32)) & 1 {
            1 => c.to_ascii_uppercase(),
            _ => c.to_ascii_lowercase(),
        })
        .collect()
}

fn maybe<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

/// A directory file over `hashes` secrets: up to four of each kind, users naming profiles in
/// any spelling and any number of times.
fn directory_file(hashes: usize) -> impl Strategy<Value = DirectoryFile> {
    let word = "[A-Za-z][a-z0-9]{0,6}( [a-z0-9]{1,5})?";
    let profiles = prop::collection::vec(
        (maybe(word), maybe(prop::collection::vec("[0-9]{4}", 0..3))),
        1..4,
    );
    // A device's logout profile: one of the profiles, in any spelling.
    let devices = prop::collection::vec(
        (
            maybe(word),
            maybe(any::<bool>()),
            maybe((0..4usize, any::<u32>())),
        ),
        0..4,
    );
    let apps = prop::collection::vec(
        (
            prop::collection::vec(0..hashes, 1..3),
            any::<bool>(),
            maybe(any::<bool>()),
        ),
        0..3,
    );
    let users = prop::collection::vec(
        (
            maybe("[0-9]{4,8}"),
            maybe(0..hashes),
            maybe(word),
            maybe(prop::collection::vec((0usize..4, any::<u32>()), 0..4)),
            maybe(1u32..100_000),
            maybe("\\+?[0-9]{3,6}"),
        ),
        0..4,
    );
    let admins = prop::collection::vec(
        (
            0..hashes,
            maybe(prop::sample::select(vec![
                Role::Admin,
                Role::Operator,
                Role::Auditor,
            ])),
        ),
        0..3,
    );
    (profiles, devices, apps, users, admins, any::<u32>()).prop_map(
        |(profiles, devices, apps, users, admins, case)| {
            let profile_names: Vec<String> = (0..profiles.len())
                .map(|i| spell(&format!("prof-{i}"), case))
                .collect();
            DirectoryFile {
                policy: None,
                profiles: profiles
                    .into_iter()
                    .zip(&profile_names)
                    .map(|((description, lines), name)| ProfileEntry {
                        name: name.clone(),
                        description,
                        lines,
                    })
                    .collect(),
                devices: devices
                    .into_iter()
                    .enumerate()
                    .map(|(i, (model, em_enabled, logout))| DeviceEntry {
                        name: format!("SEPF00D{i:08}"),
                        model,
                        em_enabled,
                        logout_profile: logout
                            .map(|(p, case)| spell(&profile_names[p % profile_names.len()], case)),
                    })
                    .collect(),
                apps: apps
                    .into_iter()
                    .enumerate()
                    .map(|(i, (certs, one, proxy))| AppEntry {
                        id: format!("kiosk{i}"),
                        certificate: Some(match one {
                            true => OneOrMany::One(certs[0].to_string()),
                            false => OneOrMany::Many(certs.iter().map(|c| c.to_string()).collect()),
                        }),
                        proxy,
                    })
                    .collect(),
                users: users
                    .into_iter()
                    .enumerate()
                    .map(
                        |(i, (pin, password, name, named, max, extension))| UserEntry {
                            id: format!("User{i}"),
                            pin,
                            password: password.map(|p| p.to_string()),
                            name,
                            profiles: named.map(|named| {
                                named
                                    .into_iter()
                                    .map(|(p, case)| {
                                        spell(&profile_names[p % profile_names.len()], case)
                                    })
                                    .collect()
                            }),
                            max_login_minutes: max,
                            extension,
                        },
                    )
                    .collect(),
                admins: admins
                    .into_iter()
                    .enumerate()
                    .map(|(i, (password, role))| AdminEntry {
                        username: format!("Ops{i}"),
                        password: Some(password.to_string()),
                        role,
                    })
                    .collect(),
            }
        },
    )
}

/// Secret indices in `dir` become the hashes they stand for.
fn with_hashes(mut dir: DirectoryFile, hashes: &Hashes) -> DirectoryFile {
    let hash = |s: &str| hashes.0[s.parse::<usize>().unwrap()].clone();
    for a in &mut dir.apps {
        a.certificate = a.certificate.take().map(|c| match c {
            OneOrMany::One(s) => OneOrMany::One(hash(&s)),
            OneOrMany::Many(v) => OneOrMany::Many(v.iter().map(|s| hash(s)).collect()),
        });
    }
    for u in &mut dir.users {
        u.password = u.password.as_deref().map(hash);
    }
    for a in &mut dir.admins {
        a.password = a.password.as_deref().map(hash);
    }
    dir
}

fn element(name: &str, value: &str) -> String {
    format!("<{name}>{value}</{name}>")
}

fn list(name: &str, item: &str, values: &[String]) -> String {
    let items: String = values.iter().map(|v| element(item, v)).collect();
    element(name, &items)
}

/// The admin API calls that create what `dir` describes, in an order that works.
fn admin_calls(dir: &DirectoryFile) -> Vec<(&'static str, String)> {
    let mut calls = Vec::new();
    let opt =
        |name: &str, v: &Option<String>| v.as_ref().map(|v| element(name, v)).unwrap_or_default();
    for p in &dir.profiles {
        let lines = p
            .lines
            .as_ref()
            .map(|l| list("lines", "line", l))
            .unwrap_or_default();
        let body = format!(
            "{}{}{lines}",
            element("name", &p.name),
            opt("description", &p.description)
        );
        calls.push(("addDeviceProfile", element("deviceProfile", &body)));
    }
    for d in &dir.devices {
        let enabled = d
            .em_enabled
            .map(|e| element("emEnabled", &e.to_string()))
            .unwrap_or_default();
        let body = format!(
            "{}{}{enabled}{}",
            element("name", &d.name),
            opt("model", &d.model),
            opt("logoutProfile", &d.logout_profile)
        );
        calls.push(("addDevice", element("device", &body)));
    }
    for a in &dir.apps {
        let certificate = match &a.certificate {
            Some(OneOrMany::One(c)) => element("certificate", c),
            Some(OneOrMany::Many(v)) => list("certificates", "certificate", v),
            None => String::new(),
        };
        let proxy = a
            .proxy
            .map(|p| element("proxy", &p.to_string()))
            .unwrap_or_default();
        let body = format!("{}{certificate}{proxy}", element("id", &a.id));
        calls.push(("addApplication", element("application", &body)));
    }
    for u in &dir.users {
        let profiles = u
            .profiles
            .as_ref()
            .map(|p| list("profiles", "profile", p))
            .unwrap_or_default();
        let max = u
            .max_login_minutes
            .map(|m| element("maxLoginMinutes", &m.to_string()))
            .unwrap_or_default();
        let body = format!(
            "{}{}{}{}{profiles}{max}{}",
            element("id", &u.id),
            opt("pin", &u.pin),
            opt("password", &u.password),
            opt("name", &u.name),
            opt("extension", &u.extension),
        );
        calls.push(("addUser", element("user", &body)));
    }
    for a in &dir.admins {
        // A directory file's account is an admin unless it says otherwise; the API asks.
        let role = a.role.unwrap_or(Role::Admin).as_str();
        let body = format!(
            "{}{}{}",
            element("username", &a.username),
            opt("password", &a.password),
            element("role", role)
        );
        calls.push(("addAdmin", element("admin", &body)));
    }
    calls
}

/// The export of `app`, of the entities `dir` names (the demo directory both servers start
/// with hashed its secrets twice, with two salts).
async fn export(app: &TestApp, dir: &DirectoryFile) -> String {
    let mut all = directory::export(app.store.as_ref()).await.unwrap();
    let named =
        |names: Vec<&String>| -> Vec<String> { names.iter().map(|n| n.to_lowercase()).collect() };
    let apps = named(dir.apps.iter().map(|a| &a.id).collect());
    let users = named(dir.users.iter().map(|u| &u.id).collect());
    let profiles = named(dir.profiles.iter().map(|p| &p.name).collect());
    let devices = named(dir.devices.iter().map(|d| &d.name).collect());
    let admins = named(dir.admins.iter().map(|a| &a.username).collect());
    all.apps.retain(|a| apps.contains(&a.id.to_lowercase()));
    all.users.retain(|u| users.contains(&u.id.to_lowercase()));
    all.profiles
        .retain(|p| profiles.contains(&p.name.to_lowercase()));
    all.devices
        .retain(|d| devices.contains(&d.name.to_lowercase()));
    all.admins
        .retain(|a| admins.contains(&a.username.to_lowercase()));
    directory::to_toml(&all)
}

#[test]
fn a_directory_file_and_the_same_edits_over_the_admin_api_export_alike() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hashes = Hashes(vec![
        secrets::hash("first-secret"),
        secrets::hash("second-secret"),
        secrets::hash("third-secret"),
    ]);
    // Both servers hash PINs under one key, as two nodes of one installation do.
    let options = ServerOptions::default();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(8);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&directory_file(hashes.0.len()), |dir| {
            let dir = with_hashes(dir, &hashes);
            let text = directory::to_toml(&dir);
            runtime.block_on(async {
                let by_file = spawn_app_with_options(&text, options.clone()).await;
                let by_api = spawn_app_with_options("", options.clone()).await;
                let cookie = session(&by_api, "admin", "change-me").await;
                for (name, object) in admin_calls(&dir) {
                    let answer = method(&by_api, &cookie, name, &object).await;
                    prop_assert_eq!(answer.code(), None, "{} {}: {}", name, object, answer.body);
                }
                let (file_export, api_export) =
                    (export(&by_file, &dir).await, export(&by_api, &dir).await);
                prop_assert_eq!(file_export, api_export, "file:\n{}", text);
                Ok(())
            })
        })
        .unwrap();
}
