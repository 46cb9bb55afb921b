//! `oarn doctor`: whether this node can earn, and for each problem, what to do.

use oarn_config::home::Home;
use oarn_config::load;
use oarn_node::doctor::{self, Verdict};

use super::Exit;

pub fn run(home: &Home, json: bool) -> anyhow::Result<Exit> {
    let config = load::load_or_default(&home.config())?;
    let facts = doctor::gather(home, &config);
    let checks = doctor::check(&facts);
    let blocked = doctor::blocks_earning(&checks);
    if json {
        let v = serde_json::json!({"earning": !blocked, "checks": checks});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let fails = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
        let warns = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
        match (fails, warns) {
            (0, 0) => println!("oarn doctor: nothing keeps this node from earning"),
            (0, w) => println!("oarn doctor: the node can earn; {w} warning(s)"),
            (f, _) => println!("oarn doctor: {f} problem(s) keep this node from earning"),
        }
        println!();
        for c in &checks {
            let word = match c.verdict {
                Verdict::Ok => "ok",
                Verdict::Warn => "WARN",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "-",
            };
            println!("{word:<5} {:<8} {}", c.name, oarn_protocol::text::clean(&c.summary));
            if let Some(fix) = &c.fix {
                println!("{:<14} fix: {}", "", oarn_protocol::text::clean(fix));
            }
        }
    }
    Ok(if blocked { Exit::NotEarning } else { Exit::Success })
}
