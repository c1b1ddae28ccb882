//! The race catalogue (`docs/design.md`) as data: every row's reference model and mutants,
//! with the actor counts they run at.

use std::sync::Arc;

use crate::explore::Model;
use crate::models::cold_start::{cold_start, Flight};
use crate::models::crash::{crash_keygen, crash_keygen_racing, crash_put, crash_put_racing};
use crate::models::double_bootstrap::{double_bootstrap, Grace};
use crate::models::ephemeral_fallback::{ephemeral_fallback, Resolve};
use crate::models::identity_drift::{identity_drift, Derive, PropOutcome};
use crate::models::keygen::{keygen_error_masking, keygen_race, Keygen};
use crate::models::put::{put_race, Put};
use crate::models::release_before_delete::{release_before_delete, Open};
use crate::models::retry_once::{retry_once, Retry};
use crate::models::sth_cache::{sth_cache, CacheWrite};
use crate::simfs::Semantics;

/// What a case runs.
#[derive(Clone)]
pub enum Body {
    /// A concurrent model, run by the explorers.
    Model(Model),
    /// A property over generated inputs, run by proptest for this many cases.
    Property(Arc<dyn Fn(u32) -> PropOutcome + Send + Sync>),
}

/// One model (or property) of one row, for one implementation variant.
#[derive(Clone)]
pub struct Case {
    pub row: &'static str,
    /// `reference` or the mutant's name.
    pub variant: &'static str,
    pub actors: usize,
    pub body: Body,
    /// The invariants of the row: a mutant is caught only when it breaks one of these.
    pub invariants: &'static [&'static str],
}

impl Case {
    pub fn is_mutant(&self) -> bool {
        self.variant != "reference"
    }

    /// `row/variant/actors`, the name used by the replay command.
    pub fn name(&self) -> String {
        format!("{}/{}/{}", self.row, self.variant, self.actors)
    }
}

fn model(
    row: &'static str,
    variant: &'static str,
    actors: usize,
    m: impl Fn() + Send + Sync + 'static,
) -> Case {
    Case {
        row,
        variant,
        actors,
        body: Body::Model(Arc::new(m)),
        invariants: row_invariants(row),
    }
}

/// The invariants each row states (the models' own constants, as their violations name them).
pub fn row_invariants(row: &str) -> &'static [&'static str] {
    use crate::models::{
        cold_start, crash, double_bootstrap, ephemeral_fallback, identity_drift, keygen, put,
        release_before_delete, retry_once, sth_cache,
    };
    match row {
        "keygen-race" | "keygen-race-windows" => &[keygen::KEYGEN_RACE],
        "keygen-error-masking" => &[keygen::KEYGEN_ERROR_MASKING],
        "put-race" => &[put::PUT_RACE],
        "crash-keygen" => &[crash::CRASH_KEYGEN, crash::CRASH_KEYGEN_RACING],
        "crash-put" => &[crash::CRASH_PUT, crash::CRASH_PUT_RACING],
        "release-before-delete" => &[release_before_delete::RELEASE_BEFORE_DELETE],
        "ephemeral-fallback" => &[ephemeral_fallback::EPHEMERAL_FALLBACK],
        "double-bootstrap" => &[double_bootstrap::DOUBLE_BOOTSTRAP],
        "cold-start" => &[cold_start::COLD_START],
        "retry-once" => &[
            retry_once::RETRIED_ONCE,
            retry_once::AT_MOST_ONCE,
            retry_once::DIVERGENCE_SURFACED,
        ],
        "sth-cache" => &[sth_cache::STH_CACHE],
        "identity-drift" => &[identity_drift::INVARIANT],
        _ => &[],
    }
}

/// Proptest cases per identity property run.
pub const PROPERTY_CASES: u32 = 256;

/// Every case, in catalogue order.
pub fn catalogue() -> Vec<Case> {
    let mut cases = Vec::new();
    for actors in [2, 3] {
        for keygen in [
            Keygen::Reference,
            Keygen::ReadThenWrite,
            Keygen::ExclThenWrite,
        ] {
            cases.push(model(
                "keygen-race",
                keygen.name(),
                actors,
                keygen_race(keygen, actors, Semantics::Posix),
            ));
        }
    }
    for keygen in [
        Keygen::Reference,
        Keygen::ReadThenWrite,
        Keygen::ExclThenWrite,
    ] {
        cases.push(model(
            "keygen-race-windows",
            keygen.name(),
            2,
            keygen_race(keygen, 2, Semantics::Windows),
        ));
    }
    for actors in [1, 2] {
        for keygen in [Keygen::Reference, Keygen::BroadCatch] {
            cases.push(model(
                "keygen-error-masking",
                keygen.name(),
                actors,
                keygen_error_masking(keygen, actors),
            ));
        }
    }
    for actors in [2, 3] {
        for put in [Put::Reference, Put::GlobalMetaRmw] {
            cases.push(model("put-race", put.name(), actors, put_race(put, actors)));
        }
    }
    for keygen in [Keygen::Reference, Keygen::NoFsync] {
        cases.push(model(
            "crash-keygen",
            keygen.name(),
            1,
            crash_keygen(keygen),
        ));
    }
    for keygen in [Keygen::Reference, Keygen::NoFsync] {
        cases.push(model(
            "crash-keygen",
            keygen.name(),
            2,
            crash_keygen_racing(keygen, 2),
        ));
    }
    for put in [Put::Reference, Put::InPlace] {
        cases.push(model("crash-put", put.name(), 1, crash_put(put)));
    }
    for put in [Put::Reference, Put::InPlace] {
        cases.push(model("crash-put", put.name(), 2, crash_put_racing(put)));
    }
    for actors in [1, 2] {
        for open in [Open::Reference, Open::LeaksHandle] {
            cases.push(model(
                "release-before-delete",
                open.name(),
                actors,
                release_before_delete(open, actors),
            ));
        }
    }
    for resolve in [Resolve::Reference, Resolve::SilentEphemeral] {
        cases.push(model(
            "ephemeral-fallback",
            resolve.name(),
            1,
            ephemeral_fallback(resolve),
        ));
    }
    for actors in [2, 3] {
        for grace in [Grace::Reference, Grace::CheckThenSet] {
            cases.push(model(
                "double-bootstrap",
                grace.name(),
                actors,
                double_bootstrap(grace, actors),
            ));
        }
    }
    for actors in [2, 3] {
        for flight in [Flight::Reference, Flight::NoSingleFlight] {
            cases.push(model(
                "cold-start",
                flight.name(),
                actors,
                cold_start(flight, actors),
            ));
        }
    }
    for actors in [1, 2] {
        for rule in [Retry::Reference, Retry::Unbounded, Retry::OnDivergence] {
            cases.push(model(
                "retry-once",
                rule.name(),
                actors,
                retry_once(rule, actors),
            ));
        }
    }
    // One writer and the reader, then two writers and the reader.
    for writers in [1, 2] {
        for write in [
            CacheWrite::Reference,
            CacheWrite::WriteInPlace,
            CacheWrite::FollowsSymlink,
        ] {
            cases.push(model(
                "sth-cache",
                write.name(),
                writers + 1,
                sth_cache(write, writers),
            ));
        }
    }
    for derive in [Derive::Reference, Derive::FirstMac] {
        cases.push(Case {
            row: "identity-drift",
            variant: derive.name(),
            actors: 1,
            invariants: row_invariants("identity-drift"),
            body: Body::Property(Arc::new(move |n| identity_drift(derive, n))),
        });
    }
    cases
}

/// The case named `row/variant/actors`.
pub fn find(name: &str) -> Option<Case> {
    catalogue().into_iter().find(|c| c.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_states_its_invariants() {
        for case in catalogue() {
            assert!(
                !case.invariants.is_empty(),
                "{} states no invariant",
                case.row
            );
            assert!(
                !case.invariants.contains(&crate::models::SETUP),
                "{}: a setup check is not an invariant of the row",
                case.row
            );
        }
    }
}
