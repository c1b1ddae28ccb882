//! A recorded history: each operation's call, its invocation and completion times, its outcome.

use serde::{Deserialize, Serialize};

/// Nanoseconds since the recording started, on one monotonic clock.
pub type Time = u64;

/// What an actor asked the store to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    Put { name: String, value: String },
    Get { name: String },
    Delete { name: String },
    Consume { token: String },
}

impl Call {
    /// The partition the operation belongs to: operations on different names (or tokens)
    /// never constrain each other, so each partition is checked alone.
    pub fn partition(&self) -> Partition<'_> {
        match self {
            Call::Put { name, .. } | Call::Get { name } | Call::Delete { name } => {
                Partition::Name(name)
            }
            Call::Consume { token } => Partition::Token(token),
        }
    }

    /// Whether the call can change the store (a read cannot).
    pub fn writes(&self) -> bool {
        !matches!(self, Call::Get { .. })
    }
}

/// A name of the map, or a token of the one-time set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Partition<'a> {
    Name(&'a str),
    Token(&'a str),
}

impl std::fmt::Display for Partition<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Partition::Name(name) => write!(f, "name {name:?}"),
            Partition::Token(token) => write!(f, "token {token:?}"),
        }
    }
}

/// What an acknowledged call answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ret {
    /// A put or a delete succeeded.
    Done,
    /// A get's value, `None` for no such secret.
    Value(Option<String>),
    /// Whether a consume won the grace.
    Won(bool),
}

/// How an operation ended, in Jepsen's terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It took effect, at one instant between its invocation and its completion, and answered this.
    Ok(Ret),
    /// It certainly did not take effect (a read that failed is no constraint).
    Fail,
    /// It may or may not have taken effect, at any instant after its invocation: the actor was
    /// killed or timed out, or a write answered an error.
    Info,
}

/// One operation of one actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub actor: usize,
    pub call: Call,
    pub outcome: Outcome,
    pub invoked: Time,
    /// When the answer arrived; for an info operation, when it was given up on (the checker
    /// lets it take effect later than that, or never).
    pub completed: Time,
}

impl Operation {
    /// The operation as one short phrase: `put "a" = "v1" → ok`, `get "a" → "v1"`,
    /// `consume "t" → ? (maybe applied)`. Names are quoted and values [`shorten`]ed, as in every
    /// report line: an adapter's answer never prints raw, nor a long secret whole.
    pub fn describe(&self) -> String {
        let call = match &self.call {
            Call::Put { name, value } => format!("put {name:?} = {}", shorten(value)),
            Call::Get { name } => format!("get {name:?}"),
            Call::Delete { name } => format!("delete {name:?}"),
            Call::Consume { token } => format!("consume {token:?}"),
        };
        let answer = match &self.outcome {
            Outcome::Ok(Ret::Done) => "ok".to_owned(),
            Outcome::Ok(Ret::Value(Some(value))) => shorten(value),
            Outcome::Ok(Ret::Value(None)) => "absent".to_owned(),
            Outcome::Ok(Ret::Won(won)) => format!("won: {won}"),
            Outcome::Fail => "failed".to_owned(),
            Outcome::Info => "? (maybe applied)".to_owned(),
        };
        format!("{call} → {answer}")
    }
}

/// A value as reports show it: short ones whole and quoted, long ones by length and a digest
/// prefix (a report never prints a whole secret).
pub fn shorten(value: &str) -> String {
    if value.len() <= 48 {
        format!("{value:?}")
    } else {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(value.as_bytes());
        format!(
            "<{} bytes, sha256 {}…>",
            value.len(),
            hex::encode(&digest[..6])
        )
    }
}

/// A recorded history, in any order (the checker sorts what it needs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub operations: Vec<Operation>,
}

impl History {
    /// The actors that appear, ascending.
    pub fn actors(&self) -> Vec<usize> {
        let mut actors: Vec<usize> = self.operations.iter().map(|op| op.actor).collect();
        actors.sort_unstable();
        actors.dedup();
        actors
    }

    /// The partitions that appear, sorted.
    pub fn partitions(&self) -> Vec<Partition<'_>> {
        let mut parts: Vec<Partition<'_>> = self
            .operations
            .iter()
            .map(|op| op.call.partition())
            .collect();
        parts.sort_unstable();
        parts.dedup();
        parts
    }
}
