//! `oarn wallet` as an operator runs it: every key operation goes through the sandboxed chain
//! worker; keys and passphrases come from files or standard input, never argv, and never reach
//! output or logs; a wrong passphrase or a damaged keystore is a clear error that changes
//! nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use oarn_tests::Node;
use serde_json::Value;

/// The key and passphrase of the Web3 Secret Storage test vectors.
const VECTOR_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
const VECTOR_ADDRESS: &str = "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b";
/// The PBKDF2 vector of the definition, as geth's test data carries it.
const VECTOR_PBKDF2: &str = r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},"ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2","kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},"mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#;
/// The phrase anvil and hardhat derive their accounts from, and its account 0 and 1.
const TEST_PHRASE: &str = "test test test test test test test test test test test junk";
const TEST_ACCOUNT0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const TEST_ACCOUNT1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const PASSPHRASE: &str = "correct horse battery";

fn file(node: &Node, name: &str, text: &str) -> PathBuf {
    let p = node.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// A node with the test phrase imported under [`PASSPHRASE`]; returns the passphrase file.
fn with_test_wallet() -> (Node, PathBuf) {
    let node = Node::new();
    let pass = file(&node, "pass", &format!("{PASSPHRASE}\n"));
    let out = node.oarn_with_input(
        &[
            "wallet",
            "import",
            "--mnemonic",
            "--new-passphrase-file",
            pass.to_str().unwrap(),
            "--json",
        ],
        TEST_PHRASE,
    );
    assert_eq!(json(&out)["address"], TEST_ACCOUNT0);
    (node, pass)
}

#[test]
fn create_shows_the_phrase_once_and_confirms_it() {
    let node = Node::new();
    let pass = file(&node, "pass", PASSPHRASE);
    let mut child = node
        .command(&[
            "wallet",
            "create",
            "--words",
            "12",
            "--new-passphrase-file",
            pass.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut words = Vec::new();
    let mut line = String::new();
    while words.len() < 12 {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the phrase was not shown");
        // "   1. word      2. word …"
        let mut parts = line.split_whitespace();
        while let (Some(n), Some(w)) = (parts.next(), parts.next()) {
            if n.strip_suffix('.').is_some_and(|n| n.parse::<usize>().is_ok()) {
                words.push(w.to_string());
            }
        }
    }
    // Two prompts on stderr name the words asked for; answer each.
    let mut stderr = child.stderr.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = String::new();
    let mut answered = 0;
    while answered < 2 {
        let mut b = [0u8; 1];
        assert_eq!(stderr.read(&mut b).unwrap(), 1, "no confirmation prompt: {seen}");
        seen.push(b[0] as char);
        if seen.ends_with(": ") {
            let n: usize = seen
                .rsplit('#')
                .next()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            writeln!(stdin, "{}", words[n - 1]).unwrap();
            seen.clear();
            answered += 1;
        }
    }
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    let created = rest.split_whitespace().last().unwrap().to_string();
    assert!(created.starts_with("0x") && created.len() == 42, "{rest}");

    let keystore = node.home().join("wallet.encrypted");
    assert_eq!(std::fs::metadata(&keystore).unwrap().mode() & 0o777, 0o600);
    let sealed = std::fs::read_to_string(&keystore).unwrap();
    assert!(
        !sealed.contains(&words[0]) || !sealed.contains(&words[1]),
        "the phrase is not stored in clear"
    );

    // The same phrase restores the same address elsewhere.
    let other = Node::new();
    let out = other.oarn_with_input(
        &[
            "wallet",
            "import",
            "--mnemonic",
            "--new-passphrase-file",
            pass.to_str().unwrap(),
            "--json",
        ],
        &words.join(" "),
    );
    assert_eq!(json(&out)["address"], created.as_str());
    assert_eq!(node.json(&["wallet", "address", "--json"])["address"], created.as_str());
}

#[test]
fn a_wrong_confirmation_writes_nothing() {
    let node = Node::new();
    let pass = file(&node, "pass", PASSPHRASE);
    let out = node.oarn_with_input(
        &["wallet", "create", "--new-passphrase-file", pass.to_str().unwrap()],
        "notaword\nnotaword\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not match"), "{}", text(&out));
    assert!(!node.home().join("wallet.encrypted").exists());
}

#[test]
fn imports_keys_phrases_and_v3_files() {
    let node = Node::new();
    let pass = file(&node, "pass", PASSPHRASE);
    let pass = pass.to_str().unwrap();
    // A raw key on stdin.
    let out = node.oarn_with_input(
        &[
            "wallet",
            "import",
            "--private-key",
            "--new-passphrase-file",
            pass,
            "--json",
        ],
        &format!("0x{VECTOR_KEY}\n"),
    );
    assert_eq!(json(&out)["address"], VECTOR_ADDRESS);
    assert!(!text(&out).contains(VECTOR_KEY));

    // A V3 file (PBKDF2, as in the specification) into another home.
    let v3_home = Node::new();
    let v3 = file(&v3_home, "v3.json", VECTOR_PBKDF2);
    let v3_pass = file(&v3_home, "v3pass", "testpassword");
    let out = v3_home.oarn(&[
        "wallet",
        "import",
        "--keystore-json",
        v3.to_str().unwrap(),
        "--json-passphrase-file",
        v3_pass.to_str().unwrap(),
        "--new-passphrase-file",
        pass,
        "--json",
    ]);
    assert_eq!(json(&out)["address"], VECTOR_ADDRESS);

    // A phrase from a file; account 1 needs the passphrase.
    let (phrase_node, pass_file) = with_test_wallet();
    let out = phrase_node.oarn(&[
        "wallet",
        "address",
        "--index",
        "1",
        "--passphrase-file",
        pass_file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(json(&out)["address"], TEST_ACCOUNT1);

    // Bad input is named and nothing is written.
    let bad = Node::new();
    let out = bad.oarn_with_input(
        &["wallet", "import", "--private-key", "--new-passphrase-file", pass],
        "0x1234\n",
    );
    assert_eq!(out.status.code(), Some(12));
    assert!(text(&out).contains("64 hex digits"), "{}", text(&out));
    let out = bad.oarn_with_input(
        &["wallet", "import", "--mnemonic", "--new-passphrase-file", pass],
        "test test test test test test test test test test test test",
    );
    assert_eq!(out.status.code(), Some(12));
    assert!(text(&out).contains("not a valid BIP-39 mnemonic"), "{}", text(&out));
    assert!(!bad.home().join("wallet.encrypted").exists());

    // A second import never replaces a wallet.
    let out = node.oarn_with_input(
        &["wallet", "import", "--mnemonic", "--new-passphrase-file", pass],
        TEST_PHRASE,
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    assert_eq!(node.json(&["wallet", "address", "--json"])["address"], VECTOR_ADDRESS);
}

#[test]
fn wrong_passphrase_tampering_and_truncation_change_nothing() {
    let (node, pass) = with_test_wallet();
    let keystore = node.home().join("wallet.encrypted");
    let original = std::fs::read(&keystore).unwrap();
    let wrong = file(&node, "wrong", "not the passphrase");
    let new = file(&node, "new", "a brand new passphrase");
    let change = |p: &PathBuf| {
        node.oarn(&[
            "wallet",
            "change-passphrase",
            "--passphrase-file",
            p.to_str().unwrap(),
            "--new-passphrase-file",
            new.to_str().unwrap(),
        ])
    };

    let out = change(&wrong);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out));
    assert!(text(&out).contains("wrong passphrase"), "{}", text(&out));
    assert_eq!(std::fs::read(&keystore).unwrap(), original);

    // The header names another address: authenticated data, so the seal breaks.
    let forged = String::from_utf8(original.clone())
        .unwrap()
        .replace(TEST_ACCOUNT0, "0x0000000000000000000000000000000000000001");
    std::fs::write(&keystore, &forged).unwrap();
    let out = change(&pass);
    assert_eq!(out.status.code(), Some(11), "{}", text(&out));
    assert!(text(&out).contains("integrity check"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&keystore).unwrap(), forged);

    std::fs::write(&keystore, &original[..original.len() - 10]).unwrap();
    let out = change(&pass);
    assert_eq!(out.status.code(), Some(11), "{}", text(&out));
    assert!(text(&out).contains("truncated"), "{}", text(&out));

    // Restored, the change goes through and only the new passphrase opens it.
    std::fs::write(&keystore, &original).unwrap();
    assert!(change(&pass).status.success());
    assert_eq!(std::fs::metadata(&keystore).unwrap().mode() & 0o777, 0o600);
    let with = |p: &PathBuf| {
        node.oarn(&[
            "wallet",
            "address",
            "--index",
            "1",
            "--passphrase-file",
            p.to_str().unwrap(),
        ])
    };
    assert_eq!(with(&pass).status.code(), Some(10));
    assert!(String::from_utf8_lossy(&with(&new).stdout).contains(TEST_ACCOUNT1));
}

#[test]
fn export_writes_a_v3_file_that_imports_back() {
    let (node, pass) = with_test_wallet();
    let out_file = node.dir.path().join("backup.json");
    let out = node.oarn(&[
        "wallet",
        "export",
        "--index",
        "1",
        "--out",
        out_file.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
        "--new-passphrase-file",
        pass.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::metadata(&out_file).unwrap().mode() & 0o777, 0o600);
    let v3: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["crypto"]["kdf"], "scrypt");
    assert_eq!(v3["crypto"]["kdfparams"]["n"], 262144);

    // Never overwrites.
    let again = node.oarn(&["wallet", "export", "--out", out_file.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"));

    let other = Node::new();
    let out = other.oarn(&[
        "wallet",
        "import",
        "--keystore-json",
        out_file.to_str().unwrap(),
        "--json-passphrase-file",
        pass.to_str().unwrap(),
        "--new-passphrase-file",
        pass.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(json(&out)["address"], TEST_ACCOUNT1);
}

#[test]
fn systemd_credentials_supply_the_passphrase() {
    let (node, _) = with_test_wallet();
    let creds = node.dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("oarn-wallet-passphrase"), PASSPHRASE).unwrap();
    let mut cmd = node.command(&["wallet", "address", "--index", "1"]);
    cmd.env("CREDENTIALS_DIRECTORY", &creds);
    let out = oarn_tests::run_limited(cmd, None, &["wallet", "address"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(TEST_ACCOUNT1),
        "{}",
        text(&out)
    );

    // Without any source and no terminal, the error says where a passphrase can come from.
    let out = node.oarn(&["wallet", "address", "--index", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("--passphrase-file"), "{}", text(&out));
}

#[test]
fn key_material_never_reaches_output_or_logs() {
    let node = Node::new();
    let pass = file(&node, "pass", PASSPHRASE);
    let key_file = file(&node, "key", VECTOR_KEY);
    let mut outputs = vec![node.oarn(&[
        "wallet",
        "import",
        "--private-key",
        "--from-file",
        key_file.to_str().unwrap(),
        "--new-passphrase-file",
        pass.to_str().unwrap(),
    ])];
    outputs.push(node.oarn(&["wallet", "address", "--passphrase-file", pass.to_str().unwrap()]));
    let wrong = file(&node, "wrong", "wrong passphrase!");
    outputs.push(node.oarn(&[
        "wallet",
        "address",
        "--index",
        "1",
        "--passphrase-file",
        wrong.to_str().unwrap(),
    ]));
    let mut everything: String = outputs.iter().map(text).collect();
    everything.push_str(&std::fs::read_to_string(node.home().join("wallet.encrypted")).unwrap());
    if let Ok(log) = std::fs::read_to_string(node.home().join("logs/oarn.log")) {
        everything.push_str(&log);
    }
    assert!(everything.contains(VECTOR_ADDRESS), "{everything}");
    let lower = everything.to_lowercase();
    assert!(!lower.contains(VECTOR_KEY), "the private key leaked");
    assert!(!lower.contains(&VECTOR_KEY[..16]), "part of the private key leaked");
    assert!(!everything.contains(PASSPHRASE), "the passphrase leaked");
    assert!(!everything.contains("wrong passphrase!"), "a passphrase leaked");
}

/// Reads `stream` until `marker` has appeared.
fn wait_for_text(stream: &mut impl Read, marker: &str) -> String {
    let mut seen = String::new();
    let mut b = [0u8; 1];
    while !seen.ends_with(marker) {
        assert_eq!(stream.read(&mut b).unwrap(), 1, "never saw {marker:?}; saw {seen:?}");
        seen.push(b[0] as char);
    }
    seen
}

#[test]
fn terminal_prompts_hide_what_is_typed() {
    let node = Node::new();
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut child = node
        .command(&["wallet", "import", "--private-key"])
        .stdin(std::fs::File::from(pty.slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let mut stderr = child.stderr.take().unwrap();
    wait_for_text(&mut stderr, "Private key (hex): ");
    writeln!(master, "{VECTOR_KEY}").unwrap();
    wait_for_text(&mut stderr, "New wallet passphrase: ");
    writeln!(master, "{PASSPHRASE}").unwrap();
    wait_for_text(&mut stderr, "Repeat it: ");
    writeln!(master, "{PASSPHRASE}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(VECTOR_ADDRESS),
        "{}",
        text(&out)
    );

    // What the terminal echoed back: the newlines, never the key or the passphrase.
    nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).unwrap();
    let mut echoed = Vec::new();
    let _ = master.read_to_end(&mut echoed);
    let echoed = String::from_utf8_lossy(&echoed);
    assert!(!echoed.contains(&VECTOR_KEY[..8]), "the key was echoed: {echoed:?}");
    assert!(!echoed.contains("horse"), "the passphrase was echoed: {echoed:?}");
    assert!(
        echoed.contains('\n'),
        "newlines are echoed so the prompt moves on: {echoed:?}"
    );
}
