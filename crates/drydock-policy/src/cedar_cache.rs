//! Facet results remembered across decisions. An agent runs the same programs again and again
//! (`cargo test`, `git status`), so most facets of a call were already evaluated for an earlier
//! one. Evaluation is deterministic for a given principal and request (the policies and lists
//! never change once the engine is built), so a remembered result keyed by all of both is the
//! result a fresh evaluation would give; `cedar_cache_tests.rs` checks that over the corpus.

use std::hash::{BuildHasher as _, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::cedar::{Attr, Facet, FacetResult};

/// How many results are kept; past that the cache starts over (cheaper than tracking use, and
/// a working set of a few hundred facets fits many times over).
const CAPACITY: usize = 4096;

/// Facets whose key is larger than this many bytes are not kept, so the cache stays within a
/// few megabytes whatever the agent sends (a `run_command` facet holds the whole line).
const MAX_KEY_BYTES: usize = 2048;

/// Everything about the principal that a policy can observe: its id and attributes.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct PrincipalKey {
    pub id: String,
    pub attrs: Vec<(&'static str, Attr)>,
}

/// Everything a facet's result depends on: the principal and the facet's request (its
/// description, which is only for people, aside). Keys are equal only when all of it is equal;
/// the hash of all of it is computed once, so looking a key up, keeping it and growing the
/// table do not hash its strings again.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FacetKey {
    hash: u64,
    principal: Arc<PrincipalKey>,
    action: String,
    resource_type: &'static str,
    resource_id: String,
    resource_attrs: Vec<(&'static str, Attr)>,
    context: Vec<(&'static str, Attr)>,
}

impl FacetKey {
    /// The key of `facet` evaluated for `principal`.
    pub fn new(principal: &Arc<PrincipalKey>, facet: &Facet) -> Self {
        let hash = key_hasher().hash_one((
            principal.as_ref(),
            &facet.action,
            facet.resource_type,
            &facet.resource_id,
            &facet.resource_attrs,
            &facet.context,
        ));
        Self {
            hash,
            principal: Arc::clone(principal),
            action: facet.action.clone(),
            resource_type: facet.resource_type,
            resource_id: facet.resource_id.clone(),
            resource_attrs: facet.resource_attrs.clone(),
            context: facet.context.clone(),
        }
    }
}

/// The hasher of keys, seeded at random once per process so the agent cannot choose commands
/// whose keys collide (a collision would cost time, never a wrong answer: the table compares
/// whole keys).
fn key_hasher() -> &'static foldhash::quality::RandomState {
    static HASHER: OnceLock<foldhash::quality::RandomState> = OnceLock::new();
    HASHER.get_or_init(foldhash::quality::RandomState::default)
}

impl Hash for FacetKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl FacetKey {
    /// About how many bytes the key holds.
    fn size(&self) -> usize {
        let attrs = |attrs: &[(&'static str, Attr)]| -> usize {
            attrs
                .iter()
                .map(|(name, value)| {
                    name.len()
                        + match value {
                            Attr::Str(text) => text.len(),
                            Attr::Set(items) => items.iter().map(|i| i.len() + 8).sum(),
                            Attr::Bool(_) | Attr::Long(_) => 8,
                        }
                })
                .sum()
        };
        self.action.len()
            + self.resource_id.len()
            + attrs(&self.resource_attrs)
            + attrs(&self.context)
    }
}

/// Results of evaluations that succeeded, by key. Failed evaluations are never kept: an error
/// is always evaluated afresh.
#[derive(Debug, Default)]
pub(crate) struct FacetCache {
    entries: Mutex<foldhash::HashMap<FacetKey, FacetResult>>,
}

impl FacetCache {
    /// The remembered result for `key`, if any.
    pub fn get(&self, key: &FacetKey) -> Option<FacetResult> {
        // A panic while the lock was held cannot leave a half-written entry (insert is one
        // call), so a poisoned map is still sound to use.
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(key).cloned()
    }

    /// Remembers `result` for `key` when it has no error and the key is not too large.
    pub fn insert(&self, key: FacetKey, result: &FacetResult) {
        if !result.errors.is_empty() || key.size() > MAX_KEY_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, result.clone());
    }

    /// How many results are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
