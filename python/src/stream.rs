//! A generation's text as it comes: a thread of the stream's own runs `oarn-api`'s streaming
//! call (on a small tokio runtime) and hands each piece over a bounded channel; the Python
//! side iterates, waiting with the GIL released. Leaving early cancels the generation in the
//! node: `close()`, the end of a `with` block, the stream being dropped (`break` out of a `for`
//! over a temporary), or Ctrl-C while waiting, which is checked every [`SIGNAL_CHECK`].

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use oarn_api::infer::Generate;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use tokio::sync::oneshot;

use crate::errors;

/// Pieces buffered between the node and the reader; the node's own stream waits beyond it.
const BUFFERED: usize = 1024;
/// How often a waiting reader looks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// What the stream's thread hands over.
enum Piece {
    Text(String),
    /// The generation ended: its result as JSON, or the error.
    Done(Result<String, oarn_api::ClientError>),
}

/// The iterator a `Client.stream(...)` returns: each item is a piece of text, in order; once
/// it is exhausted, `result` holds the whole generation.
#[pyclass(module = "oarn._oarn")]
#[derive(Debug)]
pub struct Stream {
    pieces: Mutex<Receiver<Piece>>,
    cancel: Mutex<Option<oneshot::Sender<()>>>,
    result: Mutex<Option<String>>,
    done: Mutex<bool>,
}

impl std::fmt::Debug for Piece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Piece::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Piece::Done(_) => write!(f, "Done"),
        }
    }
}

impl Stream {
    /// Starts `params` on a thread of its own.
    pub fn start(client: oarn_api::Client, params: Generate) -> PyResult<Self> {
        let (tx, rx) = sync_channel(BUFFERED);
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| errors::protocol(format!("cannot start the stream's runtime: {e}")))?;
        std::thread::Builder::new()
            .name("oarn-stream".into())
            .spawn(move || run(&runtime, &client, &params, &tx, cancel_rx))
            .map_err(|e| errors::protocol(format!("cannot start the stream's thread: {e}")))?;
        Ok(Stream {
            pieces: Mutex::new(rx),
            cancel: Mutex::new(Some(cancel_tx)),
            result: Mutex::new(None),
            done: Mutex::new(false),
        })
    }

    /// Reads the stream to its end, dropping the pieces: the result as JSON.
    pub fn finish(&self, py: Python<'_>) -> PyResult<String> {
        loop {
            match self.__next__(py) {
                Ok(_) => continue,
                Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                    return self
                        .result()
                        .ok_or_else(|| errors::protocol("the generation ended without a result".into()));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn cancel_now(&self) {
        if let Some(c) = self.cancel.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = c.send(());
        }
    }
}

/// The stream's thread: the call, each note handed over as it comes, then the result.
fn run(
    runtime: &tokio::runtime::Runtime,
    client: &oarn_api::Client,
    params: &Generate,
    tx: &SyncSender<Piece>,
    cancel: oneshot::Receiver<()>,
) {
    let outcome = runtime.block_on(client.stream(
        params,
        |note| {
            // A reader that left no longer takes pieces; the call goes on to its result.
            let _ = tx.send(Piece::Text(note.text));
        },
        async {
            let _ = cancel.await;
        },
    ));
    let done = outcome.and_then(|g| {
        serde_json::to_string(&g).map_err(|e| oarn_api::ClientError::Protocol {
            path: client.socket().to_path_buf(),
            detail: e.to_string(),
        })
    });
    let _ = tx.send(Piece::Done(done));
}

#[pymethods]
impl Stream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<String> {
        if *self.done.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(PyStopIteration::new_err(()));
        }
        loop {
            let got = py.detach(|| {
                self.pieces
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .recv_timeout(SIGNAL_CHECK)
            });
            match got {
                Ok(Piece::Text(t)) => return Ok(t),
                Ok(Piece::Done(outcome)) => {
                    *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
                    return match outcome {
                        Ok(json) => {
                            *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(json);
                            Err(PyStopIteration::new_err(()))
                        }
                        Err(e) => Err(errors::raise(&e)),
                    };
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        self.cancel_now();
                        return Err(interrupt);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
                    return Err(errors::protocol("the stream's thread ended without a result".into()));
                }
            }
        }
    }

    /// The whole generation as JSON, once the stream is exhausted; None before.
    #[getter]
    fn result(&self) -> Option<String> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Cancels the generation in the node; what was generated so far still arrives, then the
    /// stream ends with a result whose `stop` is `Cancelled`.
    fn cancel(&self) {
        self.cancel_now();
    }

    /// Cancels the generation unless it ended, and drains the stream to its result (None
    /// when it ended in an error).
    fn close(&self, py: Python<'_>) -> Option<String> {
        self.cancel_now();
        loop {
            match self.__next__(py) {
                Ok(_) => continue,
                Err(e) if e.is_instance_of::<PyStopIteration>(py) => return self.result(),
                Err(_) => return None,
            }
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.cancel_now();
    }
}
