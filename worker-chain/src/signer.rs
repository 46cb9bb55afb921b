//! The signer of one account, its private key kept in [`Locked`] memory: built there from the
//! keystore secret, never copied (clones share it), wiped when the last clone is dropped.

use std::sync::Arc;

use alloy::consensus::SignableTransaction;
use alloy::network::{TxSigner, TxSignerSync};
use alloy::primitives::{Address, Signature};
use alloy::signers::local::PrivateKeySigner;

use crate::locked::Locked;

/// A transaction signer whose key lives in locked pages. `Debug` shows only the address.
#[derive(Clone)]
pub struct Signer(Arc<Locked<PrivateKeySigner>>);

impl Signer {
    /// Builds the signer in locked memory with `make` (which parses or derives the key).
    pub fn build<E>(make: impl FnOnce() -> Result<PrivateKeySigner, E>) -> Result<Self, E> {
        Locked::build(make).map(|l| Self(Arc::new(l)))
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.0.address()
    }

    /// The underlying signer, for reading the key out (export).
    pub fn key(&self) -> &PrivateKeySigner {
        &self.0
    }

    /// Whether the key's memory is locked in RAM.
    pub fn is_locked(&self) -> bool {
        self.0.is_locked()
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.address())
    }
}

#[async_trait::async_trait]
impl TxSigner<Signature> for Signer {
    fn address(&self) -> Address {
        self.0.address()
    }

    async fn sign_transaction(&self, tx: &mut dyn SignableTransaction<Signature>) -> alloy::signers::Result<Signature> {
        self.0.sign_transaction_sync(tx)
    }
}
