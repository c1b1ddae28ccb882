//! keyrace-adapter/1 as the runner uses it: the wire types of `keyrace-protocol`, plus how
//! reports show a request and a reply (values shortened: a report never prints a whole secret).

pub use keyrace_protocol::*;

/// One line for a report.
pub trait Summary {
    fn summary(&self) -> String;
}

impl Summary for Op {
    /// A one-line description for reports; long values are shortened (never whole secrets).
    fn summary(&self) -> String {
        match self {
            Op::Open { .. } => "open".to_owned(),
            Op::Put { name, value, .. } => format!("put {name:?} = {}", shorten(value)),
            Op::Get { name, .. } => format!("get {name:?}"),
            Op::Delete { name, .. } => format!("delete {name:?}"),
            Op::Destroy { .. } => "destroy".to_owned(),
            Op::Reset { .. } => "reset".to_owned(),
            Op::Consume { token, .. } => format!("consume {token:?}"),
            other => other.name().to_string(),
        }
    }
}

impl Summary for Reply {
    /// A one-line description for reports (values shortened).
    fn summary(&self) -> String {
        match &self.outcome {
            Ok(success) => {
                let mut parts = vec!["ok".to_owned()];
                if let Some(value) = &success.value {
                    parts.push(match value {
                        Some(v) => format!("value {}", shorten(v)),
                        None => "value null".to_owned(),
                    });
                }
                if let Some(won) = success.won {
                    parts.push(format!("won {won}"));
                }
                if let Some(head) = &success.head {
                    let from = match success.from_cache {
                        Some(true) => " (from the cache)",
                        Some(false) => " (not from the cache)",
                        None => "",
                    };
                    parts.push(match head {
                        Some(head) => format!("sent head {head}{from}"),
                        None => format!("sent no head{from}"),
                    });
                }
                if let Some(key_id) = &success.key_id {
                    parts.push(format!("key_id {key_id}"));
                }
                parts.join(", ")
            }
            Err(failure) => format!("{} ({})", failure.code, failure.message),
        }
    }
}

pub use keyrace_history::history::shorten;
