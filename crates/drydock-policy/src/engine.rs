//! The policy engine: loads the layers of rules, checks their examples, and decides requests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};

use cedar_policy::{Policy, PolicySet, ValidationMode, Validator};
use drydock_core::{
    Action, ActionRequest, AuthorAssociation, Decision, Principal, RuleHit, TaskKind, Verdict,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::PolicyError;
use crate::cedar::{self, Evaluator, Facet};
use crate::cedar_store::DecisionStore;
use crate::config::{PolicyConfig, RepoPolicy};
use crate::facets::facets_for;
use crate::paths::ProtectedPaths;
use crate::rules::{
    DEFAULT_RULES, Example, Layer, LoadedRule, RuleDef, lists_used, load_rule, parse_rule_file,
    valid_name,
};
use crate::shell::{AnalysisError, CommandAnalysis};

/// A layer of rules as loaded: where from, the rules, the named lists.
type LayerSource = (Layer, String, Vec<RuleDef>, BTreeMap<String, Vec<String>>);

/// The rule id of every decision taken because the engine itself failed.
pub const POLICY_ERROR_RULE: &str = "policy_error";

/// Decides tool calls. Built once per task (shipped rules, the operator's, the repository's);
/// immutable and cheap to share.
#[derive(Debug)]
pub struct PolicyEngine {
    evaluator: Evaluator,
    rules: Vec<LoadedRule>,
    by_id: HashMap<String, usize>,
    protected: ProtectedPaths,
    max_diff_lines: u32,
    #[cfg(test)]
    pub(crate) inject_panic: std::sync::atomic::AtomicBool,
}

/// One facet of a call and what matched it, for `drydock policy check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FacetReport {
    /// The Cedar action (`exec`, `write_file`, ...).
    pub action: String,
    /// What it is about.
    pub description: String,
    /// Rules whose condition held (before overrides), in rule order.
    pub matched: Vec<String>,
    /// Evaluation errors, if any (they make the call denied).
    pub errors: Vec<String>,
}

/// The full answer for one request: the verdict and how it was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Evaluation {
    /// The decision and the rules behind it.
    pub verdict: Verdict,
    /// For `run_command`: what the command would do.
    pub analysis: Option<CommandAnalysis>,
    /// For `run_command`: why it could not be analysed.
    pub analysis_error: Option<AnalysisError>,
    /// Every facet checked (filled by [`PolicyEngine::evaluate`]; empty from `decide`).
    pub facets: Vec<FacetReport>,
}

/// A rule as loaded, for listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuleSummary {
    /// The rule's id.
    pub id: String,
    /// What it decides.
    pub decision: Decision,
    /// Whether allow rules can lift it.
    pub hard: bool,
    /// Why it exists.
    pub reason: String,
    /// The file or layer it comes from.
    pub source: String,
    /// Its layer.
    pub layer: Layer,
}

/// How one embedded example behaved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExampleOutcome {
    /// The rule.
    pub rule: String,
    /// Where the rule comes from.
    pub source: String,
    /// The example as written.
    pub example: String,
    /// True for `match` examples.
    pub should_match: bool,
    /// Whether the rule matched.
    pub matched: bool,
    /// Why the request was refused before rules ran, if it was.
    pub refused: Option<String>,
}

impl ExampleOutcome {
    /// True when the example behaved as declared (a request refused before rules ran, such as
    /// a command that does not parse, proves nothing and fails).
    pub fn passed(&self) -> bool {
        self.refused.is_none() && self.should_match == self.matched
    }
}

impl PolicyEngine {
    /// Loads the shipped rules, the operator's rule files and inline rules from `config`, and the
    /// repository's rules; validates every policy against the schema and runs every example.
    /// Any problem is an error naming the file and rule.
    pub fn new(config: &PolicyConfig, repo: Option<&RepoPolicy>) -> Result<Self, PolicyError> {
        let engine = Self::load(config, repo, &[])?;
        if let Some(failure) = engine.run_examples().into_iter().find(|o| !o.passed()) {
            return Err(PolicyError::ExampleFailed {
                source_name: failure.source.clone(),
                rule: failure.rule.clone(),
                example: failure.example.clone(),
                expectation: if failure.should_match {
                    "match"
                } else {
                    "not match"
                },
                outcome: match &failure.refused {
                    Some(reason) => format!("the request was refused before rules ran ({reason})"),
                    None if failure.matched => "it did".to_string(),
                    None => "it did not".to_string(),
                },
            });
        }
        Ok(engine)
    }

    /// Loads everything without running the examples; `extra_files` are rule files added after
    /// the operator's (for `drydock policy test FILE`).
    pub(crate) fn load(
        config: &PolicyConfig,
        repo: Option<&RepoPolicy>,
        extra_files: &[std::path::PathBuf],
    ) -> Result<Self, PolicyError> {
        let (schema, _) = cedar::build_schema(&config.tools)?;
        let mut layers: Vec<LayerSource> = Vec::new();
        let shipped = parse_rule_file(DEFAULT_RULES, "shipped defaults")?;
        layers.push((
            Layer::Shipped,
            "shipped defaults".to_string(),
            shipped.rules,
            shipped.lists,
        ));
        for path in config.rule_files.iter().chain(extra_files) {
            let source = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| PolicyError::ReadRuleFile {
                path: path.clone(),
                source: e,
            })?;
            let file = parse_rule_file(&text, &source)?;
            layers.push((Layer::Operator, source, file.rules, file.lists));
        }
        if !config.rules.is_empty() || !config.lists.is_empty() {
            layers.push((
                Layer::Operator,
                "configuration [policy] rules".to_string(),
                config.rules.clone(),
                config.lists.clone(),
            ));
        }
        if let Some(repo) = repo
            && (!repo.rules.is_empty() || !repo.lists.is_empty())
        {
            layers.push((
                Layer::Repository,
                "repository .drydock.toml [policy]".to_string(),
                repo.rules.clone(),
                repo.lists.clone(),
            ));
        }
        let mut rules: Vec<LoadedRule> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut lists: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for (layer, source, defs, layer_lists) in layers {
            for (name, items) in layer_lists {
                if !valid_name(&name) {
                    return Err(PolicyError::InvalidList {
                        source_name: source.clone(),
                        list: name,
                        problem: "a list name starts with a lower-case letter and holds only \
                                  lower-case letters, digits, `_`, `-` and `.`"
                            .to_string(),
                    });
                }
                if let Some((first, _)) = lists.get(&name) {
                    return Err(PolicyError::InvalidList {
                        source_name: source.clone(),
                        list: name,
                        problem: format!("already defined in {first}; lists cannot be redefined"),
                    });
                }
                lists.insert(name, (source.clone(), items));
            }
            for def in defs {
                let rule = load_rule(def, &source, layer)?;
                if let Some(&first) = by_id.get(&rule.def.id) {
                    return Err(PolicyError::DuplicateRule {
                        rule: rule.def.id.clone(),
                        first: rules[first].source.clone(),
                        second: source.clone(),
                    });
                }
                by_id.insert(rule.def.id.clone(), rules.len());
                rules.push(rule);
            }
        }
        for rule in &rules {
            for list in lists_used(&rule.policy) {
                if !lists.contains_key(&list) {
                    return Err(PolicyError::InvalidRule {
                        source_name: rule.source.clone(),
                        rule: rule.def.id.clone(),
                        problem: format!("uses List::\"{list}\", which no [lists] table defines"),
                    });
                }
            }
        }
        let lists: BTreeMap<String, Vec<String>> = lists
            .into_iter()
            .map(|(name, (_, items))| (name, items))
            .collect();
        check_overrides(&rules, &by_id)?;
        let policies: Vec<Policy> = rules.iter().map(|r| r.policy.clone()).collect();
        validate(&schema, &rules, &policies)?;
        let mut actions: Vec<String> = cedar::BUILTIN_ACTIONS
            .iter()
            .map(|a| a.to_string())
            .collect();
        actions.extend(config.tools.iter().cloned());
        let mut protected_globs = config.protected_paths.clone();
        let mut max_diff_lines = config.max_diff_lines;
        if let Some(repo) = repo {
            protected_globs.extend(repo.protected_paths.iter().cloned());
            if let Some(limit) = repo.max_diff_lines {
                max_diff_lines = max_diff_lines.min(limit);
            }
        }
        let protected = ProtectedPaths::new(&protected_globs).map_err(|(glob, problem)| {
            PolicyError::InvalidConfig {
                field: "protected_paths".to_string(),
                problem: format!("`{glob}` is not a valid glob: {problem}"),
            }
        })?;
        Ok(Self {
            evaluator: Evaluator::new(schema, &policies, &actions, &lists)?,
            rules,
            by_id,
            protected,
            max_diff_lines,
            #[cfg(test)]
            inject_panic: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Decides one request. Never fails: any internal error is a `deny` by `policy_error`.
    pub fn decide(&self, request: &ActionRequest) -> Verdict {
        self.guarded(request, false).verdict
    }

    /// Decides one request and shows how: the facets checked, every rule that matched each and,
    /// for commands, the analysis. Never fails: any internal error is a `deny` by
    /// `policy_error`. Slower than [`PolicyEngine::decide`], which stops looking once the
    /// outcome is known.
    pub fn evaluate(&self, request: &ActionRequest) -> Evaluation {
        self.guarded(request, true)
    }

    fn guarded(&self, request: &ActionRequest, full: bool) -> Evaluation {
        match catch_unwind(AssertUnwindSafe(|| self.evaluate_inner(request, full))) {
            Ok(evaluation) => evaluation,
            Err(_) => Evaluation {
                verdict: Verdict::deny(
                    POLICY_ERROR_RULE,
                    "the policy engine failed while deciding this call, so it is denied (fail-closed)",
                ),
                analysis: None,
                analysis_error: None,
                facets: Vec::new(),
            },
        }
    }

    fn evaluate_inner(&self, request: &ActionRequest, full: bool) -> Evaluation {
        #[cfg(test)]
        if self.inject_panic.load(std::sync::atomic::Ordering::SeqCst) {
            panic!("injected failure");
        }
        let (facets, analysis) =
            facets_for(request, &self.protected, |a| self.evaluator.knows_action(a));
        let (analysis, analysis_error) = match analysis {
            Some(Ok(a)) => (Some(a), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let facets = match facets {
            // No facet would mean no rule ran: never an allow.
            Ok(facets) if facets.is_empty() => {
                return Evaluation {
                    verdict: Verdict::deny(
                        POLICY_ERROR_RULE,
                        "the call produced nothing to check, so it is denied (fail-closed)",
                    ),
                    analysis,
                    analysis_error,
                    facets: Vec::new(),
                };
            }
            Ok(facets) => facets,
            Err(refusal) => {
                return Evaluation {
                    verdict: Verdict::deny(refusal.rule, refusal.reason),
                    analysis,
                    analysis_error,
                    facets: Vec::new(),
                };
            }
        };
        let (hits, reports) = self.check_facets(&request.principal, &facets, true, full);
        Evaluation {
            verdict: Verdict::from_hits(hits),
            analysis,
            analysis_error,
            facets: reports,
        }
    }

    /// Runs facets through the rules. With `require_permit`, a facet no rule permits is denied.
    pub(crate) fn check_facets(
        &self,
        principal: &Principal,
        facets: &[Facet],
        require_permit: bool,
        full: bool,
    ) -> (Vec<RuleHit>, Vec<FacetReport>) {
        let mut hits: Vec<RuleHit> = Vec::new();
        let mut reports = Vec::new();
        let principal_entity = match self.evaluator.principal(principal) {
            Ok(entity) => entity,
            Err(message) => {
                let verdict = Verdict::deny(
                    POLICY_ERROR_RULE,
                    format!("the request's principal is invalid ({message}); denied (fail-closed)"),
                );
                return (verdict.hits, reports);
            }
        };
        let mut store = DecisionStore::new(principal_entity);
        for facet in facets {
            let result = self.evaluator.evaluate(&mut store, facet, full);
            // Reports are only wanted with the full evaluation (check output, examples).
            if full {
                let mut matched: Vec<String> = result.restrictions.clone();
                matched.extend(result.permissions.iter().cloned());
                matched.sort_by_key(|id| self.by_id.get(id).copied().unwrap_or(usize::MAX));
                reports.push(FacetReport {
                    action: facet.action.clone(),
                    description: facet.describe.clone(),
                    matched,
                    errors: result.errors.clone(),
                });
            }
            if !result.errors.is_empty() {
                push_hit(
                    &mut hits,
                    POLICY_ERROR_RULE,
                    Decision::Deny,
                    format!(
                        "a rule failed to evaluate ({}), so the call is denied (fail-closed) [{}]",
                        result.errors.join("; "),
                        facet.describe
                    ),
                );
                continue;
            }
            let lifted: BTreeSet<&str> = result
                .permissions
                .iter()
                .filter_map(|id| self.rule(id))
                .flat_map(|rule| rule.def.overrides.iter().map(String::as_str))
                .collect();
            let restrictions: Vec<&LoadedRule> = result
                .restrictions
                .iter()
                .filter_map(|id| self.rule(id))
                .filter(|rule| rule.def.hard || !lifted.contains(rule.def.id.as_str()))
                .collect();
            if !restrictions.is_empty() {
                for rule in restrictions {
                    push_hit(
                        &mut hits,
                        &rule.def.id,
                        rule.def.decision,
                        format!("{} [{}]", rule.def.reason, facet.describe),
                    );
                }
            } else if let Some(rule) = result.permissions.iter().find_map(|id| self.rule(id)) {
                push_hit(
                    &mut hits,
                    &rule.def.id,
                    Decision::Allow,
                    rule.def.reason.clone(),
                );
            } else if require_permit {
                push_hit(
                    &mut hits,
                    "no_matching_permit",
                    Decision::Deny,
                    format!(
                        "no rule permits `{}` here, and what is not permitted is denied [{}]",
                        facet.action, facet.describe
                    ),
                );
            }
        }
        (hits, reports)
    }

    fn rule(&self, id: &str) -> Option<&LoadedRule> {
        self.by_id.get(id).map(|&i| &self.rules[i])
    }

    /// Runs every rule's embedded examples.
    pub fn run_examples(&self) -> Vec<ExampleOutcome> {
        let mut outcomes = Vec::new();
        for rule in &self.rules {
            let cases = rule
                .def
                .matches
                .iter()
                .map(|e| (e, true))
                .chain(rule.def.not_match.iter().map(|e| (e, false)));
            for (example, should_match) in cases {
                let request = example_request(example);
                let evaluation = self.evaluate(&request);
                let matched = evaluation
                    .facets
                    .iter()
                    .any(|f| f.matched.contains(&rule.def.id));
                let refused = (evaluation.facets.is_empty()).then(|| evaluation.verdict.reasons());
                outcomes.push(ExampleOutcome {
                    rule: rule.def.id.clone(),
                    source: rule.source.clone(),
                    example: example.describe(),
                    should_match,
                    matched,
                    refused,
                });
            }
        }
        outcomes
    }

    /// The rules loaded, in order.
    pub fn rules(&self) -> Vec<RuleSummary> {
        self.rules
            .iter()
            .map(|r| RuleSummary {
                id: r.def.id.clone(),
                decision: r.def.decision,
                hard: r.def.hard,
                reason: r.def.reason.clone(),
                source: r.source.clone(),
                layer: r.layer,
            })
            .collect()
    }

    /// The changed-line limit in force (the lower of the operator's and the repository's).
    pub fn max_diff_lines(&self) -> u32 {
        self.max_diff_lines
    }

    /// The protected path globs in force.
    pub fn protected_paths(&self) -> &ProtectedPaths {
        &self.protected
    }

    /// The Cedar evaluator, for tests that compare it with Cedar's own authorizer.
    #[cfg(test)]
    pub(crate) fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }
}

fn push_hit(hits: &mut Vec<RuleHit>, rule: &str, decision: Decision, reason: String) {
    if hits.iter().any(|h| h.rule == rule) {
        return;
    }
    hits.push(RuleHit {
        rule: rule.to_string(),
        decision,
        reason,
    });
}

fn check_overrides(
    rules: &[LoadedRule],
    by_id: &HashMap<String, usize>,
) -> Result<(), PolicyError> {
    for rule in rules {
        for target in &rule.def.overrides {
            let refuse = |why: &str| PolicyError::ForbiddenOverride {
                source_name: rule.source.clone(),
                rule: rule.def.id.clone(),
                target: target.clone(),
                why: why.to_string(),
            };
            let Some(&index) = by_id.get(target) else {
                return Err(refuse("no rule has this id"));
            };
            let other = &rules[index];
            if other.def.hard {
                return Err(refuse("it is a hard rule; nothing can lift it"));
            }
            if other.def.decision == Decision::Allow {
                return Err(refuse(
                    "it is an allow rule; only restrictions can be lifted",
                ));
            }
            if other.layer > rule.layer {
                return Err(refuse("it belongs to a later layer"));
            }
        }
    }
    Ok(())
}

fn validate(
    schema: &cedar_policy::Schema,
    rules: &[LoadedRule],
    policies: &[Policy],
) -> Result<(), PolicyError> {
    let mut set = PolicySet::new();
    for policy in policies {
        set.add(policy.clone()).map_err(|e| PolicyError::Schema {
            message: format!("cannot assemble the policy set: {e}"),
        })?;
    }
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    if let Some(error) = result.validation_errors().next() {
        let id = error.policy_id().to_string();
        let source = rules
            .iter()
            .find(|r| r.def.id == id)
            .map(|r| r.source.clone())
            .unwrap_or_default();
        return Err(PolicyError::CedarValidation {
            source_name: source,
            rule: id,
            message: error.to_string(),
        });
    }
    Ok(())
}

/// The principal examples run as unless they say otherwise.
pub(crate) fn example_principal() -> Principal {
    Principal {
        task_kind: TaskKind::NewTask,
        author_association: AuthorAssociation::Member,
        repo: "example".to_string(),
        branch: "drydock/example".to_string(),
    }
}

fn example_request(example: &Example) -> ActionRequest {
    let mut principal = example_principal();
    match example {
        Example::Command(command) => ActionRequest {
            principal,
            action: Action::RunCommand,
            resource: command.clone(),
        },
        Example::Request(r) => {
            if let Some(author) = r.author {
                principal.author_association = author;
            }
            if let Some(kind) = r.kind {
                principal.task_kind = kind;
            }
            if let Some(branch) = &r.branch {
                principal.branch = branch.clone();
            }
            ActionRequest {
                principal,
                action: action_named(&r.action),
                resource: r.resource.clone(),
            }
        }
    }
}

/// The action a policy name stands for.
pub fn action_named(name: &str) -> Action {
    match name {
        "read_file" => Action::ReadFile,
        "write_file" => Action::WriteFile,
        "run_command" => Action::RunCommand,
        "net_connect" => Action::NetConnect,
        "git_push" => Action::GitPush,
        "open_pr" => Action::OpenPr,
        other => Action::Tool(other.to_string()),
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
