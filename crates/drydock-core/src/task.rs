use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Failure, Limits, TaskId, TaskState, Usage};

/// What a task is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Resolve an issue with a new branch and pull request.
    NewTask,
    /// Push more commits to an existing pull request in answer to review comments.
    PrIteration,
    /// Review a pull request without changing it.
    PrReview,
}

/// How the author of the issue or comment relates to the repository; decides what a task may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorAssociation {
    /// Owns the repository.
    Owner,
    /// Member of the owning organisation.
    Member,
    /// Invited collaborator.
    Collaborator,
    /// Has contributed before but holds no role.
    Contributor,
    /// No relation to the repository.
    None,
    /// An automation account.
    Bot,
}

impl AuthorAssociation {
    /// The snake_case name used in JSON and policies.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorAssociation::Owner => "owner",
            AuthorAssociation::Member => "member",
            AuthorAssociation::Collaborator => "collaborator",
            AuthorAssociation::Contributor => "contributor",
            AuthorAssociation::None => "none",
            AuthorAssociation::Bot => "bot",
        }
    }

    /// True for owners, members and collaborators: people the repository trusts to push.
    pub fn is_trusted(self) -> bool {
        matches!(
            self,
            AuthorAssociation::Owner | AuthorAssociation::Member | AuthorAssociation::Collaborator
        )
    }
}

impl fmt::Display for AuthorAssociation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who wrote the text a task came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Author {
    /// Account or local user name.
    pub login: String,
    /// The author's relation to the repository.
    pub association: AuthorAssociation,
}

/// Where the issue text came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IssueSource {
    /// `--issue-text` on the command line.
    Text,
    /// `--issue-file`; the path as given.
    File {
        /// The file the text was read from.
        path: String,
    },
    /// The bundled demo.
    Demo,
    /// An issue on a forge.
    Forge {
        /// Web address of the issue.
        url: String,
    },
}

/// The issue a task works on. Its text is untrusted data: it is shown to the model as such.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Issue {
    /// One line.
    pub title: String,
    /// The whole text as written (hidden content is stripped only in what the model sees).
    pub body: String,
    /// Who wrote it.
    pub author: Author,
    /// Where it came from.
    pub source: IssueSource,
}

impl Issue {
    /// Builds an issue from free text: a leading `# Title` line (or the first line) is the title.
    pub fn from_text(text: &str, author: Author, source: IssueSource) -> Self {
        let trimmed = text.trim();
        let first = trimmed.lines().next().unwrap_or("").trim();
        let (title, body) = match first.strip_prefix('#') {
            Some(heading) => {
                let rest = trimmed[trimmed.find('\n').unwrap_or(trimmed.len())..].trim();
                (
                    heading.trim_start_matches('#').trim().to_string(),
                    rest.to_string(),
                )
            }
            None => (first.to_string(), trimmed.to_string()),
        };
        Self {
            title: shorten(&title, 100),
            body,
            author,
            source,
        }
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars - 1).collect();
    out.push('…');
    out
}

/// The repository a task works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RepoRef {
    /// Where the repository lives: an absolute path for the local forge, a URL for a remote one.
    pub location: String,
    /// A short name for listings, e.g. the directory name or `owner/name`.
    pub name: String,
}

/// Everything needed to run a task, fixed when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskSpec {
    /// What to do.
    pub kind: TaskKind,
    /// Where.
    pub repo: RepoRef,
    /// The request, with its author.
    pub issue: Issue,
    /// The model, as `provider:model`.
    pub model: String,
    /// Budgets.
    pub limits: Limits,
}

/// Running totals of a task, updated as it goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TaskStats {
    /// Model calls made.
    pub turns: u32,
    /// Tool calls made (allowed or not).
    pub tool_calls: u32,
    /// Tool calls the policy denied.
    pub denials: u32,
    /// Tokens across all model calls.
    pub usage: Usage,
    /// Spend in US dollars for the calls whose price is known.
    pub cost_usd: f64,
    /// False when any call's price was unknown, so `cost_usd` is a lower bound.
    pub cost_known: bool,
}

impl TaskStats {
    /// Empty totals; the cost is known (zero) until a call with an unknown price.
    pub fn new() -> Self {
        Self {
            cost_known: true,
            ..Self::default()
        }
    }
}

/// A task as the store holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    /// Identity.
    pub id: TaskId,
    /// What was asked, fixed at creation.
    pub spec: TaskSpec,
    /// Where it is now.
    pub state: TaskState,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its row last changed.
    pub updated_at: DateTime<Utc>,
    /// When it reached a terminal state.
    pub finished_at: Option<DateTime<Utc>>,
    /// The task's branch, once the workspace exists.
    pub branch: Option<String>,
    /// Hash of the rendered system prompt, once the agent starts.
    pub prompt_hash: Option<String>,
    /// Why it failed, for `failed`, `cancelled` and `timed_out`.
    pub failure: Option<Failure>,
    /// Running totals.
    pub stats: TaskStats,
}

impl Task {
    /// A new task in state `queued`.
    pub fn new(spec: TaskSpec) -> Self {
        let now = Utc::now();
        Self {
            id: TaskId::new(),
            spec,
            state: TaskState::Queued,
            created_at: now,
            updated_at: now,
            finished_at: None,
            branch: None,
            prompt_hash: None,
            failure: None,
            stats: TaskStats::new(),
        }
    }

    /// The branch name for this task: `drydock/<short-id>-<slug of the title>`.
    pub fn branch_name(&self) -> String {
        let slug = slugify(&self.spec.issue.title, 40);
        if slug.is_empty() {
            format!("drydock/{}", self.id.short())
        } else {
            format!("drydock/{}-{slug}", self.id.short())
        }
    }
}

/// Lowercase ASCII words joined by `-`, cut at a word boundary within `max_len`.
fn slugify(text: &str, max_len: usize) -> String {
    let mut slug = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        let extra = if slug.is_empty() {
            word.len()
        } else {
            word.len() + 1
        };
        if slug.len() + extra > max_len {
            if slug.is_empty() {
                slug.push_str(&word[..max_len]);
            }
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word);
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author() -> Author {
        Author {
            login: "ada".into(),
            association: AuthorAssociation::Owner,
        }
    }

    #[test]
    fn heading_becomes_title_and_rest_the_body() {
        let issue = Issue::from_text(
            "# Pager skips the last page\n\nWith 10 items and page size 3...",
            author(),
            IssueSource::Text,
        );
        assert_eq!(issue.title, "Pager skips the last page");
        assert_eq!(issue.body, "With 10 items and page size 3...");
    }

    #[test]
    fn plain_text_uses_its_first_line_as_title_and_keeps_everything_as_body() {
        let issue = Issue::from_text("fix the off-by-one in pager", author(), IssueSource::Text);
        assert_eq!(issue.title, "fix the off-by-one in pager");
        assert_eq!(issue.body, "fix the off-by-one in pager");
    }

    #[test]
    fn long_titles_are_shortened() {
        let issue = Issue::from_text(&"word ".repeat(60), author(), IssueSource::Text);
        assert_eq!(issue.title.chars().count(), 100);
        assert!(issue.title.ends_with('…'));
    }

    #[test]
    fn branch_names_are_safe_and_bounded() {
        let spec = TaskSpec {
            kind: TaskKind::NewTask,
            repo: RepoRef {
                location: "/tmp/r".into(),
                name: "r".into(),
            },
            issue: Issue::from_text(
                "Fix: the pager's `next()` skips ÜBER-pages!! and crashes on very long inputs too",
                author(),
                IssueSource::Text,
            ),
            model: "scripted:demo".into(),
            limits: Limits::default(),
        };
        let task = Task::new(spec);
        let branch = task.branch_name();
        let expected = format!(
            "drydock/{}-fix-the-pager-s-next-skips-ber-pages-and",
            task.id.short()
        );
        assert_eq!(branch, expected);
    }

    #[test]
    fn slug_of_symbols_only_is_empty() {
        assert_eq!(slugify("!!! ???", 40), "");
        assert_eq!(slugify(&"x".repeat(50), 40), "x".repeat(40));
    }
}
