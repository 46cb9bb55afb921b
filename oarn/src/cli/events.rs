//! `oarn chain events`: the account's events since the last run, each reported once across
//! runs. The cursor (`chain/events-<index>.cursor`) moves only once the events before it were
//! printed; with `--follow`, at every scanned batch, so a follower killed at any moment
//! resumes where its output stopped.

use std::cell::RefCell;

use oarn_api::chain::{ChainEvent, Cursor, EventNote, Events};
use oarn_config::Config;
use oarn_config::home::Home;

use super::Exit;
use super::chain::{Need, Via, cursor_path, print_json, print_note, reach, save_cursor, saved_cursor};

/// What a one-shot scan collected, printed once it is complete.
#[derive(Default)]
struct Batch {
    from_block: Option<u64>,
    head: u64,
    events: Vec<ChainEvent>,
}

pub(super) fn run(home: &Home, config: &Config, need: &Need, mut request: Events, json: bool) -> anyhow::Result<Exit> {
    let path = cursor_path(home, need.index.unwrap_or(0));
    request.cursor = saved_cursor(&path);
    let via = reach(home, config, need)?;
    let follow = request.follow;
    let batch = RefCell::new(Batch::default());
    // The first failure to print or save ends the follow; it is reported after.
    let broken: RefCell<Option<anyhow::Error>> = RefCell::new(None);
    let on_note = |note: EventNote| {
        if broken.borrow().is_some() {
            return;
        }
        let outcome = match (&note, follow) {
            (EventNote::Scanned { cursor, .. }, true) => save_cursor(&path, cursor),
            (EventNote::Scanned { from_block, head, .. }, false) => {
                let mut b = batch.borrow_mut();
                b.from_block.get_or_insert(*from_block);
                b.head = *head;
                Ok(())
            }
            (EventNote::Event(e), false) => {
                batch.borrow_mut().events.push(e.clone());
                Ok(())
            }
            _ => print_note(&note, json),
        };
        if let Err(e) = outcome {
            *broken.borrow_mut() = Some(e);
        }
    };
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome: anyhow::Result<Cursor> = match &via {
        Via::Node(client) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime
                .block_on(client.stream(&request, on_note, cancel))
                .map_err(super::chain::from_client)
        }
        Via::Own(o) => {
            let (runtime, own) = (&o.0, &o.1);
            let (tx, mut rx) = tokio::sync::mpsc::channel(256);
            runtime.block_on(async {
                let scan = async {
                    let done = own.chain.events(&request, tx, cancel).await;
                    done.map_err(|e| anyhow::Error::from(super::chain::Failed::from(e)))
                };
                let relay = async {
                    while let Some(note) = rx.recv().await {
                        on_note(note);
                    }
                };
                let (done, ()) = tokio::join!(scan, relay);
                done
            })
        }
    };
    via.finish();
    if let Some(e) = broken.into_inner() {
        return Err(e);
    }
    let cursor = outcome?;
    if !follow {
        let b = batch.into_inner();
        let from = b.from_block.unwrap_or(cursor.block);
        if json {
            print_json(&serde_json::json!({
                "from_block": from, "to_block": cursor.block, "head": b.head, "events": b.events,
            }))?;
        } else {
            println!(
                "{} events in blocks {from}..={} (head {})",
                b.events.len(),
                cursor.block,
                b.head
            );
            for e in b.events {
                print_note(&EventNote::Event(e), false)?;
            }
        }
    }
    save_cursor(&path, &cursor)?;
    Ok(Exit::Success)
}
