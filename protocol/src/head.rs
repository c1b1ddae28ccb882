//! Signed tree heads as the witness protocol spells them: `<position>:<22 chars base64url>`,
//! and their strict parser.
//!
//! A head names a position in the server's append-only audit chain and the first 16 bytes of
//! the root hash there. Because the chain is append-only, every head the log ever held stays
//! valid proof that a client saw this server's history: a stale head is never a divergence.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Bytes of the root hash a head carries.
pub const PREFIX_LEN: usize = 16;

/// Characters of the base64url (no padding) form of the prefix.
pub const PREFIX_CHARS: usize = 22;

/// Longest header text the parser looks at: 20 digits of `u64`, the colon, the prefix.
pub const MAX_HEAD_TEXT: usize = 20 + 1 + PREFIX_CHARS;

/// A signed tree head as clients see it: `(position, root hash prefix)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignedTreeHead {
    pub position: u64,
    pub prefix: [u8; PREFIX_LEN],
}

impl SignedTreeHead {
    /// The placeholder a server hands out while nothing is sealed yet:
    /// `0:AAAAAAAAAAAAAAAAAAAAAA`. Position 0 is reserved for it; a log never holds it.
    pub const ZERO: SignedTreeHead = SignedTreeHead {
        position: 0,
        prefix: [0; PREFIX_LEN],
    };

    pub const fn new(position: u64, prefix: [u8; PREFIX_LEN]) -> SignedTreeHead {
        SignedTreeHead { position, prefix }
    }

    /// The head at `position` whose root hash is `root` (only its first 16 bytes are kept).
    pub fn from_root(position: u64, root: &[u8; 32]) -> SignedTreeHead {
        let mut prefix = [0; PREFIX_LEN];
        prefix.copy_from_slice(&root[..PREFIX_LEN]);
        SignedTreeHead { position, prefix }
    }

    pub fn is_zero(&self) -> bool {
        *self == SignedTreeHead::ZERO
    }

    /// Parse the textual form strictly: a canonical decimal position (no sign, no leading
    /// zero, no whitespace, fits `u64`), one colon, and exactly 22 canonical base64url
    /// characters (no padding, unused low bits zero). Anything else is rejected.
    pub fn parse(text: &str) -> Result<SignedTreeHead, HeadParseError> {
        if text.len() > MAX_HEAD_TEXT {
            return Err(HeadParseError::TooLong { len: text.len() });
        }
        let (position, prefix) = text.split_once(':').ok_or(HeadParseError::MissingColon)?;
        Ok(SignedTreeHead {
            position: parse_position(position)?,
            prefix: parse_prefix(prefix)?,
        })
    }
}

fn parse_position(text: &str) -> Result<u64, HeadParseError> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(HeadParseError::BadPosition);
    }
    text.parse().map_err(|_| HeadParseError::BadPosition)
}

fn parse_prefix(text: &str) -> Result<[u8; PREFIX_LEN], HeadParseError> {
    if text.len() != PREFIX_CHARS {
        return Err(HeadParseError::BadPrefix);
    }
    // The standard engine rejects padding, other alphabets and non-zero trailing bits, so
    // every prefix has exactly one accepted spelling.
    let mut prefix = [0; PREFIX_LEN];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut prefix) {
        Ok(PREFIX_LEN) => Ok(prefix),
        _ => Err(HeadParseError::BadPrefix),
    }
}

impl fmt::Display for SignedTreeHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            self.position,
            URL_SAFE_NO_PAD.encode(self.prefix)
        )
    }
}

impl fmt::Debug for SignedTreeHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedTreeHead({self})")
    }
}

impl FromStr for SignedTreeHead {
    type Err = HeadParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SignedTreeHead::parse(s)
    }
}

/// Why a head's text was rejected. The text itself is not echoed: it is untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadParseError {
    #[error("a tree head is at most {MAX_HEAD_TEXT} characters, this one has {len}")]
    TooLong { len: usize },
    #[error("a tree head has the form <position>:<22 base64url characters>; the colon is missing")]
    MissingColon,
    #[error("a tree head's position must be a decimal number without sign or leading zeros")]
    BadPosition,
    #[error("a tree head's root prefix must be exactly 22 canonical base64url characters")]
    BadPrefix,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_placeholder_has_the_seed_spelling() {
        assert_eq!(SignedTreeHead::ZERO.to_string(), "0:AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(
            SignedTreeHead::parse("0:AAAAAAAAAAAAAAAAAAAAAA"),
            Ok(SignedTreeHead::ZERO)
        );
    }

    #[test]
    fn trailing_bits_must_be_zero() {
        // 22 chars carry 132 bits for 128: the last char's low 4 bits must be zero.
        assert!(SignedTreeHead::parse("1:AAAAAAAAAAAAAAAAAAAAAQ").is_ok());
        assert_eq!(
            SignedTreeHead::parse("1:AAAAAAAAAAAAAAAAAAAAAB"),
            Err(HeadParseError::BadPrefix)
        );
    }
}
