//! Loading gitleaks-format TOML rule files (the commonly used subset, strictly).

use std::path::Path;

use serde::Deserialize;

use crate::SecretsError;
use crate::re2::translate;
use crate::rule::{
    Allowlist, Check, Keyword, RegexTarget, Rule, RuleSet, SecretGroup, can_match_newline, compile,
    explicitly_multiline, start_search,
};

/// gitleaks itself stops following `[extend] path` after two levels.
const MAX_EXTEND_DEPTH: usize = 2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[allow(dead_code)]
    title: Option<String>,
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(rename = "minVersion")]
    #[allow(dead_code)]
    min_version: Option<String>,
    extend: Option<RawExtend>,
    #[serde(default)]
    rules: Vec<toml::Table>,
    allowlist: Option<toml::Table>,
    #[serde(default)]
    allowlists: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtend {
    #[serde(rename = "useDefault", default)]
    use_default: bool,
    path: Option<String>,
    url: Option<String>,
    #[serde(rename = "disabledRules", default)]
    disabled_rules: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    description: Option<String>,
    regex: Option<String>,
    #[serde(rename = "secretGroup")]
    secret_group: Option<usize>,
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    path: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    tags: Vec<String>,
    allowlist: Option<toml::Table>,
    #[serde(default)]
    allowlists: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    description: Option<String>,
    condition: Option<String>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(rename = "regexTarget")]
    regex_target: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(rename = "targetRules", default)]
    target_rules: Vec<String>,
}

/// Reads and parses a rule file.
pub(crate) fn load(path: &Path, depth: usize) -> Result<RuleSet, SecretsError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        SecretsError::io(format!("reading rule file {}", path.display()), error)
    })?;
    parse(&text, path, depth)
}

/// Parses a rule file's text; `path` names it in errors and anchors `[extend] path`.
pub(crate) fn parse(text: &str, path: &Path, depth: usize) -> Result<RuleSet, SecretsError> {
    let file_error = |message: String| SecretsError::RuleFile {
        path: path.to_path_buf(),
        message,
    };
    let raw: RawConfig = toml::from_str(text).map_err(|error| file_error(error.to_string()))?;

    let mut base = RuleSet::empty();
    if let Some(extend) = &raw.extend {
        if extend.url.is_some() {
            return Err(file_error(
                "[extend] url is not supported (drydock does not fetch rules over the network); \
                 download the file and use [extend] path"
                    .to_string(),
            ));
        }
        if extend.use_default {
            base = RuleSet::builtin();
        }
        if let Some(parent) = &extend.path {
            if depth >= MAX_EXTEND_DEPTH {
                return Err(file_error(format!(
                    "[extend] path {parent:?}: extends nest deeper than {MAX_EXTEND_DEPTH} levels"
                )));
            }
            let parent_path = path.parent().unwrap_or(Path::new(".")).join(parent);
            base = base.merge(load(&parent_path, depth + 1)?);
        }
        base = base
            .without(&extend.disabled_rules)
            .map_err(|error| file_error(error.to_string()))?;
    }

    let mut own = RuleSet::empty();
    for (index, table) in raw.rules.into_iter().enumerate() {
        let rule = parse_rule(table, index, path)?;
        if own.rules.iter().any(|existing| existing.id == rule.id) {
            return Err(invalid(&rule.id, path, "duplicate rule id".to_string()));
        }
        own.rules.push(rule);
    }
    if let Some(table) = raw.allowlist {
        own.allowlists
            .push(parse_allowlist(table, "global allowlist", path, true)?);
    }
    for table in raw.allowlists {
        own.allowlists
            .push(parse_allowlist(table, "global allowlists", path, true)?);
    }
    let known_ids: Vec<String> = base
        .rules
        .iter()
        .chain(own.rules.iter())
        .map(|rule| rule.id.clone())
        .collect();
    for list in &own.allowlists {
        if let Some(unknown) = list.target_rules.iter().find(|id| !known_ids.contains(id)) {
            return Err(file_error(format!(
                "allowlist targets unknown rule {unknown:?}"
            )));
        }
    }
    Ok(base.merge(own))
}

fn invalid(rule: &str, path: &Path, message: String) -> SecretsError {
    SecretsError::InvalidRule {
        rule: rule.to_string(),
        source_file: Some(path.to_path_buf()),
        message,
    }
}

fn parse_rule(table: toml::Table, index: usize, path: &Path) -> Result<Rule, SecretsError> {
    let name = table
        .get("id")
        .and_then(|id| id.as_str())
        .map_or_else(|| format!("rules[{index}]"), str::to_string);
    let fail = |message: String| invalid(&name, path, message);
    if table.contains_key("required") {
        return Err(fail(
            "composite rules ([[rules.required]]) are not supported; split it into separate rules"
                .to_string(),
        ));
    }
    if table.contains_key("skipReport") || table.contains_key("report") {
        return Err(fail(
            "skipReport/report are only meaningful for composite rules, which are not supported"
                .to_string(),
        ));
    }
    let raw: RawRule = toml::Value::Table(table)
        .try_into()
        .map_err(|error: toml::de::Error| fail(error.message().to_string()))?;
    if raw.id.trim().is_empty()
        || !raw
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(fail(
            "id must be non-empty and use only A-Z a-z 0-9 _ . - (it appears in [REDACTED:<id>])"
                .to_string(),
        ));
    }
    if raw.regex.is_none() && raw.path.is_none() {
        return Err(fail("a rule needs a regex, a path, or both".to_string()));
    }
    let (regex, multiline, crosses_lines, starts, secret_group) = match &raw.regex {
        Some(pattern) => {
            let translated =
                translate(pattern).map_err(|message| fail(format!("regex: {message}")))?;
            let regex =
                compile(&translated).map_err(|message| fail(format!("regex: {message}")))?;
            let crosses_lines = can_match_newline(&translated)
                .map_err(|message| fail(format!("regex: {message}")))?;
            let multiline = crosses_lines && explicitly_multiline(pattern);
            let groups = regex.captures_len() - 1;
            let secret_group = match raw.secret_group {
                Some(0) | None if groups == 0 => SecretGroup::Whole,
                Some(0) | None => SecretGroup::FirstNonEmpty,
                Some(group) if group <= groups => SecretGroup::Index(group),
                Some(group) => {
                    return Err(fail(format!(
                        "secretGroup = {group} but the regex has {groups} capture group(s)"
                    )));
                }
            };
            let starts = start_search(&translated, crosses_lines);
            (Some(regex), multiline, crosses_lines, starts, secret_group)
        }
        None => (None, false, false, None, SecretGroup::Whole),
    };
    let path_regex = raw
        .path
        .as_deref()
        .map(|pattern| {
            compile_path_regex(pattern).map_err(|message| fail(format!("path: {message}")))
        })
        .transpose()?;
    if let Some(entropy) = raw.entropy
        && !(0.0..=8.0).contains(&entropy)
    {
        return Err(fail(format!(
            "entropy = {entropy} is outside 0..=8 bits per byte"
        )));
    }
    let mut keywords = Vec::new();
    for keyword in &raw.keywords {
        if keyword.is_empty() || keyword.contains('\n') {
            return Err(fail(format!(
                "keyword {keyword:?} must be non-empty and on one line"
            )));
        }
        keywords.push(Keyword {
            text: keyword.to_lowercase(),
            case_sensitive: false,
        });
    }
    let mut allowlists = Vec::new();
    if let Some(table) = raw.allowlist {
        allowlists.push(parse_allowlist(table, &name, path, false)?);
    }
    for table in raw.allowlists {
        allowlists.push(parse_allowlist(table, &name, path, false)?);
    }
    Ok(Rule {
        id: raw.id.clone(),
        description: raw.description.unwrap_or_default(),
        regex,
        multiline,
        crosses_lines,
        starts,
        keywords,
        secret_group,
        entropy: raw.entropy,
        path: path_regex,
        allowlists,
        check: Check::None,
        placeholder_filter: false,
        generic: false,
        source: Some(path.to_path_buf()),
    })
}

fn compile_path_regex(pattern: &str) -> Result<regex::Regex, String> {
    let translated = translate(pattern)?;
    regex::Regex::new(&translated).map_err(|error| error.to_string())
}

fn parse_allowlist(
    table: toml::Table,
    owner: &str,
    path: &Path,
    global: bool,
) -> Result<Allowlist, SecretsError> {
    let fail = |message: String| invalid(owner, path, format!("allowlist: {message}"));
    let raw: RawAllowlist = toml::Value::Table(table)
        .try_into()
        .map_err(|error: toml::de::Error| fail(error.message().to_string()))?;
    if !global && !raw.target_rules.is_empty() {
        return Err(fail(
            "targetRules is only valid in a global [[allowlists]]".to_string(),
        ));
    }
    let require_all = match raw
        .condition
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("OR") | Some("||") => false,
        Some("AND") | Some("&&") => true,
        Some(other) => return Err(fail(format!("condition {other:?}: use \"OR\" or \"AND\""))),
    };
    let regex_target = match raw.regex_target.as_deref() {
        None | Some("secret") => RegexTarget::Secret,
        Some("match") => RegexTarget::Match,
        Some("line") => RegexTarget::Line,
        Some(other) => {
            return Err(fail(format!(
                "regexTarget {other:?}: use secret, match or line"
            )));
        }
    };
    let regexes = raw
        .regexes
        .iter()
        .map(|pattern| {
            translate(pattern)
                .and_then(|translated| compile(&translated))
                .map_err(|message| fail(format!("regex {pattern:?}: {message}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let paths = raw
        .paths
        .iter()
        .map(|pattern| {
            compile_path_regex(pattern)
                .map_err(|message| fail(format!("path {pattern:?}: {message}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if raw.commits.is_empty() && paths.is_empty() && regexes.is_empty() && raw.stopwords.is_empty()
    {
        return Err(fail(
            "it is empty (give commits, paths, regexes or stopwords)".to_string(),
        ));
    }
    Ok(Allowlist {
        description: raw.description.unwrap_or_default(),
        require_all,
        regex_target,
        regexes,
        stopwords: raw
            .stopwords
            .iter()
            .map(|word| word.to_lowercase())
            .collect(),
        paths,
        path_globs: None,
        has_commits: !raw.commits.is_empty(),
        target_rules: raw.target_rules,
    })
}

#[cfg(test)]
#[path = "gitleaks_tests.rs"]
mod tests;
