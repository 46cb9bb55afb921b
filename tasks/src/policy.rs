//! The checks made before any gas is spent (task-format.md, "Rules a claiming node follows"):
//! the chain's counts and status, the reward against `compute.min_reward`, the model against
//! `compute.accepted_models`, the machine's memory, and whether the deadline leaves room at
//! this node's measured speed. Pure: the daemon gathers the facts (parsed in workers) first.

use crate::reconcile::ChainFacts;
use crate::state::Reason;
use crate::{Millis, Task};

/// The operator's policy, from `[compute]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `compute.min_reward`, wei.
    pub min_reward_wei: u128,
    /// `compute.accepted_models` globs (`*`, `?`, `[…]`); empty accepts every model.
    pub accepted_models: Vec<String>,
    /// Memory the node may use for a model, MiB (`compute.max_ram_gb`, else physical).
    pub ram_mib: u64,
    /// GPU memory, MiB (0: no GPU).
    pub vram_mib: u64,
}

/// What a task asks, as its model manifest and `modelRequirements` say (parsed in a worker).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The manifest's `name` (the file's digest in hex when the block is the model itself).
    pub model_name: String,
    /// Model file size, bytes.
    pub model_bytes: u64,
    /// The store already holds the file.
    pub model_stored: bool,
    pub min_ram_mib: Option<u64>,
    pub min_vram_mib: Option<u64>,
    pub gpu_required: bool,
    /// Tokens to generate at most (`max_tokens`).
    pub max_tokens: u64,
    /// Prompt length, bytes (a token is at least one byte: an upper bound of tokens).
    pub prompt_bytes: u64,
}

/// This node's measured speed (the daemon keeps it from finished tasks; conservative
/// defaults until then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Speed {
    /// Model download, bytes per second.
    pub fetch_bytes_per_s: u64,
    /// Model load time, ms.
    pub load_ms: Millis,
    /// Prompt processing and generation, tokens per second.
    pub prompt_tokens_per_s: u64,
    pub gen_tokens_per_s: u64,
    /// A claim and a submission mined, and the result added: ms.
    pub chain_ms: Millis,
}

impl Default for Speed {
    fn default() -> Self {
        Speed {
            fetch_bytes_per_s: 5_000_000,
            load_ms: 5_000,
            prompt_tokens_per_s: 50,
            gen_tokens_per_s: 5,
            chain_ms: 30_000,
        }
    }
}

impl Speed {
    /// How long this node needs for the task, ms.
    pub fn estimate_ms(&self, needs: &Needs) -> Millis {
        let fetch = if needs.model_stored {
            0
        } else {
            needs.model_bytes.saturating_mul(1000) / self.fetch_bytes_per_s.max(1)
        };
        let prompt = needs.prompt_bytes.saturating_mul(1000) / self.prompt_tokens_per_s.max(1);
        let generate = needs.max_tokens.saturating_mul(1000) / self.gen_tokens_per_s.max(1);
        fetch
            .saturating_add(self.load_ms)
            .saturating_add(prompt)
            .saturating_add(generate)
            .saturating_add(self.chain_ms)
    }
}

/// Whether to take the task: `Ok` or the reason not to.
pub fn check(
    task: &Task,
    facts: &ChainFacts,
    needs: &Needs,
    policy: &Policy,
    speed: &Speed,
    now: Millis,
) -> Result<(), Reason> {
    if facts.claimed_by_us {
        return Ok(());
    }
    open_to_us(facts, policy)?;
    if !accepted(&policy.accepted_models, &needs.model_name) {
        return Err(Reason::ModelNotAccepted(needs.model_name.clone()));
    }
    fits(needs, policy)?;
    let need = speed.estimate_ms(needs);
    let left = task.deadline_ms().saturating_sub(now);
    if need >= left {
        return Err(Reason::DeadlineTooClose {
            left_s: left / 1000,
            need_s: need.div_ceil(1000),
        });
    }
    Ok(())
}

/// The chain's conditions and the reward alone: checked before anything is fetched.
pub fn open_to_us(facts: &ChainFacts, policy: &Policy) -> Result<(), Reason> {
    if facts.claimed_by_us {
        return Ok(());
    }
    if !facts.status.is_open() {
        return Err(Reason::NotOpen(facts.status.as_str().into()));
    }
    let max = facts.required_nodes.saturating_mul(2);
    if facts.claimed >= max {
        return Err(Reason::ClaimsFull {
            claimed: facts.claimed,
            max,
        });
    }
    if facts.submitted >= facts.required_nodes {
        return Err(Reason::ResultsFull {
            submitted: facts.submitted,
            required: facts.required_nodes,
        });
    }
    if facts.reward_wei < policy.min_reward_wei {
        return Err(Reason::RewardTooLow {
            reward: format_eth(facts.reward_wei),
            min: format_eth(policy.min_reward_wei),
        });
    }
    Ok(())
}

/// Whether `name` matches one of `globs` (every name, when there are none). A glob that does
/// not parse matches only itself.
pub fn accepted(globs: &[String], name: &str) -> bool {
    globs.is_empty()
        || globs.iter().any(|g| match glob::Pattern::new(g) {
            Ok(p) => p.matches(name),
            Err(_) => g == name,
        })
}

fn fits(needs: &Needs, policy: &Policy) -> Result<(), Reason> {
    const MIB: u64 = 1 << 20;
    let model_mib = needs.model_bytes.div_ceil(MIB);
    let ram = needs.min_ram_mib.unwrap_or(0).max(model_mib);
    if ram > policy.ram_mib {
        return Err(Reason::DoesNotFit(format!(
            "the task needs {ram} MiB of memory; this node offers {} MiB (compute.max_ram_gb)",
            policy.ram_mib
        )));
    }
    if needs.gpu_required && policy.vram_mib == 0 {
        return Err(Reason::DoesNotFit("the task needs a GPU; this node has none".into()));
    }
    if let Some(vram) = needs.min_vram_mib
        && vram > policy.vram_mib
    {
        return Err(Reason::DoesNotFit(format!(
            "the task needs {vram} MiB of GPU memory; this node has {} MiB",
            policy.vram_mib
        )));
    }
    Ok(())
}

/// Why an amount of ETH did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadAmount {
    /// Not a decimal number such as `0.001`.
    #[error("{0:?} is not an amount of ETH (a decimal number such as 0.001)")]
    NotDecimal(String),
    /// More than 18 decimals: less than one wei.
    #[error("{0:?} has more than 18 decimals (one wei is 0.000000000000000001 ETH)")]
    TooPrecise(String),
    /// Larger than any balance can be.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Wei in a decimal amount of ETH (`"0.001"`, `"2"`, `"0"`).
pub fn parse_eth(s: &str) -> Result<u128, BadAmount> {
    let t = s.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(BadAmount::NotDecimal(s.into()));
    }
    if frac.len() > 18 {
        return Err(BadAmount::TooPrecise(s.into()));
    }
    let too_large = || BadAmount::TooLarge(s.into());
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let frac: u128 = format!("{frac:0<18}").parse().map_err(|_| too_large())?;
    whole
        .checked_mul(10u128.pow(18))
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(too_large)
}

/// Wei as ETH, without trailing zeros (`1500000000000000` → `"0.0015"`).
pub fn format_eth(wei: u128) -> String {
    let unit = 10u128.pow(18);
    let (whole, frac) = (wei / unit, wei % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:018}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::ChainStatus;
    use crate::{Offer, Source};

    fn task(deadline: u64) -> Task {
        let offer = Offer {
            id: 1,
            model_hash: [1; 32],
            input_hash: [2; 32],
            reward_wei: 10u128.pow(15),
            required_nodes: 3,
            deadline,
            source: Source::Gossip,
        };
        Task::new(offer, 0)
    }

    fn facts() -> ChainFacts {
        ChainFacts {
            status: ChainStatus::Active,
            required_nodes: 3,
            claimed: 0,
            submitted: 0,
            reward_wei: 10u128.pow(15),
            claimed_by_us: false,
            submitted_by_us: false,
            tx_pending: false,
            our_result: None,
            unique_results: 0,
        }
    }

    fn needs() -> Needs {
        Needs {
            model_name: "smollm2-135m-instruct".into(),
            model_bytes: 100 << 20,
            model_stored: true,
            max_tokens: 64,
            prompt_bytes: 100,
            ..Needs::default()
        }
    }

    fn policy() -> Policy {
        Policy {
            min_reward_wei: 0,
            accepted_models: Vec::new(),
            ram_mib: 4096,
            vram_mib: 0,
        }
    }

    fn why(r: Result<(), Reason>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn an_open_task_with_room_and_time_is_taken() {
        let t = task(3600);
        assert_eq!(check(&t, &facts(), &needs(), &policy(), &Speed::default(), 0), Ok(()));
    }

    #[test]
    fn every_refusal_names_its_reason() {
        let s = Speed::default();
        let t = task(3600);
        let mut f = facts();
        f.status = ChainStatus::Completed;
        assert!(why(check(&t, &f, &needs(), &policy(), &s, 0)).contains("completed"));
        let mut f = facts();
        f.claimed = 6;
        assert!(why(check(&t, &f, &needs(), &policy(), &s, 0)).contains("6 of 6"));
        let mut f = facts();
        f.submitted = 3;
        assert!(why(check(&t, &f, &needs(), &policy(), &s, 0)).contains("3 of 3 results"));
        let mut p = policy();
        p.min_reward_wei = parse_eth("0.002").unwrap();
        assert_eq!(
            why(check(&t, &facts(), &needs(), &p, &s, 0)),
            "the reward 0.001 ETH is under compute.min_reward (0.002 ETH)"
        );
        let mut p = policy();
        p.accepted_models = vec!["llama-*".into()];
        assert!(why(check(&t, &facts(), &needs(), &p, &s, 0)).contains("accepted_models"));
        let mut p = policy();
        p.ram_mib = 50;
        assert!(why(check(&t, &facts(), &needs(), &p, &s, 0)).contains("100 MiB of memory"));
        let mut n = needs();
        n.gpu_required = true;
        assert!(why(check(&t, &facts(), &n, &policy(), &s, 0)).contains("needs a GPU"));
        let near = task(20);
        assert!(why(check(&near, &facts(), &needs(), &policy(), &s, 0)).contains("the deadline leaves 20 s"));
    }

    #[test]
    fn a_model_to_download_counts_against_the_deadline() {
        let s = Speed::default();
        let mut n = needs();
        n.model_stored = false;
        n.model_bytes = 5_000_000 * 600;
        assert!(check(&task(3600), &facts(), &needs(), &policy_big(), &s, 0).is_ok());
        assert!(matches!(
            check(&task(600), &facts(), &n, &policy_big(), &s, 0),
            Err(Reason::DeadlineTooClose { .. })
        ));
    }

    fn policy_big() -> Policy {
        Policy {
            ram_mib: 1 << 20,
            ..policy()
        }
    }

    #[test]
    fn accepted_models_are_globs() {
        let g = vec!["smollm2-*".to_string(), "qwen2.5-0.5b".to_string()];
        assert!(accepted(&g, "smollm2-135m-instruct"));
        assert!(accepted(&g, "qwen2.5-0.5b"));
        assert!(!accepted(&g, "qwen2.5-7b"));
        assert!(accepted(&[], "anything"));
        assert!(accepted(&["[".to_string()], "["));
    }

    #[test]
    fn eth_amounts_parse_to_wei_and_back() {
        assert_eq!(parse_eth("0").unwrap(), 0);
        assert_eq!(parse_eth("0.001").unwrap(), 10u128.pow(15));
        assert_eq!(parse_eth("2").unwrap(), 2 * 10u128.pow(18));
        assert_eq!(parse_eth(".5").unwrap(), 5 * 10u128.pow(17));
        assert_eq!(parse_eth("0.000000000000000001").unwrap(), 1);
        assert_eq!(format_eth(1_500_000_000_000_000), "0.0015");
        assert_eq!(format_eth(3 * 10u128.pow(18)), "3");
        for bad in ["", ".", "1e3", "-1", "0x10", "1.2.3", "abc"] {
            assert!(matches!(parse_eth(bad), Err(BadAmount::NotDecimal(_))), "{bad}");
        }
        assert!(matches!(
            parse_eth("0.0000000000000000001"),
            Err(BadAmount::TooPrecise(_))
        ));
        assert!(matches!(parse_eth(&"9".repeat(40)), Err(BadAmount::TooLarge(_))));
    }
}
