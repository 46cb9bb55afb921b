//! `oarn-worker-chain`: the only process that holds key material, run sandboxed by the
//! supervisor (frames, [`serve`]) and by `oarn wallet` for the interactive key operations
//! (one-shot, [`command`]).
//!
//! - [`serve`]: discovery, the unlocked key, and every chain operation, in frames.
//! - [`chain`]: task registry reads, claims and submissions, events, transfers, validators.
//! - [`wallet`]: the interactive key operations (create, import, address, export, passphrase).
//! - [`keystore`], [`account`], [`signer`], [`secret`], [`locked`]: key material and where it
//!   lives (locked pages, wiped).
//! - [`discovery`], [`rpc`], [`contracts`]: finding the network and talking to it.

pub mod account;
pub mod chain;
pub mod command;
pub mod contracts;
pub mod discovery;
pub mod keystore;
pub mod locked;
pub mod rpc;
pub mod secret;
pub mod serve;
pub mod signer;
pub mod wallet;
