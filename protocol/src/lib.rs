//! keyrace-protocol: the keyrace-adapter/1 wire protocol (serde, base64 and thiserror its only
//! dependencies).
//!
//! - [`ErrorCode`]: the stable error codes every layer and every adapter uses.
//! - [`Hello`], [`Request`] / [`Op`], [`Reply`] / [`Success`] / [`Failure`]: the JSON lines.
//! - [`head::SignedTreeHead`]: a witness server's tree head, as the protocol spells it.
//! - [`ScenarioId`]: the scenarios of the runner's catalogue, by the ids reports use.
//! - [`MASTER_KEY_ENV`]: the environment variable an adapter finds a master key in.
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
pub mod head;
mod message;
mod scenario;
mod serve;

pub use code::{ErrorCode, UnknownCode};
pub use message::*;
pub use scenario::ScenarioId;
pub use serve::serve;

/// Name of the environment variable holding the master key (a store that reads its key from
/// the environment; the runner sets or clears it for the actors it starts).
pub const MASTER_KEY_ENV: &str = "KEYRACE_MASTER_KEY";
