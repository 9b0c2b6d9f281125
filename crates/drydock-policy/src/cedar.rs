//! The bridge to Cedar: the schema, and one authorization request per facet of a tool call.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, EntityId, EntityTypeName, EntityUid, Policy, PolicySet, Schema,
};
#[cfg(test)]
use cedar_policy::{Context, Entities, Entity, Request, RestrictedExpression};
use cedar_policy_core::ast as core;
use cedar_policy_core::authorizer::{Authorizer as CoreAuthorizer, Decision as CoreDecision};
use cedar_policy_core::entities::{Entities as CoreEntities, NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;
use drydock_core::Principal;
use smol_str::SmolStr;

use crate::PolicyError;

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

/// Policies split by effect and by the actions they can apply to, so each request is checked
/// against the few policies that concern it.
#[derive(Debug, Default)]
pub(crate) struct PolicyIndex {
    restrictions: HashMap<String, PolicySet>,
    permissions: HashMap<String, PolicySet>,
    /// Both, for the usual single evaluation.
    combined: HashMap<String, PolicySet>,
    /// Actions with a permit that overrides restrictions: their permits are always evaluated.
    overridable: HashSet<String>,
    /// Actions no restriction applies to and a permit without conditions covers: their facets
    /// need no evaluation.
    always_permitted: HashMap<String, String>,
}

impl PolicyIndex {
    /// Indexes `policies` for `actions`; `overriding` are the ids of permits with overrides.
    pub fn new(
        policies: &[Policy],
        actions: &[String],
        overriding: &HashSet<String>,
    ) -> Result<Self, PolicyError> {
        let mut index = PolicyIndex::default();
        for action in actions {
            index.restrictions.insert(action.clone(), PolicySet::new());
            index.permissions.insert(action.clone(), PolicySet::new());
            index.combined.insert(action.clone(), PolicySet::new());
        }
        for policy in policies {
            let applies: Vec<String> = match policy.action_constraint() {
                ActionConstraint::Any => actions.to_vec(),
                ActionConstraint::Eq(uid) => vec![uid.id().unescaped().to_string()],
                ActionConstraint::In(uids) => uids
                    .iter()
                    .map(|u| u.id().unescaped().to_string())
                    .collect(),
            };
            let target = match policy.effect() {
                cedar_policy::Effect::Forbid => &mut index.restrictions,
                cedar_policy::Effect::Permit => &mut index.permissions,
            };
            let cannot = |e: cedar_policy::PolicySetError| PolicyError::Schema {
                message: format!("cannot index policy {}: {e}", policy.id()),
            };
            for action in applies {
                if let Some(set) = target.get_mut(&action) {
                    set.add(policy.clone()).map_err(cannot)?;
                }
                if let Some(set) = index.combined.get_mut(&action) {
                    set.add(policy.clone()).map_err(cannot)?;
                }
                if overriding.contains(&policy.id().to_string()) {
                    index.overridable.insert(action);
                }
            }
        }
        for policy in policies {
            let unconditional = policy.effect() == cedar_policy::Effect::Permit
                && !policy.has_non_scope_constraint()
                && policy.principal_constraint() == cedar_policy::PrincipalConstraint::Any
                && policy.resource_constraint() == cedar_policy::ResourceConstraint::Any;
            if !unconditional {
                continue;
            }
            for action in actions {
                let covers = match policy.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(uid) => uid.id().unescaped() == action.as_str(),
                    ActionConstraint::In(uids) => {
                        uids.iter().any(|u| u.id().unescaped() == action.as_str())
                    }
                };
                let unrestricted = index.restrictions.get(action).is_none_or(|s| s.is_empty());
                if covers && unrestricted {
                    index
                        .always_permitted
                        .entry(action.clone())
                        .or_insert_with(|| policy.id().to_string());
                }
            }
        }
        Ok(index)
    }
}

/// What Cedar found for one facet.
#[derive(Debug, Default)]
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
    authorizer: CoreAuthorizer,
    index: PolicyIndex,
    actions: HashMap<String, core::EntityUID>,
    types: HashMap<&'static str, core::EntityType>,
    #[cfg_attr(not(test), allow(dead_code))]
    public_types: HashMap<&'static str, EntityTypeName>,
    /// The `List::"name"` entities, built once; every request's entities start from them.
    lists: CoreEntities,
    #[cfg_attr(not(test), allow(dead_code))]
    list_items: BTreeMap<String, Vec<String>>,
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
#[derive(Debug, Clone)]
pub(crate) struct PrincipalEntity {
    uid: core::EntityUID,
    entities: CoreEntities,
}

impl Evaluator {
    pub fn new(
        schema: Schema,
        policies: &[Policy],
        actions: &[String],
        overriding: &HashSet<String>,
        lists: &BTreeMap<String, Vec<String>>,
    ) -> Result<Self, PolicyError> {
        let action_type = type_name("Action")?;
        let mut uids = HashMap::new();
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
        let mut evaluator = Self {
            index: PolicyIndex::new(policies, actions, overriding)?,
            schema,
            authorizer: CoreAuthorizer::new(),
            actions: uids,
            types,
            public_types,
            lists: CoreEntities::new(),
            list_items: lists.clone(),
        };
        let mut list_entities = Vec::new();
        for (name, items) in lists {
            let entity = evaluator
                .entity("List", name, &[("items", Attr::Set(items.clone()))])
                .map_err(|message| PolicyError::Schema { message })?;
            list_entities.push(entity);
        }
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

    /// The principal entity of a task's agent.
    pub fn principal(&self, principal: &Principal) -> Result<PrincipalEntity, String> {
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
        Ok(PrincipalEntity { uid, entities })
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

    /// Runs one facet through the policies of its action. With `full`, every satisfied permit
    /// and forbid is reported; otherwise permits are only reported when no forbid holds (or
    /// when one of them may lift a forbid), which is all a decision needs.
    pub fn evaluate(&self, principal: &PrincipalEntity, facet: &Facet, full: bool) -> FacetResult {
        if !full && let Some(id) = self.index.always_permitted.get(&facet.action) {
            return FacetResult {
                permissions: vec![id.clone()],
                ..FacetResult::default()
            };
        }
        match self.try_evaluate(principal, facet, full) {
            Ok(result) => result,
            Err(message) => FacetResult {
                errors: vec![message],
                ..FacetResult::default()
            },
        }
    }

    fn try_evaluate(
        &self,
        principal: &PrincipalEntity,
        facet: &Facet,
        full: bool,
    ) -> Result<FacetResult, String> {
        let action = self
            .actions
            .get(&facet.action)
            .ok_or_else(|| format!("the action `{}` is not in the schema", facet.action))?;
        let resource = self.entity(
            facet.resource_type,
            &facet.resource_id,
            &facet.resource_attrs,
        )?;
        let context: BTreeMap<SmolStr, core::Value> = facet
            .context
            .iter()
            .map(|(name, value)| (SmolStr::new(name), value.core()))
            .collect();
        // The context is built to the schema's shape (tests validate it against the schema),
        // so the request is not validated again here.
        let request = core::Request::new_unchecked(
            core::EntityUIDEntry::known(principal.uid.clone(), None),
            core::EntityUIDEntry::known(action.clone(), None),
            core::EntityUIDEntry::known(resource.uid().clone(), None),
            Some(core::Context::Value(Arc::new(context))),
        );
        // Entities here have no parents, so there is no transitive closure to compute.
        let entities = principal
            .entities
            .clone()
            .add_entities(
                [Arc::new(resource)],
                None::<&NoEntitiesSchema>,
                TCComputation::AssumeAlreadyComputed,
                Extensions::all_available(),
            )
            .map_err(|e| e.to_string())?;
        let mut result = FacetResult::default();
        let run = |set: &PolicySet, result: &mut FacetResult| -> (bool, Vec<String>) {
            let response = self
                .authorizer
                .is_authorized(request.clone(), set.as_ref(), &entities);
            result
                .errors
                .extend(response.diagnostics.errors.iter().map(|e| e.to_string()));
            let mut reasons: Vec<String> = response
                .diagnostics
                .reason
                .iter()
                .map(|id| id.to_string())
                .collect();
            reasons.sort();
            (response.decision == CoreDecision::Allow, reasons)
        };
        if !full && let Some(set) = self.index.combined.get(&facet.action) {
            let (allowed, reasons) = run(set, &mut result);
            if allowed {
                result.permissions = reasons;
            } else {
                result.restrictions = reasons;
                if !result.restrictions.is_empty()
                    && self.index.overridable.contains(&facet.action)
                    && let Some(permits) = self.index.permissions.get(&facet.action)
                {
                    result.permissions = run(permits, &mut result).1;
                }
            }
            return Ok(result);
        }
        if let Some(set) = self.index.restrictions.get(&facet.action)
            && !set.is_empty()
        {
            result.restrictions = run(set, &mut result).1;
        }
        if let Some(set) = self.index.permissions.get(&facet.action)
            && !set.is_empty()
        {
            result.permissions = run(set, &mut result).1;
        }
        Ok(result)
    }

    /// Builds `facet`'s request through Cedar's public API with schema validation, to prove
    /// the fast path builds what the schema declares.
    #[cfg(test)]
    pub fn validate(&self, principal: &Principal, facet: &Facet) -> Result<(), String> {
        let public_entity = |kind: &str, id: &str, attrs: &[(&'static str, Attr)]| {
            let type_name = self.public_types.get(kind).ok_or("unknown type")?;
            let uid = EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id));
            let attrs: HashMap<String, RestrictedExpression> = attrs
                .iter()
                .map(|(name, value)| (name.to_string(), value.expression()))
                .collect();
            Entity::new(uid, attrs, HashSet::new()).map_err(|e| e.to_string())
        };
        let principal_entity = public_entity(
            "Agent",
            &format!("{}#{}", principal.repo, principal.branch),
            &principal_attrs(principal),
        )?;
        let resource = public_entity(
            facet.resource_type,
            &facet.resource_id,
            &facet.resource_attrs,
        )?;
        let action = EntityUid::from_type_name_and_id(
            type_name("Action").map_err(|e| e.to_string())?,
            EntityId::new(&facet.action),
        );
        let context = Context::from_pairs(
            facet
                .context
                .iter()
                .map(|(name, value)| (name.to_string(), value.expression())),
        )
        .map_err(|e| e.to_string())?;
        Request::new(
            principal_entity.uid(),
            action,
            resource.uid(),
            context,
            Some(&self.schema),
        )
        .map_err(|e| e.to_string())?;
        let mut all = vec![principal_entity, resource];
        for (name, items) in &self.list_items {
            all.push(public_entity(
                "List",
                name,
                &[("items", Attr::Set(items.clone()))],
            )?);
        }
        Entities::from_entities(all, Some(&self.schema)).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// True when `action` is declared in the schema.
    pub fn knows_action(&self, action: &str) -> bool {
        self.actions.contains_key(action)
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
