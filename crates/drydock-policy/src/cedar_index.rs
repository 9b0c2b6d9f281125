//! The policies of each action, prepared once so a request is checked against only the policies
//! that can apply to it, with their conditions already assembled.

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::{HashMap, HashSet};

use cedar_policy::{ActionConstraint, Policy};
use cedar_policy_core::ast as core;
use smol_str::SmolStr;

use crate::cedar_compile::{self, CONSTANT_ID, Constants};
use crate::cedar_guard::{self, Guard};

/// One policy ready to evaluate: its condition is compiled once here (see `cedar_compile`)
/// instead of being assembled on every request.
#[derive(Debug)]
pub(crate) struct CompiledPolicy {
    /// The rule id.
    pub id: String,
    /// The policy, for its slot environment.
    pub policy: core::Policy,
    /// The compiled condition: true exactly when the policy is satisfied for a request of an
    /// action its scope covers.
    pub condition: core::Expr,
    /// The condition as far as the context alone decides it (see `cedar_guard`).
    pub guard: Guard,
}

/// What can decide a request of one action.
#[derive(Debug, Default)]
pub(crate) struct ActionPolicies {
    /// Forbid policies that apply to the action, in load order.
    pub restrictions: Vec<CompiledPolicy>,
    /// Permit policies that apply to the action, in load order.
    pub permissions: Vec<CompiledPolicy>,
    /// The context attributes some policy of the action reads; `None` when a policy uses the
    /// context in a way other than reading or testing a named attribute, so all of it counts.
    pub context_reads: Option<HashSet<SmolStr>>,
    /// A permit without conditions that covers the action when no restriction applies to it:
    /// its facets need no evaluation.
    pub always_permitted: Option<String>,
}

impl ActionPolicies {
    /// Whether the context attribute `name` can affect any policy of the action. Attributes no
    /// policy reads are left out of the request: no policy can observe the difference.
    pub fn reads_context(&self, name: &str) -> bool {
        self.context_reads
            .as_ref()
            .is_none_or(|reads| reads.contains(name))
    }
}

/// The policies by action.
#[derive(Debug, Default)]
pub(crate) struct PolicyIndex {
    by_action: HashMap<String, ActionPolicies>,
    /// Whether the facets of a decision may share one entity store: no policy names an entity
    /// literal other than a list, the constants, an action or an agent (see `cedar_store`).
    shares_store: bool,
}

impl PolicyIndex {
    /// Indexes `policies` for `actions`; constants hoisted out of their conditions are added
    /// to `constants` (entities of type `constant_type`).
    pub fn new(
        policies: &[Policy],
        actions: &[String],
        lists: &BTreeMap<String, Vec<String>>,
        constant_type: &core::EntityType,
        constants: &mut Constants,
    ) -> Self {
        let mut shares_store = true;
        let mut by_action: HashMap<String, ActionPolicies> = actions
            .iter()
            .map(|action| {
                (
                    action.clone(),
                    ActionPolicies {
                        context_reads: Some(HashSet::default()),
                        ..ActionPolicies::default()
                    },
                )
            })
            .collect();
        for policy in policies {
            let core_policy: &core::Policy = policy.as_ref();
            let condition = cedar_compile::compile(policy, constant_type, constants);
            let reads = context_reads(&condition);
            let guard = Guard::new(&condition, &|uid: &core::EntityUID, attr: &str| {
                let entity_type = uid.entity_type();
                let id: &str = uid.eid().as_ref();
                if entity_type == constant_type && id == CONSTANT_ID {
                    constants.get(attr).and_then(cedar_guard::strings)
                } else if entity_type.to_string() == "List" && attr == "items" {
                    lists
                        .get(id)
                        .map(|items| Arc::new(items.iter().map(SmolStr::new).collect()))
                } else {
                    None
                }
            });
            shares_store &= names_only_shared_entities(&condition, constant_type);
            for action in actions.iter().filter(|a| applies_to(policy, a)) {
                let Some(entry) = by_action.get_mut(action) else {
                    continue;
                };
                let compiled = CompiledPolicy {
                    id: policy.id().to_string(),
                    policy: core_policy.clone(),
                    condition: condition.clone(),
                    guard: guard.clone(),
                };
                match policy.effect() {
                    cedar_policy::Effect::Forbid => entry.restrictions.push(compiled),
                    cedar_policy::Effect::Permit => entry.permissions.push(compiled),
                }
                entry.context_reads = match (entry.context_reads.take(), &reads) {
                    (Some(mut known), Some(more)) => {
                        known.extend(more.iter().cloned());
                        Some(known)
                    }
                    _ => None,
                };
            }
        }
        for (action, entry) in &mut by_action {
            if !entry.restrictions.is_empty() {
                continue;
            }
            entry.always_permitted = policies
                .iter()
                .find(|policy| {
                    policy.effect() == cedar_policy::Effect::Permit
                        && !policy.has_non_scope_constraint()
                        && policy.principal_constraint() == cedar_policy::PrincipalConstraint::Any
                        && policy.resource_constraint() == cedar_policy::ResourceConstraint::Any
                        && applies_to(policy, action)
                })
                .map(|policy| policy.id().to_string());
        }
        // Literal sets were hoisted into the constants, entity literals in them with them.
        shares_store &= constants
            .values()
            .all(|(_, value)| value_names_only_shared_entities(value, constant_type));
        Self {
            by_action,
            shares_store,
        }
    }

    /// Whether the facets of a decision may share one entity store.
    pub fn shares_store(&self) -> bool {
        self.shares_store
    }

    /// The policies of `action`, if the schema declares it.
    pub fn get(&self, action: &str) -> Option<&ActionPolicies> {
        self.by_action.get(action)
    }
}

/// Whether `policy`'s action scope covers `action`.
fn applies_to(policy: &Policy, action: &str) -> bool {
    match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => uid.id().unescaped() == action,
        ActionConstraint::In(uids) => uids.iter().any(|u| u.id().unescaped() == action),
    }
}

/// Entity types whose literals a condition may name while facets share a store: the entities
/// every facet's store holds alike (lists, constants, the principal) or never holds (actions).
const SHARED_ENTITY_TYPES: &[&str] = &["List", "Agent", "Action"];

/// Whether every entity literal in `condition` is of a type in `SHARED_ENTITY_TYPES` or the
/// constants' type: then resources of other facets in the store cannot be observed.
fn names_only_shared_entities(condition: &core::Expr, constant_type: &core::EntityType) -> bool {
    condition
        .subexpressions()
        .all(|expr| match expr.expr_kind() {
            core::ExprKind::Lit(core::Literal::EntityUID(uid)) => {
                let entity_type = uid.entity_type();
                entity_type == constant_type
                    || SHARED_ENTITY_TYPES.contains(&entity_type.to_string().as_str())
            }
            _ => true,
        })
}

/// Whether every entity in `value` is of a type in `SHARED_ENTITY_TYPES` or the constants'.
fn value_names_only_shared_entities(value: &core::Value, constant_type: &core::EntityType) -> bool {
    match &value.value {
        core::ValueKind::Lit(core::Literal::EntityUID(uid)) => {
            let entity_type = uid.entity_type();
            entity_type == constant_type
                || SHARED_ENTITY_TYPES.contains(&entity_type.to_string().as_str())
        }
        core::ValueKind::Lit(_) | core::ValueKind::ExtensionValue(_) => true,
        core::ValueKind::Set(set) => set
            .iter()
            .all(|item| value_names_only_shared_entities(item, constant_type)),
        core::ValueKind::Record(fields) => fields
            .values()
            .all(|item| value_names_only_shared_entities(item, constant_type)),
    }
}

/// The context attributes `condition` reads (`context.name`, `context has name`), or `None`
/// when it uses `context` any other way (compares, passes or returns the whole record).
pub(crate) fn context_reads(condition: &core::Expr) -> Option<HashSet<SmolStr>> {
    let mut named = HashSet::default();
    let mut accessed = 0usize;
    let mut mentioned = 0usize;
    for expr in condition.subexpressions() {
        match expr.expr_kind() {
            core::ExprKind::Var(core::Var::Context) => mentioned += 1,
            core::ExprKind::GetAttr { expr: inner, attr }
            | core::ExprKind::HasAttr { expr: inner, attr }
                if matches!(inner.expr_kind(), core::ExprKind::Var(core::Var::Context)) =>
            {
                accessed += 1;
                named.insert(attr.clone());
            }
            _ => {}
        }
    }
    (mentioned == accessed).then_some(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(text: &str) -> Option<Vec<String>> {
        let policy = Policy::parse(None, text).unwrap();
        let core_policy: &core::Policy = policy.as_ref();
        context_reads(&core_policy.condition()).map(|set| {
            let mut names: Vec<String> = set.into_iter().map(|s| s.to_string()).collect();
            names.sort();
            names
        })
    }

    #[test]
    fn named_attributes_are_found_everywhere_in_the_condition() {
        assert_eq!(
            reads(
                r#"forbid (principal, action, resource)
                   when { context.a == "x" && (context has b || [context.c].contains("y")) }
                   unless { context.d.contains(context.e) };"#
            ),
            Some(vec![
                "a".to_string(),
                "b".to_string(),
                "c".to_string(),
                "d".to_string(),
                "e".to_string()
            ])
        );
        assert_eq!(
            reads("permit (principal, action, resource);"),
            Some(Vec::new())
        );
    }

    fn shares_store(text: &str) -> bool {
        let policy = Policy::parse(None, text).unwrap();
        let constant_type: core::EntityType = "DrydockConstant".parse().unwrap();
        PolicyIndex::new(
            &[policy],
            &["exec".to_string()],
            &BTreeMap::new(),
            &constant_type,
            &mut Constants::default(),
        )
        .shares_store()
    }

    #[test]
    fn a_literal_of_a_resource_type_keeps_each_facet_in_a_store_of_its_own() {
        for text in [
            r#"forbid (principal, action, resource) when { Program::"rm".name == "rm" };"#,
            r#"forbid (principal, action, resource in Path::"src");"#,
            r#"forbid (principal, action, resource) when { [Host::"x"].contains(resource) };"#,
        ] {
            assert!(!shares_store(text), "{text}");
        }
        for text in [
            r#"forbid (principal, action == Action::"exec", resource) when { List::"x".items.contains(context.program) };"#,
            r#"forbid (principal == Agent::"a#b", action, resource);"#,
            "permit (principal, action, resource);",
        ] {
            assert!(shares_store(text), "{text}");
        }
    }

    #[test]
    fn the_whole_context_used_as_a_value_means_every_attribute_counts() {
        for text in [
            r#"forbid (principal, action, resource) when { context == {"a": 1} };"#,
            r#"forbid (principal, action, resource) when { [context].contains({"a": 1}) };"#,
            r#"forbid (principal, action, resource) when { context.a == 1 && {"x": context}.x has b };"#,
            r#"forbid (principal, action, resource) when { (if true then context else {"b": 1}) has b };"#,
        ] {
            assert_eq!(reads(text), None, "{text}");
        }
    }
}
