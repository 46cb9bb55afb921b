//! Monitoring as an operator runs it: a real Prometheus server (Debian's `prometheus`, started
//! here on loopback) scrapes a worker node on the devnet while it settles tasks, and PromQL
//! over Prometheus' own HTTP API gives the node's task, reward, gas and peer figures, equal to
//! what the node's journal says; `promtool check metrics` finds nothing to fix in a scrape.
//! The ready-made monitoring of `packaging/monitoring/` works on that live data: Prometheus
//! loads the alert rules and evaluates each without error, every query of the Grafana
//! dashboard runs, and every metric either names is one the node serves.
//! The JSON API answers a real HTTP client (curl) only with the bearer token, and the listener
//! binds loopback by default.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use oarn_tests::fleet::{self, json, task_status};
use oarn_tests::{Node, skip, wait_for};
use serde_json::Value;

/// Whether `tool` is installed; a test without it is skipped (fails in CI).
fn have(tool: &str, what: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    found
        || !skip(
            what,
            &format!("{tool} is not installed (scripts/deps --test installs it)"),
        )
}

/// `curl` with `args`: its output; `-w` writes the status code last.
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Where the node's HTTP listener listens, from `oarn status`.
fn http_addr(node: &Node) -> String {
    let s = node.json(&["status", "--json"]);
    s["http"]["listen"]
        .as_str()
        .unwrap_or_else(|| panic!("no HTTP listener: {s}"))
        .to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Prometheus server scraping `target` every second, on a free loopback port.
struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scraping `target` every second, with the shipped alert rules.
    fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        let rules = monitoring().join("alerts.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: oarn\n    static_configs:\n      - targets: ['{target}']\n",
                rules.display()
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus { child, addr, _dir: dir };
        let ready = wait_for(Duration::from_secs(60), || {
            (curl(&[&format!("http://{}/-/ready", p.addr)]).0 == 200).then_some(())
        });
        assert!(ready.is_some(), "prometheus is not ready: {}", p.log());
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Prometheus' answer to an instant PromQL query (status 200: it parsed and ran).
    fn query(&self, query: &str) -> Value {
        let (code, body) = curl(&[
            "-G",
            &format!("http://{}/api/v1/query", self.addr),
            "--data-urlencode",
            &format!("query={query}"),
        ]);
        assert_eq!(code, 200, "{query}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The value of an instant PromQL query with one result, if it has one.
    fn one(&self, query: &str) -> Option<f64> {
        let v = self.query(query);
        let result = v["data"]["result"].as_array()?;
        let [only] = result.as_slice() else { return None };
        only["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `promtool check metrics` on `text`: its output, and whether it passed.
fn promtool_metrics(text: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `packaging/monitoring/` of this checkout.
fn monitoring() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/monitoring")
}

/// The `oarn_…` metric names in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("oarn_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The sample names of a scrape (a histogram's `_bucket`, `_sum` and `_count` included).
fn served(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect()
}

/// The shipped alert rules and dashboard on a live node's data: every rule evaluates without
/// error, every dashboard query runs, and every metric they name is served by `scrape` (GPU
/// figures only where NVML reports a GPU, which this machine has not: their names are tested
/// in the node's unit tests).
fn check_shipped_monitoring(prometheus: &Prometheus, scrape: &str) {
    let served = served(scrape);
    let dashboard = std::fs::read_to_string(monitoring().join("grafana-dashboard.json")).unwrap();
    let alerts = std::fs::read_to_string(monitoring().join("alerts.yml")).unwrap();
    for (file, text) in [("alerts.yml", &alerts), ("grafana-dashboard.json", &dashboard)] {
        for name in metric_names(text) {
            assert!(
                served.contains(&name) || name.starts_with("oarn_gpu_"),
                "{file} names {name}, which the node does not serve"
            );
        }
    }
    let rules = wait_for(Duration::from_secs(30), || {
        let (_, body) = curl(&[&format!("http://{}/api/v1/rules", prometheus.addr)]);
        let v: Value = serde_json::from_str(&body).ok()?;
        let rules: Vec<Value> = v["data"]["groups"][0]["rules"].as_array()?.clone();
        rules.iter().all(|r| r["health"] == "ok").then_some(rules)
    })
    .unwrap_or_else(|| panic!("the shipped rules do not all evaluate: {}", prometheus.log()));
    assert_eq!(rules.len(), alerts.matches("- alert: ").count(), "every rule loaded");
    let firing: Vec<&str> = rules
        .iter()
        .filter(|r| r["state"] == "firing")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(firing.is_empty(), "a healthy node fires no alert: {firing:?}");
    let dashboard: Value = serde_json::from_str(&dashboard).unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$instance", ".*");
            let v = prometheus.query(&expr);
            assert_eq!(v["status"], "success", "{}: {expr}: {v}", panel["title"]);
            queries += 1;
        }
    }
    assert!(queries > 20, "{queries}");
    let earned = prometheus
        .query("sum(increase(oarn_rewards_wei_total{instance=~\".*\"}[24h])) / 1e18")["data"]["result"][0]["value"][1]
        .as_str()
        .map(|v| v.parse::<f64>().unwrap());
    assert!(
        earned.is_some_and(|e| e > 0.0),
        "the dashboard's earnings panel has data: {earned:?}"
    );
}

fn wei(v: &Value) -> f64 {
    v.as_str().unwrap().parse::<u128>().unwrap() as f64
}

#[test]
fn prometheus_scrapes_a_node_settling_tasks_and_promql_gives_its_figures() {
    if !have("prometheus", "the Prometheus test") || !have("promtool", "the Prometheus test") {
        return;
    }
    let (rt, devnet) = fleet::devnet();
    let (mut requester, _) = fleet::requester(&rt, &devnet);
    let mut workers: Vec<Node> = (0..3).map(|_| fleet::worker(&rt, &devnet, &[]).0).collect();
    let target = http_addr(&workers[0]);
    let prometheus = Prometheus::start(&target);

    let mut ids = Vec::new();
    for n in 0..2 {
        let id = fleet::submit(&requester, &format!("Question {n}: the capital of France is"), "0.001")["task_id"]
            .as_u64()
            .unwrap();
        for w in &workers {
            let s = wait_for(Duration::from_secs(300), || task_status(w, id).filter(fleet::is_final))
                .unwrap_or_else(|| panic!("task {id} did not end: {}", w.log()));
            assert_eq!(s["stage"], "settled", "{s}");
        }
        ids.push(id);
    }
    // What the scraped node's journal says it earned and paid.
    let reports: Vec<Value> = ids.iter().map(|id| task_status(&workers[0], *id).unwrap()).collect();
    let reward: f64 = reports.iter().map(|r| wei(&r["ledger"]["reward_wei"])).sum();
    let claim_gas: f64 = reports.iter().map(|r| wei(&r["ledger"]["claim_gas_wei"])).sum();
    let submit_gas: f64 = reports.iter().map(|r| wei(&r["ledger"]["submit_gas_wei"])).sum();
    assert_eq!(reward, 2e15);

    // Prometheus scrapes every second: wait for a scrape after the last settlement.
    let rewarded = wait_for(Duration::from_secs(30), || {
        prometheus
            .one("oarn_tasks_ended_total{outcome=\"rewarded\"}")
            .filter(|v| *v == 2.0)
    });
    assert_eq!(rewarded, Some(2.0), "{}", prometheus.log());
    assert_eq!(prometheus.one("up{job=\"oarn\"}"), Some(1.0));
    assert_eq!(prometheus.one("oarn_rewards_wei_total"), Some(reward));
    assert_eq!(prometheus.one("oarn_gas_wei_total{tx=\"claim\"}"), Some(claim_gas));
    assert_eq!(prometheus.one("oarn_gas_wei_total{tx=\"submit\"}"), Some(submit_gas));
    assert_eq!(
        prometheus.one("sum(oarn_tasks_discovered_total)"),
        Some(2.0),
        "each task is discovered once, whatever announced it"
    );
    let peers = prometheus.one("oarn_peers").unwrap();
    assert!(
        peers >= 1.0,
        "the worker is connected to the requester at least: {peers}"
    );
    assert_eq!(prometheus.one("oarn_wallet_unlocked"), Some(1.0));
    assert_eq!(prometheus.one("sum(oarn_worker_up)"), Some(3.0));
    assert_eq!(
        prometheus.one("oarn_task_stage_duration_seconds_count{stage=\"model_ready\"}"),
        Some(2.0),
        "each task left model_ready once"
    );
    let generated = prometheus
        .one("oarn_inference_tokens_total{phase=\"generation\"}")
        .unwrap();
    assert!(generated > 0.0);
    let head = prometheus.one("oarn_chain_head_block").unwrap();
    assert!(head > 0.0, "{head}");
    let bitswap_in = prometheus
        .one("oarn_network_bytes_total{protocol=\"bitswap\",direction=\"in\"}")
        .unwrap();
    assert!(bitswap_in > 0.0, "the model and inputs came over Bitswap: {bitswap_in}");

    // The scrape as another client gets it is clean to promtool.
    let (code, text) = curl(&[&format!("http://{target}/metrics")]);
    assert_eq!(code, 200);
    let checked = promtool_metrics(&text);
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "{}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    check_shipped_monitoring(&prometheus, &text);

    drop(prometheus);
    for w in &mut workers {
        w.stop();
    }
    requester.stop();
}

/// The token the node keeps for the JSON API.
fn token(node: &Node) -> String {
    std::fs::read_to_string(node.home().join("api.token"))
        .unwrap()
        .trim()
        .to_string()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_json_api_answers_only_with_the_token_and_listens_on_loopback_by_default() {
    if !have("curl", "the JSON API test") {
        return;
    }
    let mut node = Node::new();
    // The default listen address, not the harness' free port.
    node.env.retain(|(k, _)| k != "OARN_METRICS__LISTEN");
    node.start();
    let addr = http_addr(&node);
    assert_eq!(addr, "127.0.0.1:9730", "loopback by default");
    assert_eq!(mode(&node.home().join("api.token")), 0o600);
    let token = token(&node);
    let bearer = format!("Authorization: Bearer {token}");
    let url = |path: &str| format!("http://{addr}{path}");

    // Without the token, or with another, nothing but 401: not even whether a route exists.
    let wrong = format!("Authorization: Bearer {}", "0".repeat(64));
    for path in ["/api/v1/status", "/api/v1/earnings", "/api/v1/no-such-route", "/"] {
        assert_eq!(curl(&[&url(path)]), (401, String::new()), "{path}");
        assert_eq!(curl(&["-H", &wrong, &url(path)]), (401, String::new()), "{path}");
    }
    let basic = format!("Authorization: Basic {token}");
    assert_eq!(curl(&["-H", &basic, &url("/api/v1/status")]).0, 401);

    // With it, the read methods as JSON.
    let get = |path: &str| {
        let (code, body) = curl(&["-H", &bearer, &url(path)]);
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        (code, v)
    };
    let (code, status) = get("/api/v1/status");
    assert_eq!(code, 200);
    assert_eq!(status["pid"], json(&node.oarn(&["status", "--json"]))["pid"]);
    let (_, workers) = get("/api/v1/workers");
    assert_eq!(workers.as_array().unwrap().len(), 3, "{workers}");
    let (_, earnings) = get("/api/v1/earnings");
    assert_eq!(earnings["total"]["tasks"], 0, "{earnings}");
    assert_eq!(earnings["total"]["net_wei"], "0", "{earnings}");
    let (_, models) = get("/api/v1/models");
    assert!(models.is_array(), "{models}");
    let (_, tasks) = get("/api/v1/tasks?limit=5");
    assert!(tasks["tasks"].is_array(), "{tasks}");
    let (code, missing) = get("/api/v1/tasks/424242");
    assert_eq!(code, 404, "{missing}");
    assert!(missing["error"]["message"].is_string(), "{missing}");
    let (code, _) = get("/api/v1/no-such-route");
    assert_eq!(code, 404);
    let (code, _) = curl(&["-X", "POST", "-H", &bearer, &url("/api/v1/status")]);
    assert_eq!(code, 405, "read-only");

    // /metrics needs no token.
    let (code, text) = curl(&[&url("/metrics")]);
    assert_eq!(code, 200);
    assert!(text.contains("oarn_worker_up{worker=\"infer\"} 1"), "{text}");
    node.stop();
}
