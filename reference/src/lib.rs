//! keyrace-reference: the reference adapter, keyrace-adapter/1 over `keyrace-core`, running
//! the steps of `keyrace-mutants` (the reference's, or a mutant's with its one body switched in).
//!
//! Every request is self-contained: resolve the key (`KEYRACE_MASTER_KEY`, else the key file
//! inside the store directory), open or create the store bound to this machine, do the op,
//! drop everything, answer. `destroy` and `reset` never open the store. Secret values are
//! never written to stderr. With `--mutant NAME` one step is replaced by a known-bad variant
//! from `keyrace-mutants`, so the runner's checks can be shown to catch it.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use keyrace_core::bootstrap::BootstrapError;
use keyrace_core::{destroy_at_path, ErrorCode, OsFs, Store};
use keyrace_mutants::steps::{ConsumeError, WitnessCall};
use keyrace_witness::transport::HttpTransport;
use keyrace_witness::wire::Preset;

use keyrace_mutants::Steps;
pub use keyrace_mutants::{also_caught, catch, caught_by, Catch, Mutant};

use keyrace_protocol::{Failure, Hello, Op, OpName, Reply, Request, Success};

/// Most concurrent calls one `witness` op makes.
pub const MAX_CONCURRENCY: u32 = 64;

/// How long one HTTP exchange of the witness client may take: well inside the runner's
/// per-request deadline, so a slow server gives a coded error, not a hung adapter.
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(3);

/// The name the reference adapter announces.
pub const NAME: &str = "keyrace-core reference";

/// Serve requests from `input` until EOF, answering on `output`.
pub fn serve(mutant: Option<Mutant>, input: impl BufRead, output: impl Write) -> io::Result<()> {
    let name = match mutant {
        Some(m) => format!("{NAME} (mutant {})", m.name()),
        None => NAME.to_owned(),
    };
    let hello = Hello::new(&name, &OpName::ALL);
    let steps = steps_of(mutant);
    keyrace_protocol::serve(&hello, input, output, |op| {
        handle(op, &steps).map_err(|e| Failure::new(e.code(), e.to_string()))
    })
}

/// Run one request against the store it names.
pub fn answer(request: &Request, mutant: Option<Mutant>) -> Reply {
    match handle(&request.op, &steps_of(mutant)) {
        Ok(success) => Reply::success(request.id, success),
        Err(e) => Reply::failure(request.id, e.code(), e.to_string()),
    }
}

/// The reference's steps, or `mutant`'s.
fn steps_of(mutant: Option<Mutant>) -> Steps {
    mutant.map_or(Steps::REFERENCE, Mutant::steps)
}

/// A failed request: the store's errors and the grace ledger's, each with its stable code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AdapterError {
    #[error(transparent)]
    Store(#[from] keyrace_core::Error),
    #[error(transparent)]
    Ledger(#[from] BootstrapError),
    #[error(transparent)]
    Witness(#[from] keyrace_core::witness::WitnessError),
    #[error("this adapter does not implement {0}")]
    Unsupported(String),
    #[error("{0}")]
    UnknownPreset(String),
}

impl From<ConsumeError> for AdapterError {
    fn from(e: ConsumeError) -> Self {
        match e {
            ConsumeError::Store(e) => AdapterError::Store(e),
            ConsumeError::Ledger(e) => AdapterError::Ledger(e),
        }
    }
}

impl AdapterError {
    fn code(&self) -> ErrorCode {
        match self {
            AdapterError::Store(e) => e.code(),
            AdapterError::Ledger(e) => e.code(),
            AdapterError::Witness(e) => e.code(),
            AdapterError::Unsupported(_) => ErrorCode::UnsupportedOp,
            AdapterError::UnknownPreset(_) => ErrorCode::InvalidArgument,
        }
    }
}

fn handle(op: &Op, steps: &Steps) -> Result<Success, AdapterError> {
    match op {
        Op::Open { store } => {
            let (store, _) = (steps.open)(steps, store)?;
            Ok(with_key_id(&store))
        }
        Op::Put { store, name, value } => {
            let (opened, key) = (steps.open)(steps, store)?;
            (steps.put)(&opened, &key, name, value.as_bytes())?;
            Ok(with_key_id(&opened))
        }
        Op::Get { store, name } => {
            let (opened, _) = (steps.open)(steps, store)?;
            let value = match (steps.get)(&opened, name)? {
                Some(bytes) => Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                    keyrace_core::Error::InvalidArgument {
                        detail: format!("secret {name:?} is not UTF-8 text, which this adapter cannot return as a JSON string"),
                    }
                })?),
                None => None,
            };
            Ok(Success {
                value: Some(value),
                ..with_key_id(&opened)
            })
        }
        Op::Delete { store, name } => {
            let (opened, _) = (steps.open)(steps, store)?;
            (steps.delete)(&opened, name)?;
            Ok(with_key_id(&opened))
        }
        Op::Destroy { store } => {
            destroy_at_path(&OsFs, store)?;
            Ok(Success::default())
        }
        Op::Reset { store } => {
            (steps.reset)(steps, store)?;
            Ok(Success::default())
        }
        Op::Consume { store, token } => Ok(Success {
            won: Some((steps.consume)(store, token)?),
            ..Success::default()
        }),
        Op::Witness {
            url,
            api_key,
            cache_dir,
            concurrency,
            preset,
        } => {
            let preset = match preset {
                Some(name) => name.parse().map_err(AdapterError::UnknownPreset)?,
                None => Preset::default(),
            };
            let transport = HttpTransport::new(url, preset, WITNESS_TIMEOUT);
            let call = WitnessCall {
                transport: &transport,
                url,
                api_key,
                cache_dir,
                concurrency: concurrency.map_or(1, |n| n.clamp(1, MAX_CONCURRENCY) as usize),
            };
            let used = (steps.witness)(&call)?;
            Ok(Success {
                head: used.as_ref().map(|u| u.head.map(|h| h.to_string())),
                from_cache: used.map(|u| u.from_cache),
                ..Success::default()
            })
        }
        other => Err(AdapterError::Unsupported(other.name().to_string())),
    }
}

fn with_key_id(store: &Store<OsFs>) -> Success {
    Success {
        key_id: Some(store.key_id().to_owned()),
        ..Success::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyrace_protocol::Code;

    fn call(op: Op) -> Reply {
        answer(&Request { id: 1, op }, None)
    }

    #[test]
    fn serves_a_session_and_keeps_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("s");
        let requests = [
            Request {
                id: 5,
                op: Op::Put {
                    store: store.clone(),
                    name: "k".into(),
                    value: "v".into(),
                },
            },
            Request {
                id: 6,
                op: Op::Get {
                    store: store.clone(),
                    name: "k".into(),
                },
            },
        ];
        let mut input = String::new();
        for request in &requests {
            input.push_str(&request.to_line().expect("line"));
            input.push('\n');
        }
        input.push_str("{\"id\":9,\"op\":\"fly\"}\n");
        let mut output = Vec::new();
        serve(None, input.as_bytes(), &mut output).expect("serve");
        let lines: Vec<&[u8]> = output
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            Hello::parse(lines[0]).expect("hello").ops,
            OpName::ALL.into_iter().collect()
        );
        let get = Reply::parse(lines[2]).expect("reply");
        assert_eq!(get.id, 6);
        assert_eq!(get.outcome.expect("ok").value, Some(Some("v".into())));
        let unknown = Reply::parse(lines[3]).expect("reply");
        assert_eq!(unknown.id, 9);
        assert_eq!(
            unknown.outcome.expect_err("unsupported").code,
            Code::Known(ErrorCode::UnsupportedOp)
        );
    }

    #[test]
    fn broken_store_gives_a_coded_error_and_destroy_works() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("s");
        assert!(call(Op::Open {
            store: store.clone()
        })
        .outcome
        .is_ok());
        std::fs::write(store.join("meta.json"), b"garbage").expect("break");
        let reply = call(Op::Open {
            store: store.clone(),
        });
        assert_eq!(
            reply.outcome.expect_err("broken").code,
            Code::Known(ErrorCode::MetadataCorrupted)
        );
        assert!(call(Op::Destroy {
            store: store.clone()
        })
        .outcome
        .is_ok());
        assert!(!store.exists());
    }
}
