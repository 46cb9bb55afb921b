//! Configuration as an operator meets it through the CLI: every error names the file, line
//! and key (or the environment variable), key material is refused without being echoed, and
//! `config set` keeps comments and refuses invalid values.

use oarn_tests::Node;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_config(node: &Node, text: &str) {
    std::fs::write(node.home().join("config.toml"), text).unwrap();
}

#[test]
fn start_without_init_says_to_run_init() {
    let node = Node::uninitialized();
    let out = node.oarn(&["start"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("run `oarn init`"), "{}", stderr(&out));
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let node = Node::new();
    let out = node.oarn(&["init"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"));
    let v = node.json(&["init", "--force", "--json"]);
    assert!(v["backup"].as_str().unwrap().ends_with("config.toml.bak"));
}

#[test]
fn init_if_missing_creates_a_home_once_and_then_leaves_it_as_it_is() {
    let node = Node::uninitialized();
    let out = node.oarn(&["init", "--if-missing"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = node.home().join("config.toml");
    std::fs::write(&config, "[node]\nname = \"mine\"\n").unwrap();
    let out = node.oarn(&["init", "--if-missing"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "[node]\nname = \"mine\"\n");
    assert!(!node.home().join("config.toml.bak").exists());
}

#[test]
fn start_init_creates_a_missing_home_and_starts_the_node() {
    // The container image's default command: its entrypoint has no shell for `oarn init`.
    let mut node = Node::uninitialized();
    let status = node.start_with(&["--init"]);
    assert!(node.home().join("config.toml").exists());
    assert_eq!(status["workers"].as_array().unwrap().len(), 3, "{status}");
    assert!(node.stop().success());
    let config = node.home().join("config.toml");
    std::fs::write(&config, "[node]\nname = \"mine\"\n").unwrap();
    node.start_with(&["--init"]);
    assert!(node.stop().success());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "[node]\nname = \"mine\"\n");
}

#[test]
fn errors_name_file_line_and_key() {
    let node = Node::new();
    let path = node.home().join("config.toml");
    let cases: &[(&str, &str)] = &[
        ("[node]\nlog_level = \n", ":2:"),
        ("[network]\nmax_peers = 5\nmaxpeers = 6\n", ":3:"),
        ("[network]\nmax_peers = \"many\"\n", ":2:"),
        ("[network]\nmode = \"turbo\"\n", ":2:"),
        ("[network]\nlisten_address = \"localhost:1\"\n", ":2:"),
        (
            "\n\n[network]\nmax_peers_per_ip = 0\n",
            ":4:1: network.max_peers_per_ip",
        ),
        (
            "[blockchain]\nrpc_urls = [\"http://127.0.0.1:8545\"]\n",
            ":2:1: blockchain.rpc_urls",
        ),
        (
            "[workers]\nping_interval_secs = 9\nping_timeout_secs = 3\n",
            ":3:1: workers.ping_timeout_secs",
        ),
        ("[wallet]\nx = 1\n", ":1:"),
    ];
    for (text, want) in cases {
        write_config(&node, text);
        for args in [&["config", "validate"][..], &["start"][..]] {
            let out = node.oarn(args);
            assert_eq!(out.status.code(), Some(78), "{text:?} {args:?}");
            let err = stderr(&out);
            assert!(err.contains(&format!("{}{want}", path.display())), "{text:?}: {err}");
        }
    }
    let v = node.json(&["config", "validate", "--json"]);
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 1);
}

#[test]
fn key_material_is_refused_and_never_echoed() {
    let node = Node::new();
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let phrase = "test test test test test test test test test test test junk";
    for text in [
        format!("[node]\nname = \"0x{key}\"\n"),
        format!("[node]\nname = \"{phrase}\"\n"),
        "[blockchain]\nprivate_key = \"x\"\n".to_string(),
    ] {
        write_config(&node, &text);
        let out = node.oarn(&["start"]);
        assert_eq!(out.status.code(), Some(78));
        let err = stderr(&out);
        assert!(err.contains("oarn wallet import"), "{err}");
        assert!(
            !err.contains(key) && !err.contains(phrase),
            "the secret was echoed: {err}"
        );
    }
    write_config(&node, "");
    let out = node
        .with_env("OARN_NODE__NAME", &format!("0x{key}"))
        .oarn(&["config", "validate"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("OARN_NODE__NAME") && !stderr(&out).contains(key));
}

#[test]
fn environment_overrides_show_and_fail_by_name() {
    let node = Node::new().with_env("OARN_NETWORK__MAX_PEERS", "17");
    assert_eq!(
        String::from_utf8(node.oarn(&["config", "get", "network.max_peers"]).stdout)
            .unwrap()
            .trim(),
        "17"
    );
    let show = String::from_utf8(node.oarn(&["config", "show"]).stdout).unwrap();
    assert!(
        show.contains("network.max_peers is set by environment variable OARN_NETWORK__MAX_PEERS"),
        "{show}"
    );
    let bad = node.with_env("OARN_NETWORK__MAX_PEERS_PER_IP", "none");
    let out = bad.oarn(&["config", "validate"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("environment variable OARN_NETWORK__MAX_PEERS_PER_IP"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn set_get_keep_comments_and_refuse_bad_values() {
    let node = Node::new();
    assert!(
        node.oarn(&["config", "set", "network.max_peers", "12"])
            .status
            .success()
    );
    assert!(node.oarn(&["config", "set", "node.name", "gpu box 1"]).status.success());
    assert_eq!(
        String::from_utf8(node.oarn(&["config", "get", "node.name"]).stdout)
            .unwrap()
            .trim(),
        "gpu box 1"
    );
    assert_eq!(node.json(&["config", "get", "network.max_peers", "--json"]), 12);
    let text = std::fs::read_to_string(node.home().join("config.toml")).unwrap();
    assert!(text.contains("# Most peers kept connected at once") && text.contains("max_peers = 12"));

    for (key, value, want) in [
        ("network.max_peers", "0", "out of range"),
        ("network.nope", "1", "unknown key"),
        ("network", "1", "is a section"),
        ("network.mode", "turbo", "turbo"),
    ] {
        let out = node.oarn(&["config", "set", key, value]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(want), "{key}={value}: {}", stderr(&out));
    }
    assert_eq!(
        std::fs::read_to_string(node.home().join("config.toml")).unwrap(),
        text,
        "refused sets change nothing"
    );
    let path = String::from_utf8(node.oarn(&["config", "path"]).stdout).unwrap();
    assert_eq!(path.trim(), node.home().join("config.toml").display().to_string());
}

#[test]
fn edit_keeps_only_a_valid_result() {
    let node = Node::new();
    let before = std::fs::read_to_string(node.home().join("config.toml")).unwrap();
    let mut bad = node.with_env("EDITOR", "sed -i 's/^max_peers = 50/max_peers = 0/'");
    let out = bad.oarn(&["config", "edit"]);
    assert_eq!(out.status.code(), Some(78));
    assert_eq!(std::fs::read_to_string(bad.home().join("config.toml")).unwrap(), before);
    assert!(
        bad.home().join("config.edit.toml").exists(),
        "the rejected draft is kept"
    );
    bad.env = vec![("EDITOR".into(), "sed -i 's/^max_peers = 50/max_peers = 8/'".into())];
    let good = bad;
    assert!(good.oarn(&["config", "edit"]).status.success());
    assert_eq!(good.json(&["config", "get", "network.max_peers", "--json"]), 8);
}

#[test]
fn reload_applies_live_keys_and_keeps_a_good_config_over_a_broken_one() {
    let mut node = Node::new();
    node.start();
    assert!(node.oarn(&["config", "set", "network.max_peers", "9"]).status.success());
    assert!(
        node.oarn(&["config", "set", "network.listen_port", "4100"])
            .status
            .success()
    );
    let change = node.json(&["config", "reload", "--json"]);
    assert_eq!(change["applied"], serde_json::json!(["network.max_peers"]));
    assert_eq!(change["needs_restart"], serde_json::json!(["network.listen_port"]));

    write_config(&node, "[network]\nmax_peers = \n");
    let out = node.oarn(&["config", "reload"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("running configuration was kept") && stderr(&out).contains(":2:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(node.status().unwrap()["running"], true);

    // SIGHUP does the same as `oarn config reload`.
    write_config(&node, "[node]\nlog_level = \"debug\"\n[network]\nmax_peers = 9\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(node.daemon_pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let reloaded = oarn_tests::wait_for(std::time::Duration::from_secs(10), || {
        node.log().contains("applied: node.log_level").then_some(())
    });
    assert!(reloaded.is_some(), "{}", node.log());
    node.stop();
}

#[test]
fn completions_and_man_page() {
    let node = Node::uninitialized();
    let bash = node.oarn(&["completions", "bash"]);
    assert!(bash.status.success() && String::from_utf8_lossy(&bash.stdout).contains("oarn"));
    let man = node.oarn(&["man"]);
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH oarn"));
}
