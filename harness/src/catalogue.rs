//! The race catalogue (`docs/design.md`) as data: every row's reference model and mutants,
//! with the actor counts they run at.

use std::path::Path;
use std::sync::Arc;

use keyrace_core::bootstrap::SignedTreeHead;
use keyrace_core::witness::{RetryOnce, SingleFlight};
use keyrace_core::Key;
use keyrace_mutants::witness::CacheWrite;
use keyrace_mutants::{self as mutants, Mutant};

use crate::explore::Model;
use crate::models::cold_start::cold_start;
use crate::models::crash::{crash_keygen, crash_keygen_racing, crash_put, crash_put_racing};
use crate::models::double_bootstrap::{self, double_bootstrap};
use crate::models::ephemeral_fallback::{self, ephemeral_fallback, ResolveStep};
use crate::models::identity_drift::{self, DeriveStep, PropOutcome};
use crate::models::keygen::{self, keygen_error_masking, keygen_race};
use crate::models::put::{put_race, CoreStore};
use crate::models::release_before_delete::{self, release_before_delete, OpenStep};
use crate::models::retry_once::retry_once;
use crate::models::sth_cache::{self, sth_cache, StoreStep};
use crate::simfs::{Semantics, SimFs};

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
    pub row: CatalogueRow,
    /// `reference` or the mutant's name.
    pub variant: &'static str,
    pub actors: usize,
    pub body: Body,
    /// The invariants of the row: a mutant is caught only when it breaks one of these.
    pub invariants: &'static [&'static str],
}

impl Case {
    pub fn is_mutant(&self) -> bool {
        self.variant != REFERENCE
    }

    /// `row/variant/actors`, the name used by the replay command.
    pub fn name(&self) -> String {
        format!("{}/{}/{}", self.row, self.variant, self.actors)
    }
}

fn model(
    row: CatalogueRow,
    variant: &'static str,
    actors: usize,
    m: impl Fn() + Send + Sync + 'static,
) -> Case {
    Case {
        row,
        variant,
        actors,
        body: Body::Model(Arc::new(m)),
        invariants: row.invariants(),
    }
}

/// A row of the race catalogue (`docs/design.md`): what each case checks, named once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CatalogueRow {
    KeygenRace,
    KeygenRaceWindows,
    KeygenErrorMasking,
    PutRace,
    CrashKeygen,
    CrashPut,
    ReleaseBeforeDelete,
    EphemeralFallback,
    DoubleBootstrap,
    ColdStart,
    RetryOnce,
    SthCache,
    IdentityDrift,
}

impl CatalogueRow {
    /// Every row, in the design's order.
    pub const ALL: [CatalogueRow; 13] = [
        CatalogueRow::KeygenRace,
        CatalogueRow::KeygenRaceWindows,
        CatalogueRow::KeygenErrorMasking,
        CatalogueRow::PutRace,
        CatalogueRow::CrashKeygen,
        CatalogueRow::CrashPut,
        CatalogueRow::ReleaseBeforeDelete,
        CatalogueRow::EphemeralFallback,
        CatalogueRow::DoubleBootstrap,
        CatalogueRow::ColdStart,
        CatalogueRow::RetryOnce,
        CatalogueRow::SthCache,
        CatalogueRow::IdentityDrift,
    ];

    /// The row's name: the design's, the report's and the replay command's.
    pub fn name(self) -> &'static str {
        match self {
            CatalogueRow::KeygenRace => "keygen-race",
            CatalogueRow::KeygenRaceWindows => "keygen-race-windows",
            CatalogueRow::KeygenErrorMasking => "keygen-error-masking",
            CatalogueRow::PutRace => "put-race",
            CatalogueRow::CrashKeygen => "crash-keygen",
            CatalogueRow::CrashPut => "crash-put",
            CatalogueRow::ReleaseBeforeDelete => "release-before-delete",
            CatalogueRow::EphemeralFallback => "ephemeral-fallback",
            CatalogueRow::DoubleBootstrap => "double-bootstrap",
            CatalogueRow::ColdStart => "cold-start",
            CatalogueRow::RetryOnce => "retry-once",
            CatalogueRow::SthCache => "sth-cache",
            CatalogueRow::IdentityDrift => "identity-drift",
        }
    }

    /// The invariants the row states (the models' own constants, as their violations name
    /// them): a mutant is caught only when it breaks one of these.
    pub fn invariants(self) -> &'static [&'static str] {
        use crate::models::{
            cold_start, crash, double_bootstrap, ephemeral_fallback, identity_drift, keygen, put,
            release_before_delete, retry_once, sth_cache,
        };
        match self {
            CatalogueRow::KeygenRace | CatalogueRow::KeygenRaceWindows => &[keygen::KEYGEN_RACE],
            CatalogueRow::KeygenErrorMasking => &[keygen::KEYGEN_ERROR_MASKING],
            CatalogueRow::PutRace => &[put::PUT_RACE],
            CatalogueRow::CrashKeygen => &[crash::CRASH_KEYGEN, crash::CRASH_KEYGEN_RACING],
            CatalogueRow::CrashPut => &[crash::CRASH_PUT, crash::CRASH_PUT_RACING],
            CatalogueRow::ReleaseBeforeDelete => &[release_before_delete::RELEASE_BEFORE_DELETE],
            CatalogueRow::EphemeralFallback => &[ephemeral_fallback::EPHEMERAL_FALLBACK],
            CatalogueRow::DoubleBootstrap => &[double_bootstrap::DOUBLE_BOOTSTRAP],
            CatalogueRow::ColdStart => &[cold_start::COLD_START],
            CatalogueRow::RetryOnce => &[
                retry_once::RETRIED_ONCE,
                retry_once::AT_MOST_ONCE,
                retry_once::DIVERGENCE_SURFACED,
            ],
            CatalogueRow::SthCache => &[sth_cache::STH_CACHE],
            CatalogueRow::IdentityDrift => &[identity_drift::INVARIANT],
        }
    }
}

impl std::fmt::Display for CatalogueRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Proptest cases per identity property run.
pub const PROPERTY_CASES: u32 = 256;

/// The name of the reference in every row.
pub const REFERENCE: &str = "reference";

/// A key loader of the keygen and crash-keygen rows.
type LoadStep = fn(&SimFs, &Path) -> keyrace_core::Result<Key>;

/// Every case, in catalogue order.
pub fn catalogue() -> Vec<Case> {
    let mut cases = Vec::new();
    key_file_and_store_cases(&mut cases);
    crash_cases(&mut cases);
    open_and_key_source_cases(&mut cases);
    bootstrap_and_witness_cases(&mut cases);
    cases
}

/// The key file's and the store's races: keygen (POSIX and Windows), error masking, put.
fn key_file_and_store_cases(cases: &mut Vec<Case>) {
    let racing_keygens: [(&str, LoadStep); 3] = [
        (REFERENCE, keygen::reference),
        (
            Mutant::KeygenReadThenWrite.name(),
            mutants::keygen::read_then_write,
        ),
        (
            Mutant::KeygenExclThenWrite.name(),
            mutants::keygen::excl_then_write,
        ),
    ];
    for actors in [2, 3] {
        for (variant, load) in racing_keygens {
            let body = keygen_race(load, actors, Semantics::Posix);
            cases.push(model(CatalogueRow::KeygenRace, variant, actors, body));
        }
    }
    for (variant, load) in racing_keygens {
        let body = keygen_race(load, 2, Semantics::Windows);
        cases.push(model(CatalogueRow::KeygenRaceWindows, variant, 2, body));
    }
    for actors in [1, 2] {
        let loads: [(&str, LoadStep); 2] = [
            (REFERENCE, keygen::reference),
            (
                Mutant::KeygenBroadCatch.name(),
                mutants::keygen::broad_catch,
            ),
        ];
        for (variant, load) in loads {
            let body = keygen_error_masking(load, actors);
            cases.push(model(
                CatalogueRow::KeygenErrorMasking,
                variant,
                actors,
                body,
            ));
        }
    }
    for actors in [2, 3] {
        for (variant, store) in [
            (REFERENCE, CoreStore::REFERENCE),
            (Mutant::PutGlobalMetaRmw.name(), CoreStore::GLOBAL_META_RMW),
        ] {
            cases.push(model(
                CatalogueRow::PutRace,
                variant,
                actors,
                put_race(store, actors),
            ));
        }
    }
}

/// Power loss during key creation and during a put, alone and racing.
fn crash_cases(cases: &mut Vec<Case>) {
    let crash_keygens: [(&str, LoadStep); 2] = [
        (REFERENCE, keygen::reference),
        (Mutant::KeygenNoFsync.name(), mutants::keygen::no_fsync),
    ];
    for (variant, load) in crash_keygens {
        cases.push(model(
            CatalogueRow::CrashKeygen,
            variant,
            1,
            crash_keygen(load),
        ));
    }
    for (variant, load) in crash_keygens {
        let body = crash_keygen_racing(load, 2);
        cases.push(model(CatalogueRow::CrashKeygen, variant, 2, body));
    }
    let crash_stores = [
        (REFERENCE, CoreStore::REFERENCE),
        (Mutant::PutInPlace.name(), CoreStore::IN_PLACE),
        (
            Mutant::PutRenameUnsyncedData.name(),
            CoreStore::RENAME_UNSYNCED_DATA,
        ),
    ];
    for (variant, store) in crash_stores {
        cases.push(model(CatalogueRow::CrashPut, variant, 1, crash_put(store)));
    }
    for (variant, store) in crash_stores {
        cases.push(model(
            CatalogueRow::CrashPut,
            variant,
            2,
            crash_put_racing(store),
        ));
    }
}

/// A failed open's handles, and the key source's silent fallback.
fn open_and_key_source_cases(cases: &mut Vec<Case>) {
    for actors in [1, 2] {
        let opens: [(&str, OpenStep); 2] = [
            (REFERENCE, release_before_delete::reference),
            (Mutant::OpenLeaksHandle.name(), |fs, dir, master| {
                mutants::open::leaking_a_handle_on_failure(fs, dir, || {
                    release_before_delete::reference(fs, dir, master)
                })
            }),
        ];
        for (variant, open) in opens {
            let body = release_before_delete(open, actors);
            cases.push(model(
                CatalogueRow::ReleaseBeforeDelete,
                variant,
                actors,
                body,
            ));
        }
    }
    let resolves: [(&str, ResolveStep); 2] = [
        (REFERENCE, ephemeral_fallback::reference),
        (Mutant::SilentEphemeral.name(), |fs, sources| {
            mutants::open::silent_ephemeral(fs, sources)
        }),
    ];
    for (variant, resolve) in resolves {
        cases.push(model(
            CatalogueRow::EphemeralFallback,
            variant,
            1,
            ephemeral_fallback(resolve),
        ));
    }
}

/// The one-time bootstrap, the witness client (cold start, retry, head cache) and the machine identity.
fn bootstrap_and_witness_cases(cases: &mut Vec<Case>) {
    for actors in [2, 3] {
        cases.push(model(
            CatalogueRow::DoubleBootstrap,
            REFERENCE,
            actors,
            double_bootstrap(double_bootstrap::reference, actors),
        ));
        cases.push(model(
            CatalogueRow::DoubleBootstrap,
            Mutant::GraceCheckThenSet.name(),
            actors,
            double_bootstrap(mutants::grace::check_then_set::<SimFs>, actors),
        ));
    }
    for actors in [2, 3] {
        let body = cold_start(SingleFlight::<SignedTreeHead>::new, actors);
        cases.push(model(CatalogueRow::ColdStart, REFERENCE, actors, body));
        let body = cold_start(mutants::witness::Uncoalesced::default, actors);
        cases.push(model(
            CatalogueRow::ColdStart,
            Mutant::NoSingleflight.name(),
            actors,
            body,
        ));
    }
    for actors in [1, 2] {
        cases.push(model(
            CatalogueRow::RetryOnce,
            REFERENCE,
            actors,
            retry_once(RetryOnce, actors),
        ));
        let body = retry_once(mutants::witness::RetryUnbounded, actors);
        cases.push(model(
            CatalogueRow::RetryOnce,
            Mutant::RetryUnbounded.name(),
            actors,
            body,
        ));
        let body = retry_once(mutants::witness::RetryOnDivergence, actors);
        cases.push(model(
            CatalogueRow::RetryOnce,
            Mutant::RetryOnDivergence.name(),
            actors,
            body,
        ));
    }
    // One writer and the reader, then two writers and the reader.
    for writers in [1, 2] {
        let stores: [(&str, StoreStep); 3] = [
            (REFERENCE, sth_cache::reference),
            (Mutant::CacheWriteInPlace.name(), |cache, head| {
                mutants::witness::store(cache, head, CacheWrite::InPlace)
            }),
            (Mutant::CacheFollowsSymlink.name(), |cache, head| {
                mutants::witness::store(cache, head, CacheWrite::FollowsSymlink)
            }),
        ];
        for (variant, store) in stores {
            let body = sth_cache(store, writers);
            cases.push(model(CatalogueRow::SthCache, variant, writers + 1, body));
        }
    }
    let derives: [(&str, DeriveStep); 2] = [
        (REFERENCE, identity_drift::reference),
        (identity_drift::FIRST_MAC, identity_drift::first_mac),
    ];
    for (variant, derive) in derives {
        cases.push(Case {
            row: CatalogueRow::IdentityDrift,
            variant,
            actors: 1,
            invariants: CatalogueRow::IdentityDrift.invariants(),
            body: Body::Property(Arc::new(move |n| identity_drift::identity_drift(derive, n))),
        });
    }
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
