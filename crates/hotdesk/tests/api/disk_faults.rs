//! Faults of the disk under a running server, on a small filesystem the test mounts itself:
//! - a tmpfs of a few MiB fills up, then has room again: writes answer code 6 while it is
//!   full, reads go on, nothing acknowledged is lost, and service resumes by itself;
//! - an ext4 image, mounted `errors=remount-ro`, hits a filesystem error and the kernel makes
//!   it read-only under the running server (ext4's `trigger_fs_error`, the same path as a real
//!   disk error): writes answer code 6, reads go on, and what was acknowledged is on the disk.
//!   Such a filesystem cannot be made writable again while files are open on it, so the
//!   fault clears only by the operator's repair: the test copies the files to a healthy disk
//!   and finds every acknowledged login there.
//!
//! Mounting needs root (CI runs as root). Elsewhere the tests say so and pass, except under
//! `CI=true`, where they fail: a fault test that silently did nothing is no test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;

/// A tmpfs of `size` mounted on a folder of its own; unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            cannot("cannot mount a tmpfs (not root?)");
            return None;
        }
        Some(SmallDisk { _dir: dir, path })
    }

    /// Write a file until the disk has no room left; the file, to give the room back.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..100_000 {
            if file.write_all(&chunk).is_err() {
                break;
            }
        }
        // Whatever is left below a chunk, byte by byte (bounded: less than a chunk).
        for _ in 0..chunk.len() {
            if file.write_all(&[0]).and_then(|()| file.flush()).is_err() {
                break;
            }
        }
        filler
    }
}

/// Skip (or, under `CI=true`, fail) a test that cannot make its fault here.
fn cannot(what: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what}: the disk fault tests cannot run"
    );
    eprintln!("disk_faults: {what}; skipped");
}

/// An ext4 image of its own, mounted `errors=remount-ro` on a loop device.
struct Ext4Disk {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// `/sys/fs/ext4/<loop device>/trigger_fs_error`.
    trigger: PathBuf,
}

impl Ext4Disk {
    fn mount() -> Option<Ext4Disk> {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        if !ok(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))
            || !ok(Command::new("mount")
                .args(["-o", "loop,errors=remount-ro"])
                .arg(&image)
                .arg(&path))
        {
            cannot("cannot make and mount an ext4 image (not root? no mkfs.ext4?)");
            return None;
        }
        let source = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(&path)
            .output()
            .unwrap();
        let device = String::from_utf8_lossy(&source.stdout).trim().to_string();
        let name = device.rsplit('/').next().unwrap_or("").to_string();
        let trigger = PathBuf::from(format!("/sys/fs/ext4/{name}/trigger_fs_error"));
        let disk = Ext4Disk {
            _dir: dir,
            path,
            trigger,
        };
        if !disk.trigger.exists() {
            cannot("this kernel's ext4 has no trigger_fs_error");
            return None;
        }
        Some(disk)
    }

    /// What a failing disk does to ext4 under `errors=remount-ro`: read-only, at once.
    fn fail(&self) {
        std::fs::write(&self.trigger, "hotdesk disk fault test").unwrap();
        assert!(
            std::fs::write(self.path.join("probe"), "x").is_err(),
            "the filesystem is read-only now"
        );
    }
}

impl Drop for Ext4Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// `n` users `fu0..` and devices `FDEV0..`, each user with the demo's profile.
fn people(n: usize) -> String {
    let mut toml = String::new();
    for i in 0..n {
        toml.push_str(&format!(
            "[[users]]\nid = \"fu{i}\"\nprofiles = [\"UserDevProf\"]\n\n[[devices]]\nname = \"FDEV{i}\"\n\n"
        ));
    }
    toml
}

fn logged_in(answer: &str, user: &str) -> bool {
    answer.contains(&format!("<userID>{user}</userID>"))
}

fn code_6(answer: &str) -> bool {
    answer.contains("<error code=\"6\">")
}

/// Log `fu{i}` in at `FDEV{i}` for each `i` in `range`; the acknowledged ones. Every answer
/// is a success or code 6, nothing else.
async fn log_in(app: &TestApp, range: std::ops::Range<usize>) -> (Vec<usize>, usize) {
    let (mut acked, mut refused) = (Vec::new(), 0);
    for i in range {
        let answer = app
            .em(&login_xml(&format!("FDEV{i}"), &format!("fu{i}"), ""))
            .await;
        if answer == success() {
            acked.push(i);
        } else {
            assert!(code_6(&answer), "a full disk answers code 6: {answer}");
            refused += 1;
        }
    }
    (acked, refused)
}

async fn assert_all_there(app: &TestApp, acked: &[usize]) {
    for &i in acked {
        let answer = app.em(&device_query(&format!("FDEV{i}"))).await;
        assert!(
            logged_in(&answer, &format!("fu{i}")),
            "acknowledged login {i} lost: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_answers_code_6_loses_nothing_and_service_resumes() {
    let Some(disk) = SmallDisk::mount("24m") else {
        return;
    };
    let db: &Path = &disk.path.join("hotdesk.db");
    let app = spawn_app_at(db, &people(3000)).await;
    let (mut acked, _) = log_in(&app, 0..20).await;
    assert_eq!(acked.len(), 20, "the disk has room");

    let filler = disk.fill();
    // Logins append rows and events: the database must grow, and soon cannot. (Some may
    // still fit in pages SQLite already has.)
    let (more, refused) = log_in(&app, 20..2020).await;
    acked.extend(&more);
    assert!(refused > 0, "a full disk refused no write in 2000 logins");
    // Reads go on.
    assert_all_there(&app, &acked).await;

    std::fs::remove_file(filler).unwrap();
    let (after, refused) = log_in(&app, 2020..2040).await;
    assert_eq!(
        (after.len(), refused),
        (20, 0),
        "service resumes once there is room"
    );
    acked.extend(&after);
    assert_all_there(&app, &acked).await;

    // And all of it is on the disk: another server opening the same file sees it.
    let again = app.another_server().await;
    for &i in &acked {
        let answer = post_em(&app.client, &again, &device_query(&format!("FDEV{i}"))).await;
        assert!(
            logged_in(&answer, &format!("fu{i}")),
            "login {i} not on disk: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disk_gone_read_only_answers_code_6_and_keeps_what_was_acknowledged() {
    let Some(disk) = Ext4Disk::mount() else {
        return;
    };
    let db = disk.path.join("hotdesk.db");
    let app = spawn_app_at(&db, &people(100)).await;
    let (acked, _) = log_in(&app, 0..20).await;
    assert_eq!(acked.len(), 20, "the disk works");

    disk.fail();
    let (more, refused) = log_in(&app, 20..40).await;
    assert_eq!(
        (more.len(), refused),
        (0, 20),
        "a read-only disk takes no write"
    );
    assert_all_there(&app, &acked).await;

    // The operator's repair: the files, as the disk holds them, on a healthy disk.
    let healthy = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            std::fs::copy(&from, healthy.path().join(format!("hotdesk.db{suffix}"))).unwrap();
        }
    }
    let url = format!("sqlite://{}", healthy.path().join("hotdesk.db").display());
    let store = hotdesk::store::open(&url).await.unwrap();
    for &i in &acked {
        let state = store
            .device_state(&hotdesk::domain::Key::of(&format!("FDEV{i}")), T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            state.login.map(|l| String::from(l.user)),
            Some(format!("fu{i}")),
            "acknowledged login {i} is on the disk"
        );
    }
}
