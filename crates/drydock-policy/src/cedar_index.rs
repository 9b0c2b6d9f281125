//! The policies of each action, prepared once so a request is checked against only the policies
//! that can apply to it, with their conditions already assembled.

use std::collections::{HashMap, HashSet};

use cedar_policy::{ActionConstraint, Policy};
use cedar_policy_core::ast as core;
use smol_str::SmolStr;

use crate::cedar_compile::{self, Constants};

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
}

impl PolicyIndex {
    /// Indexes `policies` for `actions`; constants hoisted out of their conditions are added
    /// to `constants` (entities of type `constant_type`).
    pub fn new(
        policies: &[Policy],
        actions: &[String],
        constant_type: &core::EntityType,
        constants: &mut Constants,
    ) -> Self {
        let mut by_action: HashMap<String, ActionPolicies> = actions
            .iter()
            .map(|action| {
                (
                    action.clone(),
                    ActionPolicies {
                        context_reads: Some(HashSet::new()),
                        ..ActionPolicies::default()
                    },
                )
            })
            .collect();
        for policy in policies {
            let core_policy: &core::Policy = policy.as_ref();
            let condition = cedar_compile::compile(policy, constant_type, constants);
            let reads = context_reads(&condition);
            for action in actions.iter().filter(|a| applies_to(policy, a)) {
                let Some(entry) = by_action.get_mut(action) else {
                    continue;
                };
                let compiled = CompiledPolicy {
                    id: policy.id().to_string(),
                    policy: core_policy.clone(),
                    condition: condition.clone(),
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
        Self { by_action }
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

/// The context attributes `condition` reads (`context.name`, `context has name`), or `None`
/// when it uses `context` any other way (compares, passes or returns the whole record).
pub(crate) fn context_reads(condition: &core::Expr) -> Option<HashSet<SmolStr>> {
    let mut named = HashSet::new();
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
