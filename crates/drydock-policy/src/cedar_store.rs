//! The entity store of one decision, shared by its facets.
//!
//! Cedar evaluates a request against an entity store: here the lists, the hoisted constants, the
//! principal and the facet's resource. Copying the store for every facet (a hash map with an
//! entry per list) cost about as much as evaluating a simple facet, so a decision keeps one
//! store and puts each facet's resource into it before evaluating that facet.
//!
//! Resources of earlier facets stay in the store. That changes no answer: a policy reaches an
//! entity only through `principal`, `resource`, `action` or an entity literal (attribute values
//! are strings, numbers, booleans and sets of strings, never entity references), and the store
//! is shared only when no policy names an entity literal of a resource type
//! (`PolicyIndex::shares_store`); the facet's own resource replaces any earlier entity with its
//! id, and a resource of a type the lists or the principal use is evaluated with a store of its
//! own. `cedar_compile_tests.rs` checks shared stores against Cedar's own authorizer.

use std::sync::{Arc, Mutex, PoisonError};

use cedar_policy_core::ast as core;
use cedar_policy_core::entities::{Entities as CoreEntities, NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;

use crate::cedar::PrincipalEntity;

/// A store is given back for the principal's next decision only while it holds at most this
/// many resources besides the principal's own entities, so it cannot grow without bound.
const MAX_KEPT_RESOURCES: usize = 64;

/// Entity types a resource must not have for its facet to use the shared store: they are the
/// principal's and the lists', and replacing one of those would change what policies read.
pub(crate) const UNSHARED_RESOURCE_TYPES: &[&str] = &["Agent", "List"];

/// A spare store of a principal, with how many resources were put into it.
#[derive(Debug, Default)]
pub(crate) struct SpareStore {
    slot: Mutex<Option<(CoreEntities, usize)>>,
}

impl SpareStore {
    fn take(&self) -> Option<(CoreEntities, usize)> {
        // The slot is written in one assignment, so a panic elsewhere cannot leave it torn.
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn give_back(&self, entities: CoreEntities, resources: usize) {
        if resources > MAX_KEPT_RESOURCES {
            return;
        }
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some((entities, resources));
        }
    }
}

/// The entity store of one decision: the principal's entities, and the resources of the facets
/// evaluated so far.
#[derive(Debug)]
pub(crate) struct DecisionStore {
    principal: Arc<PrincipalEntity>,
    entities: Option<CoreEntities>,
    resources: usize,
}

impl DecisionStore {
    /// A store for decisions of `principal`.
    pub fn new(principal: Arc<PrincipalEntity>) -> Self {
        let (entities, resources) = match principal.spare.take() {
            Some((entities, resources)) => (Some(entities), resources),
            None => (None, 0),
        };
        Self {
            principal,
            entities,
            resources,
        }
    }

    /// A store for one evaluation of `principal`, built from its entities alone.
    #[cfg(test)]
    pub fn alone(principal: Arc<PrincipalEntity>) -> Self {
        Self {
            principal,
            entities: None,
            resources: 0,
        }
    }

    /// The principal the store is for.
    pub fn principal(&self) -> &PrincipalEntity {
        &self.principal
    }

    /// The store with `resource` in it, replacing any entity with the same id.
    pub fn with_resource(&mut self, resource: core::Entity) -> Result<&CoreEntities, String> {
        let entities = match self.entities.take() {
            Some(entities) => entities,
            None => self.principal.entities.clone(),
        };
        // Entities here have no parents, so there is no transitive closure to compute.
        let entities = entities
            .upsert_entities(
                [Arc::new(resource)],
                None::<&NoEntitiesSchema>,
                TCComputation::AssumeAlreadyComputed,
                Extensions::all_available(),
            )
            .map_err(|e| e.to_string())?;
        self.resources += 1;
        Ok(self.entities.insert(entities))
    }
}

impl Drop for DecisionStore {
    fn drop(&mut self) {
        if let Some(entities) = self.entities.take() {
            self.principal.spare.give_back(entities, self.resources);
        }
    }
}
