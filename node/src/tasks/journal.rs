//! The task journal: SQLite in the node home (`tasks.db`), WAL, `synchronous = FULL`. Every
//! input a task receives is written, in its own committed transaction, before the effects it
//! asks for are performed, so the intent of every claim and submission is on disk before the
//! transaction is sent, and its outcome after. At start the unsettled tasks are rebuilt by
//! replaying their inputs, then reconciled with the chain.
//!
//! SQLite (through `rusqlite`, with SQLite bundled so every build has the same version) and not
//! a file of our own: a crash at any byte leaves the last committed transaction readable.

use std::path::{Path, PathBuf};

use oarn_tasks::{Input, Millis, Offer, Stage, Task, TaskId};
use rusqlite::{Connection, OptionalExtension, params};

/// The schema's version (`PRAGMA user_version`).
const SCHEMA: i64 = 1;

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused (the file is damaged, the disk full, the file not ours).
    #[error("the task journal {path} cannot be used: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    /// A record does not read back (written by a newer build, or edited).
    #[error(
        "the task journal {path} holds a record this build cannot read (task {task}): {why}; move the file aside to start a new journal"
    )]
    Record { path: PathBuf, task: TaskId, why: String },
    /// Written by a newer build.
    #[error("the task journal {path} has schema {found}; this build reads {SCHEMA}")]
    Schema { path: PathBuf, found: i64 },
}

/// One journaled input of a task, with its time and the stage it led to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub at_ms: Millis,
    pub input: Input,
    pub stage: String,
}

/// The journal.
#[derive(Debug)]
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

impl Journal {
    /// Opens (or creates, mode 0600) the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let sql = |source| JournalError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let fresh = !path.exists();
        let conn = Connection::open(path).map_err(sql)?;
        if fresh {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        // WAL: readers (oarn task status) never block the daemon's writes; FULL: a committed
        // input survives a power cut, not just a crash of the process.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql)?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)?;
        if found > SCHEMA {
            return Err(JournalError::Schema {
                path: path.to_path_buf(),
                found,
            });
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS tasks (
                 id INTEGER PRIMARY KEY,
                 offer TEXT NOT NULL,
                 seen_ms INTEGER NOT NULL,
                 stage TEXT NOT NULL,
                 final INTEGER NOT NULL DEFAULT 0,
                 updated_ms INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS inputs (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 task INTEGER NOT NULL REFERENCES tasks(id),
                 at_ms INTEGER NOT NULL,
                 input TEXT NOT NULL,
                 stage TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS inputs_task ON inputs(task, seq);
             CREATE INDEX IF NOT EXISTS tasks_open ON tasks(final);
             PRAGMA user_version = 1;",
        )
        .map_err(sql)?;
        Ok(Journal {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn sql(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn record_error(&self, task: TaskId, why: impl ToString) -> JournalError {
        JournalError::Record {
            path: self.path.clone(),
            task,
            why: why.to_string(),
        }
    }

    /// Records a task seen for the first time, and returns it; `None` when the journal
    /// already knows it (discovery from several sources ends here, deduplicated).
    pub fn discover(&mut self, offer: &Offer, now: Millis) -> Result<Option<Task>, JournalError> {
        let text = serde_json::to_string(offer).map_err(|e| self.record_error(offer.id, e))?;
        let task = Task::new(offer.clone(), now);
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO tasks (id, offer, seen_ms, stage, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?3)",
                params![offer.id as i64, text, now as i64, task.stage.name()],
            )
            .map_err(|e| self.sql(e))?;
        Ok((inserted == 1).then_some(task))
    }

    /// Applies `input` to `task` and commits it to the journal before returning the effects
    /// the daemon is to perform. Nothing is applied when the write fails.
    pub fn apply(
        &mut self,
        task: &mut Task,
        input: Input,
        now: Millis,
    ) -> Result<Vec<oarn_tasks::Effect>, JournalError> {
        let mut next = task.clone();
        let effects = oarn_tasks::on(&mut next, input.clone(), now);
        let text = serde_json::to_string(&input).map_err(|e| self.record_error(task.id(), e))?;
        let id = task.id() as i64;
        let stage = next.stage.name();
        let tx = self.conn.transaction().map_err(|e| JournalError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        let write = tx
            .execute(
                "INSERT INTO inputs (task, at_ms, input, stage) VALUES (?1, ?2, ?3, ?4)",
                params![id, now as i64, text, stage],
            )
            .and_then(|_| {
                tx.execute(
                    "UPDATE tasks SET stage = ?2, final = ?3, updated_ms = ?4 WHERE id = ?1",
                    params![id, stage, next.stage.is_final(), now as i64],
                )
            })
            .and_then(|_| tx.commit());
        write.map_err(|e| self.sql(e))?;
        *task = next;
        Ok(effects)
    }

    /// Every task not yet settled, failed or skipped, rebuilt from its inputs.
    pub fn unsettled(&self) -> Result<Vec<Task>, JournalError> {
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM tasks WHERE final = 0 ORDER BY id")
                .map_err(|e| self.sql(e))?;
            stmt.query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.sql(e))?
        };
        let mut tasks = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some((task, _)) = self.task(id as TaskId)? {
                tasks.push(task);
            }
        }
        Ok(tasks)
    }

    /// A task rebuilt from its inputs, and those inputs (its timeline).
    pub fn task(&self, id: TaskId) -> Result<Option<(Task, Vec<Entry>)>, JournalError> {
        let row: Option<(String, i64)> = self
            .conn
            .query_row("SELECT offer, seen_ms FROM tasks WHERE id = ?1", [id as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| self.sql(e))?;
        let Some((offer, seen)) = row else {
            return Ok(None);
        };
        let offer: Offer = serde_json::from_str(&offer).map_err(|e| self.record_error(id, e))?;
        let mut task = Task::new(offer, seen as Millis);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT at_ms, input, stage FROM inputs WHERE task = ?1 ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        let rows: Vec<(i64, String, String)> = stmt
            .query_map([id as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))?;
        let mut entries = Vec::with_capacity(rows.len());
        for (at, text, stage) in rows {
            let input: Input = serde_json::from_str(&text).map_err(|e| self.record_error(id, e))?;
            let _ = oarn_tasks::on(&mut task, input.clone(), at as Millis);
            entries.push(Entry {
                at_ms: at as Millis,
                input,
                stage,
            });
        }
        Ok(Some((task, entries)))
    }

    /// Forgets task `id` and its inputs, as if never seen.
    pub fn forget(&mut self, id: TaskId) -> Result<(), JournalError> {
        let tx = self.conn.transaction().map_err(|e| JournalError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        tx.execute("DELETE FROM inputs WHERE task = ?1", [id as i64])
            .and_then(|_| tx.execute("DELETE FROM tasks WHERE id = ?1", [id as i64]))
            .and_then(|_| tx.commit())
            .map_err(|e| JournalError::Sqlite {
                path: self.path.clone(),
                source: e,
            })
    }

    /// When the node first saw task `id`; `None` when the journal does not know it.
    pub fn seen(&self, id: TaskId) -> Result<Option<Millis>, JournalError> {
        self.conn
            .query_row("SELECT seen_ms FROM tasks WHERE id = ?1", [id as i64], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(|s| s.map(|s| s as Millis))
            .map_err(|e| self.sql(e))
    }

    /// Ids and stages of every task known, newest first, at most `limit`.
    pub fn list(&self, limit: usize) -> Result<Vec<(TaskId, String)>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, stage FROM tasks ORDER BY updated_ms DESC, id DESC LIMIT ?1")
            .map_err(|e| self.sql(e))?;
        stmt.query_map([limit as i64], |r| Ok((r.get::<_, i64>(0)? as TaskId, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))
    }

    /// Ids of ended tasks this node may have paid gas for (settled or failed, not skipped),
    /// that ended at `since_ms` or later, newest first.
    pub fn spent_since(&self, since_ms: Millis) -> Result<Vec<TaskId>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id FROM tasks WHERE final = 1 AND stage IN ('settled', 'failed') AND updated_ms >= ?1
                 ORDER BY updated_ms DESC",
            )
            .map_err(|e| self.sql(e))?;
        stmt.query_map([since_ms as i64], |r| Ok(r.get::<_, i64>(0)? as TaskId))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))
    }

    /// Ids of settled tasks (those this node submitted to and that closed), newest first.
    pub fn settled(&self, limit: usize) -> Result<Vec<TaskId>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM tasks WHERE stage = 'settled' ORDER BY updated_ms DESC LIMIT ?1")
            .map_err(|e| self.sql(e))?;
        stmt.query_map([limit as i64], |r| Ok(r.get::<_, i64>(0)? as TaskId))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))
    }
}

/// A task's money: reward, gas of its claim and submission, and net, wei.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ledger {
    pub reward_wei: u128,
    pub claim_gas_wei: u128,
    pub submit_gas_wei: u128,
}

impl Ledger {
    /// From a task's journaled inputs.
    pub fn of(entries: &[Entry], stage: &Stage) -> Self {
        let mut l = Ledger::default();
        for e in entries {
            match e.input.gas() {
                Some((oarn_tasks::GasFor::Claim, wei)) => l.claim_gas_wei += wei,
                Some((oarn_tasks::GasFor::Submit, wei)) => l.submit_gas_wei += wei,
                None => {}
            }
        }
        if let Stage::Settled(oarn_tasks::Outcome::Rewarded { amount_wei }) = stage {
            l.reward_wei = *amount_wei;
        }
        l
    }

    /// Reward less gas (negative when the gas cost more).
    pub fn net_wei(&self) -> i128 {
        let gas = self.claim_gas_wei.saturating_add(self.submit_gas_wei);
        (self.reward_wei as i128).saturating_sub(gas as i128)
    }
}

/// Tasks and runs of inputs for the tests of the journal and of what reads it.
#[cfg(test)]
pub(crate) mod fixtures {
    use oarn_tasks::{Input, Offer, Source, TaskId};

    /// A task of reward 5000 wei for 3 nodes, heard on gossip.
    pub fn offer(id: TaskId) -> Offer {
        Offer {
            id,
            model_hash: [1; 32],
            input_hash: [2; 32],
            reward_wei: 5_000,
            required_nodes: 3,
            deadline: 4_000_000_000,
            source: Source::Gossip,
        }
    }

    /// The inputs that take task `id` from discovered to its result uploaded as `bafk<id>`,
    /// its claim costing `gas_wei`.
    pub fn to_upload(id: TaskId, gas_wei: u128) -> Vec<Input> {
        vec![
            Input::Validated { offer: offer(id) },
            Input::Begin,
            Input::ClaimMined {
                tx: [1; 32],
                gas_wei,
                wait_ms: 2,
            },
            Input::InputFetched,
            Input::ModelReady,
            Input::Executed {
                result_hash: [4; 32],
                generation_ms: 40,
            },
            Input::Uploaded {
                cid: format!("bafk{id}"),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{offer, to_upload};
    use super::*;
    use oarn_tasks::{Effect, Source};

    /// Regression: an announcement of a task the chain did not have yet was journaled as
    /// skipped, and the real task, discovered later from the chain, was deduplicated away.
    #[test]
    fn a_forgotten_task_is_discovered_again_with_nothing_of_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("tasks.db")).unwrap();
        let mut t = j.discover(&offer(8), 10).unwrap().unwrap();
        let refused = Input::Refused {
            reason: oarn_tasks::Reason::NotOnChain,
        };
        j.apply(&mut t, refused, 11).unwrap();
        assert!(j.discover(&offer(8), 12).unwrap().is_none(), "known, so deduplicated");
        j.forget(8).unwrap();
        assert!(j.task(8).unwrap().is_none());
        let again = j.discover(&offer(8), 13).unwrap().unwrap();
        assert_eq!(again.stage, Stage::Discovered);
        assert_eq!(j.task(8).unwrap().unwrap().1.len(), 0, "no inputs of before");
    }

    #[test]
    fn a_task_is_recorded_once_whatever_announces_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("tasks.db")).unwrap();
        assert!(j.discover(&offer(3), 10).unwrap().is_some());
        let mut again = offer(3);
        again.source = Source::Chain;
        assert!(j.discover(&again, 11).unwrap().is_none());
        assert_eq!(j.list(10).unwrap(), [(3, "discovered".to_string())]);
    }

    #[test]
    fn the_intent_is_on_disk_before_the_effect_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.db");
        let mut j = Journal::open(&path).unwrap();
        let mut t = j.discover(&offer(9), 1).unwrap().unwrap();
        let o = offer(9);
        j.apply(&mut t, Input::Validated { offer: o }, 2).unwrap();
        let effects = j.apply(&mut t, Input::Begin, 3).unwrap();
        assert_eq!(effects, [Effect::Claim]);
        // The daemon dies here, before the claim is sent: another process reads the intent.
        let other = Journal::open(&path).unwrap();
        let open = other.unsettled().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].stage, Stage::Claiming { tx: None });
        assert_eq!(oarn_tasks::resume(&open[0]), [Effect::ReadChain]);
        let (_, timeline) = other.task(9).unwrap().unwrap();
        let stages: Vec<_> = timeline.iter().map(|e| e.stage.as_str()).collect();
        assert_eq!(stages, ["validated", "claiming"]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn settled_tasks_leave_the_unsettled_list_and_keep_their_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("tasks.db")).unwrap();
        let mut t = j.discover(&offer(2), 1).unwrap().unwrap();
        let run = to_upload(2, 300);
        for (i, input) in run.into_iter().enumerate() {
            j.apply(&mut t, input, 2 + i as u64).unwrap();
        }
        let facts = oarn_tasks::ChainFacts {
            status: oarn_tasks::ChainStatus::Active,
            required_nodes: 3,
            claimed: 3,
            submitted: 0,
            reward_wei: 5_000,
            claimed_by_us: true,
            submitted_by_us: false,
            tx_pending: false,
            our_result: None,
            unique_results: 0,
        };
        j.apply(&mut t, Input::Facts(facts), 20).unwrap();
        let mined = Input::SubmitMined {
            tx: [2; 32],
            gas_wei: 200,
            wait_ms: 3,
        };
        j.apply(&mut t, mined, 21).unwrap();
        j.apply(&mut t, Input::Rewarded { amount_wei: 5_000 }, 22).unwrap();
        assert!(j.unsettled().unwrap().is_empty());
        assert_eq!(j.settled(10).unwrap(), [2]);
        let (task, entries) = j.task(2).unwrap().unwrap();
        assert_eq!(task, t);
        let l = Ledger::of(&entries, &task.stage);
        assert_eq!((l.reward_wei, l.claim_gas_wei, l.submit_gas_wei), (5_000, 300, 200));
        assert_eq!(l.net_wei(), 4_500);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.db");
        std::fs::write(&path, b"this is not sqlite at all, not even close; 0123456789").unwrap();
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(err.contains("tasks.db"), "{err}");
    }
}
