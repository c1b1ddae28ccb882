//! What the client scenarios share: the `witness` op against a scripted server, fresh API
//! keys, and reading the error code of a reply.

use std::path::{Path, PathBuf};

use rand::distr::{Alphanumeric, SampleString};

use crate::protocol::{Code, ErrorCode, Op};
use crate::scenario::{Exchange, Round};
use crate::scripted_witness::{Script, ScriptedServer};
use keyrace_witness::wire::Preset;

/// `concurrency` calls (1: a plain call) of the client with `api_key` against `server`, its
/// cache in `cache_dir`. The server's spelling is named only when it is not the default, so an
/// adapter written for one spelling sees the op it always saw.
pub fn op(server: &ScriptedServer, api_key: &str, cache_dir: &Path, concurrency: u32) -> Op {
    Op::Witness {
        url: server.url().to_owned(),
        api_key: api_key.to_owned(),
        cache_dir: cache_dir.to_owned(),
        concurrency: (concurrency > 1).then_some(concurrency),
        preset: (server.preset() != Preset::default()).then(|| server.preset().name().to_owned()),
    }
}

/// The round's cache directory, created (as a real client's, `$TMPDIR` or `$HOME/.cache`,
/// exists before it runs); `None` after marking the round skipped.
pub fn cache_dir(round: &mut Round) -> Option<std::path::PathBuf> {
    match round.area.create("cache", 0o700) {
        Ok(area) => Some(area.path().to_owned()),
        Err(e) => {
            round.skip = Some(format!("cannot create the cache directory: {e}"));
            None
        }
    }
}

/// A fresh API key for this round.
pub fn api_key(round: &mut Round) -> String {
    format!("lk_{}", Alphanumeric.sample_string(&mut round.rng, 20))
}

/// A scripted server speaking `preset`, or `None` after marking the round skipped (no
/// loopback socket here).
pub fn server(preset: Preset, round: &mut Round, script: Script) -> Option<ScriptedServer> {
    match ScriptedServer::start(preset, script) {
        Ok(server) => Some(server),
        Err(e) => {
            round.skip = Some(format!("cannot start a loopback HTTP server: {e}"));
            None
        }
    }
}

/// The error code of a failed exchange.
pub fn code(exchange: &Exchange) -> Option<ErrorCode> {
    match &exchange.reply.outcome {
        Err(failure) => match failure.code {
            Code::Known(code) => Some(code),
            Code::Unknown(_) => None,
        },
        Ok(_) => None,
    }
}

/// The exchange and the server's requests, for a violation's report.
pub fn evidence(exchanges: &[&Exchange], server: &ScriptedServer) -> Vec<String> {
    let mut lines: Vec<String> = exchanges.iter().map(|e| e.describe()).collect();
    lines.extend(server.describe());
    lines
}

/// A client scenario's round: a scripted server, a fresh API key and the client's cache
/// directory, made in that order (the key is drawn from the round's randomness).
pub struct ClientRound {
    pub server: ScriptedServer,
    pub key: String,
    pub cache: PathBuf,
}

impl ClientRound {
    /// The round's server, speaking `preset` and answering by `script`, its key and its cache;
    /// `None` after marking the round skipped (no loopback socket, no cache directory).
    pub fn start(preset: Preset, round: &mut Round, script: Script) -> Option<ClientRound> {
        let server = server(preset, round, script)?;
        let key = api_key(round);
        let cache = cache_dir(round)?;
        Some(ClientRound { server, key, cache })
    }

    /// `concurrency` calls of the client (1: a plain call) against the round's server.
    pub fn op(&self, concurrency: u32) -> Op {
        op(&self.server, &self.key, &self.cache, concurrency)
    }

    /// The exchanges and the server's requests, for a violation's report.
    pub fn evidence(&self, exchanges: &[&Exchange]) -> Vec<String> {
        evidence(exchanges, &self.server)
    }
}
