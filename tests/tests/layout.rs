//! What the workspace's layout promises: the `oarn` binary links no parser of untrusted files
//! and none of the heavy crates that only workers need; README's layout table names every
//! folder of the workspace.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace")
}

/// The crates `oarn` links, as Cargo resolves them.
fn linked_by(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(root())
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn the_oarn_binary_links_no_parser_of_untrusted_files() {
    let linked = linked_by("oarn");
    assert!(linked.iter().any(|c| c == "oarn-node"), "{linked:?}");
    for banned in [
        "oarn-formats",
        "zip",
        "llama-cpp-2",
        "candle-core",
        "tokenizers",
        "minijinja",
        "libp2p",
        "alloy",
        "reqwest",
        "tough",
    ] {
        assert!(!linked.iter().any(|c| c == banned), "oarn links {banned}");
    }
    // The API crate the Python bindings will wrap stays light too.
    let api = linked_by("oarn-api");
    for banned in ["oarn-node", "oarn-supervise", "oarn-protocol", "nix"] {
        assert!(!api.iter().any(|c| c == banned), "oarn-api links {banned}");
    }
}

#[test]
fn readme_names_every_folder_of_the_workspace() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let layout = readme.split("## Layout").nth(1).expect("README has a Layout section");
    let layout = layout.split("\n## ").next().unwrap_or(layout);
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|m| m.split(']').next())
        .expect("workspace members");
    for member in members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
    {
        assert!(
            layout.contains(&format!("`{member}/`")),
            "README's layout lacks {member}/"
        );
        let crate_manifest = std::fs::read_to_string(root().join(member).join("Cargo.toml")).unwrap();
        let name = crate_manifest
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|n| n.strip_suffix('"'))
            .expect("a package name");
        assert!(
            layout.contains(&format!("`{name}`")),
            "README's layout does not name crate {name}"
        );
    }
}
