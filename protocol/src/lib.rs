//! keyrace-protocol: the keyrace-adapter/1 wire protocol, with serde as its only dependency.
//!
//! - [`ErrorCode`]: the stable error codes every layer and every adapter uses.
//! - [`Hello`], [`Request`] / [`Op`], [`Reply`] / [`Success`] / [`Failure`]: the JSON lines.
//! - [`serve`]: an adapter's whole loop. A Rust adapter for a new store is its store calls and
//!   a match:
//!
//! ```no_run
//! use keyrace_protocol::{serve, ErrorCode, Failure, Hello, Op, OpName, Success};
//!
//! let hello = Hello::new("my store", &[OpName::Put, OpName::Get]);
//! let stdin = std::io::stdin().lock();
//! serve(&hello, stdin, std::io::stdout().lock(), |op| match op {
//!     Op::Put { store, name, value } => {
//!         // my_store::open(store)?.put(name, value) ...
//!         Ok(Success::default())
//!     }
//!     Op::Get { store, name } => Ok(Success {
//!         value: Some(None), // my_store::open(store)?.get(name)
//!         ..Success::default()
//!     }),
//!     _ => Err(Failure::new(ErrorCode::UnsupportedOp, "not implemented")),
//! })
//! .expect("stdout closed");
//! ```

mod code;
mod message;
mod serve;

pub use code::{ErrorCode, UnknownCode};
pub use message::*;
pub use serve::serve;
