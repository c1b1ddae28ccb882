//! The reference adapter: keyrace-adapter/1 over `keyrace-core`.
//!
//! Every request is self-contained: resolve the key (`KEYRACE_MASTER_KEY`, else the key file
//! inside the store directory), open or create the store bound to this machine, do the op,
//! drop everything, answer. `destroy` and `reset` never open the store. Secret values are
//! never written to stderr. With `--mutant NAME` one step is replaced by a known-bad variant
//! from [`mutants`], so the runner's checks can be shown to catch it.

pub mod mutants;

use std::io::{self, BufRead, Write};
use std::path::Path;

use keyrace_core::bootstrap::{BootstrapError, Consumed, FileLedger};
use keyrace_core::{
    destroy_at_path, reset_at_path, resolve_key, ErrorCode, Identity, Key, KeySources, OsFs, Store,
    StoreOptions,
};

pub use mutants::Mutant;

use crate::protocol::{Failure, Hello, Op, OpName, Reply, Request, Success};

/// The name the reference adapter announces.
pub const NAME: &str = "keyrace-core reference";

/// Serve requests from `input` until EOF, answering on `output`.
pub fn serve(mutant: Option<Mutant>, input: impl BufRead, output: impl Write) -> io::Result<()> {
    let name = match mutant {
        Some(m) => format!("{NAME} (mutant {})", m.name()),
        None => NAME.to_owned(),
    };
    let hello = Hello::new(&name, &OpName::ALL);
    keyrace_protocol::serve(&hello, input, output, |op| {
        handle(op, mutant).map_err(|e| Failure::new(e.code(), e.to_string()))
    })
}

/// Run one request against the store it names.
pub fn answer(request: &Request, mutant: Option<Mutant>) -> Reply {
    match handle(&request.op, mutant) {
        Ok(success) => Reply::success(request.id, success),
        Err(e) => Reply::failure(request.id, e.code(), e.to_string()),
    }
}

/// A failed request: the store's errors and the grace ledger's, each with its stable code.
#[derive(Debug, thiserror::Error)]
enum AdapterError {
    #[error(transparent)]
    Store(#[from] keyrace_core::Error),
    #[error(transparent)]
    Ledger(#[from] BootstrapError),
    #[error("this adapter does not implement {0}")]
    Unsupported(String),
}

impl AdapterError {
    fn code(&self) -> ErrorCode {
        match self {
            AdapterError::Store(e) => e.code(),
            AdapterError::Ledger(e) => e.code(),
            AdapterError::Unsupported(_) => ErrorCode::UnsupportedOp,
        }
    }
}

fn handle(op: &Op, mutant: Option<Mutant>) -> Result<Success, AdapterError> {
    match op {
        Op::Open { store } => {
            let (store, _) = open(store, mutant)?;
            Ok(with_key_id(&store))
        }
        Op::Put { store, name, value } => {
            let (opened, key) = open(store, mutant)?;
            match mutant {
                Some(Mutant::PutInPlace) => {
                    mutants::put_in_place(store, &key, name, value, mutants::InPlace::Chunked)?
                }
                Some(Mutant::PutInPlaceOneWrite) => {
                    mutants::put_in_place(store, &key, name, value, mutants::InPlace::OneWrite)?
                }
                Some(Mutant::PutRenameNoDirFsync) => {
                    mutants::put_rename_no_dir_fsync(store, &key, name, value)?
                }
                Some(Mutant::PutGlobalMetaRmw) => mutants::put_with_index(&opened, name, value)?,
                _ => opened.put(name, value.as_bytes())?,
            }
            Ok(with_key_id(&opened))
        }
        Op::Get { store, name } => {
            let (opened, _) = open(store, mutant)?;
            if mutant == Some(Mutant::PutGlobalMetaRmw) {
                mutants::check_index(&opened, name)?;
            }
            let found = match (opened.get(name), mutant) {
                // get-swallows-errors (seed 000: a damaged store gives the true value or a
                // coded error): a catch-all around reading and decrypting a secret turns every
                // failure into an empty value, as config stores that "clear invalid config"
                // do. Diff: `get(name)?` → any error read as `""`.
                (Err(_), Some(Mutant::GetSwallowsErrors)) => Some(Default::default()),
                (found, _) => found?,
            };
            let value = match found {
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
            let (opened, _) = open(store, mutant)?;
            match mutant {
                Some(Mutant::DeleteRewritesAll) => mutants::delete_by_rewrite(&opened, name)?,
                _ => opened.delete(name)?,
            };
            Ok(with_key_id(&opened))
        }
        Op::Destroy { store } => {
            destroy_at_path(&OsFs, store)?;
            Ok(Success::default())
        }
        Op::Reset { store } => {
            if mutant == Some(Mutant::ResetNeedsOpen) {
                // reset-needs-open (seed 000: "recovery currently depends on a successful
                // open()"). Diff: the store is opened before it is reset.
                drop(open(store, mutant)?);
            }
            reset_at_path(&OsFs, store, true)?;
            Ok(Success::default())
        }
        Op::Consume { store, token } => {
            let won = match mutant {
                Some(Mutant::GraceCheckThenSet) => mutants::consume_check_then_set(store, token)
                    .map_err(|source| keyrace_core::Error::Fs {
                        what: "consume the bootstrap grace",
                        source,
                    })?,
                Some(Mutant::ConsumeNoFsync) => mutants::consume_without_fsync(store, token)
                    .map_err(|source| keyrace_core::Error::Fs {
                        what: "consume the bootstrap grace",
                        source,
                    })?,
                _ => FileLedger::new(OsFs, store).try_consume(token)? == Consumed::Won,
            };
            Ok(Success {
                won: Some(won),
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

/// Resolve the key and open (or create) the store; a failure holds no handle afterwards.
fn open(dir: &Path, mutant: Option<Mutant>) -> keyrace_core::Result<(Store<OsFs>, Key)> {
    let opened = (|| {
        let key = mutants::resolve(dir, mutant)
            .unwrap_or_else(|| resolve_key(&OsFs, &KeySources::from_env(dir)).map(|r| r.key))?;
        let options = StoreOptions {
            identity: Some(Identity::current(&OsFs)?),
        };
        let store = Store::open_or_create(OsFs, dir, &key, &options)?;
        Ok((store, key))
    })();
    if opened.is_err() && mutant == Some(Mutant::OpenLeaksHandle) {
        mutants::leak_a_handle(dir);
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Code;

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
