//! The systemd unit operators install: every directive known to systemd, and its exposure
//! score (`systemd-analyze security --offline=true`) at most 2.0.

use std::path::Path;
use std::process::Command;

fn unit() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd/oarn.service")
}

fn analyze_available() -> bool {
    let ok = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok || !oarn_tests::skip(
        "checking the unit",
        "systemd-analyze is not installed (scripts/test installs it)",
    )
}

#[test]
fn exposure_score_is_at_most_two() {
    if !analyze_available() {
        return;
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(unit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for oarn.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in: {text}"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}

#[test]
fn every_directive_is_known_to_systemd() {
    if !analyze_available() {
        return;
    }
    // Point the unit at the built binary, as a package would at /usr/bin/oarn.
    let dir = tempfile::tempdir().unwrap();
    let oarn = oarn_tests::bin_dir().join("oarn");
    let text = std::fs::read_to_string(unit())
        .unwrap()
        .replace("/usr/bin/oarn", oarn.to_str().unwrap());
    let path = dir.path().join("oarn.service");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("man oarn(1)") && !l.trim().is_empty())
        .collect();
    assert!(problems.is_empty(), "systemd-analyze verify: {problems:#?}");
}
