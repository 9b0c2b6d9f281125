//! Deciding the simple parts of a condition without Cedar.
//!
//! Most restrictions of an action start with a cheap test of the facet's context —
//! `context.family == "git" && …`, `List::"disk_tools".items.contains(context.program) || …`,
//! `context.program like "mkfs*"`, `context.dynamic_program` — that is false for almost every facet. A guard mirrors the
//! condition's `&&`, `||` and `!` and its tests of context attributes against literals, lists
//! and hoisted constants, and evaluates them from the facet's own context with Cedar's
//! semantics, short-circuits included: `Some(b)` only when Cedar would evaluate the condition to
//! `b` without an error; anything it does not model, a missing attribute or an attribute of
//! another type is `None`, and the condition goes to Cedar. `cedar_compile_tests.rs` checks
//! the results against Cedar's own authorizer over the corpus.

use std::sync::Arc;

use cedar_policy_core::ast as core;
use smol_str::SmolStr;

use crate::cedar::Attr;

/// A condition as far as it can be decided from the context alone.
#[derive(Debug, Clone)]
pub(crate) enum Guard {
    /// Something only Cedar can evaluate.
    Unknown,
    /// A boolean literal.
    Const(bool),
    /// `context.name`, a boolean.
    Flag(SmolStr),
    /// `context.name == "text"` (either way round).
    Equals(SmolStr, SmolStr),
    /// `S.contains(context.name)` where `S` is a list or constant set of strings.
    OneOf(SmolStr, Arc<foldhash::HashSet<SmolStr>>),
    /// `context.name.isEmpty()`.
    Empty(SmolStr),
    /// `context.name like "pattern"`, matched by Cedar's own pattern matcher.
    Like(SmolStr, core::Pattern),
    /// `!g`.
    Not(Box<Guard>),
    /// `a && b`.
    And(Box<Guard>, Box<Guard>),
    /// `a || b`.
    Or(Box<Guard>, Box<Guard>),
}

/// The strings of a set named by an entity literal and attribute (`List::"x".items`,
/// `DrydockConstant::"constants".c3`), or `None` when it is not known to be a set of strings.
pub(crate) type SetResolver<'a> =
    dyn Fn(&core::EntityUID, &str) -> Option<Arc<foldhash::HashSet<SmolStr>>> + 'a;

impl Guard {
    /// The guard of `condition`.
    pub fn new(condition: &core::Expr, sets: &SetResolver<'_>) -> Self {
        use core::ExprKind as K;
        match condition.expr_kind() {
            K::Lit(core::Literal::Bool(b)) => Guard::Const(*b),
            K::And { left, right } => Guard::And(
                Box::new(Self::new(left, sets)),
                Box::new(Self::new(right, sets)),
            ),
            K::Or { left, right } => Guard::Or(
                Box::new(Self::new(left, sets)),
                Box::new(Self::new(right, sets)),
            ),
            K::UnaryApp {
                op: core::UnaryOp::Not,
                arg,
            } => Guard::Not(Box::new(Self::new(arg, sets))),
            K::UnaryApp {
                op: core::UnaryOp::IsEmpty,
                arg,
            } => context_attr(arg).map_or(Guard::Unknown, Guard::Empty),
            K::BinaryApp {
                op: core::BinaryOp::Eq,
                arg1,
                arg2,
            } => match (
                context_attr(arg1),
                string(arg2),
                context_attr(arg2),
                string(arg1),
            ) {
                (Some(name), Some(text), _, _) | (_, _, Some(name), Some(text)) => {
                    Guard::Equals(name, text)
                }
                _ => Guard::Unknown,
            },
            K::BinaryApp {
                op: core::BinaryOp::Contains,
                arg1,
                arg2,
            } => match (named_set(arg1, sets), context_attr(arg2)) {
                (Some(set), Some(name)) => Guard::OneOf(name, set),
                _ => Guard::Unknown,
            },
            K::Like { expr, pattern } => {
                context_attr(expr).map_or(Guard::Unknown, |name| Guard::Like(name, pattern.clone()))
            }
            K::GetAttr { .. } => context_attr(condition).map_or(Guard::Unknown, Guard::Flag),
            _ => Guard::Unknown,
        }
    }

    /// What Cedar would evaluate the condition to, when that is a boolean without an error and
    /// can be told from `context` (the facet's context; a later entry of a name wins, as it
    /// does when the request's context record is built).
    pub fn decide(&self, context: &[(&'static str, Attr)]) -> Option<bool> {
        let attr = |name: &SmolStr| {
            context
                .iter()
                .rev()
                .find(|(known, _)| *known == name.as_str())
                .map(|(_, value)| value)
        };
        match self {
            Guard::Unknown => None,
            Guard::Const(b) => Some(*b),
            Guard::Flag(name) => match attr(name)? {
                Attr::Bool(b) => Some(*b),
                _ => None,
            },
            Guard::Equals(name, text) => match attr(name)? {
                Attr::Str(value) => Some(value.as_str() == text.as_str()),
                _ => None,
            },
            Guard::OneOf(name, set) => match attr(name)? {
                Attr::Str(value) => Some(set.contains(value.as_str())),
                _ => None,
            },
            Guard::Like(name, pattern) => match attr(name)? {
                Attr::Str(value) => Some(pattern.wildcard_match(value)),
                _ => None,
            },
            Guard::Empty(name) => match attr(name)? {
                Attr::Set(items) => Some(items.is_empty()),
                _ => None,
            },
            Guard::Not(inner) => inner.decide(context).map(|b| !b),
            Guard::And(left, right) => match left.decide(context)? {
                false => Some(false),
                true => right.decide(context),
            },
            Guard::Or(left, right) => match left.decide(context)? {
                true => Some(true),
                false => right.decide(context),
            },
        }
    }
}

/// `name` when `expr` is `context.name`.
fn context_attr(expr: &core::Expr) -> Option<SmolStr> {
    match expr.expr_kind() {
        core::ExprKind::GetAttr { expr: inner, attr }
            if matches!(inner.expr_kind(), core::ExprKind::Var(core::Var::Context)) =>
        {
            Some(attr.clone())
        }
        _ => None,
    }
}

/// The text of a string literal.
fn string(expr: &core::Expr) -> Option<SmolStr> {
    match expr.expr_kind() {
        core::ExprKind::Lit(core::Literal::String(text)) => Some(text.clone()),
        _ => None,
    }
}

/// The strings of `E::"id".attr` when the resolver knows them.
fn named_set(expr: &core::Expr, sets: &SetResolver<'_>) -> Option<Arc<foldhash::HashSet<SmolStr>>> {
    match expr.expr_kind() {
        core::ExprKind::GetAttr { expr: inner, attr } => match inner.expr_kind() {
            core::ExprKind::Lit(core::Literal::EntityUID(uid)) => sets(uid, attr),
            _ => None,
        },
        _ => None,
    }
}

/// The strings of `value` when it is a set of strings only.
pub(crate) fn strings(value: &core::Value) -> Option<Arc<foldhash::HashSet<SmolStr>>> {
    let core::ValueKind::Set(set) = &value.value else {
        return None;
    };
    set.iter()
        .map(|item| match &item.value {
            core::ValueKind::Lit(core::Literal::String(text)) => Some(text.clone()),
            _ => None,
        })
        .collect::<Option<foldhash::HashSet<SmolStr>>>()
        .map(Arc::new)
}
