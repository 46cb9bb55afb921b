//! Result retention: a task's result stays pinned, and its copy kept in the node home, for
//! `storage.result_retention_hours` (live) after the task ends, so its requester can fetch it
//! by the CID of the result notice; then the result is unpinned (its blocks become cache, which
//! the store's limit collects) and the copy removed. Swept at start, every few minutes, and
//! whenever the pipeline ends a task.
//!
//! A result is released only when the journal says its task ended: a task still running, or a
//! journal that cannot be read, keeps everything. An unpin the network worker could not do is
//! tried again at the next sweep, with the copy kept until then.

use std::sync::Arc;
use std::time::Duration;

use oarn_protocol::net;
use oarn_tasks::{Input, Millis, TaskId};

use super::effects::Ctx;
use super::{Journal, JournalError, now_ms, results};

/// Time between sweeps when no task ends.
const EVERY: Duration = Duration::from_secs(300);
/// How long an unpin may wait for the network worker.
const UNPIN_WAIT: Duration = Duration::from_secs(30);

/// A result due for release: its task, and the CID it was pinned as (none when it was never
/// uploaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub task: TaskId,
    pub cid: Option<String>,
}

/// Which of the `kept` results are due at `now`: those of tasks the journal knows ended at
/// least `retention_ms` ago, and those of tasks it does not know at all (nothing can need them).
pub fn due(journal: &Journal, kept: &[TaskId], now: Millis, retention_ms: u64) -> Result<Vec<Release>, JournalError> {
    let mut out = Vec::new();
    for &task in kept {
        let Some((t, entries)) = journal.task(task)? else {
            out.push(Release { task, cid: None });
            continue;
        };
        if !t.stage.is_final() {
            continue;
        }
        // The first input that ended it (inputs journaled after change nothing).
        let ended = entries
            .iter()
            .find(|e| matches!(e.stage.as_str(), "settled" | "failed" | "skipped"))
            .map_or(t.since, |e| e.at_ms);
        if now.saturating_sub(ended) < retention_ms {
            continue;
        }
        let cid = entries.iter().rev().find_map(|e| match &e.input {
            Input::Uploaded { cid } => Some(cid.clone()),
            _ => None,
        });
        out.push(Release { task, cid });
    }
    out.sort_by_key(|r| r.task);
    Ok(out)
}

/// Releases due results for as long as the node runs.
pub async fn drive(ctx: Arc<Ctx>) {
    loop {
        sweep(&ctx).await;
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = ctx.ended.notified() => {}
        }
    }
}

/// One sweep: finds what is due and releases it.
async fn sweep(ctx: &Ctx) {
    let node = &ctx.node;
    let kept = results::kept(&node.home);
    if kept.is_empty() {
        return;
    }
    let hours = u64::from(node.config().storage.result_retention_hours);
    let path = node.home.root().join("tasks.db");
    let due = match Journal::open(&path).and_then(|j| due(&j, &kept, now_ms(), hours * 3_600_000)) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("results are kept until the journal can be read: {e}");
            return;
        }
    };
    for r in due {
        if let Err(e) = release(ctx, &r).await {
            tracing::warn!(task = r.task, "the result stays kept; tried again later: {e}");
        }
    }
}

/// Unpins a result, then removes its copy.
async fn release(ctx: &Ctx, r: &Release) -> Result<(), String> {
    if let Some(cid) = &r.cid {
        let net = ctx.node.workers.net.as_ref().ok_or("no network worker runs")?;
        let unpin = net::Pin {
            cid: cid.clone(),
            pin: false,
        };
        match tokio::time::timeout(UNPIN_WAIT, net.call(unpin)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("unpinning {cid}: {e}")),
            Err(_) => return Err(format!("unpinning {cid}: the network worker did not answer")),
        }
    }
    results::remove(&ctx.node.home, r.task)?;
    tracing::info!(
        task = r.task,
        cid = r.cid.as_deref().unwrap_or("-"),
        "result released after its retention"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::journal::fixtures::{offer, to_upload};
    use oarn_tasks::Reason;

    /// A journal with task 1 running (uploaded, not submitted), task 2 ended at 100 after an
    /// upload as `bafk2`, task 3 ended at 50 with no upload.
    fn journal(dir: &std::path::Path) -> Journal {
        let mut j = Journal::open(&dir.join("tasks.db")).unwrap();
        for id in [1, 2] {
            let mut t = j.discover(&offer(id), 1).unwrap().unwrap();
            let run = to_upload(id, 3);
            for (i, input) in run.into_iter().enumerate() {
                j.apply(&mut t, input, 10 + i as u64).unwrap();
            }
            if id == 2 {
                let stop = Input::Abandon {
                    why: "stopped by the operator".into(),
                };
                j.apply(&mut t, stop, 100).unwrap();
                // A late input changes nothing, and not when the task ended either.
                j.apply(&mut t, Input::Tick, 5_000).unwrap();
            }
        }
        let mut t = j.discover(&offer(3), 1).unwrap().unwrap();
        let low = Reason::RewardTooLow {
            reward: "0".into(),
            min: "1".into(),
        };
        j.apply(&mut t, Input::Refused { reason: low }, 50).unwrap();
        j
    }

    #[test]
    fn a_result_is_released_only_once_its_task_ended_retention_ago() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(dir.path());
        let kept = [1, 2, 3];
        assert!(
            due(&j, &kept, 50 + 999, 1000).unwrap().is_empty(),
            "nothing is old enough"
        );
        assert_eq!(
            due(&j, &kept, 1050, 1000).unwrap(),
            [Release { task: 3, cid: None }],
            "task 3 ended at 50"
        );
        let both = due(&j, &kept, 1100, 1000).unwrap();
        assert_eq!(
            both,
            [
                Release {
                    task: 2,
                    cid: Some("bafk2".into())
                },
                Release { task: 3, cid: None }
            ],
            "the running task 1 is never released"
        );
    }

    #[test]
    fn a_retention_of_zero_releases_an_ended_task_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(dir.path());
        let released: Vec<TaskId> = due(&j, &[1, 2], 100, 0).unwrap().iter().map(|r| r.task).collect();
        assert_eq!(released, [2]);
    }

    #[test]
    fn a_result_the_journal_does_not_know_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(dir.path());
        assert_eq!(due(&j, &[77], 0, u64::MAX).unwrap(), [Release { task: 77, cid: None }]);
    }

    #[test]
    fn kept_results_are_listed_and_removed_with_their_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let home = oarn_config::home::Home::at(dir.path().to_path_buf());
        results::store(&home, 5, b"Paris").unwrap();
        results::store_engine(&home, 5, "llama.cpp").unwrap();
        results::store(&home, 6, b"Rome").unwrap();
        let mut kept = results::kept(&home);
        kept.sort_unstable();
        assert_eq!(kept, [5, 6], "the .engine files are not results");
        results::remove(&home, 5).unwrap();
        results::remove(&home, 5).unwrap();
        assert_eq!(results::kept(&home), [6]);
        assert_eq!(results::engine(&home, 5), "");
    }
}
