//! Balances and transfers: ETH, and the COMP and GOV tokens whose addresses discovery finds
//! (never configured). A transfer is quoted first (amount, recipient, the most it can cost,
//! checked against what the account holds), and sent only as quoted, once the operator has
//! agreed on the supervisor's side.

use alloy::network::TransactionBuilder;
use alloy::primitives::utils::{format_units, parse_units};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use oarn_protocol::chain::{Holdings, Quote, Quoted, Sent, Token, Transfer};

use super::Error;
use crate::contracts::{ERC20, NODE_INTERFACE, NodeInterface};
use crate::discovery::Network;
use crate::rpc::Endpoint;
use crate::signer::Signer;

fn contract(token: Token, network: &Network) -> Option<Address> {
    match token {
        Token::Eth => None,
        Token::Comp => Some(network.core.token_reward),
        Token::Gov => Some(network.core.gov_token),
    }
}

fn rpc(step: &'static str) -> impl FnOnce(String) -> Error {
    move |message| Error::Rpc { step, message }
}

fn shortfall(have: String, need: String) -> String {
    format!("insufficient funds: {have}, but this transfer needs {need}")
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

/// What `address` holds.
pub async fn holdings(endpoint: &Endpoint, network: &Network, address: Address) -> Result<Holdings, Error> {
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
    Ok(Holdings {
        account: address.0.0,
        eth: eth.to_string(),
        comp: comp.to_string(),
        gov: gov.to_string(),
        comp_token: network.core.token_reward.0.0,
        gov_token: network.core.gov_token.0.0,
    })
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

/// The transaction of `q` from `from`, its value in wei, and why the account's tokens do not
/// cover it, when they do not.
async fn request(
    endpoint: &Endpoint,
    network: &Network,
    from: Address,
    q: &Quote,
) -> Result<(TransactionRequest, U256, Option<String>), Error> {
    let value: U256 = parse_units(&q.amount, 18)
        .map_err(|_| {
            Error::Invalid(format!(
                "{:?} is not an amount: write whole units with up to 18 decimals, e.g. 1.5",
                q.amount
            ))
        })?
        .get_absolute();
    if q.amount.trim_start().starts_with('-') {
        return Err(Error::Invalid(format!(
            "{:?} is not an amount: it must not be negative",
            q.amount
        )));
    }
    if value.is_zero() {
        return Err(Error::Invalid("refusing to send nothing".into()));
    }
    let to = Address::from(q.to);
    if to.is_zero() {
        return Err(Error::Invalid(
            "refusing to send to the zero address (the tokens would be lost)".into(),
        ));
    }
    let chain_id = endpoint
        .provider()
        .get_chain_id()
        .await
        .map_err(|e| rpc("reading the chain id")(e.to_string()))?;
    let mut tx = TransactionRequest::default().with_from(from).with_chain_id(chain_id);
    let mut short = None;
    match contract(q.token, network) {
        None => tx = tx.with_to(to).with_value(value),
        Some(contract) => {
            let held = ERC20::new(contract, endpoint.provider())
                .balanceOf(from)
                .call()
                .await
                .map_err(|e| rpc("reading the token balance")(e.to_string()))?;
            if held < value {
                short = Some(shortfall(
                    format!("{} {}", units(held), q.token.symbol()),
                    format!("{} {}", units(value), q.token.symbol()),
                ));
            }
            let data = ERC20::transferCall { to, amount: value }.abi_encode();
            tx = tx.with_to(contract).with_input(data);
        }
    }
    Ok((tx, value, short))
}

/// What sending `q` from `from` would take; refused when the account cannot pay for it.
pub async fn quote(endpoint: &Endpoint, network: &Network, from: Address, q: &Quote) -> Result<Quoted, Error> {
    let p = endpoint.provider();
    let (tx, value, short) = request(endpoint, network, from, q).await?;
    if let Some(short) = short {
        return Ok(Quoted {
            from: from.0.0,
            value_wei: value.to_string(),
            insufficient: Some(short),
            ..Quoted::default()
        });
    }
    let gas = p
        .estimate_gas(tx.clone())
        .await
        .map_err(|e| rpc("estimating gas")(e.to_string()))?;
    let fees = p
        .estimate_eip1559_fees()
        .await
        .map_err(|e| rpc("estimating fees")(e.to_string()))?;
    let max_fee = U256::from(gas) * U256::from(fees.max_fee_per_gas);
    let l1_gas = l1_component(p, &tx).await;
    let eth = p
        .get_balance(from)
        .await
        .map_err(|e| rpc("reading the ETH balance")(e.to_string()))?;
    let need = max_fee + if q.token == Token::Eth { value } else { U256::ZERO };
    let insufficient = (eth < need).then(|| {
        shortfall(
            format!("{} ETH", units(eth)),
            format!("{} ETH including up to {} ETH in fees", units(need), units(max_fee)),
        )
    });
    Ok(Quoted {
        insufficient,
        from: from.0.0,
        value_wei: value.to_string(),
        gas,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        max_fee_wei: max_fee.to_string(),
        l1_gas,
    })
}

/// Sends the transfer the operator agreed to, at most at the fees quoted.
pub async fn transfer(
    endpoint: &Endpoint,
    network: &Network,
    signer: Signer,
    t: &Transfer,
    pending: impl FnOnce(B256),
) -> Result<Sent, Error> {
    let (tx, _, short) = request(endpoint, network, signer.address(), &t.quote).await?;
    if let Some(short) = short {
        return Err(Error::InsufficientFunds(short));
    }
    let tx = tx
        .with_gas_limit(t.gas)
        .with_max_fee_per_gas(t.max_fee_per_gas)
        .with_max_priority_fee_per_gas(t.max_priority_fee_per_gas);
    super::tasks::send(endpoint, signer, tx, pending).await
}
