//! The Ollama backend: routes generations to an Ollama server (`/api/chat` or `/api/generate`,
//! streamed), loads and unloads through `keep_alive`, lists with `/api/ps`, and maps Ollama's
//! answers and errors into the same results as llama.cpp's. It speaks plain HTTP to one
//! address; the worker's profile for this mode allows a TCP connection to that port only.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use oarn_protocol::envelope::{ErrorKind, ErrorReply};
use oarn_protocol::infer::{Generate, Generated, Loaded, Protocol, Role, Stop};
use oarn_protocol::serve::Context;
use serde_json::{Value, json};
use ureq::Agent;

use crate::backend::{Backend, Output};
use crate::text::{self, Deadline, Stops, err};

/// How long connecting to the server may take.
const CONNECT: Duration = Duration::from_secs(5);
/// How long a call without a deadline may go without a byte (a model load can be slow).
const IDLE: Duration = Duration::from_secs(300);
/// How long a refused connection is retried (a server started with the node may not listen
/// yet), and how often.
const STARTUP_WAIT: Duration = Duration::from_secs(5);
const RETRY: Duration = Duration::from_millis(200);
/// How long asking the server's version for `Info` may take.
const VERSION_WAIT: Duration = Duration::from_secs(1);
/// Longest line of Ollama's stream accepted.
const MAX_LINE: usize = 1 << 20;

/// A client of the Ollama server at one address.
#[derive(Debug)]
pub struct Ollama {
    addr: SocketAddr,
    agent: Agent,
}

impl Ollama {
    /// A client of the server at `addr` (which need not be up yet).
    pub fn new(addr: SocketAddr) -> Self {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT))
            .timeout_recv_body(Some(IDLE))
            .timeout_recv_response(Some(IDLE))
            .max_redirects(0)
            .build()
            .into();
        Self { addr, agent }
    }

    /// The server's version, as `/api/version` reports it.
    fn version(&self, wait: Duration) -> Result<String, ErrorReply> {
        let v = self.call("/api/version", None, Some(wait))?;
        Ok(v["version"].as_str().unwrap_or("unknown").to_string())
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn unreachable(&self, e: ureq::Error) -> ErrorReply {
        match e {
            ureq::Error::Timeout(_) => err(
                ErrorKind::DeadlineExceeded,
                format!("Ollama at {} timed out", self.addr),
            ),
            e => err(
                ErrorKind::Internal,
                format!(
                    "cannot reach Ollama at {}: {e}; is `ollama serve` running there?",
                    self.addr
                ),
            ),
        }
    }

    /// One JSON call; a non-2xx answer becomes Ollama's own error text.
    fn call(&self, path: &str, body: Option<&Value>, deadline: Option<Duration>) -> Result<Value, ErrorReply> {
        let response = self.send(path, body, deadline)?;
        let text = response.into_body().read_to_string().map_err(|e| self.unreachable(e))?;
        serde_json::from_str(&text).map_err(|e| {
            err(
                ErrorKind::Internal,
                format!("Ollama answered {path} with invalid JSON: {e}"),
            )
        })
    }

    /// A GET, or a POST of `body`.
    fn send(
        &self,
        path: &str,
        body: Option<&Value>,
        deadline: Option<Duration>,
    ) -> Result<ureq::http::Response<ureq::Body>, ErrorReply> {
        let url = self.url(path);
        let mut waited = Duration::ZERO;
        let response = loop {
            let left = deadline.map(|d| d.saturating_sub(waited));
            let response = match body {
                None => self.agent.get(&url).config().timeout_global(left).build().call(),
                Some(b) => self
                    .agent
                    .post(&url)
                    .config()
                    .timeout_global(left)
                    .build()
                    .header("content-type", "application/json")
                    .send(b.to_string()),
            };
            match response {
                // A server the node has just started may not listen yet.
                Err(ureq::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::ConnectionRefused
                        && waited < STARTUP_WAIT
                        && left.is_none_or(|l| l > RETRY) =>
                {
                    std::thread::sleep(RETRY);
                    waited += RETRY;
                }
                r => break r.map_err(|e| self.unreachable(e))?,
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.into_body().read_to_string().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or(text);
        let kind = if status.as_u16() == 404 {
            ErrorKind::NotFound
        } else if status.is_client_error() {
            ErrorKind::InvalidRequest
        } else {
            ErrorKind::Internal
        };
        Err(err(kind, format!("Ollama: {message} (HTTP {status})")))
    }
}

/// The body of a streamed generation, in Ollama's API.
fn request_body(g: &Generate) -> (String, Value) {
    let mut options = json!({
        "num_predict": g.max_tokens,
        "temperature": f64::from(g.temperature_milli) / 1000.0,
        "seed": g.seed,
    });
    if g.top_k > 0 {
        options["top_k"] = json!(g.top_k);
    }
    if g.top_p_milli > 0 {
        options["top_p"] = json!(f64::from(g.top_p_milli) / 1000.0);
    }
    if !g.stop.is_empty() {
        options["stop"] = json!(g.stop);
    }
    if g.threads > 0 {
        options["num_thread"] = json!(g.threads);
    }
    if g.context > 0 {
        options["num_ctx"] = json!(g.context);
    }
    if g.chat {
        let mut messages = Vec::new();
        if let Some(s) = &g.system {
            messages.push(json!({"role": "system", "content": s}));
        }
        for m in &g.history {
            messages.push(json!({"role": m.role.name(), "content": m.content}));
        }
        if !g.prompt.is_empty() {
            messages.push(json!({"role": Role::User.name(), "content": g.prompt}));
        }
        let body = json!({"model": g.model, "messages": messages, "stream": true, "options": options});
        ("/api/chat".into(), body)
    } else {
        let body = json!({"model": g.model, "prompt": g.prompt, "raw": true, "stream": true, "options": options});
        ("/api/generate".into(), body)
    }
}

fn ns_to_us(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0) / 1000
}

impl Backend for Ollama {
    fn capabilities(&self) -> Vec<String> {
        match self.version(VERSION_WAIT) {
            Ok(v) => vec![format!("ollama {v}"), format!("ollama at {}", self.addr)],
            Err(e) => vec![format!("ollama at {} (unreachable: {})", self.addr, e.message)],
        }
    }

    fn generate(&mut self, g: &Generate, cx: &mut dyn Context<Protocol>) -> Result<Generated, ErrorReply> {
        let started = Instant::now();
        let deadline = Deadline::of(g, started);
        text::check(g)?;
        let version = self.version(deadline.left().unwrap_or(STARTUP_WAIT + RETRY))?;
        let (path, body) = request_body(g);
        let response = self.send(&path, Some(&body), deadline.left())?;
        let mut lines = BufReader::new(response.into_body().into_reader());
        let mut stops = Stops::new(&g.stop);
        let mut out = Output::default();
        let mut first_token_us = 0;
        let mut line = String::new();
        let mut stop = Stop::MaxTokens;
        let done = loop {
            if cx.cancelled() {
                // Dropping the connection stops Ollama's generation.
                stop = Stop::Cancelled;
                break None;
            }
            deadline.check(|| "while Ollama was generating".into())?;
            line.clear();
            let n = Read::take(&mut lines, MAX_LINE as u64)
                .read_line(&mut line)
                .map_err(|e| err(ErrorKind::Internal, format!("reading Ollama's answer: {e}")))?;
            if n == 0 {
                return Err(err(
                    ErrorKind::Internal,
                    "Ollama ended its answer before saying it was done",
                ));
            }
            let chunk: Value = serde_json::from_str(&line)
                .map_err(|e| err(ErrorKind::Internal, format!("Ollama sent a line that is not JSON: {e}")))?;
            if let Some(e) = chunk["error"].as_str() {
                return Err(err(ErrorKind::Internal, format!("Ollama: {e}")));
            }
            let piece = chunk["message"]["content"]
                .as_str()
                .or(chunk["response"].as_str())
                .unwrap_or("");
            if !piece.is_empty() && first_token_us == 0 {
                first_token_us = started.elapsed().as_micros() as u64;
            }
            let (released, hit) = stops.push(piece);
            out.emit(cx, released)?;
            if hit {
                stop = Stop::StopString;
                break None;
            }
            if chunk["done"].as_bool() == Some(true) {
                break Some(chunk);
            }
        };
        let Some(done) = done else {
            let (text, text_keccak) = out.finish();
            return Ok(Generated {
                text,
                text_keccak,
                stop,
                prompt_tokens: 0,
                generated_tokens: 0,
                load_us: 0,
                prompt_us: 0,
                generate_us: started.elapsed().as_micros() as u64,
                first_token_us,
                fingerprint: fingerprint(&version, g),
            });
        };
        out.emit(cx, stops.finish())?;
        // Ollama says "stop" at the end of text and at its own stop strings alike.
        stop = match done["done_reason"].as_str() {
            Some("length") => Stop::MaxTokens,
            _ => Stop::EndOfText,
        };
        let (text, text_keccak) = out.finish();
        Ok(Generated {
            text,
            text_keccak,
            stop,
            prompt_tokens: done["prompt_eval_count"].as_u64().unwrap_or(0) as u32,
            generated_tokens: done["eval_count"].as_u64().unwrap_or(0) as u32,
            load_us: ns_to_us(&done["load_duration"]),
            prompt_us: ns_to_us(&done["prompt_eval_duration"]),
            generate_us: ns_to_us(&done["eval_duration"]),
            first_token_us,
            fingerprint: fingerprint(&version, g),
        })
    }

    fn unload(&mut self, model: Option<&str>) -> Result<Vec<String>, ErrorReply> {
        let models = match model {
            Some(m) => vec![m.to_string()],
            None => self.loaded()?.into_iter().map(|l| l.model).collect(),
        };
        for m in &models {
            self.call("/api/generate", Some(&json!({"model": m, "keep_alive": 0})), None)?;
        }
        Ok(models)
    }

    fn loaded(&self) -> Result<Vec<Loaded>, ErrorReply> {
        let ps = self.call("/api/ps", None, None)?;
        Ok(ps["models"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| Loaded {
                model: m["name"].as_str().or(m["model"].as_str()).unwrap_or("").to_string(),
                bytes: m["size"].as_u64().unwrap_or(0),
            })
            .collect())
    }
}

/// What decides the output bytes, as far as this side can tell.
fn fingerprint(version: &str, g: &Generate) -> String {
    format!(
        "ollama {version}; model {}; temp {}; top-k {}; top-p {}; seed {}; chat {}",
        g.model,
        f64::from(g.temperature_milli) / 1000.0,
        g.top_k,
        f64::from(g.top_p_milli) / 1000.0,
        g.seed,
        g.chat
    )
}
