//! cache-keyed (seed 002): the head cache is keyed by server and API key: two servers, or two
//! keys on one server, sharing one cache directory never read each other's head.
//!
//! Actors: the verifier calls server A with key 1, server A with key 2 and server B with key
//! 1 (each pair handed out its own head); a restarted verifier calls each pair again. Each
//! pair's second request may carry its own head or none, never another pair's.

use super::support::witness_call::{api_key, cache_dir, evidence, op, server};
use super::{Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::ActorError;
use crate::finding::Invariant;
use crate::protocol::OpName;
use crate::scripted_witness::{head, Answer, Script, ScriptedServer};

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::CacheKeyed,
    summary: "two servers, or two keys, sharing a cache directory never read each other's head",
    needs: &[OpName::Witness],
    needs_key: false,
    default_rounds: 5,
    mode: Mode::Stochastic,
    run_round,
};

const INVARIANT: Invariant =
    Invariant::new("a client sends only the head its own server handed out for its own key");

/// A server that hands out `base + (1 or 2 by key)` and passes everything.
fn keyed(base: u64, key_one: String) -> Script {
    Box::new(move |_, seen| {
        let which = if seen.api_key.as_deref() == Some(key_one.as_str()) {
            1
        } else {
            2
        };
        Answer::Pass(head(base + which))
    })
}

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let (key_one, key_two) = (api_key(round), api_key(round));
    let Some(a) = server(env.cfg.preset, round, keyed(100, key_one.clone())) else {
        return Ok(());
    };
    let Some(b) = server(env.cfg.preset, round, keyed(200, key_one.clone())) else {
        return Ok(());
    };
    let Some(cache) = cache_dir(round) else {
        return Ok(());
    };
    let pairs: [(&ScriptedServer, &str, u64); 3] = [
        (&a, &key_one, 101),
        (&a, &key_two, 102),
        (&b, &key_one, 201),
    ];
    let mut calls = Vec::new();
    for (server, key, _) in pairs {
        calls.push(env.verify(op(server, key, &cache, 1))?);
    }
    env.restart_verifier();
    for (server, key, _) in pairs {
        calls.push(env.verify(op(server, key, &cache, 1))?);
    }
    let mut wrong = Vec::new();
    for (server, key, own) in pairs {
        let own = head(own).to_string();
        for seen in server
            .seen()
            .iter()
            .filter(|s| s.api_key.as_deref() == Some(key))
        {
            if let Some(sent) = seen.head.as_ref().filter(|h| **h != own) {
                wrong.push(format!(
                    "server {} got key {key}'s request with head {sent:?}, but handed it {own:?}",
                    server.url()
                ));
            }
        }
    }
    if !wrong.is_empty() {
        let refs: Vec<&super::Exchange> = calls.iter().collect();
        let mut lines = evidence(&refs, &a);
        lines.extend(b.describe());
        lines.extend(wrong);
        round.violation(INVARIANT, lines);
    }
    Ok(())
}
