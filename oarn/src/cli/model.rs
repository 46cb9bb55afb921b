//! `oarn model list | catalog | info | import | pull | remove | loaded | unload`.

use oarn_api::infer::{ModelsLoaded, Unload};
use oarn_config::home::Home;
use oarn_config::{Config, load, resolve_path};
use oarn_models::catalog::{self, Source};
use oarn_models::{Manifest, Store};
use oarn_node::install::Install;
use oarn_node::pull::Pull;
use oarn_protocol::task::ModelFormat;
use serde_json::json;

use super::Exit;
use super::args::ModelCommand;
use super::progress::Progress;
use super::table::{mib, opt, s as clean};

/// Longest wait for the running node's inference worker.
const NODE_WAIT: std::time::Duration = std::time::Duration::from_secs(40);

fn store(home: &Home) -> anyhow::Result<(Config, Store)> {
    let config = load::load_or_default(&home.config())?;
    let store = Store::open(&resolve_path(&config.storage.models_dir, home.root()))?;
    Ok((config, store))
}

fn pull(config: &Config, home: &Home, store: &Store, what: &Pull, json: bool) -> anyhow::Result<()> {
    let mut bar = Progress::new(&format!("pulling {}", what.source), json);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let pulled = runtime.block_on(oarn_node::pull::pull(config, home, store, what, |p| {
        bar.update(p.done, p.total)
    }));
    bar.finish();
    let pulled = pulled?;
    let evicted = evict(config, store, &pulled.model.name)?;
    if json {
        let mut v = serde_json::to_value(&pulled)?;
        v["evicted"] = json!(evicted);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let m = &pulled.model;
        if pulled.resumed_from > 0 {
            println!("resumed at {}", mib(pulled.resumed_from));
        }
        println!("pulled {} ({}, {})", m.name, mib(m.size), m.digest);
        say_evicted(config, &evicted);
    }
    Ok(())
}

/// Keeps the cache under `storage.max_cache_size_gb` after `keep` was installed: the least
/// recently used other models go.
fn evict(config: &Config, store: &Store, keep: &str) -> anyhow::Result<Vec<String>> {
    let Some(limit) = config.storage.cache_limit() else {
        return Ok(Vec::new());
    };
    let evicted = store.evict(limit, keep)?;
    if store.size()? > limit {
        eprintln!(
            "warning: {keep} alone is larger than storage.max_cache_size_gb = {}",
            config.storage.max_cache_size_gb
        );
    }
    Ok(evicted.into_iter().map(|m| m.name).collect())
}

fn say_evicted(config: &Config, evicted: &[String]) {
    if !evicted.is_empty() {
        println!(
            "evicted {} (least recently used) to stay under storage.max_cache_size_gb = {}",
            evicted.join(", "),
            config.storage.max_cache_size_gb
        );
    }
}

/// Memory the kernel says is available now, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    Some(oarn_node::hardware::memory(&text).available_bytes).filter(|&b| b > 0)
}

pub fn run(home: &Home, command: ModelCommand) -> anyhow::Result<Exit> {
    let (config, store) = store(home)?;
    match command {
        ModelCommand::List { json } => {
            let models = store.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
            } else if models.is_empty() {
                println!("no models installed; add one with `oarn model import PATH`");
            } else {
                println!("{:<36} {:>10} {:<10} {:<8} DIGEST", "NAME", "SIZE", "ARCH", "QUANT");
                for m in &models {
                    let digest = clean(&m.digest);
                    println!(
                        "{:<36} {:>10} {:<10} {:<8} {}",
                        clean(&m.name),
                        mib(m.size),
                        clean(&m.metadata.architecture),
                        opt(m.metadata.quantization.as_ref()),
                        digest.chars().take(19).collect::<String>()
                    );
                }
            }
        }
        ModelCommand::Loaded { json } => {
            let loaded = super::client(home).call(&ModelsLoaded {}, NODE_WAIT)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&loaded)?);
            } else if loaded.is_empty() {
                println!("no model is loaded");
            } else {
                for m in &loaded {
                    println!("{:<36} {:>10}", clean(&m.model), mib(m.bytes));
                }
            }
        }
        ModelCommand::Unload { name, json } => {
            let done = super::client(home).call(&Unload { model: name }, NODE_WAIT)?;
            if json {
                println!("{}", serde_json::to_string(&done)?);
            } else if done.unloaded.is_empty() {
                println!("nothing was loaded");
            } else {
                let list: Vec<String> = done.unloaded.iter().map(|m| clean(m)).collect();
                println!("unloaded {}", list.join(", "));
            }
        }
        ModelCommand::Catalog { json } => {
            let installed: Vec<String> = store.list()?.into_iter().map(|m| m.digest).collect();
            let rows: Vec<_> = catalog::CATALOG
                .iter()
                .map(|e| {
                    let Source::Wheel { url, .. } = e.source;
                    json!({
                        "name": e.name,
                        "description": e.description,
                        "size": e.size,
                        "sha256": e.sha256,
                        "source": catalog::mirrored(url, &config.storage.model_mirror),
                        "installed": installed.iter().any(|d| d.ends_with(e.sha256)),
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<16} {:>10} {:<10} DESCRIPTION", "NAME", "SIZE", "INSTALLED");
                for (e, r) in catalog::CATALOG.iter().zip(&rows) {
                    let installed = if r["installed"] == true { "yes" } else { "no" };
                    println!("{:<16} {:>10} {:<10} {}", e.name, mib(e.size), installed, e.description);
                }
                println!("install one with `oarn model pull NAME`");
            }
        }
        ModelCommand::Info { name, json } => {
            let m = store.get(&name)?;
            let available = available_memory();
            let need = Need::of(&m);
            let fits = available.map(|a| need.total() < a);
            if json {
                let mut v = serde_json::to_value(&m)?;
                v["path"] = json!(store.blob(&m));
                v["memory_available"] = json!(available);
                v["context"] = json!(need.context);
                v["kv_cache_bytes"] = json!(need.kv_cache);
                v["memory_needed"] = json!(need.total());
                v["fits_in_memory"] = json!(fits);
                // Where a GPU build could offload the whole model: GPUs with enough free VRAM.
                let gpus: Vec<_> = oarn_node::hardware::detect()
                    .gpus
                    .into_iter()
                    .map(|g| {
                        let fits = g.vram_free_bytes.map(|f| need.total() < f);
                        json!({"pci": g.pci, "name": g.name, "vram_free_bytes": g.vram_free_bytes, "fits": fits})
                    })
                    .collect();
                v["gpus"] = json!(gpus);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_info(&store, &m, &need, available, fits);
            }
        }
        ModelCommand::Import {
            path,
            name,
            force,
            json,
        } => {
            let source = path.display().to_string();
            let install = Install {
                file: &path,
                name: name.as_deref(),
                name_from: &path,
                force,
                source: &source,
                claims: Vec::new(),
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let m = runtime.block_on(oarn_node::install::install(&config, home, &store, install))?;
            let evicted = evict(&config, &store, &m.name)?;
            if json {
                let mut v = serde_json::to_value(&m)?;
                v["evicted"] = json!(evicted);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("imported {} ({}, {})", m.name, mib(m.size), m.digest);
                say_evicted(&config, &evicted);
            }
        }
        ModelCommand::Pull {
            source,
            name,
            sha256,
            force,
            json,
        } => {
            let what = Pull {
                source,
                name,
                sha256: sha256.as_deref().map(oarn_node::pull::digest).transpose()?,
                force,
            };
            pull(&config, home, &store, &what, json)?;
        }
        ModelCommand::Remove { name, json } => {
            let blob_removed = store.remove(&name)?;
            if json {
                println!("{}", json!({"removed": name, "blob_removed": blob_removed}));
            } else {
                println!("removed {name}");
            }
        }
    }
    Ok(Exit::Success)
}

/// What running a model takes: its weights and, where the file says enough, the KV cache of
/// the context a request gets by default.
struct Need {
    weights: u64,
    context: u64,
    kv_cache: Option<u64>,
}

impl Need {
    fn of(m: &Manifest) -> Self {
        let default = u64::from(oarn_protocol::infer::DEFAULT_CONTEXT);
        let context = m.metadata.context_length.map_or(default, |c| c.clamp(1, default));
        let kv_cache = m.metadata.kv_cache_bytes(context);
        if [ModelFormat::Safetensors, ModelFormat::Pytorch]
            .map(ModelFormat::as_str)
            .contains(&m.format.as_str())
        {
            // candle computes in f32, whatever the checkpoint stores: 4 bytes a parameter, and
            // f32 keys and values (twice llama.cpp's f16 cache).
            return Self {
                weights: m.metadata.parameters.saturating_mul(4),
                context,
                kv_cache: kv_cache.map(|b| b.saturating_mul(2)),
            };
        }
        Self {
            weights: m.size,
            context,
            kv_cache,
        }
    }

    fn total(&self) -> u64 {
        self.weights + self.kv_cache.unwrap_or(0)
    }

    fn describe(&self) -> String {
        match self.kv_cache {
            Some(kv) => format!(
                "weights {} + KV cache {} for {} tokens",
                mib(self.weights),
                mib(kv),
                self.context
            ),
            None => format!("weights {} (KV cache unknown)", mib(self.weights)),
        }
    }
}

fn print_info(store: &Store, m: &Manifest, need: &Need, available: Option<u64>, fits: Option<bool>) {
    // Manifests hold what model files said: every string is cleaned before it is shown.
    let md = &m.metadata;
    println!("name          {}", clean(&m.name));
    println!("file          {}", clean(&store.blob(m).display().to_string()));
    println!("size          {} ({} bytes)", mib(m.size), m.size);
    println!("digest        {}", clean(&m.digest));
    println!("source        {}", clean(&m.source));
    if md.gguf_version > 0 {
        println!("format        {} (GGUF v{})", clean(&m.format), md.gguf_version);
    } else {
        println!("format        {}", clean(&m.format));
    }
    for (label, list) in [("inputs", &md.inputs), ("outputs", &md.outputs)] {
        if !list.is_empty() {
            let list: Vec<String> = list.iter().map(|s| clean(s)).collect();
            println!("{label:<14}{}", list.join(", "));
        }
    }
    println!("architecture  {}", clean(&md.architecture));
    if let Some(n) = &md.name {
        println!("model name    {}", clean(n));
    }
    // A tensor model's header says nothing of parameters, quantisation or context.
    let candle = matches!(md.format, ModelFormat::Safetensors | ModelFormat::Pytorch);
    if md.gguf_version > 0 || candle {
        println!("parameters    {:.1} M", md.parameters as f64 / 1e6);
        if candle {
            println!("dtype         {} (runs in f32)", opt(md.quantization.as_ref()));
        } else {
            println!("quantization  {}", opt(md.quantization.as_ref()));
        }
        println!(
            "context       {}",
            md.context_length.map_or("-".into(), |c| c.to_string())
        );
        println!("chat template {}", if md.chat_template { "yes" } else { "no" });
    }
    match (available, fits) {
        (Some(a), Some(true)) => println!("fits          yes: {} of {} available", need.describe(), mib(a)),
        (Some(a), _) => println!("fits          no: {} but only {} available", need.describe(), mib(a)),
        _ => println!("fits          unknown (available memory unreadable)"),
    }
}
