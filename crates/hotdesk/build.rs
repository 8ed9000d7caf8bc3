//! The git revision in `hotdesk --version`: `HOTDESK_GIT_REVISION` if the build is given one
//! (a container build has no `.git`), else `git describe`, else "unknown".

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HOTDESK_GIT_REVISION");
    let revision = std::env::var("HOTDESK_GIT_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=HOTDESK_GIT_REVISION={revision}");
}

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

fn git_revision() -> Option<String> {
    let revision = git(&["describe", "--always", "--dirty", "--abbrev=12"])?;
    // Build again when HEAD moves (a commit, a checkout) or the tree's state changes (dirty):
    // the files git keeps that for, wherever this checkout keeps them (worktrees, packed refs).
    // A path that does not exist would make every build rerun this, so only those that do.
    let mut watched = vec![
        "HEAD".to_string(),
        "index".to_string(),
        "packed-refs".to_string(),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(revision)
}
