//! Export of a history in the form the Porcupine comparison driver reads
//! (`benches/porcupine/main.go`): one JSON object per line, Porcupine's `Operation` fields, with
//! an unknown outcome as a return at the end of time, as Porcupine's own docs prescribe.

use serde::Serialize;

use crate::history::{Call, History, Outcome, Ret};

#[derive(Serialize)]
struct Line<'a> {
    client: usize,
    /// "put", "get", "delete" or "consume".
    op: &'static str,
    key: &'a str,
    value: &'a str,
    call: i64,
    /// Absent for an unknown outcome.
    output: Option<Output<'a>>,
    #[serde(rename = "return")]
    ret: i64,
}

#[derive(Serialize)]
struct Output<'a> {
    /// A get's value ("" when absent, with `found` false), or a consume's win.
    value: &'a str,
    found: bool,
    won: bool,
}

/// The history as JSON lines. Failed operations are left out, as the checker leaves them out.
pub fn export(history: &History) -> String {
    let mut out = String::new();
    for op in &history.operations {
        if op.outcome == Outcome::Fail {
            continue;
        }
        let (name, key, value) = match &op.call {
            Call::Put { name, value } => ("put", name.as_str(), value.as_str()),
            Call::Get { name } => ("get", name.as_str(), ""),
            Call::Delete { name } => ("delete", name.as_str(), ""),
            Call::Consume { token } => ("consume", token.as_str(), ""),
        };
        let output = match &op.outcome {
            Outcome::Ok(Ret::Value(Some(value))) => Some(Output {
                value,
                found: true,
                won: false,
            }),
            Outcome::Ok(Ret::Won(won)) => Some(Output {
                value: "",
                found: false,
                won: *won,
            }),
            Outcome::Ok(_) => Some(Output {
                value: "",
                found: false,
                won: false,
            }),
            _ => None,
        };
        let line = Line {
            client: op.actor,
            op: name,
            key,
            value,
            call: op.invoked as i64,
            ret: if output.is_some() {
                op.completed as i64
            } else {
                i64::MAX
            },
            output,
        };
        if let Ok(json) = serde_json::to_string(&line) {
            out.push_str(&json);
            out.push('\n');
        }
    }
    out
}
