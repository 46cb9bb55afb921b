//! Registering the held key as a premium (validator-routed) node in the ValidatorRegistry
//! that OARNRegistry lists, where the network has one: approve and stake GOV, announce an
//! endpoint.

use alloy::primitives::utils::parse_units;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use oarn_protocol::chain::Staked;

use super::Error;
use super::tasks::transact;
use super::transfer::units as gov;
use crate::contracts::{ERC20, ValidatorRegistry};
use crate::rpc::Endpoint;
use crate::signer::Signer;

fn rpc(step: &'static str) -> impl FnOnce(alloy::contract::Error) -> Error {
    move |e| Error::Rpc {
        step,
        message: e.to_string(),
    }
}

fn refused(why: String) -> Error {
    Error::Refused(why)
}

/// Registers `signer` at `endpoint_url`, staking `stake` GOV (default: the minimum).
pub async fn register(
    endpoint: &Endpoint,
    registry: Address,
    signer: Signer,
    endpoint_url: &str,
    stake: Option<&str>,
    mut pending: impl FnMut(B256),
) -> Result<Staked, Error> {
    let me = signer.address();
    let p = endpoint.provider();
    let code = p.get_code_at(registry).await.map_err(|e| Error::Rpc {
        step: "reading the ValidatorRegistry",
        message: e.to_string(),
    })?;
    if registry.is_zero() || code.is_empty() {
        return Err(refused("this network lists no ValidatorRegistry contract yet".into()));
    }
    let validators = ValidatorRegistry::new(registry, p);
    if validators
        .isValidator(me)
        .call()
        .await
        .map_err(rpc("checking registration"))?
    {
        return Err(refused(format!("{me} is already registered")));
    }
    let min = validators.minStake().call().await.map_err(rpc("reading minStake"))?;
    let stake = match stake {
        Some(s) => parse_units(s, 18)
            .map_err(|_| Error::Invalid(format!("{s:?} is not a GOV amount")))?
            .get_absolute(),
        None => min,
    };
    if stake < min {
        return Err(refused(format!("the stake must be at least {} GOV", gov(min))));
    }
    let token = validators.govToken().call().await.map_err(rpc("reading govToken"))?;
    let held = ERC20::new(token, p)
        .balanceOf(me)
        .call()
        .await
        .map_err(rpc("reading the GOV balance"))?;
    if held < stake {
        return Err(refused(format!(
            "staking {} GOV needs that much; {me} holds {} GOV",
            gov(stake),
            gov(held)
        )));
    }
    let approve = ERC20::approveCall {
        spender: registry,
        amount: stake,
    };
    transact(endpoint, token, signer.clone(), approve, &mut pending).await?;
    let call = ValidatorRegistry::registerValidatorCall {
        endpoint: endpoint_url.into(),
        stake,
    };
    let sent = transact(endpoint, registry, signer, call, pending).await?;
    Ok(Staked {
        sent,
        stake_wei: stake.to_string(),
    })
}
