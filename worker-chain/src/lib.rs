//! `oarn-worker-chain`: the only process that holds key material. The wallet (keystore,
//! accounts, import and export) and, as it grows, signing and contract calls.

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
