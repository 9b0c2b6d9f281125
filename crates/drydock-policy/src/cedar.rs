//! The bridge to Cedar: the schema, and one authorization request per facet of a tool call.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

#[cfg(test)]
use cedar_policy::RestrictedExpression;
use cedar_policy::{EntityId, EntityTypeName, EntityUid, Policy, Schema};
use cedar_policy_core::ast as core;
use cedar_policy_core::authorizer::AuthorizationError;
use cedar_policy_core::entities::{Entities as CoreEntities, NoEntitiesSchema, TCComputation};
use cedar_policy_core::evaluator::Evaluator as CoreEvaluator;
use cedar_policy_core::extensions::Extensions;
use drydock_core::Principal;
use smol_str::SmolStr;

use crate::PolicyError;
use crate::cedar_cache::{FacetCache, FacetKey, PrincipalKey};
use crate::cedar_compile::{CONSTANT_ID, CONSTANT_TYPE, Constants};
use crate::cedar_index::{ActionPolicies, CompiledPolicy, PolicyIndex};
use crate::cedar_store::{DecisionStore, SpareStore, UNSHARED_RESOURCE_TYPES};

/// The shipped schema (policy/drydock.cedarschema).
pub const SCHEMA: &str = include_str!("../policy/drydock.cedarschema");

/// Actions of the shipped schema.
pub(crate) const BUILTIN_ACTIONS: &[&str] = &[
    "read_file",
    "write_file",
    "run_command",
    "exec",
    "git_push",
    "open_pr",
    "net_connect",
];

/// The schema with `tools` declared as actions on a `ToolInput`.
pub(crate) fn build_schema(tools: &[String]) -> Result<(Schema, String), PolicyError> {
    let mut text = SCHEMA.to_string();
    for tool in tools {
        let valid = tool.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && tool
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && tool.len() <= 64;
        if !valid {
            return Err(PolicyError::InvalidConfig {
                field: "tools".to_string(),
                problem: format!(
                    "`{tool}` is not a valid tool name (lower-case letters, digits and `_`, \
                     starting with a letter)"
                ),
            });
        }
        if BUILTIN_ACTIONS.contains(&tool.as_str()) {
            return Err(PolicyError::InvalidConfig {
                field: "tools".to_string(),
                problem: format!("`{tool}` is a built-in action and cannot be declared again"),
            });
        }
        text.push_str(&format!(
            "\naction \"{tool}\" appliesTo {{ principal: [Agent], resource: [ToolInput], context: {{}} }};\n"
        ));
    }
    let (schema, _warnings) =
        Schema::from_cedarschema_str(&text).map_err(|e| PolicyError::Schema {
            message: e.to_string(),
        })?;
    Ok((schema, text))
}

/// A value of a context or entity attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Attr {
    Str(String),
    Bool(bool),
    Long(i64),
    Set(Vec<String>),
}

impl Attr {
    fn core(&self) -> core::Value {
        match self {
            Attr::Str(s) => core::Value::from(s.as_str()),
            Attr::Bool(b) => core::Value::from(*b),
            Attr::Long(n) => core::Value::from(*n),
            Attr::Set(items) => {
                core::Value::set(items.iter().map(|s| core::Value::from(s.as_str())), None)
            }
        }
    }

    #[cfg(test)]
    fn expression(&self) -> RestrictedExpression {
        match self {
            Attr::Str(s) => RestrictedExpression::new_string(s.clone()),
            Attr::Bool(b) => RestrictedExpression::new_bool(*b),
            Attr::Long(n) => RestrictedExpression::new_long(*n),
            Attr::Set(items) => RestrictedExpression::new_set(
                items
                    .iter()
                    .map(|s| RestrictedExpression::new_string(s.clone())),
            ),
        }
    }
}

/// One Cedar request derived from a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Facet {
    pub action: String,
    pub resource_type: &'static str,
    pub resource_id: String,
    pub resource_attrs: Vec<(&'static str, Attr)>,
    pub context: Vec<(&'static str, Attr)>,
    /// What it is about, for people: `write_file .git/hooks/pre-commit (by tee)`.
    pub describe: String,
}

/// What Cedar found for one facet.
#[derive(Debug, Default, Clone)]
pub(crate) struct FacetResult {
    /// Forbid policies whose conditions hold.
    pub restrictions: Vec<String>,
    /// Permit policies whose conditions hold.
    pub permissions: Vec<String>,
    /// Evaluation errors (the engine fails closed on any).
    pub errors: Vec<String>,
}

/// Evaluates facets.
#[derive(Debug)]
pub(crate) struct Evaluator {
    /// Kept so tests can check that facets are built to the schema's shape.
    #[cfg_attr(not(test), allow(dead_code))]
    schema: Schema,
    index: PolicyIndex,
    actions: foldhash::HashMap<String, core::EntityUID>,
    types: HashMap<&'static str, core::EntityType>,
    #[cfg_attr(not(test), allow(dead_code))]
    public_types: HashMap<&'static str, EntityTypeName>,
    /// The `List::"name"` entities and the constants hoisted out of conditions, built once;
    /// every request's entities start from them.
    lists: CoreEntities,
    #[cfg_attr(not(test), allow(dead_code))]
    list_items: BTreeMap<String, Vec<String>>,
    empty_set: core::Value,
    /// Results of facets already evaluated.
    cache: FacetCache,
    /// The principal entity built last, with the principal it was built from.
    last_principal: std::sync::Mutex<Option<(Principal, Arc<PrincipalEntity>)>>,
    /// Tests turn the cache off to compare cached answers with fresh ones.
    #[cfg(test)]
    caching: std::sync::atomic::AtomicBool,
    /// The policies and actions it was built from, so tests can rebuild it with other policies
    /// and give the same policies to Cedar's own authorizer.
    #[cfg(test)]
    policies: Vec<Policy>,
    #[cfg(test)]
    action_names: Vec<String>,
}

const ENTITY_TYPES: &[&str] = &[
    "Agent",
    "Path",
    "CommandLine",
    "Program",
    "Branch",
    "Host",
    "ToolInput",
    "List",
];

/// The principal of a decision with the list entities, built once and shared by its facets.
#[derive(Debug)]
pub(crate) struct PrincipalEntity {
    uid: core::EntityUID,
    /// The lists, the constants and the principal.
    pub(crate) entities: CoreEntities,
    /// What the principal is, as part of the cache key of every facet evaluated for it.
    key: Arc<PrincipalKey>,
    /// A store of an earlier decision, ready for the next one (see `cedar_store`).
    pub(crate) spare: SpareStore,
}

impl Evaluator {
    pub fn new(
        schema: Schema,
        policies: &[Policy],
        actions: &[String],
        lists: &BTreeMap<String, Vec<String>>,
    ) -> Result<Self, PolicyError> {
        let action_type = type_name("Action")?;
        let mut uids = foldhash::HashMap::default();
        for action in actions {
            let uid = EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(action));
            uids.insert(action.clone(), core::EntityUID::from(uid));
        }
        let mut types = HashMap::new();
        let mut public_types = HashMap::new();
        for name in ENTITY_TYPES {
            let public = type_name(name)?;
            types.insert(*name, AsRef::<core::EntityType>::as_ref(&public).clone());
            public_types.insert(*name, public);
        }
        let constant_type = AsRef::<core::EntityType>::as_ref(&type_name(CONSTANT_TYPE)?).clone();
        let mut constants = Constants::default();
        let index = PolicyIndex::new(policies, actions, lists, &constant_type, &mut constants);
        let mut evaluator = Self {
            index,
            schema,
            actions: uids,
            types,
            public_types,
            lists: CoreEntities::new(),
            list_items: lists.clone(),
            empty_set: core::Value::set(std::iter::empty(), None),
            cache: FacetCache::default(),
            last_principal: std::sync::Mutex::new(None),
            #[cfg(test)]
            caching: std::sync::atomic::AtomicBool::new(true),
            #[cfg(test)]
            policies: policies.to_vec(),
            #[cfg(test)]
            action_names: actions.to_vec(),
        };
        let mut list_entities = Vec::new();
        for (name, items) in lists {
            let entity = evaluator
                .entity("List", name, &[("items", Attr::Set(items.clone()))])
                .map_err(|message| PolicyError::Schema { message })?;
            list_entities.push(entity);
        }
        // One entity holds every constant, so each request's entity store stays small.
        list_entities.push(core::Entity::new_with_attr_partial_value(
            core::EntityUID::from_components(
                constant_type.clone(),
                core::Eid::new(CONSTANT_ID),
                None,
            ),
            constants
                .values()
                .map(|(name, value)| (name, core::PartialValue::Value(value.clone()))),
            HashSet::new(),
            HashSet::new(),
            std::iter::empty(),
        ));
        evaluator.lists = CoreEntities::from_entities(
            list_entities,
            None::<&NoEntitiesSchema>,
            TCComputation::AssumeAlreadyComputed,
            Extensions::all_available(),
        )
        .map_err(|e| PolicyError::Schema {
            message: e.to_string(),
        })?;
        Ok(evaluator)
    }

    /// `attr` as a Cedar value; the empty set, common in contexts, is built once.
    fn value(&self, attr: &Attr) -> core::Value {
        match attr {
            Attr::Set(items) if items.is_empty() => self.empty_set.clone(),
            other => other.core(),
        }
    }

    /// The principal entity of a task's agent. The last one built is kept: the calls of one
    /// task all have the same principal, and building it copies every list entity.
    pub fn principal(&self, principal: &Principal) -> Result<Arc<PrincipalEntity>, String> {
        let last = |slot: std::sync::MutexGuard<'_, Option<(Principal, Arc<PrincipalEntity>)>>| {
            slot.as_ref()
                .filter(|(known, _)| known == principal)
                .map(|(_, entity)| Arc::clone(entity))
        };
        #[cfg(test)]
        if !self.caching.load(std::sync::atomic::Ordering::SeqCst) {
            return self.build_principal(principal).map(Arc::new);
        }
        if let Some(entity) = last(self.lock_last_principal()) {
            return Ok(entity);
        }
        let entity = Arc::new(self.build_principal(principal)?);
        *self.lock_last_principal() = Some((principal.clone(), Arc::clone(&entity)));
        Ok(entity)
    }

    fn lock_last_principal(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<(Principal, Arc<PrincipalEntity>)>> {
        // The slot is written in one assignment, so a panic elsewhere cannot leave it torn.
        self.last_principal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn build_principal(&self, principal: &Principal) -> Result<PrincipalEntity, String> {
        let attrs = principal_attrs(principal);
        let id = format!("{}#{}", principal.repo, principal.branch);
        let entity = self.entity("Agent", &id, &attrs)?;
        let uid = entity.uid().clone();
        let entities = self
            .lists
            .clone()
            .add_entities(
                [Arc::new(entity)],
                None::<&NoEntitiesSchema>,
                TCComputation::AssumeAlreadyComputed,
                Extensions::all_available(),
            )
            .map_err(|e| e.to_string())?;
        let key = Arc::new(PrincipalKey {
            id,
            attrs: attrs.to_vec(),
        });
        Ok(PrincipalEntity {
            uid,
            entities,
            key,
            spare: SpareStore::default(),
        })
    }

    fn entity(
        &self,
        kind: &str,
        id: &str,
        attrs: &[(&'static str, Attr)],
    ) -> Result<core::Entity, String> {
        let entity_type = self
            .types
            .get(kind)
            .ok_or_else(|| format!("unknown entity type {kind}"))?;
        let uid = core::EntityUID::from_components(entity_type.clone(), core::Eid::new(id), None);
        Ok(core::Entity::new_with_attr_partial_value(
            uid,
            attrs
                .iter()
                .map(|(name, value)| (SmolStr::new(name), core::PartialValue::Value(value.core()))),
            HashSet::new(),
            HashSet::new(),
            std::iter::empty(),
        ))
    }

    /// Runs one facet through the policies of its action: every satisfied forbid and permit,
    /// and every evaluation error. Without `full`, a facet of an action that no restriction
    /// applies to and a permit without conditions covers is answered without evaluation.
    pub fn evaluate(&self, store: &mut DecisionStore, facet: &Facet, full: bool) -> FacetResult {
        if !full
            && let Some(id) = self
                .index
                .get(&facet.action)
                .and_then(|p| p.always_permitted.as_ref())
        {
            return FacetResult {
                permissions: vec![id.clone()],
                ..FacetResult::default()
            };
        }
        #[cfg(test)]
        if !self.caching.load(std::sync::atomic::Ordering::SeqCst) {
            return self.evaluate_afresh(store, facet);
        }
        let key = FacetKey::new(&store.principal().key, facet);
        if let Some(known) = self.cache.get(&key) {
            return known;
        }
        let result = self.evaluate_afresh(store, facet);
        self.cache.insert(key, &result);
        result
    }

    /// Runs one facet through the policies of its action, without the cache.
    pub fn evaluate_afresh(&self, store: &mut DecisionStore, facet: &Facet) -> FacetResult {
        match self.try_evaluate(store, facet) {
            Ok(result) => result,
            Err(message) => FacetResult {
                errors: vec![message],
                ..FacetResult::default()
            },
        }
    }

    /// Turns the caches (facet results, the last principal) on or off.
    #[cfg(test)]
    pub fn set_caching(&self, on: bool) {
        self.caching.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the facets of a decision share one entity store.
    #[cfg(test)]
    pub fn shares_store(&self) -> bool {
        self.index.shares_store()
    }

    /// How many facet results are cached.
    #[cfg(test)]
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Evaluates each policy of the facet's action as Cedar's authorizer does (a policy is
    /// satisfied when its condition evaluates to `true`; an error is recorded and the policy
    /// counts as not satisfied), with one evaluator for all of them.
    fn try_evaluate(
        &self,
        store: &mut DecisionStore,
        facet: &Facet,
    ) -> Result<FacetResult, String> {
        let action = self
            .actions
            .get(&facet.action)
            .ok_or_else(|| format!("the action `{}` is not in the schema", facet.action))?;
        let policies = self
            .index
            .get(&facet.action)
            .ok_or_else(|| format!("the action `{}` is not in the schema", facet.action))?;
        // Conditions the context alone decides need no request; when all of them are, no
        // request is built at all.
        let restrictions: Vec<Option<bool>> = policies
            .restrictions
            .iter()
            .map(|policy| policy.guard.decide(&facet.context))
            .collect();
        let permissions: Vec<Option<bool>> = policies
            .permissions
            .iter()
            .map(|policy| policy.guard.decide(&facet.context))
            .collect();
        let known = Known {
            restrictions: &restrictions,
            permissions: &permissions,
        };
        if restrictions.iter().chain(&permissions).all(Option::is_some) {
            return Ok(Self::run_policies(policies, known, None));
        }
        let resource = self.entity(
            facet.resource_type,
            &facet.resource_id,
            &facet.resource_attrs,
        )?;
        let context: BTreeMap<SmolStr, core::Value> = facet
            .context
            .iter()
            .filter(|(name, _)| policies.reads_context(name))
            .map(|(name, value)| (SmolStr::new(name), self.value(value)))
            .collect();
        // The context is built to the schema's shape (tests validate it against the schema),
        // so the request is not validated again here.
        let request = core::Request::new_unchecked(
            core::EntityUIDEntry::known(store.principal().uid.clone(), None),
            core::EntityUIDEntry::known(action.clone(), None),
            core::EntityUIDEntry::known(resource.uid().clone(), None),
            Some(core::Context::Value(Arc::new(context))),
        );
        if self.index.shares_store() && !UNSHARED_RESOURCE_TYPES.contains(&facet.resource_type) {
            let entities = store.with_resource(resource)?;
            let evaluator = CoreEvaluator::new(request, entities, Extensions::all_available());
            return Ok(Self::run_policies(policies, known, Some(&evaluator)));
        }
        // Entities here have no parents, so there is no transitive closure to compute.
        let entities = store
            .principal()
            .entities
            .clone()
            .add_entities(
                [Arc::new(resource)],
                None::<&NoEntitiesSchema>,
                TCComputation::AssumeAlreadyComputed,
                Extensions::all_available(),
            )
            .map_err(|e| e.to_string())?;
        let evaluator = CoreEvaluator::new(request, &entities, Extensions::all_available());
        Ok(Self::run_policies(policies, known, Some(&evaluator)))
    }

    /// Evaluates each policy of an action for one request: those `known` decides are taken
    /// from it, the others are evaluated with `evaluator` (given whenever one is undecided).
    fn run_policies(
        policies: &ActionPolicies,
        known: Known<'_>,
        evaluator: Option<&CoreEvaluator<'_>>,
    ) -> FacetResult {
        let holds = |policy: &CompiledPolicy, known: Option<bool>| match (known, evaluator) {
            (Some(holds), _) => Ok(holds),
            (None, Some(evaluator)) => satisfied(evaluator, policy),
            (None, None) => Err(format!(
                "while evaluating policy `{}`: no request was built",
                policy.id
            )),
        };
        let mut result = FacetResult::default();
        let mut permit_errors = Vec::new();
        for (policy, known) in policies.restrictions.iter().zip(known.restrictions) {
            match holds(policy, *known) {
                Ok(true) => result.restrictions.push(policy.id.clone()),
                Ok(false) => {}
                Err(message) => result.errors.push(message),
            }
        }
        for (policy, known) in policies.permissions.iter().zip(known.permissions) {
            match holds(policy, *known) {
                Ok(true) => result.permissions.push(policy.id.clone()),
                Ok(false) => {}
                Err(message) => permit_errors.push(message),
            }
        }
        result.errors.extend(permit_errors);
        // Rule order is alphabetical here, as Cedar's diagnostics give it; reports re-sort.
        result.restrictions.sort();
        result.permissions.sort();
        result
    }

    /// True when `action` is declared in the schema.
    pub fn knows_action(&self, action: &str) -> bool {
        self.actions.contains_key(action)
    }
}

/// What the guards of an action's policies decided for one facet, in the index's order.
#[derive(Clone, Copy)]
struct Known<'a> {
    restrictions: &'a [Option<bool>],
    permissions: &'a [Option<bool>],
}

/// Whether `policy`'s condition holds, or the evaluation error as Cedar's authorizer words it.
fn satisfied(evaluator: &CoreEvaluator<'_>, policy: &CompiledPolicy) -> Result<bool, String> {
    let error = |error| {
        AuthorizationError::PolicyEvaluationError {
            id: policy.policy.id().clone(),
            error,
        }
        .to_string()
    };
    match evaluator.partial_interpret(&policy.condition, policy.policy.env()) {
        Ok(core::PartialValue::Value(core::Value {
            value: core::ValueKind::Lit(core::Literal::Bool(holds)),
            ..
        })) => Ok(holds),
        // Validation makes every condition boolean; anything else fails closed all the same.
        Ok(core::PartialValue::Value(other)) => Err(format!(
            "while evaluating policy `{}`: the condition evaluated to {other}, not a boolean",
            policy.id
        )),
        // Every request is concrete, so a residual means something is wrong: fail closed.
        Ok(core::PartialValue::Residual(residual)) => Err(format!(
            "while evaluating policy `{}`: the condition did not reduce to a value ({residual})",
            policy.id
        )),
        Err(e) => Err(error(e)),
    }
}

fn principal_attrs(principal: &Principal) -> [(&'static str, Attr); 5] {
    [
        ("task_kind", Attr::Str(task_kind_name(principal))),
        (
            "author_association",
            Attr::Str(principal.author_association.as_str().to_string()),
        ),
        (
            "trusted",
            Attr::Bool(principal.author_association.is_trusted()),
        ),
        ("repo", Attr::Str(principal.repo.clone())),
        ("branch", Attr::Str(principal.branch.clone())),
    ]
}

fn type_name(name: &str) -> Result<EntityTypeName, PolicyError> {
    EntityTypeName::from_str(name).map_err(|e| PolicyError::Schema {
        message: format!("bad entity type {name}: {e}"),
    })
}

fn task_kind_name(principal: &Principal) -> String {
    serde_json::to_value(principal.task_kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "cedar_cache_tests.rs"]
mod cache_tests;

#[cfg(test)]
#[path = "cedar_reference.rs"]
mod reference;
