//! `oarn logs`: the last lines of the node's log, filtered, optionally followed.

use super::Exit;
use std::time::Duration;

use anyhow::bail;
use oarn_config::home::Home;
use oarn_node::logs::{self, Filter, Level};

use super::args::LogsArgs;

/// How often `--follow` looks for new lines.
const POLL: Duration = Duration::from_millis(200);

pub fn run(home: &Home, args: LogsArgs) -> anyhow::Result<Exit> {
    let level = match args.level.as_deref() {
        None => None,
        Some(l) => match Level::parse(l) {
            Some(l) => Some(l),
            None => bail!("unknown level {l:?}; use trace, debug, info, warn or error"),
        },
    };
    let filter = Filter {
        worker: args.worker,
        level,
    };
    let path = home.log_file();
    let text = match std::fs::read(&path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !args.follow => {
            bail!(
                "no log yet at {}; the node writes it once started (`oarn start`)",
                path.display()
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    for (raw, record) in logs::tail(&text, &filter, args.lines) {
        print_line(raw, &record, args.json);
    }
    if !args.follow {
        return Ok(Exit::Success);
    }
    let mut follower = logs::Follower::from(text.len() as u64);
    loop {
        std::thread::sleep(POLL);
        let Ok(lines) = follower.read(&path) else {
            continue;
        };
        for line in lines {
            if let Some(record) = logs::parse(&line).filter(|r| filter.matches(r)) {
                print_line(&line, &record, args.json);
            }
        }
    }
}

fn print_line(raw: &str, record: &logs::Record, json: bool) {
    if json {
        println!("{raw}");
    } else {
        println!("{}", logs::render(record));
    }
}
