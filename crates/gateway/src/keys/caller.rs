//! Who is calling: the operator (master key), a virtual key, or anyone (no key configured).
//! Decided by `http::auth`, read by the pipeline for limits, budgets and ledger rows.

use std::sync::Arc;

use super::KeyRecord;

#[derive(Debug, Clone)]
pub enum Caller {
    Master,
    Key(Arc<KeyRecord>),
    Open,
}

impl Caller {
    pub fn key(&self) -> Option<&KeyRecord> {
        match self {
            Caller::Key(k) => Some(k),
            Caller::Master | Caller::Open => None,
        }
    }

    pub fn key_arc(&self) -> Option<Arc<KeyRecord>> {
        match self {
            Caller::Key(k) => Some(k.clone()),
            Caller::Master | Caller::Open => None,
        }
    }
}
