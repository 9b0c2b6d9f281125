//! Live progress for `drydock run` and `drydock demo`: one line per turn and tool call, a spinner
//! while the model thinks, colour on a terminal; plain lines otherwise; nothing with `--json`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use console::{Style, Term};
use drydock_agent::Progress;
use drydock_core::{Decision, EventKind, LoopAction, TaskState};
use drydock_model::StreamEvent;
use drydock_orchestrator::Observer;
use indicatif::{ProgressBar, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Colour and a spinner on stderr.
    Terminal,
    /// Plain lines on stderr.
    Plain,
    /// Nothing (`--json`).
    Quiet,
}

impl Mode {
    /// The mode for this process: quiet for JSON, a terminal when stderr is one.
    pub fn detect(json: bool, plain: bool) -> Self {
        if json {
            Mode::Quiet
        } else if !plain && Term::stderr().is_term() && std::env::var_os("NO_COLOR").is_none() {
            Mode::Terminal
        } else {
            Mode::Plain
        }
    }
}

/// Prints a task's progress as its events arrive.
#[derive(Debug)]
pub struct Reporter {
    mode: Mode,
    spinner: Option<ProgressBar>,
    pending: Mutex<HashMap<String, String>>,
    thinking_since: Mutex<Option<Instant>>,
    styles: Styles,
}

#[derive(Debug)]
struct Styles {
    dim: Style,
    ok: Style,
    bad: Style,
    warn: Style,
    head: Style,
}

impl Reporter {
    /// A reporter in `mode`.
    pub fn new(mode: Mode) -> Self {
        let colour = mode == Mode::Terminal;
        let style = |s: Style| if colour { s } else { Style::new() };
        let spinner = (mode == Mode::Terminal).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        Self {
            mode,
            spinner,
            pending: Mutex::new(HashMap::new()),
            thinking_since: Mutex::new(None),
            styles: Styles {
                dim: style(Style::new().dim()),
                ok: style(Style::new().green()),
                bad: style(Style::new().red()),
                warn: style(Style::new().yellow()),
                head: style(Style::new().bold()),
            },
        }
    }

    /// Prints one line (above the spinner on a terminal).
    pub fn line(&self, text: impl AsRef<str>) {
        match (&self.spinner, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(text.as_ref()),
            (None, _) => eprintln!("{}", text.as_ref()),
        }
    }

    /// Stops the spinner.
    pub fn done(&self) {
        if let Some(bar) = &self.spinner {
            bar.finish_and_clear();
        }
    }

    fn spin(&self, message: String) {
        if let Some(bar) = &self.spinner {
            bar.set_message(message);
            bar.enable_steady_tick(Duration::from_millis(100));
        }
    }

    fn idle(&self) {
        if let Some(bar) = &self.spinner {
            bar.disable_steady_tick();
            bar.set_message("");
        }
    }

    fn describe(&self, kind: &EventKind) -> Option<String> {
        let s = &self.styles;
        Some(match kind {
            EventKind::TaskCreated { spec } => format!(
                "{} {} on {} with {}",
                s.head.apply_to("task"),
                spec.issue.title,
                spec.repo.name,
                spec.model
            ),
            EventKind::StateChanged { to, failure, .. } => match (to, failure) {
                (TaskState::Preparing, _) => s.dim.apply_to("preparing the workspace and sandbox").to_string(),
                (TaskState::Running, _) => s.dim.apply_to("agent running").to_string(),
                (TaskState::AwaitingApproval, _) => s
                    .warn
                    .apply_to("waiting for approval: run `drydock approve <task>` or `drydock deny <task>`")
                    .to_string(),
                (TaskState::Finalizing, _) => s.dim.apply_to("finalizing: tests, gates, commit, push").to_string(),
                (_, Some(failure)) => format!("{} {failure}", s.bad.apply_to(to.as_str())),
                _ => return None,
            },
            EventKind::WorkspacePrepared { path, branch, test_command, .. } => format!(
                "  workspace {path}\n  branch {branch}, tests: {}",
                test_command.as_deref().map_or("none found".to_string(), |c| format!("`{c}`"))
            ),
            EventKind::SandboxStarted { backend, isolation } => {
                let shown: Vec<&str> = isolation.iter().take(3).map(String::as_str).collect();
                let more = isolation.len().saturating_sub(shown.len());
                format!(
                    "  sandbox {backend}: {}{}",
                    shown.join(", "),
                    if more > 0 { format!(" (+{more} more: drydock show)") } else { String::new() }
                )
            }
            EventKind::ModelTurn { turn, usage, cost_usd, duration_ms, text, .. } => {
                let cost = cost_usd.map_or("cost unknown".to_string(), |c| format!("${c:.4}"));
                let mut line = format!(
                    "{} {} in / {} out  {cost}  {}",
                    s.head.apply_to(format!("turn {turn}")),
                    tokens(usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens),
                    tokens(usage.output_tokens),
                    s.dim.apply_to(format!("{:.1}s", *duration_ms as f64 / 1000.0))
                );
                if let Some(first) = text.lines().find(|l| !l.trim().is_empty()) {
                    line.push_str(&format!("\n  {}", s.dim.apply_to(clip(first, 100))));
                }
                line
            }
            EventKind::ToolCall { call_id, tool, arguments, .. } => {
                let summary = call_summary(tool, arguments);
                if let Ok(mut pending) = self.pending.lock() {
                    pending.insert(call_id.clone(), summary);
                }
                return None;
            }
            EventKind::ToolResult { call_id, tool, ok, output, duration_ms } => {
                let summary = self
                    .pending
                    .lock()
                    .ok()
                    .and_then(|mut p| p.remove(call_id))
                    .unwrap_or_default();
                let mark = if *ok { s.ok.apply_to("✓") } else { s.bad.apply_to("✗") };
                let detail = if *ok { String::new() } else { format!("  {}", s.dim.apply_to(clip(output.lines().next().unwrap_or(""), 90))) };
                format!(
                    "  {mark} {tool} {}  {}{detail}",
                    clip(&summary, 70),
                    s.dim.apply_to(format!("{duration_ms}ms"))
                )
            }
            EventKind::PolicyDecision { action, resource, decision, rules, .. } if *decision != Decision::Allow => {
                let reasons: Vec<String> = rules
                    .iter()
                    .filter(|r| r.decision == *decision)
                    .map(|r| format!("{}: {}", r.rule, r.reason))
                    .collect();
                format!(
                    "  {} {action} {}: {}",
                    s.bad.apply_to(decision.as_str()),
                    clip(resource, 60),
                    reasons.join("; ")
                )
            }
            EventKind::Redaction { location, rule, count, .. } => format!(
                "  {} {count}× {rule} in {location}",
                s.warn.apply_to("redacted")
            ),
            EventKind::Budget { budget, used, limit, exhausted: true } => format!(
                "  {} {budget:?} budget: {used:.4} of {limit:.4}",
                s.bad.apply_to("exhausted")
            ),
            EventKind::LoopDetected { pattern, action } => match action {
                LoopAction::Steer => format!("  {} {pattern}: steering the model", s.warn.apply_to("loop")),
                LoopAction::Stop => format!("  {} {pattern}: stopping", s.bad.apply_to("loop")),
            },
            EventKind::ApprovalRequested { action, resource, reason, .. } => format!(
                "  {} {action} {}: {reason}",
                s.warn.apply_to("approval needed"),
                clip(resource, 60)
            ),
            EventKind::ApprovalResolved { approved, by, .. } => format!(
                "  {} by {by}",
                if *approved { s.ok.apply_to("approved") } else { s.bad.apply_to("denied") }
            ),
            EventKind::Network(net) if !net.allowed => format!(
                "  {} {}:{} ({})",
                s.bad.apply_to("network denied"),
                net.host,
                net.port,
                net.reason
            ),
            EventKind::TestsRun { command, passed, duration_ms, .. } => format!(
                "tests `{command}`: {}  {}",
                if *passed { s.ok.apply_to("passed") } else { s.bad.apply_to("failed") },
                s.dim.apply_to(format!("{:.1}s", *duration_ms as f64 / 1000.0))
            ),
            EventKind::Committed { sha, files_changed, insertions, deletions, .. } => format!(
                "committed {} ({files_changed} files, +{insertions} -{deletions})",
                &sha[..sha.len().min(12)]
            ),
            EventKind::Pushed { remote, branch, .. } => format!("pushed {branch} to {remote}"),
            EventKind::PullRequestOpened { title, url, .. } => format!(
                "{} {title}{}",
                s.ok.apply_to("pull request"),
                url.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
            ),
            EventKind::Error { class, message } => format!("  {} {message}", s.bad.apply_to(format!("error ({class})"))),
            EventKind::Note { text } => format!("  {}", s.dim.apply_to(format!("note: {text}"))),
            _ => return None,
        })
    }
}

impl Observer for Reporter {
    fn event(&self, kind: &EventKind) {
        if self.mode == Mode::Quiet {
            return;
        }
        if matches!(kind, EventKind::ModelTurn { .. }) {
            self.idle();
        }
        if let Some(line) = self.describe(kind) {
            self.line(line);
        }
    }

    fn progress(&self, progress: Progress<'_>) {
        if self.mode != Mode::Terminal {
            return;
        }
        match progress {
            Progress::Thinking { turn } => {
                if let Ok(mut since) = self.thinking_since.lock() {
                    *since = Some(Instant::now());
                }
                self.spin(format!("turn {turn}: model thinking"));
            }
            Progress::Stream(StreamEvent::ToolUseStarted { name }) => {
                self.spin(format!("model writing a {name} call"));
            }
            Progress::Stream(StreamEvent::Retrying {
                attempt,
                delay,
                reason,
            }) => {
                self.line(format!(
                    "  {} attempt {attempt} failed ({reason}); retrying in {:.1}s",
                    self.styles.warn.apply_to("model"),
                    delay.as_secs_f64()
                ));
            }
            Progress::Stream(StreamEvent::TextDelta(_)) => {}
            Progress::ToolStarted { tool, summary } => {
                self.spin(format!("{tool} {}", clip(summary, 60)));
            }
        }
    }
}

fn call_summary(tool: &str, arguments: &serde_json::Value) -> String {
    let field = |name: &str| {
        arguments
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    match tool {
        "run_command" => field("command").map(|c| format!("`{c}`")),
        "search" => field("pattern").map(|p| format!("/{p}/")),
        "finish" => Some(String::new()),
        _ => field("path"),
    }
    .unwrap_or_default()
}

/// `1234` → `1.2k`.
pub fn tokens(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else if n >= 1000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

/// The first `max` characters of one line of `text`.
pub fn clip(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max && !text.contains('\n') {
        return line.to_string();
    }
    let mut out: String = line.chars().take(max).collect();
    out.push('…');
    out
}
