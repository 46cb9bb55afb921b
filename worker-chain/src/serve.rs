//! The chain worker serving the supervisor: discovery on request (its bootstrap peers go to
//! the network worker), with every failure answered as an error reply, never a crash.

use alloy::primitives::Address;
use alloy::providers::Provider;
use oarn_protocol::chain::{Discover, Network, Protocol, Reply, Request};
use oarn_protocol::envelope::{ErrorKind, ErrorReply, Info, RequestId};
use oarn_protocol::serve::{Context, Handler};

use crate::discovery::{self, Settings};

/// Answers the supervisor's requests.
#[derive(Debug, Default)]
pub struct Worker;

fn settings(d: Discover) -> Settings {
    Settings {
        chain_id: d.chain_id,
        manual: d.manual,
        rpc_urls: d.rpc_urls,
        registry: d.registry.map(Address::from),
        ens_name: d.ens_name,
        ens_rpc_urls: d.ens_rpc_urls,
        ens_registry: d.ens_registry.map(Address::from),
    }
}

fn discover(d: Discover) -> Result<Network, ErrorReply> {
    let internal = |e: String| ErrorReply::new(ErrorKind::Internal, e);
    let rt = crate::command::runtime().map_err(|e| internal(e.to_string()))?;
    rt.block_on(async {
        let (found, mut pool) = discovery::discover(&settings(d))
            .await
            .map_err(|e| internal(e.to_string()))?;
        let endpoint = pool.current().await.map_err(|e| internal(e.to_string()))?.clone();
        let head = endpoint
            .provider()
            .get_block_number()
            .await
            .map_err(|e| internal(e.to_string()))?;
        Ok(Network {
            registry: found.registry.0.0,
            task_registry_v2: found.core.task_registry_v2.0.0,
            token_reward: found.core.token_reward.0.0,
            gov_token: found.core.gov_token.0.0,
            validator_registry: found.core.validator_registry.0.0,
            rpc_providers: found.rpc_providers,
            bootstrap: found.bootstrap.into_iter().map(|b| (b.peer_id, b.multiaddr)).collect(),
            validators: found.validators,
            endpoint: endpoint.url,
            head,
        })
    })
}

impl Handler<Protocol> for Worker {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        _cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        match request {
            Request::GetInfo(_) => Ok(Reply::Info(Info::default())),
            Request::Discover(d) => discover(d).map(Reply::Network),
        }
    }
}
