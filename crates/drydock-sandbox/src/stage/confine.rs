//! Confining a process inside the sandbox: capabilities, no_new_privs, Landlock and seccomp.
//!
//! The supervisor prepares a [`Confinement`] once (the seccomp programs and a Landlock ruleset);
//! each command (and the forwarder) applies a copy to itself before doing anything untrusted.
//! Landlock is best effort: on a kernel without it the rest still applies and the report says so.
//! seccomp is required: a failure to install it fails the command (fail closed).

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use seccompiler::BpfProgram;

use super::seccomp;
use crate::WORKSPACE_MOUNT;

/// The Landlock ABI these rules were written and tested for.
const LANDLOCK_ABI: ABI = ABI::V7;

/// Paths the sandbox may write (besides these, everything in view is read and execute only).
const WRITABLE_DIRS: &[&str] = &[WORKSPACE_MOUNT, "/tmp", "/dev/shm"];

/// Device files commands may open for writing.
const WRITABLE_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// Seccomp programs and a Landlock ruleset, ready to apply.
#[derive(Debug)]
pub(crate) struct Confinement {
    seccomp: Vec<BpfProgram>,
    landlock: Option<RulesetCreated>,
    landlock_error: Option<String>,
}

/// A step of confinement that failed.
#[derive(Debug)]
pub(crate) struct ConfineError {
    /// Which step.
    pub step: &'static str,
    /// The error.
    pub error: std::io::Error,
}

impl Confinement {
    /// Prepares the programs and the ruleset (opening the rule paths).
    pub(crate) fn prepare() -> Result<Self, seccomp::SeccompBuildError> {
        let seccomp = seccomp::build_filters()?;
        let (landlock, landlock_error) = match landlock_ruleset() {
            Ok(ruleset) => (Some(ruleset), None),
            Err(err) => (None, Some(err.to_string())),
        };
        Ok(Self {
            seccomp,
            landlock,
            landlock_error,
        })
    }

    /// How seccomp is enforced, for the isolation report.
    pub(crate) fn seccomp_description(&self) -> String {
        format!(
            "seccomp filter ({} system calls refused, namespace flags and clone3 blocked)",
            seccomp::denied_count()
        )
    }

    /// How Landlock will be enforced on every confined process, for the isolation report.
    ///
    /// The rules use Landlock ABI 7 rights in best-effort mode: a kernel with ABI 7 or later
    /// enforces them fully, an older one partially.
    pub(crate) fn landlock_description(&self) -> String {
        if let Some(err) = &self.landlock_error {
            return format!("landlock unavailable ({err})");
        }
        match crate::sys::landlock_abi() {
            Ok(abi) if abi >= LANDLOCK_ABI as i32 => format!("landlock abi {abi} (fully enforced)"),
            Ok(abi) => format!("landlock abi {abi} (partially enforced: rules target abi {})", LANDLOCK_ABI as i32),
            Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                "landlock unavailable (supported by the kernel but not enabled: add landlock to the lsm= boot parameter)".into()
            }
            Err(_) => "landlock unavailable (not built into this kernel)".into(),
        }
    }

    /// A copy for one process (the ruleset descriptor is duplicated).
    pub(crate) fn copy_for_child(&self) -> std::io::Result<ChildConfinement<'_>> {
        let landlock = match &self.landlock {
            Some(ruleset) => Some(ruleset.try_clone()?),
            None => None,
        };
        Ok(ChildConfinement {
            seccomp: &self.seccomp,
            landlock,
        })
    }
}

/// One process's share of a [`Confinement`].
#[derive(Debug)]
pub(crate) struct ChildConfinement<'a> {
    seccomp: &'a [BpfProgram],
    landlock: Option<RulesetCreated>,
}

impl ChildConfinement<'_> {
    /// Drops capabilities, sets no_new_privs, restricts with Landlock and installs seccomp, in
    /// that order.
    pub(crate) fn apply(self) -> Result<(), ConfineError> {
        let fail = |step| move |error| ConfineError { step, error };
        crate::sys::drop_all_capabilities().map_err(fail("dropping capabilities"))?;
        crate::sys::set_no_new_privs().map_err(fail("setting no_new_privs"))?;
        if let Some(ruleset) = self.landlock {
            let status = ruleset.restrict_self().map_err(|err| ConfineError {
                step: "applying landlock",
                error: std::io::Error::other(err.to_string()),
            })?;
            // Best effort by design, but a ruleset that the kernel accepted and then did not
            // enforce at all means the sandbox is weaker than reported: fail closed.
            if status.ruleset == RulesetStatus::NotEnforced
                && matches!(status.landlock, landlock::LandlockStatus::Available { .. })
            {
                return Err(ConfineError {
                    step: "applying landlock",
                    error: std::io::Error::other("the ruleset was not enforced"),
                });
            }
        }
        seccomp::install(self.seccomp).map_err(fail("installing seccomp"))?;
        Ok(())
    }
}

fn landlock_ruleset() -> Result<RulesetCreated, landlock::RulesetError> {
    let read = AccessFs::from_read(LANDLOCK_ABI);
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let writable_dirs: Vec<&str> = WRITABLE_DIRS
        .iter()
        .copied()
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    let devices: Vec<&str> = WRITABLE_DEVICES
        .iter()
        .copied()
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)?
        .scope(Scope::from_all(LANDLOCK_ABI))?
        .create()?
        .add_rules(path_beneath_rules(["/"], read))?
        .add_rules(path_beneath_rules(writable_dirs, all))?
        .add_rules(path_beneath_rules(devices, all))
}
