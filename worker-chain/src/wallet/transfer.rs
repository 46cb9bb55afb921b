//! Balances and transfers: ETH, and the COMP and GOV tokens whose addresses discovery finds
//! (never configured). A transfer shows amount, recipient and the most it can cost in fees,
//! and asks before it signs.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::utils::{format_units, parse_units};
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use serde_json::json;

use super::io;
use crate::command::{ChainArgs, runtime};
use crate::contracts::{ERC20, NODE_INTERFACE, NodeInterface};
use crate::discovery::{self, Network};
use crate::signer::Signer;

/// How long to wait for a transaction to be mined.
const RECEIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// What a transfer moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Token {
    /// Ether.
    Eth,
    /// The reward token (OARNRegistry's tokenReward).
    Comp,
    /// The governance token (OARNRegistry's govToken).
    Gov,
}

impl Token {
    fn symbol(self) -> &'static str {
        match self {
            Token::Eth => "ETH",
            Token::Comp => "COMP",
            Token::Gov => "GOV",
        }
    }

    fn contract(self, network: &Network) -> Option<Address> {
        match self {
            Token::Eth => None,
            Token::Comp => Some(network.core.token_reward),
            Token::Gov => Some(network.core.gov_token),
        }
    }
}

/// Why a balance or transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The amount is not a decimal number of whole units.
    #[error("{0:?} is not an amount: write whole units with up to 18 decimals, e.g. 1.5")]
    Amount(String),
    /// Zero or to the zero address.
    #[error("refusing to send {0}")]
    Pointless(&'static str),
    /// Not enough to cover amount and fees.
    #[error("insufficient funds: {have}, but this transfer needs {need}")]
    InsufficientFunds {
        /// What the account holds.
        have: String,
        /// What the transfer needs.
        need: String,
    },
    /// The operator said no.
    #[error("not sent")]
    Declined,
    /// No terminal to ask and no `--yes`.
    #[error("a transfer needs confirmation: run it in a terminal, or pass --yes")]
    NeedsConfirmation,
    /// An RPC request failed.
    #[error("{step}: {message}")]
    Rpc {
        /// What was being done.
        step: &'static str,
        /// The error.
        message: String,
    },
    /// The transaction was mined but reverted.
    #[error("transaction {0} reverted; nothing was transferred (the fee was spent)")]
    Reverted(String),
    /// The runtime could not start.
    #[error("cannot start the network runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

fn rpc(step: &'static str) -> impl FnOnce(String) -> Error {
    move |message| Error::Rpc { step, message }
}

/// An 18-decimal amount in whole units, without trailing zeros ("1.5", "1000").
pub fn units(v: U256) -> String {
    format_units(v, 18).map_or_else(
        |_| v.to_string(),
        |s| {
            let t = s.trim_end_matches('0');
            t.strip_suffix('.').unwrap_or(t).to_string()
        },
    )
}

/// Balances of `address` (account `index`).
pub fn balance(address: String, index: u32, chain: &ChainArgs, json: bool) -> Result<(), super::Error> {
    let address: Address = address
        .parse()
        .map_err(|_| Error::Pointless("to a malformed address"))?;
    let rt = runtime().map_err(Error::from)?;
    let (network, eth, comp, gov) = rt.block_on(async {
        let (network, mut pool) = discovery::discover(&chain.settings()).await?;
        let endpoint = pool.current().await.map_err(discovery::Error::from)?.clone();
        let p = endpoint.provider();
        let eth = p
            .get_balance(address)
            .await
            .map_err(|e| rpc("reading the ETH balance")(e.to_string()))?;
        let comp = ERC20::new(network.core.token_reward, p)
            .balanceOf(address)
            .call()
            .await
            .map_err(|e| rpc("reading the COMP balance")(e.to_string()))?;
        let gov = ERC20::new(network.core.gov_token, p)
            .balanceOf(address)
            .call()
            .await
            .map_err(|e| rpc("reading the GOV balance")(e.to_string()))?;
        Ok::<_, super::Error>((network, eth, comp, gov))
    })?;
    if json {
        let out = json!({
            "address": address.to_string(), "index": index, "chain_id": chain.chain_id,
            "eth": units(eth), "comp": units(comp), "gov": units(gov),
            "wei": { "eth": eth.to_string(), "comp": comp.to_string(), "gov": gov.to_string() },
            "tokens": { "comp": network.core.token_reward.to_string(), "gov": network.core.gov_token.to_string() },
        });
        println!("{out}");
    } else {
        println!("{address} on chain {}", chain.chain_id);
        println!("  ETH   {}", units(eth));
        println!("  COMP  {}", units(comp));
        println!("  GOV   {}", units(gov));
    }
    Ok(())
}

/// The L1 data-posting part of `tx`'s gas, where the chain has Arbitrum's NodeInterface
/// (`eth_estimateGas` there already includes it; this shows the operator what it is).
async fn l1_component(p: &alloy::providers::DynProvider, tx: &TransactionRequest) -> Option<u64> {
    let to = tx.to.and_then(|k| k.to().copied())?;
    let data = tx.input.input().cloned().unwrap_or_default();
    // Arbitrum nodes answer calls to this address without code being there; elsewhere the
    // call returns nothing decodable, and the line is left out.
    let answer = NodeInterface::new(NODE_INTERFACE, p)
        .gasEstimateL1Component(to, false, data)
        .call()
        .await
        .ok()?;
    Some(answer.gasEstimateForL1)
}

/// Asks "Proceed? [y/N]" on the terminal (or reads the answer from a piped stdin line).
fn confirm(summary: &str) -> Result<(), Error> {
    eprintln!("{summary}");
    let answer = io::prompt_line("Proceed? [y/N] ", 16, "the answer").map_err(|_| Error::NeedsConfirmation)?;
    if answer.is_empty() && !io::stdin_is_terminal() {
        return Err(Error::NeedsConfirmation);
    }
    match answer.expose().trim_ascii() {
        b"y" | b"Y" | b"yes" | b"Yes" => Ok(()),
        _ => Err(Error::Declined),
    }
}

/// Sends `amount` of `token` from `signer` to `to`.
pub fn send(
    signer: Signer,
    to: Address,
    amount: &str,
    token: Token,
    yes: bool,
    chain: &ChainArgs,
    json: bool,
) -> Result<(), super::Error> {
    let value: U256 = parse_units(amount, 18)
        .map_err(|_| Error::Amount(amount.into()))?
        .get_absolute();
    if amount.trim_start().starts_with('-') {
        return Err(Error::Amount(amount.into()).into());
    }
    if value.is_zero() {
        return Err(Error::Pointless("nothing").into());
    }
    if to.is_zero() {
        return Err(Error::Pointless("to the zero address (the tokens would be lost)").into());
    }
    let from = signer.address();
    let rt = runtime().map_err(Error::from)?;
    rt.block_on(async {
        let (network, mut pool) = discovery::discover(&chain.settings()).await?;
        let endpoint = pool.current().await.map_err(discovery::Error::from)?.clone();
        let p = endpoint.provider();
        let mut tx = TransactionRequest::default().with_from(from).with_chain_id(chain.chain_id);
        match token.contract(&network) {
            None => tx = tx.with_to(to).with_value(value),
            Some(contract) => {
                let held = ERC20::new(contract, p)
                    .balanceOf(from)
                    .call()
                    .await
                    .map_err(|e| rpc("reading the token balance")(e.to_string()))?;
                if held < value {
                    return Err(Error::InsufficientFunds {
                        have: format!("{} {}", units(held), token.symbol()),
                        need: format!("{} {}", units(value), token.symbol()),
                    }
                    .into());
                }
                let data = ERC20::transferCall { to, amount: value }.abi_encode();
                tx = tx.with_to(contract).with_input(data);
            }
        }
        let gas = p.estimate_gas(tx.clone()).await.map_err(|e| rpc("estimating gas")(e.to_string()))?;
        let fees = p
            .estimate_eip1559_fees()
            .await
            .map_err(|e| rpc("estimating fees")(e.to_string()))?;
        let max_fee = U256::from(gas) * U256::from(fees.max_fee_per_gas);
        let l1 = l1_component(p, &tx).await;
        let eth = p.get_balance(from).await.map_err(|e| rpc("reading the ETH balance")(e.to_string()))?;
        let need = max_fee + if token == Token::Eth { value } else { U256::ZERO };
        if eth < need {
            return Err(Error::InsufficientFunds {
                have: format!("{} ETH", units(eth)),
                need: format!("{} ETH including up to {} ETH in fees", units(need), units(max_fee)),
            }
            .into());
        }
        if !yes {
            let l1_line = l1.map_or(String::new(), |g| format!("\n  of which L1 data posting: {g} gas (Arbitrum)"));
            confirm(&format!(
                "Send {} {} from {from} to {to} on chain {}\n  network fee: at most {} ETH ({gas} gas at up to {} gwei){l1_line}",
                units(value),
                token.symbol(),
                chain.chain_id,
                units(max_fee),
                format_units(U256::from(fees.max_fee_per_gas), 9).unwrap_or_default()
            ))?;
        }
        let tx = tx
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let signing = endpoint.signing(EthereumWallet::from(signer));
        let pending = signing
            .send_transaction(tx)
            .await
            .map_err(|e| rpc("sending the transaction")(e.to_string()))?;
        let hash = *pending.tx_hash();
        if !json {
            eprintln!("Sent {hash}; waiting for it to be mined…");
        }
        let receipt = pending
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
            .map_err(|e| rpc("waiting for the receipt")(e.to_string()))?;
        if !receipt.status() {
            return Err(Error::Reverted(hash.to_string()).into());
        }
        let fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        if json {
            let out = json!({
                "hash": hash.to_string(), "from": from.to_string(), "to": to.to_string(),
                "token": token.symbol(), "amount": units(value), "block": receipt.block_number,
                "gas_used": receipt.gas_used, "fee_eth": units(fee), "status": "success",
            });
            println!("{out}");
        } else {
            println!(
                "Sent {} {} to {to}: transaction {hash}, block {}, fee {} ETH",
                units(value),
                token.symbol(),
                receipt.block_number.unwrap_or_default(),
                units(fee)
            );
        }
        Ok(())
    })
}
