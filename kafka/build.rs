//! The git commit the binaries are built from, as `AEGIS_GIT_SHA` for `aegis_build_info{git_sha}`:
//! the variable `AEGIS_GIT_SHA` when the build sets it (an image built without `.git`), else
//! `git rev-parse --short=12 HEAD`, else `unknown`. Built again when HEAD moves.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=AEGIS_GIT_SHA");
    let sha = std::env::var("AEGIS_GIT_SHA")
        .ok()
        .filter(|sha| !sha.trim().is_empty())
        .or_else(git_sha)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=AEGIS_GIT_SHA={}", sha.trim());
}

/// `git` run in this crate's directory: its trimmed output, or `None`.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn git_sha() -> Option<String> {
    let sha = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD, the branch it names and the packed refs: whichever exist (a missing file would make
    // cargo run this script on every build).
    let mut watched = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        watched.push(format!("{dir}/HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
        watched.push(format!("{common}/packed-refs"));
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(format!("{common}/{branch}"));
        }
    }
    for path in watched.iter().filter(|p| Path::new(p).is_file()) {
        println!("cargo:rerun-if-changed={path}");
    }
    Some(sha)
}
