//! `drydock sandbox check`: the machine probes and the live smoke test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use drydock_sandbox::{CheckStatus, check_isolation};

#[tokio::test]
async fn this_machine_is_ready_for_local_sandboxes() {
    let report = check_isolation();
    print!("{report}");
    for name in [
        "bubblewrap",
        "user namespaces",
        "seccomp",
        "landlock",
        "cgroups",
        "docker",
        "gvisor",
    ] {
        assert!(report.get(name).is_some(), "{name} is not checked");
    }
    assert_eq!(report.get("bubblewrap").unwrap().status, CheckStatus::Ok);
    assert_eq!(
        report.get("user namespaces").unwrap().status,
        CheckStatus::Ok
    );
    assert_eq!(report.get("seccomp").unwrap().status, CheckStatus::Ok);
    // Every problem comes with something to do about it.
    for check in &report.checks {
        assert_eq!(
            check.status == CheckStatus::Ok,
            check.remedy.is_none(),
            "{check:?}"
        );
    }
    assert!(report.local_ready());

    let (backend, _rt) = backend();
    let live = backend.check().await;
    let smoke = live.get("local sandbox").unwrap();
    assert_eq!(smoke.status, CheckStatus::Ok, "{smoke:?}");
    assert!(smoke.detail.contains("seccomp"), "{}", smoke.detail);
}

#[tokio::test]
async fn a_stage_executable_that_does_not_run_the_stage_is_a_clear_setup_error() {
    // `true` exits at once without ever speaking the protocol.
    let (backend, _rt) = backend_with(|options| options.stage_exe = "/usr/bin/true".into());
    let ws = workspace();
    let err = backend.start_local(spec(ws.path())).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("run_stage_if_requested"), "{text}");
}

#[test]
fn a_missing_bubblewrap_is_reported_with_a_remedy() {
    let mut options = drydock_sandbox::LocalOptions::new(STAGE);
    options.bwrap = Some("/nonexistent/bwrap".into());
    let runtime = tempfile::tempdir().unwrap();
    options.runtime_dir = Some(runtime.path().join("rt"));
    let err = drydock_sandbox::LocalBackend::new(options).unwrap_err();
    assert!(
        matches!(err, drydock_sandbox::SandboxError::Unavailable { .. }),
        "{err}"
    );
}
