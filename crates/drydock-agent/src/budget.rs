//! Budgets, checked before each model call with that call's worst case (its estimated prompt and
//! the largest reply it may produce), so a task never starts a call it cannot pay for. When a
//! budget is short, the reply limit is lowered to fit before the task is stopped.

use drydock_core::{BudgetKind, Failure, FailureClass, Limits, TaskStats, Usage};
use drydock_model::Price;

/// The smallest reply limit worth a call; below it the budget counts as exhausted.
pub const MIN_OUTPUT_TOKENS: u32 = 1024;

/// The outcome of a budget check.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetCheck {
    /// Make the call, with at most this many reply tokens.
    Go {
        /// The reply limit for the call.
        max_output_tokens: u32,
    },
    /// Stop the task.
    Exhausted {
        /// Which budget.
        budget: BudgetKind,
        /// Spent plus the call's worst case.
        used: f64,
        /// The limit.
        limit: f64,
        /// The failure to end the task with.
        failure: Failure,
    },
}

/// Checks turns, tokens and cost before a call of `estimated_input` prompt tokens.
pub fn check_before_call(
    limits: &Limits,
    stats: &TaskStats,
    price: Option<&Price>,
    estimated_input: u64,
    max_output_tokens: u32,
) -> BudgetCheck {
    if stats.turns >= limits.max_turns {
        return BudgetCheck::Exhausted {
            budget: BudgetKind::Turns,
            used: f64::from(stats.turns),
            limit: f64::from(limits.max_turns),
            failure: Failure::new(
                FailureClass::Budget,
                "max_turns",
                format!("the task used all {} of its turns", limits.max_turns),
                "raise [limits] max_turns (or --max-turns), or split the issue into smaller ones",
            ),
        };
    }
    let floor = MIN_OUTPUT_TOKENS.min(max_output_tokens);
    let mut reply_limit = max_output_tokens;

    let used_tokens = stats.usage.total();
    let remaining_tokens = limits.max_tokens.saturating_sub(used_tokens);
    let tokens_for_reply = remaining_tokens.saturating_sub(estimated_input);
    if tokens_for_reply < u64::from(floor) {
        return BudgetCheck::Exhausted {
            budget: BudgetKind::Tokens,
            used: (used_tokens + estimated_input + u64::from(floor)) as f64,
            limit: limits.max_tokens as f64,
            failure: Failure::new(
                FailureClass::Budget,
                "max_tokens",
                format!(
                    "the next model call (about {estimated_input} prompt tokens plus a reply) would exceed the token budget: {used_tokens} of {} used",
                    limits.max_tokens
                ),
                "raise [limits] max_tokens (or --max-tokens)",
            ),
        };
    }
    reply_limit = reply_limit.min(u32::try_from(tokens_for_reply).unwrap_or(u32::MAX));

    if let Some(price) = price {
        let prompt_cost = price.cost(&Usage {
            input_tokens: estimated_input,
            ..Usage::default()
        });
        let per_reply_token = price.output / 1_000_000.0;
        let remaining = limits.max_cost_usd - stats.cost_usd - prompt_cost;
        let affordable = if per_reply_token > 0.0 {
            (remaining / per_reply_token).floor()
        } else if remaining >= 0.0 {
            f64::from(u32::MAX)
        } else {
            -1.0
        };
        if affordable < f64::from(floor) {
            let worst = prompt_cost + f64::from(floor) * per_reply_token;
            return BudgetCheck::Exhausted {
                budget: BudgetKind::Cost,
                used: stats.cost_usd + worst,
                limit: limits.max_cost_usd,
                failure: Failure::new(
                    FailureClass::Budget,
                    "max_cost",
                    format!(
                        "the next model call (up to ${worst:.4}) would exceed the cost budget: ${:.4} of ${:.2} spent",
                        stats.cost_usd, limits.max_cost_usd
                    ),
                    "raise [limits] max_cost_usd (or --max-cost)",
                ),
            };
        }
        reply_limit = reply_limit.min(affordable.min(f64::from(u32::MAX)) as u32);
    }
    BudgetCheck::Go {
        max_output_tokens: reply_limit,
    }
}

/// The failure for a task that ran out of wall-clock time.
pub fn wall_clock_failure(limits: &Limits) -> Failure {
    Failure::new(
        FailureClass::Budget,
        "wall_clock",
        format!(
            "the task ran out of time ({}s wall clock)",
            limits.wall_clock_secs
        ),
        "raise [limits] wall_clock_secs (or --timeout), or narrow the issue",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(turns: u32, tokens: u64, cost: f64) -> TaskStats {
        TaskStats {
            turns,
            usage: Usage {
                input_tokens: tokens,
                ..Usage::default()
            },
            cost_usd: cost,
            ..TaskStats::new()
        }
    }

    fn limits() -> Limits {
        Limits {
            max_turns: 10,
            max_tokens: 100_000,
            max_cost_usd: 1.0,
            ..Limits::default()
        }
    }

    const PRICE: Price = Price {
        input: 3.0,
        output: 15.0,
        cache_write: None,
        cache_read: None,
    };

    #[test]
    fn a_call_within_every_budget_goes_with_the_full_reply_limit() {
        let check = check_before_call(&limits(), &stats(3, 10_000, 0.1), Some(&PRICE), 5_000, 8192);
        assert_eq!(
            check,
            BudgetCheck::Go {
                max_output_tokens: 8192
            }
        );
    }

    #[test]
    fn turns_run_out_at_the_limit() {
        let BudgetCheck::Exhausted {
            budget, failure, ..
        } = check_before_call(&limits(), &stats(10, 0, 0.0), None, 10, 8192)
        else {
            panic!("expected exhaustion");
        };
        assert_eq!(budget, BudgetKind::Turns);
        assert_eq!(failure.code, "max_turns");
    }

    #[test]
    fn tokens_shrink_the_reply_then_stop_the_task() {
        // 100k budget, 90k used, 5k prompt: 5k left for the reply.
        let check = check_before_call(&limits(), &stats(1, 90_000, 0.0), None, 5_000, 8192);
        assert_eq!(
            check,
            BudgetCheck::Go {
                max_output_tokens: 5_000
            }
        );
        // Only 500 left for the reply: below the floor.
        let check = check_before_call(&limits(), &stats(1, 94_500, 0.0), None, 5_000, 8192);
        assert!(
            matches!(
                check,
                BudgetCheck::Exhausted {
                    budget: BudgetKind::Tokens,
                    ..
                }
            ),
            "{check:?}"
        );
    }

    #[test]
    fn cost_is_checked_with_the_calls_worst_case_before_it_starts() {
        // $1 budget, $0.90 spent; a 10k-token prompt costs $0.03, leaving $0.07 = 4666 reply tokens.
        let check = check_before_call(&limits(), &stats(1, 0, 0.90), Some(&PRICE), 10_000, 8192);
        assert_eq!(
            check,
            BudgetCheck::Go {
                max_output_tokens: 4666
            }
        );
        // $0.98 spent: the prompt alone would leave less than the floor.
        let check = check_before_call(&limits(), &stats(1, 0, 0.98), Some(&PRICE), 10_000, 8192);
        let BudgetCheck::Exhausted {
            budget,
            used,
            limit,
            failure,
        } = check
        else {
            panic!("expected exhaustion: {check:?}");
        };
        assert_eq!(budget, BudgetKind::Cost);
        assert!(used > limit);
        assert!(
            failure.message.contains("$0.9800 of $1.00 spent"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn unknown_price_cannot_stop_on_cost() {
        let check = check_before_call(&limits(), &stats(1, 0, 5.0), None, 10_000, 8192);
        assert_eq!(
            check,
            BudgetCheck::Go {
                max_output_tokens: 8192
            }
        );
    }

    #[test]
    fn free_models_never_run_out_of_money() {
        let free = Price {
            input: 0.0,
            output: 0.0,
            cache_write: None,
            cache_read: None,
        };
        let check = check_before_call(&limits(), &stats(1, 0, 0.0), Some(&free), 10_000, 8192);
        assert_eq!(
            check,
            BudgetCheck::Go {
                max_output_tokens: 8192
            }
        );
    }
}
