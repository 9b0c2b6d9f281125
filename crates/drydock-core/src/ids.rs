use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// A task's identity: a ULID, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(Ulid);

impl TaskId {
    /// A new id for a task created now.
    pub fn new() -> Self {
        Self(Ulid::generate())
    }

    /// The eight-character lowercase suffix used in branch names and short listings.
    ///
    /// The suffix comes from the random part of the ULID, so two tasks created in the same
    /// millisecond still get different short ids.
    pub fn short(&self) -> String {
        let full = self.0.to_string();
        full[full.len() - 8..].to_ascii_lowercase()
    }

    /// Milliseconds since the Unix epoch at which the id was minted.
    pub fn timestamp_ms(&self) -> u64 {
        self.0.timestamp_ms()
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

/// A string that is not a task id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a task id (expected a 26-character ULID such as 01JD3V6S8RZ6X0Q4N2M9K7B5TA)"
)]
pub struct ParseTaskIdError {
    /// The rejected text.
    pub input: String,
}

impl FromStr for TaskId {
    type Err = ParseTaskIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(s.trim())
            .map(Self)
            .map_err(|_| ParseTaskIdError {
                input: s.to_string(),
            })
    }
}

impl schemars::JsonSchema for TaskId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TaskId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text_and_json() {
        let id = TaskId::new();
        let parsed: TaskId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<TaskId>(&json).unwrap(), id);
    }

    #[test]
    fn lowercase_input_is_accepted() {
        let id = TaskId::new();
        let lower = id.to_string().to_ascii_lowercase();
        assert_eq!(lower.parse::<TaskId>().unwrap(), id);
    }

    #[test]
    fn short_id_is_the_lowercase_random_suffix() {
        let id = TaskId::new();
        let short = id.short();
        assert_eq!(short.len(), 8);
        assert!(id.to_string().to_ascii_lowercase().ends_with(&short));
    }

    #[test]
    fn garbage_is_rejected_with_the_input_named() {
        let err = "not-an-id".parse::<TaskId>().unwrap_err();
        assert!(err.to_string().contains("not-an-id"));
    }
}
