//! Registering this node as a premium (validator-routed) node in the ValidatorRegistry that
//! OARNRegistry lists, where the network has one: stake GOV and announce an endpoint.

use alloy::primitives::utils::parse_units;
use alloy::providers::Provider;
use serde_json::json;

use super::Account;
use super::tasks::{self, Error};
use crate::command::{ChainArgs, runtime};
use crate::contracts::{ERC20, ValidatorRegistry};
use crate::wallet::transfer::units as gov;

fn rpc(step: &'static str) -> impl FnOnce(alloy::contract::Error) -> Error {
    move |e| Error::Rpc {
        step,
        message: e.to_string(),
    }
}

/// `chain register-validator`.
pub(super) fn register(
    chain: &ChainArgs,
    account: &Account,
    endpoint_url: &str,
    stake: Option<&str>,
    json: bool,
) -> Result<(), super::Error> {
    let signer = tasks::signer(account)?;
    let me = signer.address();
    runtime()?.block_on(async {
        let (network, endpoint) = tasks::connect(chain).await?;
        let p = endpoint.provider();
        let registry = network.core.validator_registry;
        let code = p.get_code_at(registry).await.map_err(|e| Error::Rpc {
            step: "reading the ValidatorRegistry",
            message: e.to_string(),
        })?;
        if registry.is_zero() || code.is_empty() {
            return Err(Error::Refused {
                what: "registering as a validator".into(),
                explained: "this network lists no ValidatorRegistry contract yet".into(),
            }
            .into());
        }
        let validators = ValidatorRegistry::new(registry, p);
        if validators.isValidator(me).call().await.map_err(rpc("checking registration"))? {
            return Err(Error::Refused {
                what: "registering as a validator".into(),
                explained: format!("{me} is already registered"),
            }
            .into());
        }
        let min = validators.minStake().call().await.map_err(rpc("reading minStake"))?;
        let stake = match stake {
            Some(s) => parse_units(s, 18)
                .map_err(|_| Error::Refused {
                    what: "registering as a validator".into(),
                    explained: format!("{s:?} is not a GOV amount"),
                })?
                .get_absolute(),
            None => min,
        };
        if stake < min {
            return Err(Error::Refused {
                what: "registering as a validator".into(),
                explained: format!("the stake must be at least {} GOV", gov(min)),
            }
            .into());
        }
        let token = validators.govToken().call().await.map_err(rpc("reading govToken"))?;
        let held = ERC20::new(token, p).balanceOf(me).call().await.map_err(rpc("reading the GOV balance"))?;
        if held < stake {
            return Err(Error::Refused {
                what: "registering as a validator".into(),
                explained: format!("staking {} GOV needs that much; {me} holds {} GOV", gov(stake), gov(held)),
            }
            .into());
        }
        let approve = ERC20::approveCall {
            spender: registry,
            amount: stake,
        };
        tasks::transact(&endpoint, token, signer.clone(), "approving the stake", approve).await?;
        let call = ValidatorRegistry::registerValidatorCall {
            endpoint: endpoint_url.into(),
            stake,
        };
        let hash = tasks::transact(&endpoint, registry, signer, "registering as a validator", call).await?;
        if json {
            println!(
                "{}",
                json!({ "node": me.to_string(), "endpoint": endpoint_url, "stake_gov": gov(stake), "tx": hash.to_string() })
            );
        } else {
            println!("Registered {me} as a premium node at {endpoint_url}, staking {} GOV (transaction {hash})", gov(stake));
        }
        Ok(())
    })
}
