//! A user's own workload for the `history` scenario (`keyrace check --workload FILE`): the
//! names and tokens, the operation mix, the value size, the actors and the steps, as a small
//! JSON file, so that a store's authors check their own access pattern without writing Rust.
//! With `"crash": true`, `crash-history` runs the same mix as one writer's, power loss at any
//! point (the full mode).
//!
//! ```json
//! {
//!   "actors": 3,
//!   "steps": 4,
//!   "names": ["api-token", "db-password"],
//!   "tokens": ["first-boot"],
//!   "mix": { "put": 40, "get": 40, "delete": 10, "consume": 10 },
//!   "value_bytes": 256,
//!   "crash": true
//! }
//! ```

use std::path::Path;

use serde::Deserialize;

/// The most racing actors, in a workload or on the command line (`--actors`).
pub const MAX_ACTORS: usize = 64;

/// The longest value a workload may ask for: a request line stays well under a megabyte.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most steps: every step is one call of every actor.
pub const MAX_STEPS: usize = 1000;
/// The most steps of a crash workload: one writer's calls, each multiplying the crash states.
pub const MAX_CRASH_STEPS: usize = 8;
/// The most names and tokens (each is a partition of the check).
pub const MAX_NAMES: usize = 64;
/// The longest name or token, in bytes: stores limit names (the reference to 100 bytes), and a
/// name the store refuses would read as the store's failure, not the workload's.
pub const MAX_NAME_BYTES: usize = 64;
/// The largest weight of an operation in the mix (their sum must not overflow).
pub const MAX_WEIGHT: u32 = 1_000_000;

/// Relative weights of the operations (any non-negative integers; they need not add to 100).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    #[serde(default)]
    pub put: u32,
    #[serde(default)]
    pub get: u32,
    #[serde(default)]
    pub delete: u32,
    #[serde(default)]
    pub consume: u32,
}

/// A validated workload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// The file it came from (for the re-run command).
    #[serde(skip)]
    pub path: std::path::PathBuf,
    /// Racing actors (`--actors` overrides it).
    pub actors: Option<usize>,
    /// Steps of every actor at once.
    pub steps: usize,
    pub names: Vec<String>,
    #[serde(default)]
    pub tokens: Vec<String>,
    pub mix: Mix,
    /// The length of every put's value, in bytes (ASCII).
    pub value_bytes: Option<usize>,
    /// Also run the mix under power loss (`crash-history`: one writer, `steps` calls).
    #[serde(default)]
    pub crash: bool,
}

/// Why a workload file cannot be used; the message names the field and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read the workload file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the workload file {path} is not a workload: {message} (docs/protocol.md, \"Workloads of your own\", shows the format)")]
    Parse { path: String, message: String },
    #[error("the workload file {path}: {message}")]
    Invalid { path: String, message: String },
}

impl Workload {
    /// Reads and validates the workload at `path`.
    pub fn load(path: &Path) -> Result<Workload, WorkloadError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut workload: Workload =
            serde_json::from_str(&text).map_err(|e| WorkloadError::Parse {
                path: shown.clone(),
                message: e.to_string(),
            })?;
        workload
            .validate()
            .map_err(|message| WorkloadError::Invalid {
                path: shown,
                message,
            })?;
        workload.path = path.to_owned();
        Ok(workload)
    }

    /// Whether the fields are in range (as [`Workload::load`] checks them): the message names
    /// the field and what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(actors) = self.actors {
            if !(1..=MAX_ACTORS).contains(&actors) {
                return Err(format!("\"actors\" must be between 1 and {MAX_ACTORS}"));
            }
        }
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(format!("\"steps\" must be between 1 and {MAX_STEPS}"));
        }
        if self.crash && self.steps > MAX_CRASH_STEPS {
            return Err(format!(
                "\"steps\" must be at most {MAX_CRASH_STEPS} with \"crash\": true (each of the \
                 writer's calls multiplies the crash states)"
            ));
        }
        if self.names.is_empty() || self.names.len() > MAX_NAMES {
            return Err(format!("\"names\" must list 1 to {MAX_NAMES} names"));
        }
        if self.tokens.len() > MAX_NAMES {
            return Err(format!("\"tokens\" may list at most {MAX_NAMES} tokens"));
        }
        for (field, list) in [("names", &self.names), ("tokens", &self.tokens)] {
            for (i, name) in list.iter().enumerate() {
                if name.is_empty()
                    || name.len() > MAX_NAME_BYTES
                    || name.chars().any(char::is_control)
                {
                    return Err(format!(
                        "\"{field}\"[{i}] must be 1 to {MAX_NAME_BYTES} bytes without control \
                         characters"
                    ));
                }
                if list[..i].contains(name) {
                    return Err(format!("\"{field}\" lists {name:?} twice"));
                }
            }
        }
        let mix = &self.mix;
        if [mix.put, mix.get, mix.delete, mix.consume]
            .iter()
            .any(|&w| w > MAX_WEIGHT)
        {
            return Err(format!("\"mix\" weights must be at most {MAX_WEIGHT}"));
        }
        if mix.put == 0 && mix.delete == 0 && mix.consume == 0 {
            return Err(
                "\"mix\" has no write (put, delete or consume): a history of reads alone checks nothing"
                    .to_owned(),
            );
        }
        if mix.consume > 0 && self.tokens.is_empty() {
            return Err("\"mix\" has consumes but \"tokens\" is empty".to_owned());
        }
        if let Some(bytes) = self.value_bytes {
            if !(16..=MAX_VALUE_BYTES).contains(&bytes) {
                return Err(format!(
                    "\"value_bytes\" must be between 16 (values are unique) and {MAX_VALUE_BYTES}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Workload, WorkloadError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.json");
        std::fs::write(&path, text).expect("write");
        Workload::load(&path)
    }

    #[test]
    fn the_module_docs_example_loads() {
        let example = include_str!("workload.rs")
            .split("//! ```json\n")
            .nth(1)
            .and_then(|rest| rest.split("//! ```").next())
            .expect("an example in the docs")
            .lines()
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let workload = load(&example).expect("the example is valid");
        assert_eq!(workload.actors, Some(3));
        assert_eq!(workload.mix.consume, 10);
        assert!(workload.crash);
    }

    #[test]
    fn bad_workloads_say_which_field_and_what_is_allowed() {
        let cases = [
            ("{", "is not a workload"),
            (
                r#"{"steps":1,"names":["a"],"mix":{"put":1},"crashes":true}"#,
                "unknown field `crashes`",
            ),
            (
                r#"{"steps":9,"names":["a"],"mix":{"put":1},"crash":true}"#,
                "\"steps\" must be at most 8 with \"crash\": true",
            ),
            (
                r#"{"steps":0,"names":["a"],"mix":{"put":1}}"#,
                "\"steps\" must be between 1",
            ),
            (
                r#"{"steps":1,"names":[],"mix":{"put":1}}"#,
                "\"names\" must list 1 to",
            ),
            (
                r#"{"steps":1,"names":["a","a"],"mix":{"put":1}}"#,
                "lists \"a\" twice",
            ),
            (
                r#"{"steps":1,"names":["a"],"mix":{"get":1}}"#,
                "has no write",
            ),
            (
                r#"{"steps":1,"names":["a"],"mix":{"consume":1}}"#,
                "\"tokens\" is empty",
            ),
            (
                r#"{"steps":1,"names":["a"],"mix":{"put":1},"value_bytes":3}"#,
                "\"value_bytes\" must be",
            ),
            (
                r#"{"actors":0,"steps":1,"names":["a"],"mix":{"put":1}}"#,
                "\"actors\" must be",
            ),
        ];
        for (text, wanted) in cases {
            let message = load(text).expect_err(text).to_string();
            assert!(message.contains(wanted), "{text}: {message}");
        }
        let missing = Workload::load(Path::new("/nonexistent/w.json")).expect_err("missing");
        assert!(missing
            .to_string()
            .contains("cannot read the workload file"));
    }
}
