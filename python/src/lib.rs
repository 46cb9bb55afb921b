//! `oarn._oarn`: the extension module of the `oarn` Python package. It wraps `oarn-api`'s
//! client, so Python speaks the node's local API through the same typed methods as the `oarn`
//! command: the socket, the JSON-RPC envelope, the methods' params and results, streaming and
//! cancellation are all this crate's and `oarn-api`'s, none of them Python's. Each method
//! answers its result as JSON text, which the pure-Python layer (`oarn/_types.py`) turns into
//! typed objects.
//!
//! Every call releases the GIL while it waits for the node. A [`Stream`] is an iterator of
//! text pieces fed by a thread of its own, so it can be read from any Python thread; leaving it
//! early (`break`, an exception, Ctrl-C, `close()`) cancels the generation in the node.

mod errors;
mod stream;

use std::path::PathBuf;
use std::time::Duration;

use oarn_api::{Method, infer, net, node, tasks};
use pyo3::prelude::*;

use errors::raise;

/// Default wait for one answer of the node.
const WAIT_SECS: f64 = 60.0;

/// A connection to the node of one node home, through its local API socket
/// (`<home>/oarn.sock`). Cheap to make; each call opens its own connection.
#[pyclass(module = "oarn._oarn", frozen)]
#[derive(Debug)]
struct Client {
    inner: oarn_api::Client,
    home: PathBuf,
    wait: Duration,
}

impl Client {
    /// Calls `params`'s method with the GIL released; its result as JSON text.
    fn call<M: Method + Sync>(&self, py: Python<'_>, params: &M) -> PyResult<String> {
        let answer = py.detach(|| self.inner.call(params, self.wait));
        match answer {
            Ok(result) => serde_json::to_string(&result).map_err(|e| errors::protocol(e.to_string())),
            Err(e) => Err(raise(&e)),
        }
    }
}

/// Milliseconds in thousandths of a unit, the API's fixed-point form of a fraction.
fn milli(what: &str, v: f64, max: f64) -> PyResult<u32> {
    if !v.is_finite() || !(0.0..=max).contains(&v) {
        return Err(errors::invalid(format!("{what} must be between 0 and {max}, not {v}")));
    }
    Ok((v * 1000.0).round() as u32)
}

#[pymethods]
impl Client {
    /// `home`: the node home (default `$OARN_HOME`, else `~/.oarn`); `timeout`: seconds to
    /// wait for each answer (a generation's own limit is its `timeout`).
    #[new]
    #[pyo3(signature = (home = None, timeout = WAIT_SECS))]
    fn new(home: Option<PathBuf>, timeout: f64) -> PyResult<Self> {
        if !timeout.is_finite() || timeout <= 0.0 {
            return Err(errors::invalid(format!(
                "timeout must be a positive number of seconds, not {timeout}"
            )));
        }
        let explicit = home.or_else(|| std::env::var_os("OARN_HOME").map(PathBuf::from));
        let home = oarn_config::home::Home::resolve(explicit).map_err(|e| errors::invalid(e.to_string()))?;
        Ok(Client {
            inner: oarn_api::Client::new(home.socket()),
            home: home.root().to_path_buf(),
            wait: Duration::from_secs_f64(timeout),
        })
    }

    /// The node home this client talks to.
    #[getter]
    fn home(&self) -> PathBuf {
        self.home.clone()
    }

    fn __repr__(&self) -> String {
        format!("Client(home={:?})", self.home.display().to_string())
    }

    fn status(&self, py: Python<'_>) -> PyResult<String> {
        self.call(py, &node::GetStatus {})
    }

    fn workers(&self, py: Python<'_>) -> PyResult<String> {
        self.call(py, &node::Workers {})
    }

    fn peers(&self, py: Python<'_>) -> PyResult<String> {
        self.call(py, &net::GetPeers {})
    }

    fn models(&self, py: Python<'_>) -> PyResult<String> {
        self.call(py, &infer::Models {})
    }

    #[pyo3(signature = (limit = None))]
    fn tasks(&self, py: Python<'_>, limit: Option<u32>) -> PyResult<String> {
        self.call(py, &tasks::ListTasks { limit })
    }

    fn task(&self, py: Python<'_>, task_id: u64) -> PyResult<String> {
        self.call(
            py,
            &tasks::TaskStatus {
                task_id: task_id_of(task_id)?,
            },
        )
    }

    #[pyo3(signature = (limit = None))]
    fn history(&self, py: Python<'_>, limit: Option<u32>) -> PyResult<String> {
        self.call(py, &tasks::History { limit })
    }

    fn earnings(&self, py: Python<'_>) -> PyResult<String> {
        self.call(py, &tasks::GetEarnings {})
    }

    /// One generation, whole.
    #[pyo3(signature = (prompt, model = None, max_tokens = 256, temperature = 0.0, seed = 0, stop = Vec::new(), system = None, chat = true, top_k = 0, top_p = 1.0, timeout = None))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        prompt: String,
        model: Option<String>,
        max_tokens: u32,
        temperature: f64,
        seed: u32,
        stop: Vec<String>,
        system: Option<String>,
        chat: bool,
        top_k: u32,
        top_p: f64,
        timeout: Option<f64>,
    ) -> PyResult<String> {
        let params = request(
            prompt,
            model,
            max_tokens,
            temperature,
            seed,
            stop,
            system,
            chat,
            top_k,
            top_p,
            timeout,
        )?;
        // The node streams every generation asked for with an id: the pieces are read and
        // dropped, and Ctrl-C while waiting cancels it in the node, as for a stream.
        stream::Stream::start(self.inner.clone(), params)?.finish(py)
    }

    /// One generation, its text as it comes.
    #[pyo3(signature = (prompt, model = None, max_tokens = 256, temperature = 0.0, seed = 0, stop = Vec::new(), system = None, chat = true, top_k = 0, top_p = 1.0, timeout = None))]
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        prompt: String,
        model: Option<String>,
        max_tokens: u32,
        temperature: f64,
        seed: u32,
        stop: Vec<String>,
        system: Option<String>,
        chat: bool,
        top_k: u32,
        top_p: f64,
        timeout: Option<f64>,
    ) -> PyResult<stream::Stream> {
        let params = request(
            prompt,
            model,
            max_tokens,
            temperature,
            seed,
            stop,
            system,
            chat,
            top_k,
            top_p,
            timeout,
        )?;
        stream::Stream::start(self.inner.clone(), params)
    }

    /// Runs an ONNX model on a tensor task's input (`oarn_runTensor`).
    #[pyo3(signature = (input, model = None, threads = 0, timeout = None))]
    fn run_tensor(
        &self,
        py: Python<'_>,
        input: Vec<u8>,
        model: Option<String>,
        threads: u32,
        timeout: Option<f64>,
    ) -> PyResult<String> {
        let deadline_ms = match timeout {
            Some(t) if !(0.0..=86_400.0).contains(&t) => {
                return Err(errors::invalid(
                    "timeout must be between 0 and 86400 seconds".to_string(),
                ));
            }
            Some(t) => (t * 1000.0).round() as u64,
            None => 0,
        };
        self.call(
            py,
            &infer::RunTensor {
                model,
                input_hex: hex::encode(input),
                threads,
                deadline_ms,
            },
        )
    }

    /// Submits a task as a requester (`oarn_submitTask`).
    #[pyo3(signature = (model, prompt, reward_eth, nodes = 3, open_secs = 3600, max_tokens = None, system = None, stop = Vec::new(), chat = None))]
    #[allow(clippy::too_many_arguments)]
    fn submit_task(
        &self,
        py: Python<'_>,
        model: String,
        prompt: String,
        reward_eth: String,
        nodes: u64,
        open_secs: u64,
        max_tokens: Option<u32>,
        system: Option<String>,
        stop: Vec<String>,
        chat: Option<bool>,
    ) -> PyResult<String> {
        self.call(
            py,
            &tasks::SubmitTask {
                prompt,
                input_hex: None,
                system,
                max_tokens,
                stop,
                chat,
                model,
                reward: reward_eth,
                required_nodes: Some(nodes),
                open_secs: Some(open_secs),
            },
        )
    }

    /// The consensus result of a task, fetched and checked (`oarn_getResult`).
    fn result(&self, py: Python<'_>, task_id: u64) -> PyResult<String> {
        self.call(
            py,
            &tasks::GetResult {
                task_id: task_id_of(task_id)?,
            },
        )
    }
}

/// A task id the API accepts (ids start at 1).
fn task_id_of(id: u64) -> PyResult<oarn_api::TaskId> {
    serde_json::from_value(serde_json::json!(id)).map_err(|e| errors::invalid(format!("task_id {e}")))
}

/// The API's generation request from the Python arguments.
#[allow(clippy::too_many_arguments)]
fn request(
    prompt: String,
    model: Option<String>,
    max_tokens: u32,
    temperature: f64,
    seed: u32,
    stop: Vec<String>,
    system: Option<String>,
    chat: bool,
    top_k: u32,
    top_p: f64,
    timeout: Option<f64>,
) -> PyResult<infer::Generate> {
    let deadline_ms = match timeout {
        None => 0,
        Some(t) if t.is_finite() && t > 0.0 => (t * 1000.0) as u64,
        Some(t) => {
            return Err(errors::invalid(format!(
                "timeout must be a positive number of seconds, not {t}"
            )));
        }
    };
    // top_p 1 is "off", which the API writes as 0.
    let top_p_milli = match milli("top_p", top_p, 1.0)? {
        1000 => 0,
        v => v,
    };
    Ok(infer::Generate {
        model,
        prompt,
        system,
        chat,
        max_tokens,
        temperature_milli: milli("temperature", temperature, 2.0)?,
        top_k,
        top_p_milli,
        seed,
        stop,
        threads: 0,
        deadline_ms,
        messages: Vec::new(),
    })
}

/// The extension module.
#[pymodule]
fn _oarn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_class::<stream::Stream>()?;
    errors::register(m)?;
    Ok(())
}
