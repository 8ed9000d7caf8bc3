//! The git revision in `hotdesk --version`: `HOTDESK_GIT_REVISION` if the build is given one
//! (a container build has no `.git`), else `git describe`, else "unknown".

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

fn git_revision() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    };
    // A new commit or checkout changes HEAD (or the branch it points to): build again then.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{branch}");
        }
    }
    git(&["describe", "--always", "--dirty", "--abbrev=12"])
}
