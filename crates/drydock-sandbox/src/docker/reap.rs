//! Container labels naming their owner, and the reaper for containers a dead drydock left.
//!
//! Every container carries its owner: the drydock process (pid and start time, so a reused pid is
//! never mistaken for it), the boot (so a reboot makes every earlier owner dead) and the pid
//! namespace (pids mean nothing across namespaces: another drydock in another container may share
//! the daemon). A container's init exits when its owner's status socket closes, so a crashed
//! owner leaves stopped containers; the reaper removes those at backend start, and any container
//! whose owner is provably gone.

use std::collections::HashMap;

use crate::sys::{process_start_time, same_process_alive};

/// Marks a container as a drydock session (value: the session name).
pub(crate) const LABEL_SESSION: &str = "drydock.session";
/// The task label the session was started for.
pub(crate) const LABEL_TASK: &str = "drydock.label";
/// The owner's pid.
pub(crate) const LABEL_OWNER_PID: &str = "drydock.owner-pid";
/// The owner's start time (clock ticks after boot).
pub(crate) const LABEL_OWNER_START: &str = "drydock.owner-start";
/// The boot the owner ran in.
pub(crate) const LABEL_OWNER_BOOT: &str = "drydock.owner-boot";
/// The owner's pid namespace.
pub(crate) const LABEL_OWNER_PIDNS: &str = "drydock.owner-pidns";

/// How long a stopped container with a live owner is left alone (its owner may be starting it).
pub(crate) const STOPPED_GRACE_SECS: i64 = 60;

/// The process that owns a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    /// Its pid.
    pub pid: i32,
    /// Its start time.
    pub start: u64,
    /// The boot id.
    pub boot: String,
    /// Its pid namespace (`pid:[inode]`).
    pub pidns: String,
}

impl Owner {
    /// This process.
    pub(crate) fn current() -> Self {
        let pid = std::process::id() as i32;
        Self {
            pid,
            start: process_start_time(pid).unwrap_or(0),
            boot: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            pidns: std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// The labels that record it.
    pub(crate) fn labels(&self) -> Vec<(String, String)> {
        vec![
            (LABEL_OWNER_PID.into(), self.pid.to_string()),
            (LABEL_OWNER_START.into(), self.start.to_string()),
            (LABEL_OWNER_BOOT.into(), self.boot.clone()),
            (LABEL_OWNER_PIDNS.into(), self.pidns.clone()),
        ]
    }

    /// Reads it back from a container's labels.
    pub(crate) fn from_labels(labels: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            pid: labels.get(LABEL_OWNER_PID)?.parse().ok()?,
            start: labels.get(LABEL_OWNER_START)?.parse().ok()?,
            boot: labels.get(LABEL_OWNER_BOOT)?.clone(),
            pidns: labels.get(LABEL_OWNER_PIDNS)?.clone(),
        })
    }
}

/// What to do with a labelled container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Leave it.
    Keep,
    /// Remove it, for this reason.
    Reap(String),
}

/// A container as the reaper sees it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'a> {
    /// Its labels.
    pub labels: &'a HashMap<String, String>,
    /// Whether it is running.
    pub running: bool,
    /// Seconds since it was created.
    pub age_secs: i64,
}

/// Decides whether a container left by some drydock should go.
pub(crate) fn judge(
    candidate: &Candidate<'_>,
    me: &Owner,
    alive: impl Fn(i32, u64) -> bool,
) -> Verdict {
    let stopped_long_enough = !candidate.running && candidate.age_secs > STOPPED_GRACE_SECS;
    let Some(owner) = Owner::from_labels(candidate.labels) else {
        return if stopped_long_enough {
            Verdict::Reap("stopped, with unreadable owner labels".into())
        } else {
            Verdict::Keep
        };
    };
    if !owner.boot.is_empty() && !me.boot.is_empty() && owner.boot != me.boot {
        return Verdict::Reap(format!(
            "its owner ran before the last reboot (boot {})",
            owner.boot
        ));
    }
    if owner.pidns == me.pidns && !alive(owner.pid, owner.start) {
        return Verdict::Reap(format!("its owner (pid {}) is gone", owner.pid));
    }
    if stopped_long_enough {
        return Verdict::Reap("stopped (its init exits when its owner goes away)".into());
    }
    Verdict::Keep
}

/// [`judge`] against the live process table.
pub(crate) fn judge_live(candidate: &Candidate<'_>, me: &Owner) -> Verdict {
    judge(candidate, me, same_process_alive)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn me() -> Owner {
        Owner {
            pid: 100,
            start: 5,
            boot: "boot-a".into(),
            pidns: "pid:[1]".into(),
        }
    }

    fn labels(owner: &Owner) -> HashMap<String, String> {
        owner.labels().into_iter().collect()
    }

    #[test]
    fn owners_round_trip_through_labels() {
        let current = Owner::current();
        assert_eq!(current.pid, std::process::id() as i32);
        assert!(!current.boot.is_empty() && current.pidns.starts_with("pid:["));
        assert_eq!(Owner::from_labels(&labels(&current)), Some(current));
        assert_eq!(Owner::from_labels(&HashMap::new()), None);
    }

    #[test]
    fn the_reaper_removes_what_a_dead_owner_left_and_nothing_else() {
        let me = me();
        let alive_pids = |pid: i32, start: u64| pid == 100 && start == 5 || pid == 7 && start == 1;
        let verdict = |owner: &Owner, running: bool, age_secs: i64| {
            let labels = labels(owner);
            judge(
                &Candidate {
                    labels: &labels,
                    running,
                    age_secs,
                },
                &me,
                alive_pids,
            )
        };
        // Ours, running: kept.
        assert_eq!(verdict(&me, true, 5), Verdict::Keep);
        // A live sibling drydock in the same namespace: kept.
        let sibling = Owner {
            pid: 7,
            start: 1,
            ..me.clone()
        };
        assert_eq!(verdict(&sibling, true, 500), Verdict::Keep);
        // A dead owner, even with a running container: reaped.
        let dead = Owner {
            pid: 8,
            start: 1,
            ..me.clone()
        };
        assert!(matches!(verdict(&dead, true, 1), Verdict::Reap(r) if r.contains("pid 8")));
        // A pid reused by another process (different start time): its owner is dead.
        let reused = Owner {
            pid: 7,
            start: 2,
            ..me.clone()
        };
        assert!(matches!(verdict(&reused, true, 1), Verdict::Reap(_)));
        // Another pid namespace: pids cannot be judged; only a stopped, old container goes.
        let foreign = Owner {
            pid: 8,
            pidns: "pid:[2]".into(),
            ..me.clone()
        };
        assert_eq!(verdict(&foreign, true, 5000), Verdict::Keep);
        assert_eq!(verdict(&foreign, false, 5), Verdict::Keep);
        assert!(matches!(verdict(&foreign, false, 500), Verdict::Reap(r) if r.contains("stopped")));
        // An earlier boot: reaped whatever the pid says.
        let rebooted = Owner {
            boot: "boot-b".into(),
            ..me.clone()
        };
        assert!(matches!(verdict(&rebooted, true, 1), Verdict::Reap(r) if r.contains("reboot")));
        // Garbage labels: only stopped, old containers go.
        let mut garbage = labels(&me);
        garbage.insert(LABEL_OWNER_PID.into(), "not-a-pid".into());
        let candidate = |running, age_secs| Candidate {
            labels: &garbage,
            running,
            age_secs,
        };
        assert_eq!(judge(&candidate(true, 999), &me, alive_pids), Verdict::Keep);
        assert!(matches!(
            judge(&candidate(false, 999), &me, alive_pids),
            Verdict::Reap(_)
        ));
    }
}
