//! A misbehaving peer for the network tests: a real libp2p node with the same protocols as
//! `oarn-worker-net`, which dials a node and floods `oarn/tasks/v1` with malformed, signed
//! messages. It prints one JSON line: how many it published before the node cut it off.
//!
//! `oarn-peer-rogue --target /ip4/127.0.0.1/tcp/P/p2p/ID --count 10000 [--seconds 60]`

use std::time::{Duration, Instant};

use clap::Parser;
use oarn_worker_net::behaviour::{BehaviourEvent, TASKS_TOPIC};
use oarn_worker_net::libp2p::futures::StreamExt;
use oarn_worker_net::libp2p::gossipsub::{self, IdentTopic, PublishError};
use oarn_worker_net::libp2p::identity::Keypair;
use oarn_worker_net::libp2p::swarm::SwarmEvent;
use oarn_worker_net::libp2p::{Multiaddr, PeerId};

#[derive(Debug, Parser)]
struct Args {
    /// The node to flood: a multiaddr ending /p2p/<peer id>.
    #[arg(long)]
    target: Multiaddr,
    /// Malformed messages to publish.
    #[arg(long, default_value_t = 10_000)]
    count: u32,
    /// Give up after this long.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

/// The i-th malformed message: each kind a parser must refuse.
fn garbage(i: u32) -> Vec<u8> {
    let good_hash = format!("0x{}", "ab".repeat(32));
    match i % 6 {
        0 => format!("not json {i}").into_bytes(),
        1 => format!(r#"{{"id":{i},"model_hash":"{good_hash}""#).into_bytes(),
        2 => format!(
            r#"{{"id":{},"model_hash":"0xzz","input_hash":"{good_hash}","reward":1,"required_nodes":3,"deadline":99999999999}}"#,
            i + 1
        )
        .into_bytes(),
        3 => format!(
            r#"{{"id":{},"model_hash":"{good_hash}","input_hash":"{good_hash}","reward":1,"required_nodes":1,"deadline":99999999999}}"#,
            i + 1
        )
        .into_bytes(),
        4 => vec![0xff, 0xfe, (i & 0xff) as u8, 0x00],
        _ => format!("[{i}]").into_bytes(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target: PeerId = match args.target.iter().last() {
        Some(oarn_worker_net::libp2p::multiaddr::Protocol::P2p(p)) => p,
        _ => anyhow::bail!("--target must end with /p2p/<peer id>"),
    };
    let mut swarm = oarn_worker_net::swarm::build(
        Keypair::generate_ed25519(),
        oarn_worker_net::behaviour::Options {
            max_peers: 8,
            mdns: false,
            relay_service: false,
            private: false,
        },
        oarn_worker_net::meter::Meter::default(),
        oarn_worker_net::shape::Config::default(),
    )?;
    swarm.dial(args.target.clone())?;
    let topic = IdentTopic::new(TASKS_TOPIC);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut subscribed = false;
    let mut published = 0u32;
    let mut cut_off = false;
    while Instant::now() < deadline && published < args.count && !cut_off {
        if subscribed {
            match swarm
                .behaviour_mut()
                .gossipsub
                .publish(topic.clone(), garbage(published))
            {
                Ok(_) => {
                    published += 1;
                    continue;
                }
                Err(PublishError::NoPeersSubscribedToTopic) => cut_off = true,
                Err(PublishError::AllQueuesFull(_)) => {}
                Err(e) => anyhow::bail!("publish: {e}"),
            }
        }
        let wait = if subscribed {
            Duration::from_millis(5)
        } else {
            Duration::from_secs(1)
        };
        if let Ok(event) = tokio::time::timeout(wait, swarm.select_next_some()).await {
            match event {
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed {
                    peer_id,
                    topic: t,
                })) if peer_id == target && t == topic.hash() => {
                    subscribed = true;
                }
                SwarmEvent::ConnectionClosed {
                    peer_id,
                    num_established: 0,
                    ..
                } if peer_id == target => {
                    cut_off = subscribed;
                }
                _ => {}
            }
        }
    }
    // Let what was queued reach the node before the connection goes.
    let flush = tokio::time::sleep(Duration::from_millis(500));
    tokio::pin!(flush);
    loop {
        tokio::select! {
            _ = &mut flush => break,
            _ = swarm.select_next_some() => {}
        }
    }
    println!(
        "{}",
        serde_json::json!({"subscribed": subscribed, "published": published, "cut_off": cut_off})
    );
    Ok(())
}
