//! `oarn sandbox show | verify`.

use super::Exit;

use anyhow::bail;
use oarn_config::home::Home;
use oarn_config::load;
use oarn_protocol::WorkerKind;
use oarn_sandbox::probe::Expect;
use oarn_sandbox::profile;

use super::args::SandboxCommand;

fn kinds(worker: Option<&str>) -> anyhow::Result<Vec<WorkerKind>> {
    match worker {
        None => Ok(WorkerKind::ALL.to_vec()),
        Some(w) => match WorkerKind::from_name(w) {
            Some(k) => Ok(vec![k]),
            None => bail!("unknown worker {w:?}; use infer, net, chain or anon"),
        },
    }
}

pub fn run(home: &Home, command: SandboxCommand) -> anyhow::Result<Exit> {
    match command {
        SandboxCommand::Show { worker } => {
            let config = load::load_or_default(&home.config())?;
            let dir = (!config.sandbox.profile_dir.as_os_str().is_empty())
                .then(|| oarn_config::resolve_path(&config.sandbox.profile_dir, home.root()));
            for kind in kinds(worker.as_deref())? {
                let mut files = vec![(profile::file_name(kind), kind.binary().to_string())];
                if kind == WorkerKind::Infer {
                    let who = format!("{} with ollama.enabled", kind.binary());
                    files.push((profile::OLLAMA_FILE.to_string(), who));
                }
                if matches!(kind, WorkerKind::Net | WorkerKind::Chain) {
                    let who = format!("{} in privacy mode", kind.binary());
                    files.push((profile::private_file(kind), who));
                }
                for (file, who) in files {
                    let (text, origin) = profile::text(&file, dir.as_deref())?;
                    profile::Profile::parse(&text, &origin)?;
                    println!(
                        "# effective profile of {who} ({origin}), sha256 {}",
                        profile::hash(&text)
                    );
                    println!("{text}");
                }
            }
            Ok(Exit::Success)
        }
        SandboxCommand::Verify { worker, json } => {
            let config = load::load_or_default(&home.config())?;
            let kinds = kinds(worker.as_deref())?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let outcomes = runtime.block_on(oarn_supervise::probe::verify(&config, home, &kinds))?;
            let failed = outcomes.iter().filter(|o| !o.ok).count();
            if json {
                println!("{}", serde_json::to_string_pretty(&outcomes)?);
            } else {
                println!("{:<6} {:<44} {:<9} GOT", "WORKER", "OPERATION", "EXPECTED");
                for o in &outcomes {
                    let expected = match o.expected {
                        Expect::Denied => "denied",
                        Expect::Allowed => "allowed",
                        Expect::Active => "active",
                    };
                    let mark = if o.ok { "" } else { "   <-- NOT AS EXPECTED" };
                    println!("{:<6} {:<44} {:<9} {}{mark}", o.worker, o.probe, expected, o.got);
                }
                let count = |e| outcomes.iter().filter(|o| o.expected == e).count();
                println!(
                    "\n{} probes ({} sandbox layers, {} forbidden operations, {} needed ones): {}",
                    outcomes.len(),
                    count(Expect::Active),
                    count(Expect::Denied),
                    count(Expect::Allowed),
                    if failed == 0 {
                        "all as expected".to_string()
                    } else {
                        format!("{failed} NOT as expected")
                    }
                );
            }
            Ok(if failed == 0 { Exit::Success } else { Exit::Failure })
        }
    }
}
