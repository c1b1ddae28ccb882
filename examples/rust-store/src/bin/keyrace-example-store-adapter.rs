//! The example store's keyrace-adapter/1 adapter: `keyrace_protocol::serve` and one store call
//! per op, on the real filesystem. Check it:
//! `keyrace check --adapter target/release/keyrace-example-store-adapter`.

use keyrace_example_store as store;
use keyrace_fs::OsFs;
use keyrace_protocol::{serve, ErrorCode, Failure, Hello, Op, OpName, Success};

fn with_key_id(key_id: String) -> Success {
    Success {
        key_id: Some(key_id),
        ..Success::default()
    }
}

fn handle(op: &Op) -> Result<Success, Failure> {
    let fs = &OsFs;
    Ok(match op {
        Op::Open { store } => with_key_id(store::open(fs, store)?.0.id()),
        Op::Put { store, name, value } => with_key_id(store::put(fs, store, name, value)?),
        Op::Get { store, name } => {
            let (value, key_id) = store::get(fs, store, name)?;
            Success {
                value: Some(value),
                ..with_key_id(key_id)
            }
        }
        Op::Delete { store, name } => with_key_id(store::delete(fs, store, name)?),
        Op::Destroy { store } => {
            store::clear(fs, store, true)?;
            Success::default()
        }
        Op::Reset { store } => {
            store::clear(fs, store, false)?;
            Success::default()
        }
        Op::Consume { store, token } => Success {
            won: Some(store::consume(fs, store, token)?),
            ..Success::default()
        },
        other => {
            return Err(Failure::new(
                ErrorCode::UnsupportedOp,
                format!("no op {}", other.name()),
            ))
        }
    })
}

fn main() {
    let name = if cfg!(feature = "planted-bugs") {
        "keyrace example store (planted bugs)"
    } else {
        "keyrace example store"
    };
    // The ops this store has; the runner skips the scenarios that need others (witness).
    let ops = [
        OpName::Open,
        OpName::Put,
        OpName::Get,
        OpName::Delete,
        OpName::Destroy,
        OpName::Reset,
        OpName::Consume,
    ];
    let hello = Hello::new(name, &ops);
    if let Err(e) = serve(
        &hello,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
        handle,
    ) {
        eprintln!("keyrace-example-store-adapter: {e}");
        std::process::exit(1);
    }
}
