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
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start the node: the supervisor and its sandboxed workers.
    Start {
        /// Run in the background and return once the node answers.
        #[arg(long)]
        detach: bool,
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
    /// Manage the models this node can run.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Show each worker's sandbox profile, and prove from inside the workers that it holds.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
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
    /// Generate an answer to PROMPT with an installed model, streaming it to stdout.
    Inference {
        prompt: String,
        /// Model name [default: the only installed model].
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 256)]
        max_tokens: u32,
        /// 0 is greedy: the same answer every time.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// A system message for the chat template.
        #[arg(long)]
        system: Option<String>,
        /// Threads [default: compute.threads, 0 = every core].
        #[arg(long, default_value_t = 0)]
        threads: u32,
        /// Send the prompt as is, without the model's chat template.
        #[arg(long)]
        raw: bool,
        /// Print the text and statistics as JSON.
        #[arg(long)]
        json: bool,
    },
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
    /// Copy a GGUF file into the model store (verified before it is visible).
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
    /// Remove a model (and its file when no other model shares it).
    Remove {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Print the effective sandbox profile of each worker (or one: infer, net, chain).
    Show { worker: Option<String> },
    /// Run each worker under its real profile and try forbidden and needed operations;
    /// exits 0 only if every forbidden one failed and every needed one worked.
    Verify {
        /// Only this worker: infer, net or chain.
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
