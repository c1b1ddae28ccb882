//! cache-symlink (seed 002, HIGH-1 / CWE-59): a symlink planted at the head cache's path is
//! never written through: the file it points at keeps its bytes, and the call still succeeds
//! or fails with a coded error.
//!
//! Actors: the verifier calls once, which creates the cache file(s) in the round's cache
//! directory; the runner replaces each by a symlink to a victim file of its own; a restarted
//! verifier calls again (the server passes and hands out a new head, which the client stores).

use std::path::Path;

use super::support::witness_call::{code, ClientRound};
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::OpName;
use crate::scripted_witness::{head, Answer, Seen};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CacheSymlink,
    summary: "a symlink planted at the head cache is never written through",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 5,
    mode: Mode::Stochastic,
    run_round,
};

const INVARIANT: Invariant =
    Invariant::new("a symlink at the head cache's path is never written through, and the call succeeds or fails with a code");

const VICTIM: &[u8] = b"ssh-ed25519 AAAA victim@host\n";

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let calls = std::sync::atomic::AtomicU64::new(0);
    let script = Box::new(move |_: usize, _: &Seen| {
        Answer::Pass(head(
            40 + calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        ))
    });
    let Some(client) = ClientRound::start(env.cfg.preset, round, script) else {
        return Ok(());
    };
    let first = env.verify(client.op(1))?;
    let Some(cache_dir) = round.store("cache") else {
        return Ok(());
    };
    let files = match cache_dir.files() {
        Ok(files) => files,
        Err(refusal) => {
            round.refused(refusal);
            return Ok(());
        }
    };
    if files.is_empty() {
        round.skip = Some("the client kept no file in the cache directory it was given".to_owned());
        return Ok(());
    }
    let victim = match round.area.create("victim", 0o700).and_then(|dir| {
        dir.write_new("authorized_keys", VICTIM)?;
        Ok(dir)
    }) {
        Ok(dir) => dir,
        Err(e) => {
            round.skip = Some(format!("cannot create the victim file: {e}"));
            return Ok(());
        }
    };
    let target = victim.path().join("authorized_keys");
    for file in &files {
        if let Err(refusal) = cache_dir.plant_symlink(Path::new(file), &target) {
            round.refused(refusal);
            return Ok(());
        }
    }
    env.restart_verifier();
    let second = env.verify(client.op(1))?;
    let after = victim.read_file("authorized_keys", 1 << 16);
    let untouched = matches!(&after, Ok(bytes) if bytes == VICTIM);
    let coded = second.ok() || code(&second).is_some();
    if !untouched || !coded || !first.ok() {
        let mut lines = client.evidence(&[&first, &second]);
        lines.push(format!(
            "runner: planted {} symlink(s) in the cache to {}; it now holds {}",
            files.len(),
            target.display(),
            match &after {
                Ok(bytes) if bytes == VICTIM => "its own bytes".to_owned(),
                Ok(bytes) => format!("{} other bytes", bytes.len()),
                Err(e) => format!("nothing readable ({e})"),
            }
        ));
        round.violation(INVARIANT, lines);
    }
    Ok(())
}
