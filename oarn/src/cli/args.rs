//! Every command and option of `oarn`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The OARN node client: run AI inference for the OARN network, locked down and supervised.
#[derive(Debug, Parser)]
#[command(name = "oarn", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Node home directory [default: ~/.oarn]. Several nodes can run on one machine, each with
    /// its own home.
    #[arg(long, global = true, env = "OARN_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the node home (mode 0700) and a commented config.toml.
    Init {
        /// Overwrite an existing config.toml (the old one is kept as config.toml.bak).
        #[arg(long)]
        force: bool,
        /// Leave an existing node home as it is and succeed (the systemd unit runs this
        /// before every start).
        #[arg(long, conflicts_with = "force")]
        if_missing: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start the node: the supervisor and its sandboxed workers.
    Start {
        /// Run in the background and return once the node answers.
        #[arg(long)]
        detach: bool,
        /// Unlock the wallet with the passphrase in this file (else systemd's credential
        /// `oarn-wallet-passphrase`, else a prompt when started in a terminal).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// The account the node signs as (m/44'/60'/0'/0/<index>).
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// Create the node home first when it has no config.toml, as `oarn init --if-missing`
        /// does (the container image starts this way: its entrypoint has no shell).
        #[arg(long)]
        init: bool,
    },
    /// Stop the running node: workers get a shutdown request, then are killed after a grace period.
    Stop {
        /// Seconds to wait for the node to exit.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the running node and its workers.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A live terminal dashboard of the running node: workers, peers and bandwidth, tasks by
    /// stage, earnings, inference speed, CPU/RAM/GPU, recent warnings. Keys: 1-3 or Tab switch
    /// panes, q quits. It keeps polling while the node restarts.
    Dashboard,
    /// Check whether the node can earn: sandbox, chain, clock, wallet and gas, peers and NAT,
    /// IPFS, models, GPU, disk, the systemd unit; each problem with its fix. Exits 30 when
    /// something keeps the node from earning.
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show, change and check the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Show the node's log.
    Logs(LogsArgs),
    /// Run models on this machine, offline.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// What this machine offers for inference: CPU, memory and GPUs.
    Hardware {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage the models this node can run.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// The node's wallet. Every key operation runs in the sandboxed chain worker; passphrases
    /// come from the terminal, a file, or systemd's credential `oarn-wallet-passphrase`.
    Wallet {
        #[command(subcommand)]
        command: WalletCommand,
    },
    /// The peer-to-peer side of the running node: peers, task announcements, the DHT.
    Net {
        #[command(subcommand)]
        command: NetCommand,
    },
    /// The tasks this node sees and works on: list, claim one now, its status, the history of
    /// settled tasks and their earnings.
    Task {
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// IPFS blocks through the running node: add a file, get one by CID or on-chain hash.
    Ipfs {
        #[command(subcommand)]
        command: IpfsCommand,
    },
    /// The chain side: what discovery finds from this configuration.
    Chain {
        #[command(subcommand)]
        command: ChainCommand,
    },
    /// Show each worker's sandbox profile, and prove from inside the workers that it holds.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Update oarn to a release its maintainers signed (k of n), only with your yes; or go back.
    /// Reads update.mirror, verified against update.root. The running node never updates itself.
    Update {
        #[command(subcommand)]
        command: UpdateCommand,
    },
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Verify the release repository and show what it offers this machine: versions,
    /// changelogs, which maintainers signed, sizes, sha256 and CIDs. Changes nothing.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Install the newest signed release (or --to VERSION) beside this one and make it current,
    /// after asking. The archive comes from the running node's IPFS by its signed CID, else
    /// from the mirror; its sha256 is checked either way. Without a terminal and without --yes
    /// it installs nothing (exit 14).
    Apply {
        /// Install this version instead of the newest (e.g. to go back to an older release).
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Install without asking.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Make the version that was current before the last switch current again.
    Rollback {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Tasks this node has seen, newest first: its stage, and why it does not take one.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Run the pipeline for one task now: validate it, claim it, and work it to the end (the
    /// running node goes on after this command returns, once the claim is mined).
    Claim {
        /// TaskRegistryV2 task id.
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// One task: its stage, a timeline of transitions with times, transactions, result CID,
    /// reward and gas.
    Status {
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Submit a task as a requester: its input block and model manifest are written and
    /// pinned with the model on IPFS, and `submitTask` pays reward × nodes with the node's key.
    Submit {
        /// The prompt (a language model's task).
        #[arg(long, required_unless_present = "input", default_value = "")]
        prompt: String,
        /// A tensor task's input file (an ONNX model's task; at most 1 MiB): a JSON array of
        /// numbers, an object with "input", "data", "values" or "params", or raw little-endian f32.
        #[arg(long, conflicts_with = "prompt")]
        input: Option<PathBuf>,
        /// An installed model, by name (see `oarn model list`).
        #[arg(long)]
        model: String,
        /// Reward per node, in ETH (e.g. 0.001).
        #[arg(long)]
        reward: String,
        /// Nodes whose results must agree (3 to 100).
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        #[arg(long)]
        system: Option<String>,
        #[arg(long, default_value_t = 256)]
        max_tokens: u32,
        /// Generation ends before this text (repeatable).
        #[arg(long)]
        stop: Vec<String>,
        /// Seconds the task stays open.
        #[arg(long, default_value_t = 3600)]
        open_secs: u64,
        #[arg(long)]
        json: bool,
    },
    /// The consensus result of a task: fetched by the CID its nodes published, and shown only
    /// when its keccak256 is the hash on chain.
    Result {
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Settled tasks: outcome, reward, gas and net, and the totals.
    History {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Comma-separated values, one task per line, amounts in wei.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// This node's peer id and listen addresses, its peers (round trip, score, messages) and
    /// banned peers.
    Peers {
        #[arg(long)]
        json: bool,
    },
    /// Task announcements heard on `oarn/tasks/v1`, oldest first.
    Tasks {
        #[arg(long)]
        json: bool,
    },
    /// Publish a task announcement in the live network's format.
    Announce {
        /// TaskRegistryV2 task id.
        id: u64,
        /// 0x and 64 hex digits: the sha256 digest of the model's CIDv1 (raw).
        #[arg(long)]
        model_hash: String,
        /// 0x and 64 hex digits: the sha256 digest of the input's CIDv1 (raw).
        #[arg(long)]
        input_hash: String,
        /// Reward per node, in wei.
        #[arg(long)]
        reward: u64,
        /// Nodes whose results must agree (3 to 100).
        #[arg(long, default_value_t = 3)]
        required_nodes: u32,
        /// Unix time (seconds) after which the task cannot be claimed.
        #[arg(long)]
        deadline: u64,
        #[arg(long)]
        json: bool,
    },
    /// Claim negotiation: which accounts connected peers know to have claimed a task
    /// (`/oarn/claim/1.0.0`); with --record, first tell them an account claimed it.
    Claims {
        task_id: u64,
        /// An account (0x and 40 hex digits) that claimed the task.
        #[arg(long)]
        record: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Validator-routed mode's fast path: tell the connected validators (network.validators)
    /// that a task's result is ready, directly (`/oarn/result/1.0.0`).
    Result {
        task_id: u64,
        /// keccak256 of the result bytes, as submitted on chain (0x and 64 hex digits).
        #[arg(long)]
        hash: String,
        /// The CID the result bytes were uploaded under.
        #[arg(long)]
        cid: String,
        #[arg(long)]
        json: bool,
    },
    /// Results peers told this node of (as a validator hears them), oldest first.
    Results {
        #[arg(long)]
        json: bool,
    },
    /// Store or read DHT records (e.g. `/oarn/bootstrap`).
    Dht {
        #[command(subcommand)]
        command: DhtCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum IpfsCommand {
    /// Store and pin a file: one raw block up to 1 MiB (its CID's digest is the bytes32
    /// TaskRegistryV2 takes as inputHash), else a UnixFS DAG of 256 KiB blocks.
    Add {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Fetch a file from this node or its peers (Bitswap), every block verified against its
    /// CID.
    Get {
        /// A CID (bafkrei…) or a 0x-prefixed 32-byte hash as the chain stores it.
        cid: String,
        /// Write it here instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Seconds to wait for a peer that has it.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        #[arg(long)]
        json: bool,
    },
    /// Pinned files are kept; the rest of the block store is cache.
    Pin {
        #[command(subcommand)]
        command: PinCommand,
    },
    /// Remove every unpinned block (except those stored in the last ten minutes).
    Gc {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Pin a file whose blocks are all in this node's store.
    Add {
        cid: String,
        #[arg(long)]
        json: bool,
    },
    /// Unpin a file (its blocks become cache).
    Rm {
        cid: String,
        #[arg(long)]
        json: bool,
    },
    /// The pinned files.
    Ls {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DhtCommand {
    /// Store a text record under KEY.
    Put {
        key: String,
        value: String,
        #[arg(long)]
        json: bool,
    },
    /// Read the record under KEY.
    Get {
        key: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Resolve the registry (ENS, or the manual settings) and list the core contracts, RPC
    /// providers and bootstrap peers it names.
    Discover {
        #[arg(long)]
        json: bool,
    },
    /// The newest tasks on TaskRegistryV2.
    Tasks {
        /// How many.
        #[arg(long, default_value_t = 20)]
        last: u64,
        #[arg(long)]
        json: bool,
    },
    /// One task: its fields, consensus status and results.
    Task {
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Claim a task with the wallet's account. With the node running, its peers are asked
    /// first (claim negotiation): a task they know to be fully claimed is left alone.
    Claim {
        id: u64,
        #[arg(long, default_value_t = 0)]
        index: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Claim even when peers know the task to be fully claimed.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Submit a result for a claimed task: keccak256 of the file goes on chain.
    Submit {
        id: u64,
        /// The result bytes (as uploaded to IPFS).
        #[arg(long)]
        result_file: PathBuf,
        #[arg(long, default_value_t = 0)]
        index: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Register as a premium (validator-routed) node in the network's ValidatorRegistry,
    /// staking GOV (the registry's minimum unless --stake says more).
    RegisterValidator {
        /// The endpoint validators route tasks to (e.g. /ip4/203.0.113.7/udp/4001/quic-v1).
        #[arg(long)]
        endpoint: String,
        /// GOV to stake.
        #[arg(long)]
        stake: Option<String>,
        #[arg(long, default_value_t = 0)]
        index: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Events for the wallet's account since the last run: new tasks, claims, submissions,
    /// consensus, rewards and COMP/GOV received. Each is reported once, across restarts.
    Events {
        /// Blocks an event must be buried under before it is reported.
        #[arg(long, default_value_t = 2)]
        confirmations: u64,
        /// Keep running and report events as new blocks arrive: woken by the endpoint's
        /// websocket (`eth_subscribe` to new blocks) where it has one, else by polling.
        #[arg(long, short = 'f')]
        follow: bool,
        /// With --follow: poll for new blocks, never subscribe over a websocket.
        #[arg(long, requires = "follow")]
        poll: bool,
        /// With --follow: seconds between polls.
        #[arg(long, default_value_t = 5, requires = "follow")]
        poll_secs: u64,
        #[arg(long, default_value_t = 0)]
        index: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create a wallet from a new BIP-39 recovery phrase, shown once and confirmed.
    Create {
        /// Words in the recovery phrase: 12 or 24.
        #[arg(long, default_value_t = 24)]
        words: u8,
        /// Do not ask for words of the phrase back (for automation: you must store it yourself).
        #[arg(long)]
        no_confirm: bool,
        /// Read the new passphrase from this file instead of the terminal.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Import a private key, recovery phrase, or Ethereum V3 keystore (geth, MetaMask).
    /// Keys and phrases are read from --from-file or standard input, never the command line.
    #[command(group(clap::ArgGroup::new("kind").required(true)))]
    Import {
        /// Import a hex private key.
        #[arg(long, group = "kind")]
        private_key: bool,
        /// Import a BIP-39 recovery phrase.
        #[arg(long, group = "kind")]
        mnemonic: bool,
        /// Import this V3 keystore JSON file.
        #[arg(long, group = "kind", value_name = "FILE")]
        keystore_json: Option<PathBuf>,
        /// Read the key or phrase from this file instead of standard input.
        #[arg(long, conflicts_with = "keystore_json")]
        from_file: Option<PathBuf>,
        /// Read the V3 file's passphrase from this file.
        #[arg(long, requires = "keystore_json")]
        json_passphrase_file: Option<PathBuf>,
        /// Read the new passphrase from this file instead of the terminal.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Print the wallet's address (account 0 without a passphrase, others with one).
    Address {
        /// Account index on the wallet's HD path m/44'/60'/0'/0/<index>.
        #[arg(long, default_value_t = 0)]
        index: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Write an account as Ethereum V3 keystore JSON (scrypt), for backup or other wallets.
    Export {
        /// The file to create (never overwritten).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        index: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Read the exported file's passphrase from this file instead of the terminal.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// ETH, COMP and GOV balances (token addresses come from discovery).
    Balance {
        #[arg(long, default_value_t = 0)]
        index: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Send ETH, COMP or GOV: shows amount, recipient and the most it can cost, then asks.
    Send {
        /// Recipient address.
        #[arg(long)]
        to: oarn_api::Address,
        /// Amount in whole units, e.g. 0.25.
        #[arg(long)]
        amount: String,
        /// eth, comp or gov.
        #[arg(long, value_enum, default_value_t = TokenArg::Eth)]
        token: TokenArg,
        /// Send without asking.
        #[arg(long)]
        yes: bool,
        /// Account to send from.
        #[arg(long, default_value_t = 0)]
        index: u32,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Unlock the running node's wallet, so it can sign claims and results (when it was
    /// started without its passphrase).
    Unlock {
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Seal the wallet under a new passphrase (the old file is replaced atomically).
    ChangePassphrase {
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file, defaults and environment overrides).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Print one key's effective value, e.g. `network.max_peers`.
    Get {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Set one key in config.toml, keeping its comments; refused if the result is invalid.
    Set { key: String, value: String },
    /// Check config.toml and the environment overrides; list every problem.
    Validate {
        #[arg(long)]
        json: bool,
    },
    /// Open config.toml in $VISUAL or $EDITOR; the edit is kept only if it is valid.
    Edit,
    /// Print the path of config.toml.
    Path,
    /// Make the running node re-read config.toml (same as SIGHUP).
    Reload {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start a local-only node: the supervisor, the inference worker and the local API, no
    /// network or chain worker (network.mode = "local" for this run).
    Start {
        /// Run in the background and return once the node answers.
        #[arg(long)]
        detach: bool,
    },
    /// Generate an answer to PROMPT with an installed model, streaming it to stdout; a
    /// running node serves it (keeping the model loaded), else a worker of its own.
    Inference(InferenceArgs),
    /// Run an ONNX tensor model on INPUT, a tensor task's input (a JSON array of numbers; an
    /// object with "input", "data", "values" or "params"; or raw little-endian f32), and print
    /// the result bytes a task would submit. The model runs in an inference worker of its own.
    Run(RunArgs),
}

/// `oarn local run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The input file (at most 1 MiB); - reads standard input.
    pub input: PathBuf,
    /// Model name [default: the only installed ONNX model].
    #[arg(long)]
    pub model: Option<String>,
    /// Threads [default: compute.threads, 0 = every core]; the result's bytes do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: u32,
    /// Give up after this many seconds, with an error (0: no limit).
    #[arg(long, default_value_t = 0.0)]
    pub timeout: f64,
    /// Print the result, its hash, shapes, timings and fingerprint as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `oarn local inference`.
#[derive(Debug, Args)]
pub struct InferenceArgs {
    pub prompt: String,
    /// Model name [default: the only installed model; with ollama.enabled, an Ollama model
    /// name, required].
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// 0 is greedy: the same answer every time.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Sample from the K likeliest tokens only (0: off; with --temperature above 0).
    #[arg(long, default_value_t = 0)]
    pub top_k: u32,
    /// Nucleus sampling: the likeliest tokens up to this probability (1: off).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
    /// End the answer before this text (repeatable; not printed).
    #[arg(long = "stop", value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Give up after this many seconds, with an error (0: no limit).
    #[arg(long, default_value_t = 0.0)]
    pub timeout: f64,
    /// A system message for the chat template.
    #[arg(long)]
    pub system: Option<String>,
    /// Threads [default: compute.threads, 0 = every core].
    #[arg(long, default_value_t = 0)]
    pub threads: u32,
    /// Send the prompt as is, without the model's chat template.
    #[arg(long)]
    pub raw: bool,
    /// Print the text and statistics as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// List installed models.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a model's metadata and whether it fits this machine.
    Info {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Copy a GGUF or ONNX model file, or a Hugging Face model directory (config.json,
    /// tokenizer.json, model.safetensors or pytorch_model.bin), into the model store (verified
    /// before it is visible).
    Import {
        path: PathBuf,
        /// Name to install it under [default: from the file name].
        #[arg(long)]
        name: Option<String>,
        /// Replace a model of the same name.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Models the running node holds in memory, most recently used first.
    Loaded {
        #[arg(long)]
        json: bool,
    },
    /// Free a model from the running node's memory (every model without NAME).
    Unload {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Models `oarn model pull NAME` knows by name.
    Catalog {
        #[arg(long)]
        json: bool,
    },
    /// Download a model (a catalog name such as smollm2-135m, https://…/model.gguf or
    /// hf://org/repo/file.gguf) in the sandboxed network worker, resuming an interrupted pull,
    /// then verify and install it. An ipfs://CID is fetched over Bitswap by the running node
    /// (`oarn start`), every block verified against its CID.
    Pull {
        source: String,
        /// Name to install it under [default: the catalog name, or the URL's file name].
        #[arg(long)]
        name: Option<String>,
        /// The sha256 the file must have (64 hex digits); a file that differs is discarded.
        #[arg(long)]
        sha256: Option<String>,
        /// Replace a model of the same name.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a model (and its file when no other model shares it).
    Remove {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Print the effective sandbox profile of each worker (or one: infer, net, chain, anon).
    Show { worker: Option<String> },
    /// Run each worker under its real profile and try forbidden and needed operations;
    /// exits 0 only if every forbidden one failed and every needed one worked.
    Verify {
        /// Only this worker: infer, net, chain or anon.
        #[arg(long)]
        worker: Option<String>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Number of lines to show.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub lines: usize,
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines from this worker: infer, net, chain, or supervisor.
    #[arg(long, value_parser = ["infer", "net", "chain", "supervisor"])]
    pub worker: Option<String>,
    /// Only lines at this level or more severe: trace, debug, info, warn, error.
    #[arg(long)]
    pub level: Option<String>,
    /// Print the raw JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// What `oarn wallet send` moves.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TokenArg {
    Eth,
    Comp,
    Gov,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks a command's definition only when it is parsed; this checks every
    /// subcommand's, so a clash (an argument named like the global --version) fails here.
    #[test]
    fn every_command_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
