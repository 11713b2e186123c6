//! Shared application state.

use std::ops::Deref;
use std::sync::Arc;

use crate::backend::Backend;
use crate::categories::CategoryStore;
use crate::config::Config;
use crate::contacts::ContactCache;
use crate::media::Media;
use crate::sender::Pacer;
use crate::store::Store;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Validated configuration.
    pub config: Config,
    /// SQLite store.
    pub store: Store,
    /// Contact categories.
    pub categories: CategoryStore,
    /// WeChat.
    pub backend: Backend,
    /// Cached contacts.
    pub contacts: ContactCache,
    /// Images and files.
    pub media: Media,
    /// The send path.
    pub pacer: Pacer,
    /// The durable event outbox.
    pub outbox: Arc<crate::events::outbox::Outbox>,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
