//! Prepares a policy's condition for fast evaluation without changing what it evaluates to.
//!
//! Cedar assembles a policy's condition from its scope and clauses on every request, evaluates
//! set literals such as `["npm", "pnpm", "yarn"]` into fresh sets every time, and carries source
//! locations through every step. Here, once per policy:
//!
//! - the scope is dropped when it cannot fail: the principal and resource are unconstrained and
//!   the policy is only ever evaluated for actions its action scope names (the index sees to
//!   that), so the scope is `true` and `true && c` is `c`;
//! - every set literal whose elements are all literals is built once and read from the
//!   constant entity (`DrydockConstant::"constants".c<n>`) — a literal set cannot fail, and
//!   reading an attribute that holds the same set gives an equal value;
//! - source locations are left out (they only make error messages more precise, and an error
//!   denies the call whatever it says).
//!
//! `cedar_compile_tests.rs` checks, over every rule example and the corpus, that compiled
//! conditions satisfy exactly the policies Cedar's own authorizer satisfies.

use std::sync::Arc;

use cedar_policy::{ActionConstraint, Policy, PrincipalConstraint, ResourceConstraint};
use cedar_policy_core::ast as core;
use cedar_policy_core::expr_builder::ExprBuilder as _;
use smol_str::SmolStr;

/// The entity type of the hoisted constants; the schema does not declare it, so no policy that
/// validates can name it.
pub(crate) const CONSTANT_TYPE: &str = "DrydockConstant";
/// The id of the entity that holds the constants.
pub(crate) const CONSTANT_ID: &str = "constants";

/// Constant values hoisted out of conditions, to become the attributes `c0`, `c1`, ... of the
/// entity `DrydockConstant::"constants"`.
#[derive(Debug, Default)]
pub(crate) struct Constants {
    values: Vec<core::Value>,
}

impl Constants {
    /// The constants, by attribute name.
    pub fn values(&self) -> impl Iterator<Item = (SmolStr, &core::Value)> {
        self.values
            .iter()
            .enumerate()
            .map(|(index, value)| (attribute(index), value))
    }

    /// The constant named `name` (`c0`, `c1`, ...).
    pub fn get(&self, name: &str) -> Option<&core::Value> {
        let index: usize = name.strip_prefix('c')?.parse().ok()?;
        self.values.get(index)
    }

    fn hoist(&mut self, constant_type: &core::EntityType, value: core::Value) -> core::Expr {
        let index = match self.values.iter().position(|known| *known == value) {
            Some(index) => index,
            None => {
                self.values.push(value);
                self.values.len() - 1
            }
        };
        let uid = core::EntityUID::from_components(
            constant_type.clone(),
            core::Eid::new(CONSTANT_ID),
            None,
        );
        build(core::ExprKind::GetAttr {
            expr: Arc::new(build(core::ExprKind::Lit(core::Literal::EntityUID(
                Arc::new(uid),
            )))),
            attr: attribute(index),
        })
    }
}

fn attribute(index: usize) -> SmolStr {
    SmolStr::new(format!("c{index}"))
}

/// The condition to evaluate for `policy`, for requests of actions its action scope covers.
pub(crate) fn compile(
    policy: &Policy,
    constant_type: &core::EntityType,
    constants: &mut Constants,
) -> core::Expr {
    let core_policy: &core::Policy = policy.as_ref();
    let plain_actions = match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => is_action(&uid),
        ActionConstraint::In(uids) => uids.iter().all(is_action),
    };
    let scope_holds = plain_actions
        && policy.principal_constraint() == PrincipalConstraint::Any
        && policy.resource_constraint() == ResourceConstraint::Any;
    let condition = if scope_holds {
        match core_policy.non_scope_constraints() {
            Some(clauses) => clauses.clone(),
            None => build(core::ExprKind::Lit(core::Literal::Bool(true))),
        }
    } else {
        core_policy.condition()
    };
    rewrite(&condition, constant_type, constants)
}

fn is_action(uid: &cedar_policy::EntityUid) -> bool {
    uid.type_name().to_string() == "Action"
}

fn build(kind: core::ExprKind) -> core::Expr {
    core::ExprBuilder::<()>::new().with_expr_kind(kind)
}

/// `expr` without source locations, its literal sets hoisted into `constants`.
fn rewrite(
    expr: &core::Expr,
    constant_type: &core::EntityType,
    constants: &mut Constants,
) -> core::Expr {
    use core::ExprKind as K;
    let mut sub = |e: &Arc<core::Expr>| Arc::new(rewrite(e, constant_type, constants));
    let kind = match expr.expr_kind() {
        K::Set(items) => {
            let literals: Option<Vec<core::Literal>> = items
                .iter()
                .map(|item| match item.expr_kind() {
                    K::Lit(literal) => Some(literal.clone()),
                    _ => None,
                })
                .collect();
            if let Some(literals) = literals {
                let value = core::Value::set(literals.into_iter().map(core::Value::from), None);
                return constants.hoist(constant_type, value);
            }
            K::Set(Arc::new(
                items
                    .iter()
                    .map(|item| rewrite(item, constant_type, constants))
                    .collect(),
            ))
        }
        K::If {
            test_expr,
            then_expr,
            else_expr,
        } => K::If {
            test_expr: sub(test_expr),
            then_expr: sub(then_expr),
            else_expr: sub(else_expr),
        },
        K::And { left, right } => K::And {
            left: sub(left),
            right: sub(right),
        },
        K::Or { left, right } => K::Or {
            left: sub(left),
            right: sub(right),
        },
        K::UnaryApp { op, arg } => K::UnaryApp {
            op: *op,
            arg: sub(arg),
        },
        K::BinaryApp { op, arg1, arg2 } => K::BinaryApp {
            op: *op,
            arg1: sub(arg1),
            arg2: sub(arg2),
        },
        K::ExtensionFunctionApp { fn_name, args } => K::ExtensionFunctionApp {
            fn_name: fn_name.clone(),
            args: Arc::new(
                args.iter()
                    .map(|arg| rewrite(arg, constant_type, constants))
                    .collect(),
            ),
        },
        K::GetAttr { expr, attr } => K::GetAttr {
            expr: sub(expr),
            attr: attr.clone(),
        },
        K::HasAttr { expr, attr } => K::HasAttr {
            expr: sub(expr),
            attr: attr.clone(),
        },
        K::ExtHasAttr { expr, attrs } => K::ExtHasAttr {
            expr: sub(expr),
            attrs: attrs.clone(),
        },
        K::Like { expr, pattern } => K::Like {
            expr: sub(expr),
            pattern: pattern.clone(),
        },
        K::Is { expr, entity_type } => K::Is {
            expr: sub(expr),
            entity_type: entity_type.clone(),
        },
        K::Record(fields) => K::Record(Arc::new(
            fields
                .iter()
                .map(|(name, value)| (name.clone(), rewrite(value, constant_type, constants)))
                .collect(),
        )),
        // Leaves, and any form this version does not know: kept exactly as written.
        other => other.clone(),
    };
    build(kind)
}

#[cfg(test)]
#[path = "cedar_compile_tests.rs"]
pub(crate) mod tests;
