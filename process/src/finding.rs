//! What a round found: a broken [`Invariant`] with its evidence ([`Finding`]), and the
//! findings the actors notice on their own while talking to adapters ([`Findings`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// An invariant a round can break, by its sentence: reports group findings by it and print it
/// as the heading of their traces. Most are constants; a few name the case they were checked
/// in ("a secret survives a restart (after a put)").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Invariant(Cow<'static, str>);

impl Invariant {
    /// An invariant stated once, as a constant.
    pub const fn new(sentence: &'static str) -> Invariant {
        Invariant(Cow::Borrowed(sentence))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for Invariant {
    fn from(sentence: &'static str) -> Invariant {
        Invariant::new(sentence)
    }
}

impl From<String> for Invariant {
    fn from(sentence: String) -> Invariant {
        Invariant(Cow::Owned(sentence))
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Invariant {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Invariant {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A broken invariant in one round, and the evidence that shows it, one line each (replies,
/// file states, the schedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub invariant: Invariant,
    pub evidence: Vec<String>,
}

impl Finding {
    pub fn new(invariant: impl Into<Invariant>, evidence: Vec<String>) -> Finding {
        Finding {
            invariant: invariant.into(),
            evidence,
        }
    }
}

/// The invariant an error reply with an unknown code breaks.
pub const CODED_ERRORS: Invariant =
    Invariant::new("every error reply carries a stable code from the taxonomy (docs/protocol.md)");

/// Broken invariants noticed while talking to adapters (a reply with a code outside the
/// taxonomy), shared by the actors of a scenario and collected into each round.
#[derive(Debug, Clone, Default)]
pub struct Findings(Arc<Mutex<Vec<Finding>>>);

impl Findings {
    pub(crate) fn push(&self, invariant: Invariant, trace: String) {
        let mut findings = self.0.lock().unwrap_or_else(|p| p.into_inner());
        findings.push(Finding::new(invariant, vec![trace]));
    }

    /// Everything noticed since the last call.
    pub fn take(&self) -> Vec<Finding> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invariant_serializes_as_its_sentence_and_compares_with_one() {
        let stated = Invariant::new("exactly one key wins");
        let checked = Invariant::from(format!("exactly one key wins{}", ""));
        assert_eq!(stated, checked);
        assert_eq!(stated, "exactly one key wins");
        assert_ne!(stated, "exactly two keys win");
        assert_eq!(
            serde_json::to_string(&stated).ok().as_deref(),
            Some("\"exactly one key wins\"")
        );
        assert_eq!(checked.to_string(), "exactly one key wins");
    }
}
