//! Performing the state machine's effects through the workers: each effect ends in the
//! inputs it reports. Everything a worker hands back is checked here before it becomes an
//! input: the result's keccak256 is computed on this side, the uploaded bytes' sha256 too,
//! and a model is used only from the store, by the sha256 its manifest names.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oarn_protocol::chain as wire;
use oarn_protocol::envelope::{Call, ErrorKind};
use oarn_protocol::task::{Checked, ModelBlock, ModelFormat, Requirements, TaskInput, TensorInput, Work};
use oarn_protocol::{infer, net};
use oarn_supervise::CallError;
use oarn_tasks::machine::Step;
use oarn_tasks::policy::{self, Needs, Policy, Speed};
use oarn_tasks::reconcile::OurResult;
use oarn_tasks::{ChainFacts, ChainStatus, Effect, Input, Offer, Reason, Task, TaskId};
use sha2::Digest;

use crate::state::Node;

/// How long the network worker may look for a task's blocks during validation.
const INSPECT_SECS: u32 = 30;

/// What validation learned of a task, kept for the steps after the claim (fetched again
/// after a restart).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub input: Work,
    pub model: ModelBlock,
    pub requirements: Requirements,
}

/// What effects need: the node, and what validation prepared.
#[derive(Debug)]
pub struct Ctx {
    pub node: Arc<Node>,
    prepared: Mutex<HashMap<TaskId, Prepared>>,
    speed: Mutex<Speed>,
    /// Told whenever a task ends, so its result's retention is counted from then.
    pub ended: tokio::sync::Notify,
}

fn transient(step: Step, error: impl ToString) -> Vec<Input> {
    vec![Input::Failed {
        step,
        error: oarn_protocol::text::clean(&error.to_string()),
        transient: true,
    }]
}

fn permanent(step: Step, error: impl ToString) -> Vec<Input> {
    vec![Input::Failed {
        step,
        error: oarn_protocol::text::clean(&error.to_string()),
        transient: false,
    }]
}

/// The wei a mined transaction cost.
fn gas_wei(sent: &wire::Sent) -> u128 {
    u128::from(sent.gas_used).saturating_mul(sent.effective_gas_price)
}

impl Ctx {
    pub fn new(node: Arc<Node>) -> Self {
        Ctx {
            node,
            prepared: Mutex::new(HashMap::new()),
            speed: Mutex::new(Speed::default()),
            ended: tokio::sync::Notify::new(),
        }
    }

    fn prepared(&self, id: TaskId) -> Option<Prepared> {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Forgets what a finished task prepared, and tells the result's retention it ended.
    pub fn forget(&self, id: TaskId) {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        self.ended.notify_one();
    }

    async fn chain_call<C: Call<Protocol = wire::Protocol>>(&self, request: C) -> Result<C::Reply, CallError> {
        match &self.node.workers.chain {
            Some(h) => h.call(request).await,
            None => Err(CallError::NotRunning(oarn_protocol::WorkerKind::Chain)),
        }
    }

    async fn net_call<C: Call<Protocol = net::Protocol>>(&self, request: C) -> Result<C::Reply, CallError> {
        match &self.node.workers.net {
            Some(h) => h.call(request).await,
            None => Err(CallError::NotRunning(oarn_protocol::WorkerKind::Net)),
        }
    }

    /// Performs `effect` for `task`; the inputs it ends in.
    pub async fn perform(&self, task: &Task, effect: &Effect) -> Vec<Input> {
        match effect {
            Effect::Validate => self.validate(task).await,
            Effect::Claim => self.claim(task).await,
            Effect::FetchInput => self.fetch_input(task).await,
            Effect::PrepareModel => self.prepare_model(task).await,
            Effect::Execute => self.execute(task).await,
            Effect::Upload { result_hash } => self.upload(task, result_hash).await,
            Effect::Announce { result_hash, cid } => self.announce(task, result_hash, cid).await,
            Effect::Submit { result_hash } => self.submit(task, result_hash).await,
            Effect::ReadChain => self.read_chain(task).await,
            Effect::WakeAt(_) => Vec::new(),
        }
    }

    /// The task and this node's part in it, from the chain.
    async fn facts(&self, id: TaskId) -> Result<(wire::TaskDetail, ChainFacts), String> {
        let d = self
            .chain_call(wire::ReadTask { id })
            .await
            .map_err(|e| format!("reading task {id}: {e}"))?;
        // Without a key held (a chain worker just restarted, not yet unlocked) the chain
        // cannot say what this node did: that is no fact, only a reason to ask again.
        if d.claimed_by_us.is_none() || d.submitted_by_us.is_none() {
            return Err("the chain worker holds no key yet (unlocking after a restart)".into());
        }
        let facts = facts(&d);
        Ok((d, facts))
    }

    async fn read_chain(&self, task: &Task) -> Vec<Input> {
        match self.facts(task.id()).await {
            Ok((_, f)) => vec![Input::Facts(f)],
            Err(e) => transient(Step::ReadChain, e),
        }
    }

    async fn validate(&self, task: &Task) -> Vec<Input> {
        let id = task.id();
        let (detail, facts) = match self.facts(id).await {
            Ok(x) => x,
            Err(e) if e.contains("does not exist") || e.contains("not found") => {
                return vec![Input::Refused {
                    reason: Reason::NotOnChain,
                }];
            }
            Err(e) => return transient(Step::Validate, e),
        };
        let config = self.node.config();
        let policy = match policy_of(&config) {
            Ok(p) => p,
            Err(e) => return permanent(Step::Validate, e),
        };
        let offer = offer_of(&detail.task, task.offer.source);
        let mut checked = task.clone();
        checked.offer = offer.clone();
        let now = crate::tasks::now_ms();
        // The chain's own conditions first: nothing is fetched for a task that is closed.
        if let Err(reason) = policy::open_to_us(&facts, &policy) {
            return vec![Input::Refused { reason }];
        }
        let prepared = match self.inspect(&offer, &detail.task.model_requirements).await {
            Ok(p) => p,
            Err(inputs) => return inputs,
        };
        let needs = match self.needs(&prepared) {
            Ok(n) => n,
            Err(reason) => return vec![Input::Refused { reason }],
        };
        // What peers know of its claims (claim negotiation): a fully claimed task is left.
        if let Ok(c) = self
            .net_call(net::Claims {
                task_id: id,
                record: None,
            })
            .await
        {
            let max = detail.task.required_nodes.saturating_mul(2);
            if c.claimers.len() as u64 >= max && !facts.claimed_by_us {
                return vec![Input::Refused {
                    reason: Reason::ClaimsFull {
                        claimed: c.claimers.len() as u64,
                        max,
                    },
                }];
            }
        }
        let speed = *self.speed.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(reason) = policy::check(&checked, &facts, &needs, &policy, &speed, now) {
            return vec![Input::Refused { reason }];
        }
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, prepared);
        vec![Input::Validated { offer }]
    }

    /// The task's blocks, fetched and parsed by the network worker.
    async fn inspect(&self, offer: &Offer, requirements: &str) -> Result<Prepared, Vec<Input>> {
        let request = net::Inspect {
            input_hash: offer.input_hash,
            model_hash: offer.model_hash,
            requirements: requirements.to_string(),
            timeout_secs: INSPECT_SECS,
        };
        let got = self
            .net_call(request)
            .await
            .map_err(|e| transient(Step::Validate, format!("the network worker: {e}")))?;
        let refuse = |why: String| {
            vec![Input::Refused {
                reason: Reason::BadInput(oarn_protocol::text::clean(&why)),
            }]
        };
        let input = match got.input {
            Checked::Valid(i) => i,
            Checked::Invalid(why) => return Err(refuse(why)),
            Checked::Unavailable(why) => return Err(transient(Step::Validate, why)),
        };
        let model = match got.model {
            Checked::Valid(m) => m,
            Checked::Invalid(why) => return Err(refuse(why)),
            Checked::Unavailable(why) => return Err(transient(Step::Validate, why)),
        };
        Ok(Prepared {
            input,
            model,
            requirements: got.requirements,
        })
    }

    /// What the task needs of this machine; a model this node cannot run is refused.
    fn needs(&self, p: &Prepared) -> Result<Needs, Reason> {
        let (name, format, sha256, size) = match &p.model {
            ModelBlock::Manifest(m) => (m.name.clone(), m.format, m.sha256, m.size),
            ModelBlock::Model { format, size, sha256 } => (hex::encode(sha256), *format, *sha256, *size),
        };
        match (format, &p.input) {
            (ModelFormat::Gguf, Work::Inference(_)) => {}
            // A Hugging Face checkpoint (a model archive) runs in the infer worker's candle.
            (ModelFormat::Safetensors | ModelFormat::Pytorch, Work::Inference(_))
                if !self.node.config().ollama.enabled => {}
            // An ONNX decoder (a model archive) runs in ONNX Runtime.
            (ModelFormat::Onnx, Work::Inference(_)) if self.runs_onnx() => {}
            (ModelFormat::Onnx, Work::Tensor(_)) if self.runs_onnx() => {}
            (ModelFormat::Onnx, Work::Tensor(_)) => {
                return Err(Reason::DoesNotFit(
                    "the model is onnx; this node has no ONNX Runtime (compute.onnxruntime) or routes to Ollama".into(),
                ));
            }
            _ => {
                return Err(Reason::DoesNotFit(format!(
                    "the model is {} for this input; this node runs GGUF (llama.cpp), Safetensors and PyTorch (candle, not with ollama.enabled) and ONNX (with compute.onnxruntime) language models and ONNX tensor models",
                    format.as_str()
                )));
            }
        }
        if let Some(f) = p.requirements.framework
            && f != format
        {
            return Err(Reason::BadInput(format!(
                "modelRequirements asks for {} but the model is {}",
                f.as_str(),
                format.as_str()
            )));
        }
        let stored = self.stored(&sha256).is_some();
        // A model block that is the model itself is fetched by its own hash.
        let has_source = matches!(&p.model, ModelBlock::Manifest(m) if m.cid.is_some())
            || matches!(&p.model, ModelBlock::Model { .. });
        if !stored && !has_source {
            return Err(Reason::DoesNotFit(format!(
                "the model (sha256 {}) is not installed and its manifest names no CID to fetch it from",
                hex::encode(sha256)
            )));
        }
        let (max_tokens, prompt_bytes) = work_size(&p.input);
        Ok(Needs {
            model_name: name,
            model_bytes: size,
            model_stored: stored,
            min_ram_mib: p.requirements.min_ram_mib,
            min_vram_mib: p.requirements.min_vram_mib,
            gpu_required: p.requirements.gpu_required,
            max_tokens,
            prompt_bytes,
        })
    }

    /// Whether this node's inference worker runs ONNX models.
    fn runs_onnx(&self) -> bool {
        let config = self.node.config();
        !config.compute.onnxruntime.as_os_str().is_empty() && !config.ollama.enabled
    }

    /// The installed model whose file has `sha256`.
    fn stored(&self, sha256: &[u8; 32]) -> Option<oarn_models::store::Manifest> {
        let config = self.node.config();
        let store = crate::local::store(&config, &self.node.home).ok()?;
        let want = format!("sha256:{}", hex::encode(sha256));
        store.list().ok()?.into_iter().find(|m| m.digest == want)
    }

    async fn claim(&self, task: &Task) -> Vec<Input> {
        let id = task.id();
        let Some(chain) = &self.node.chain else {
            return transient(Step::Claim, "no chain worker");
        };
        let sent = chain
            .signing(async { Ok::<_, crate::chain::ChainError>(chain.handle.call(wire::Claim { id }).await) })
            .await;
        match sent {
            Ok(Ok(sent)) => {
                // Peers learn of the claim (claim negotiation); a failure here changes nothing.
                let record = net::Claims {
                    task_id: id,
                    record: Some(sent.from),
                };
                if let Err(e) = self.net_call(record).await {
                    tracing::debug!(task = id, "peers were not told of the claim: {e}");
                }
                vec![
                    Input::ClaimSent { tx: sent.tx },
                    Input::ClaimMined {
                        tx: sent.tx,
                        gas_wei: gas_wei(&sent),
                        wait_ms: sent.wait_ms,
                    },
                ]
            }
            Ok(Err(e)) => sent_error(Step::Claim, e),
            Err(e) => transient(Step::Claim, e),
        }
    }

    /// The input block, from what validation kept or fetched again.
    async fn input(&self, task: &Task) -> Result<Prepared, Vec<Input>> {
        if let Some(p) = self.prepared(task.id()) {
            return Ok(p);
        }
        let requirements = match self.facts(task.id()).await {
            Ok((d, _)) => d.task.model_requirements,
            Err(e) => return Err(transient(Step::FetchInput, e)),
        };
        let p = self.inspect(&task.offer, &requirements).await.map_err(|inputs| {
            // After the claim a bad block is a failure of the task, not a refusal.
            inputs
                .into_iter()
                .map(|i| match i {
                    Input::Refused { reason } => Input::Failed {
                        step: Step::FetchInput,
                        error: reason.to_string(),
                        transient: false,
                    },
                    Input::Failed { error, transient, .. } => Input::Failed {
                        step: Step::FetchInput,
                        error,
                        transient,
                    },
                    other => other,
                })
                .collect::<Vec<_>>()
        })?;
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task.id(), p.clone());
        Ok(p)
    }

    async fn fetch_input(&self, task: &Task) -> Vec<Input> {
        match self.input(task).await {
            Ok(_) => vec![Input::InputFetched],
            Err(inputs) => inputs,
        }
    }

    async fn prepare_model(&self, task: &Task) -> Vec<Input> {
        let p = match self.input(task).await {
            Ok(p) => p,
            Err(inputs) => return retag(inputs, Step::PrepareModel),
        };
        let (sha256, cid, name) = match &p.model {
            ModelBlock::Manifest(m) => (m.sha256, m.cid.clone(), m.name.clone()),
            // The block is the model: fetched by its own hash (a raw CIDv1).
            ModelBlock::Model { sha256, .. } => (*sha256, Some(format!("0x{}", hex::encode(sha256))), String::new()),
        };
        if self.stored(&sha256).is_some() {
            return vec![Input::ModelReady];
        }
        let Some(cid) = cid else {
            return permanent(Step::PrepareModel, "the model is not installed and has no CID");
        };
        let config = self.node.config();
        let store = match crate::local::store(&config, &self.node.home) {
            Ok(s) => s,
            Err(e) => return permanent(Step::PrepareModel, e),
        };
        let name = oarn_models::store::check_name(&name)
            .unwrap_or_else(|_| format!("task-model-{}", &hex::encode(sha256)[..12]));
        let pull = crate::pull::Pull {
            source: format!("ipfs://{cid}"),
            name: Some(name),
            sha256: Some(sha256),
            force: false,
        };
        match crate::pull::pull(&config, &self.node.home, &store, &pull, |_| {}).await {
            Ok(_) => vec![Input::ModelReady],
            // Another model of that name: installed under a name of its digest instead.
            Err(crate::pull::PullError::Store(_)) => {
                let pull = crate::pull::Pull {
                    name: Some(format!("task-model-{}", &hex::encode(sha256)[..12])),
                    ..pull
                };
                match crate::pull::pull(&config, &self.node.home, &store, &pull, |_| {}).await {
                    Ok(_) => vec![Input::ModelReady],
                    Err(e) => transient(Step::PrepareModel, e),
                }
            }
            Err(e) => transient(Step::PrepareModel, e),
        }
    }

    async fn execute(&self, task: &Task) -> Vec<Input> {
        let p = match self.input(task).await {
            Ok(p) => p,
            Err(inputs) => return retag(inputs, Step::Execute),
        };
        let sha256 = match &p.model {
            ModelBlock::Manifest(m) => m.sha256,
            ModelBlock::Model { sha256, .. } => *sha256,
        };
        let Some(model) = self.stored(&sha256) else {
            return transient(Step::Execute, "the model is no longer installed");
        };
        let config = self.node.config();
        let Ok(store) = crate::local::store(&config, &self.node.home) else {
            return transient(Step::Execute, "the model store cannot be opened");
        };
        let Some(infer) = &self.node.workers.infer else {
            return transient(Step::Execute, "no inference worker");
        };
        let left = task.deadline_ms().saturating_sub(crate::tasks::now_ms());
        let blob = store.blob(&model).display().to_string();
        let threads = config.compute.threads;
        let done = match &p.input {
            Work::Inference(i) => generate(infer, i, blob, threads, left).await,
            Work::Tensor(t) => run_tensor(infer, t, blob, threads, left).await,
        };
        let done = match done {
            Ok(d) => d,
            Err(inputs) => return inputs,
        };
        // The result's hash rests on this side's keccak256 of the bytes, not the worker's.
        let ours: [u8; 32] = sha3::Keccak256::digest(&done.bytes).into();
        if ours != done.keccak {
            return permanent(
                Step::Execute,
                "the inference worker reported another hash than its result's",
            );
        }
        let kept = crate::tasks::results::store(&self.node.home, task.id(), &done.bytes)
            .and_then(|()| crate::tasks::results::store_engine(&self.node.home, task.id(), &done.fingerprint));
        if let Err(e) = kept {
            return transient(Step::Execute, e);
        }
        if let Some(generated) = &done.generated {
            self.learn(generated);
        }
        vec![Input::Executed {
            result_hash: ours,
            generation_ms: done.compute_us / 1000,
        }]
    }

    /// Keeps this node's measured speed from a finished generation.
    fn learn(&self, done: &infer::Generated) {
        self.node.metrics.generated(done);
        let per_s = |tokens: u32, us: u64| (us > 0).then(|| u64::from(tokens) * 1_000_000 / us);
        let mut s = self.speed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = per_s(done.prompt_tokens, done.prompt_us) {
            s.prompt_tokens_per_s = v.max(1);
        }
        if let Some(v) = per_s(done.generated_tokens, done.generate_us) {
            s.gen_tokens_per_s = v.max(1);
        }
        if done.load_us > 0 {
            s.load_ms = done.load_us / 1000;
        }
    }

    async fn upload(&self, task: &Task, result_hash: &[u8; 32]) -> Vec<Input> {
        let bytes = match crate::tasks::results::load(&self.node.home, task.id(), result_hash) {
            Ok(b) => b,
            Err(e) => return permanent(Step::Upload, e),
        };
        let file = format!("result-{}", task.id());
        let staged: PathBuf = self.node.home.root().join("downloads").join(&file);
        if let Err(e) = std::fs::write(&staged, &bytes) {
            return transient(Step::Upload, format!("cannot stage the result: {e}"));
        }
        let added = self.net_call(net::Add { file }).await;
        let _ = std::fs::remove_file(&staged);
        match added {
            Ok(a) if a.hash == <[u8; 32]>::from(sha2::Sha256::digest(&bytes)) => {
                vec![Input::Uploaded {
                    cid: oarn_protocol::text::clean(&a.cid),
                }]
            }
            Ok(_) => transient(Step::Upload, "the network worker stored other bytes than the result"),
            Err(e) => transient(Step::Upload, e),
        }
    }

    async fn announce(&self, task: &Task, result_hash: &[u8; 32], cid: &str) -> Vec<Input> {
        let notice = net::Notify {
            task_id: task.id(),
            result_hash: *result_hash,
            cid: cid.to_string(),
            node: self.node.wallet.borrow().state.account.map(|a| a.0),
            engine: crate::tasks::results::engine(&self.node.home, task.id()),
        };
        match self.net_call(notice).await {
            Ok(d) => tracing::info!(task = task.id(), validators = d.validators, %cid, "result notice sent"),
            Err(e) => tracing::warn!(task = task.id(), "the result notice was not sent: {e}"),
        }
        Vec::new()
    }

    async fn submit(&self, task: &Task, result_hash: &[u8; 32]) -> Vec<Input> {
        let id = task.id();
        let Some(chain) = &self.node.chain else {
            return transient(Step::Submit, "no chain worker");
        };
        let request = wire::Submit {
            id,
            result_hash: *result_hash,
        };
        let sent = chain
            .signing(async { Ok::<_, crate::chain::ChainError>(chain.handle.call(request).await) })
            .await;
        match sent {
            Ok(Ok(sent)) => vec![
                Input::SubmitSent { tx: sent.tx },
                Input::SubmitMined {
                    tx: sent.tx,
                    gas_wei: gas_wei(&sent),
                    wait_ms: sent.wait_ms,
                },
            ],
            Ok(Err(e)) => sent_error(Step::Submit, e),
            Err(e) => transient(Step::Submit, e),
        }
    }
}

/// A claim or submission that did not come back mined: refused by the contract (nothing was
/// sent), or of unknown fate.
fn sent_error(step: Step, e: CallError) -> Vec<Input> {
    match &e {
        CallError::Worker(_, r) if r.kind == ErrorKind::Refused => vec![Input::Reverted {
            step,
            message: oarn_protocol::text::clean(&r.message),
        }],
        _ => transient(step, e),
    }
}

/// The same failures, as another step's.
fn retag(inputs: Vec<Input>, step: Step) -> Vec<Input> {
    inputs
        .into_iter()
        .map(|i| match i {
            Input::Failed { error, transient, .. } => Input::Failed { step, error, transient },
            other => other,
        })
        .collect()
}

/// The operator's policy from the configuration.
pub fn policy_of(config: &oarn_config::Config) -> Result<Policy, String> {
    let min_reward_wei =
        policy::parse_eth(&config.compute.min_reward).map_err(|e| format!("compute.min_reward: {e}"))?;
    let ram_mib = match config.compute.max_ram_gb {
        0 => {
            let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
            crate::hardware::memory(&meminfo).total_bytes >> 20
        }
        gb => u64::from(gb) * 1024,
    };
    Ok(Policy {
        min_reward_wei,
        accepted_models: config.compute.accepted_models.clone(),
        ram_mib,
        vram_mib: 0,
    })
}

/// Wei from the worker's decimal text (an endpoint's word; nonsense reads as 0).
fn wei(s: &str) -> u128 {
    s.parse().unwrap_or(0)
}

/// The offer as the chain holds the task.
pub fn offer_of(t: &wire::TaskView, source: oarn_tasks::Source) -> Offer {
    Offer {
        id: t.id,
        model_hash: t.model_hash,
        input_hash: t.input_hash,
        reward_wei: wei(&t.reward_per_node_wei),
        required_nodes: t.required_nodes,
        deadline: t.deadline,
        source,
    }
}

/// The state machine's facts from a task's detail.
pub fn facts(d: &wire::TaskDetail) -> ChainFacts {
    let t = &d.task;
    ChainFacts {
        status: ChainStatus::from_u8(t.status).unwrap_or(ChainStatus::Cancelled),
        required_nodes: t.required_nodes,
        claimed: t.claimed,
        submitted: t.submitted,
        reward_wei: wei(&t.reward_per_node_wei),
        claimed_by_us: d.claimed_by_us == Some(true),
        submitted_by_us: d.submitted_by_us == Some(true),
        tx_pending: d.unmined == Some(true),
        our_result: d.ours.as_ref().map(|r| OurResult {
            result_hash: r.result_hash,
            matches_consensus: r.matches_consensus,
            rewarded: r.rewarded,
        }),
        unique_results: d.unique_results,
    }
}

/// What a task's work counts in the time estimate: tokens to generate and prompt bytes. A
/// tensor's run is not counted in tokens (its input may be a whole 1 MiB block of f32): its
/// estimate is fetch, load and the chain.
fn work_size(work: &Work) -> (u64, u64) {
    match work {
        Work::Inference(i) => (u64::from(i.max_tokens), i.prompt.len() as u64),
        Work::Tensor(_) => (0, 0),
    }
}

/// A task's result as a worker computed it.
struct Computed {
    bytes: Vec<u8>,
    /// The worker's keccak256 of `bytes` (checked against this side's).
    keccak: [u8; 32],
    fingerprint: String,
    /// Time spent computing (prompt and generation, or the model run).
    compute_us: u64,
    /// The generation's figures, for the node's measured speed.
    generated: Option<infer::Generated>,
}

/// A worker's failure as the task's inputs: a passed deadline is final, the rest may pass.
fn call_failed(e: CallError) -> Vec<Input> {
    match e {
        CallError::Worker(_, e) if e.kind == ErrorKind::DeadlineExceeded => permanent(Step::Execute, e.message),
        e => transient(Step::Execute, e),
    }
}

async fn generate(
    infer: &oarn_supervise::Handle<infer::Protocol>,
    i: &TaskInput,
    model: String,
    threads: u32,
    deadline_ms: u64,
) -> Result<Computed, Vec<Input>> {
    let request = infer::Generate {
        system: i.system.clone(),
        chat: i.chat,
        temperature_milli: i.temperature_milli,
        seed: i.seed,
        top_k: i.top_k,
        top_p_milli: i.top_p_milli,
        stop: i.stop.clone(),
        threads,
        deadline_ms,
        ..infer::Generate::new(model, i.prompt.clone(), i.max_tokens)
    };
    let done = infer.call(request).await.map_err(call_failed)?;
    Ok(Computed {
        bytes: done.text.clone().into_bytes(),
        keccak: done.text_keccak,
        fingerprint: done.fingerprint.clone(),
        compute_us: done.prompt_us + done.generate_us,
        generated: Some(done),
    })
}

async fn run_tensor(
    infer: &oarn_supervise::Handle<infer::Protocol>,
    t: &TensorInput,
    model: String,
    threads: u32,
    deadline_ms: u64,
) -> Result<Computed, Vec<Input>> {
    let request = infer::Run {
        model,
        input: t.bytes.clone(),
        threads,
        deadline_ms,
    };
    let ran = infer.call(request).await.map_err(call_failed)?;
    Ok(Computed {
        bytes: ran.result,
        keccak: ran.result_keccak,
        fingerprint: ran.fingerprint,
        compute_us: ran.run_us,
        generated: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_tensor_input_is_not_counted_as_prompt_tokens() {
        let tensor = Work::Tensor(TensorInput {
            bytes: vec![0; 1 << 20],
            shape: vec![1, 1 << 18],
        });
        assert_eq!(work_size(&tensor), (0, 0));
        let speed = Speed::default();
        let needs = |(max_tokens, prompt_bytes)| Needs {
            model_name: "iris".into(),
            model_bytes: 535,
            model_stored: true,
            min_ram_mib: None,
            min_vram_mib: None,
            gpu_required: false,
            max_tokens,
            prompt_bytes,
        };
        // Counted as prompt bytes, a 1 MiB input would look like hours of work.
        assert!(speed.estimate_ms(&needs(work_size(&tensor))) < 60_000);
        let text = Work::Inference(TaskInput {
            prompt: "hello".into(),
            max_tokens: 64,
            ..TaskInput::default()
        });
        assert_eq!(work_size(&text), (64, 5));
    }
}
