//! The platform's real engines behind the harness's seams.

use drydock_core::{ActionRequest, Verdict};
use drydock_policy::PolicyEngine;
use drydock_secrets::{Redactor, counts};

use crate::seams::{Scrubbed, Scrubber, ToolGate};

impl ToolGate for PolicyEngine {
    fn decide(&self, request: &ActionRequest) -> Verdict {
        PolicyEngine::decide(self, request)
    }
}

impl Scrubber for Redactor {
    fn scrub(&self, text: &str) -> Scrubbed {
        let redacted = self.redact(text);
        let rules = counts(&redacted.findings)
            .into_iter()
            .map(|(rule, count)| (rule.to_string(), count))
            .collect();
        Scrubbed {
            text: redacted.text,
            rules,
        }
    }
}
