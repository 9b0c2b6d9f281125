//! A tool call split into the Cedar requests (facets) that decide it.

use drydock_core::{Action, ActionRequest};

use crate::cedar::{Attr, Facet};
use crate::paths::{PathInfo, ProtectedPaths, resolve_tool_path};
use crate::shell::{
    self, AnalysisError, CommandAnalysis, FileAccess, FileOperation, PushIntent, SimpleCommand,
};

/// Most facets one call may produce; a command touching more is refused.
const MAX_FACETS: usize = 1_024;

/// A call refused before any rule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub rule: &'static str,
    pub reason: String,
}

/// The facets of a request (or why it is refused), and the command analysis for `run_command`.
pub(crate) type FacetsAndAnalysis = (
    Result<Vec<Facet>, Refusal>,
    Option<Result<CommandAnalysis, AnalysisError>>,
);

/// The facets of `request`, and the command analysis for `run_command`.
pub(crate) fn facets_for(
    request: &ActionRequest,
    protected: &ProtectedPaths,
    knows_action: impl Fn(&str) -> bool,
) -> FacetsAndAnalysis {
    match &request.action {
        Action::ReadFile | Action::WriteFile => {
            let operation = if request.action == Action::ReadFile {
                FileOperation::Read
            } else {
                FileOperation::Write
            };
            if request.resource.contains('\0') {
                return (Err(invalid("the path holds a NUL byte")), None);
            }
            let path = resolve_tool_path(&request.resource);
            let facet = path_facet(
                request.action.name(),
                &path,
                protected,
                "tool",
                operation,
                false,
                "",
            );
            (Ok(vec![facet]), None)
        }
        Action::RunCommand => {
            let analysis = shell::analyze(&request.resource);
            let facets = match &analysis {
                Ok(analysis) => command_facets(&request.resource, analysis, protected),
                Err(AnalysisError::Parse { message }) => Err(Refusal {
                    rule: "parse_error",
                    reason: format!(
                        "{message}; commands that cannot be parsed are not run (rewrite it in plain shell syntax)"
                    ),
                }),
                Err(AnalysisError::Limit { message }) => Err(Refusal {
                    rule: "analysis_limit",
                    reason: format!("{message}; split it into simpler commands"),
                }),
            };
            (facets, Some(analysis))
        }
        Action::NetConnect => (net_facet(&request.resource).map(|f| vec![f]), None),
        Action::GitPush => {
            let base = PushIntent {
                remote: String::new(),
                remote_is_url: false,
                source: String::new(),
                destination: None,
                force: false,
                delete: false,
                all_refs: false,
            };
            let intent = shell::refspec_intent(&request.resource, &base);
            (
                Ok(vec![push_facet("git_push", &intent, "orchestrator")]),
                None,
            )
        }
        Action::OpenPr => {
            let intent = PushIntent {
                remote: String::new(),
                remote_is_url: false,
                source: request.resource.clone(),
                destination: Some(request.resource.clone()),
                force: false,
                delete: false,
                all_refs: false,
            };
            (
                Ok(vec![push_facet("open_pr", &intent, "orchestrator")]),
                None,
            )
        }
        Action::Tool(name) => {
            if !knows_action(name) || crate::cedar::BUILTIN_ACTIONS.contains(&name.as_str()) {
                return (
                    Err(Refusal {
                        rule: "unknown_action",
                        reason: format!(
                            "the tool `{name}` is not declared in [policy] tools; undeclared tools are denied"
                        ),
                    }),
                    None,
                );
            }
            let facet = Facet {
                action: name.clone(),
                resource_type: "ToolInput",
                resource_id: request.resource.clone(),
                resource_attrs: vec![("text", Attr::Str(request.resource.clone()))],
                context: Vec::new(),
                describe: format!("{name} `{}`", shorten(&request.resource)),
            };
            (Ok(vec![facet]), None)
        }
    }
}

fn invalid(reason: &str) -> Refusal {
    Refusal {
        rule: "invalid_resource",
        reason: reason.to_string(),
    }
}

fn command_facets(
    text: &str,
    analysis: &CommandAnalysis,
    protected: &ProtectedPaths,
) -> Result<Vec<Facet>, Refusal> {
    let mut facets = Vec::new();
    let programs: Vec<String> = analysis
        .commands
        .iter()
        .filter(|c| !c.dynamic_program)
        .map(|c| c.program.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let max_depth = analysis.commands.iter().map(|c| c.depth).max().unwrap_or(0);
    facets.push(Facet {
        action: "run_command".to_string(),
        resource_type: "CommandLine",
        resource_id: text.to_string(),
        resource_attrs: vec![("text", Attr::Str(text.to_string()))],
        context: vec![
            ("programs", Attr::Set(programs)),
            (
                "simple_commands",
                Attr::Long(analysis.commands.len() as i64),
            ),
            ("max_depth", Attr::Long(i64::from(max_depth))),
        ],
        describe: format!("`{}`", shorten(text)),
    });
    let mut seen = foldhash::HashSet::default();
    for command in &analysis.commands {
        let facet = exec_facet(command);
        if seen.insert(facet.clone()) {
            facets.push(facet);
        }
        if facets.len() > MAX_FACETS {
            break;
        }
    }
    for access in &analysis.file_accesses {
        facets.push(access_facet(access, protected));
    }
    for push in &analysis.pushes {
        facets.push(push_facet("git_push", push, "command"));
    }
    if facets.len() > MAX_FACETS {
        return Err(Refusal {
            rule: "analysis_limit",
            reason: format!(
                "the command touches more than {MAX_FACETS} programs, files and refs; split it into simpler commands"
            ),
        });
    }
    Ok(facets)
}

fn set(items: impl IntoIterator<Item = impl Into<String>>) -> Attr {
    Attr::Set(items.into_iter().map(Into::into).collect())
}

fn exec_facet(command: &SimpleCommand) -> Facet {
    let name = if command.dynamic_program {
        "<dynamic>".to_string()
    } else {
        command.program.clone()
    };
    let shown = std::iter::once(command.path.clone())
        .chain(command.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    Facet {
        action: "exec".to_string(),
        resource_type: "Program",
        resource_id: name.clone(),
        resource_attrs: vec![("name", Attr::Str(name))],
        context: vec![
            ("program", Attr::Str(command.program.clone())),
            ("family", Attr::Str(command.family.clone())),
            ("path", Attr::Str(command.path.clone())),
            ("dynamic_program", Attr::Bool(command.dynamic_program)),
            ("subcommand", Attr::Str(command.subcommand.clone())),
            ("positionals", set(command.positionals.iter().cloned())),
            ("flags", set(command.flags.iter().cloned())),
            ("args", set(command.args.iter().cloned())),
            ("dynamic_args", Attr::Bool(command.dynamic_args)),
            ("wraps", Attr::Bool(command.wraps)),
            ("wrappers", set(command.wrappers.iter().cloned())),
            ("depth", Attr::Long(i64::from(command.depth))),
            (
                "stdin_programs",
                set(command.stdin_programs.iter().cloned()),
            ),
            (
                "substitution_programs",
                set(command.substitution_programs.iter().cloned()),
            ),
            ("hosts", set(command.hosts.iter().cloned())),
            ("opaque_code", Attr::Bool(command.opaque_code)),
            ("runs_downloaded", Attr::Bool(command.runs_downloaded)),
            ("uploads_file", Attr::Bool(command.uploads_file)),
            ("refs_updated", set(command.refs_updated.iter().cloned())),
        ],
        describe: format!("runs `{}`", shorten(&shown)),
    }
}

fn access_facet(access: &FileAccess, protected: &ProtectedPaths) -> Facet {
    let action = if access.operation == FileOperation::Read {
        "read_file"
    } else {
        "write_file"
    };
    path_facet(
        action,
        &access.path,
        protected,
        "command",
        access.operation,
        access.recursive,
        &access.program,
    )
}

/// A `read_file`/`write_file` facet.
pub(crate) fn path_facet(
    action: &str,
    path: &PathInfo,
    protected: &ProtectedPaths,
    via: &str,
    operation: FileOperation,
    recursive: bool,
    program: &str,
) -> Facet {
    use crate::paths::Location;
    let removes_tree =
        operation == FileOperation::Delete || (recursive && operation == FileOperation::Metadata);
    // Deleting a directory deletes the protected files in it; writing into one (`cp x
    // .github/workflows/`) may create one. The workspace root only counts for deletions.
    let into_directory = operation == FileOperation::Write && path.display != ".";
    let is_protected = matches!(path.location, Location::Workspace | Location::Git)
        && (protected.is_protected(&path.display, path.glob)
            || ((removes_tree || into_directory)
                && protected.holds_protected(&path.display, path.glob)));
    let verb = match operation {
        FileOperation::Read => "reads",
        FileOperation::Write => "writes",
        FileOperation::Delete => "deletes",
        FileOperation::Metadata => "changes the mode or owner of",
    };
    let by = if program.is_empty() {
        String::new()
    } else {
        format!(" ({program})")
    };
    Facet {
        action: action.to_string(),
        resource_type: "Path",
        resource_id: path.display.clone(),
        resource_attrs: vec![
            ("path", Attr::Str(path.display.clone())),
            ("location", Attr::Str(path.location.as_str().to_string())),
            ("contains_git", Attr::Bool(path.contains_git)),
            ("credential", Attr::Bool(path.credential)),
            ("protected", Attr::Bool(is_protected)),
            ("glob", Attr::Bool(path.glob)),
        ],
        context: vec![
            ("via", Attr::Str(via.to_string())),
            ("operation", Attr::Str(operation.as_str().to_string())),
            ("recursive", Attr::Bool(recursive)),
            ("program", Attr::Str(program.to_string())),
        ],
        describe: format!("{verb} `{}`{by}", path.display),
    }
}

/// A `git_push`/`open_pr` facet.
pub(crate) fn push_facet(action: &str, push: &PushIntent, via: &str) -> Facet {
    let name = push.destination.clone().unwrap_or_default();
    let shown = if name.is_empty() {
        "a branch that is not known before the push runs".to_string()
    } else {
        format!("`{name}`")
    };
    Facet {
        action: action.to_string(),
        resource_type: "Branch",
        resource_id: name.clone(),
        resource_attrs: vec![("name", Attr::Str(name))],
        context: vec![
            ("via", Attr::Str(via.to_string())),
            ("remote", Attr::Str(push.remote.clone())),
            ("remote_is_url", Attr::Bool(push.remote_is_url)),
            ("source", Attr::Str(push.source.clone())),
            ("destination_known", Attr::Bool(push.destination.is_some())),
            ("force", Attr::Bool(push.force)),
            ("delete", Attr::Bool(push.delete)),
            ("all_refs", Attr::Bool(push.all_refs)),
        ],
        describe: if action == "open_pr" {
            format!("opens a pull request from {shown}")
        } else {
            format!("pushes to {shown}")
        },
    }
}

/// A `net_connect` facet from `host:port`.
fn net_facet(resource: &str) -> Result<Facet, Refusal> {
    let (host, port) = resource
        .rsplit_once(':')
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| invalid("a network destination is `host:port`"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid("the port of a network destination is a number from 0 to 65535"))?;
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(invalid("the host holds characters no host name has"));
    }
    let name = shell::normalise_host(host);
    Ok(Facet {
        action: "net_connect".to_string(),
        resource_type: "Host",
        resource_id: format!("{name}:{port}"),
        resource_attrs: vec![
            ("name", Attr::Str(name.clone())),
            ("port", Attr::Long(i64::from(port))),
        ],
        context: vec![("via", Attr::Str("proxy".to_string()))],
        describe: format!("connects to {name}:{port}"),
    })
}

fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX - 1).collect();
    out.push('…');
    out
}
