//! `oarn-worker-chain`: the only process that holds key material. The wallet (keystore,
//! accounts, import and export) and, as it grows, signing and contract calls.

pub mod account;
pub mod contracts;
pub mod keystore;
pub mod secret;
pub mod wallet;
