//! An append-only log of the heads a server has sealed (seed 002). The heads themselves, their
//! text and its strict parser, are the witness protocol's (`keyrace_protocol::head`).

pub use keyrace_protocol::head::{
    HeadParseError, SignedTreeHead, MAX_HEAD_TEXT, PREFIX_CHARS, PREFIX_LEN,
};

use crate::bootstrap::BootstrapError;
use crate::sync::RwLock;

/// Where the gate reads heads. One trait so tests and the harness can count reads or fail them.
pub trait HeadLog: Send + Sync {
    /// The newest sealed head, `None` while nothing is sealed.
    fn current(&self) -> Result<Option<SignedTreeHead>, BootstrapError>;

    /// Whether the log has held `head` at any time (it is append-only: held once, held forever).
    fn has_held(&self, head: &SignedTreeHead) -> Result<bool, BootstrapError>;
}

/// An in-memory append-only log; positions strictly increase and start at 1.
#[derive(Debug, Default)]
pub struct MemoryHeadLog {
    heads: RwLock<Vec<SignedTreeHead>>,
}

impl MemoryHeadLog {
    pub fn new() -> MemoryHeadLog {
        MemoryHeadLog::default()
    }

    /// Append a newly sealed head. Position 0 (the placeholder's) and positions at or below the
    /// newest head are refused: the log never rewrites history.
    pub fn append(&self, head: SignedTreeHead) -> Result<(), BootstrapError> {
        let mut heads = match self.heads.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let newest = heads.last().map_or(0, |h| h.position);
        if head.position <= newest {
            return Err(BootstrapError::OutOfOrderHead {
                position: head.position,
                newest,
            });
        }
        heads.push(head);
        Ok(())
    }

    /// Seal the next position (newest + 1) with root prefix `prefix` and return the head.
    pub fn seal(&self, prefix: [u8; PREFIX_LEN]) -> Result<SignedTreeHead, BootstrapError> {
        let next = self
            .newest_position()
            .checked_add(1)
            .ok_or(BootstrapError::OutOfOrderHead {
                position: u64::MAX,
                newest: u64::MAX,
            })?;
        let head = SignedTreeHead::new(next, prefix);
        self.append(head)?;
        Ok(head)
    }

    fn newest_position(&self) -> u64 {
        let heads = match self.heads.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        heads.last().map_or(0, |h| h.position)
    }
}

impl HeadLog for MemoryHeadLog {
    fn current(&self) -> Result<Option<SignedTreeHead>, BootstrapError> {
        let heads = match self.heads.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        Ok(heads.last().copied())
    }

    fn has_held(&self, head: &SignedTreeHead) -> Result<bool, BootstrapError> {
        let heads = match self.heads.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        Ok(heads
            .binary_search_by_key(&head.position, |h| h.position)
            .is_ok_and(|i| heads[i] == *head))
    }
}

impl<L: HeadLog + ?Sized> HeadLog for &L {
    fn current(&self) -> Result<Option<SignedTreeHead>, BootstrapError> {
        (**self).current()
    }
    fn has_held(&self, head: &SignedTreeHead) -> Result<bool, BootstrapError> {
        (**self).has_held(head)
    }
}

impl<L: HeadLog + ?Sized> HeadLog for crate::sync::Arc<L> {
    fn current(&self) -> Result<Option<SignedTreeHead>, BootstrapError> {
        (**self).current()
    }
    fn has_held(&self, head: &SignedTreeHead) -> Result<bool, BootstrapError> {
        (**self).has_held(head)
    }
}
