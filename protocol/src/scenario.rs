//! The scenarios of the catalogue, by the ids that reports, `--scenario`, the mutant registry
//! and the docs use. The runner holds what each scenario does; this enum is the vocabulary
//! the layers below it (the mutant registry) and above it (reports, merges) share, so that a
//! misspelt id is a compile error, not a check that never runs.

use std::fmt;

/// Declares [`ScenarioId`] from one list of variants and ids, so that the enum,
/// [`ScenarioId::ALL`] and [`ScenarioId::as_str`] cannot drift apart.
macro_rules! scenario_ids {
    ($($variant:ident = $id:literal,)*) => {
        /// One scenario of the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ScenarioId {
            $($variant,)*
        }

        impl ScenarioId {
            /// Every scenario, in the order `keyrace check` runs them.
            pub const ALL: &'static [ScenarioId] = &[$(ScenarioId::$variant,)*];

            /// The id: `keygen-race`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ScenarioId::$variant => $id,)*
                }
            }
        }
    };
}

scenario_ids! {
    KeygenRace = "keygen-race",
    PutRace = "put-race",
    DoubleBootstrap = "double-bootstrap",
    CrashPut = "crash-put",
    FailedOpenReleasesHandles = "failed-open-releases-handles",
    RecoverCorrupt = "recover-corrupt",
    DeleteReset = "delete-reset",
    History = "history",
    NoStableKey = "no-stable-key",
    RestartDurability = "restart-durability",
    CrashKeygen = "crash-keygen",
    CrashStates = "crash-states",
    CrashConsume = "crash-consume",
    CrashHistory = "crash-history",
    CrashHistoryRace = "crash-history-race",
    RetryOnce = "retry-once",
    RetryBounded = "retry-bounded",
    NoRetryOnDivergence = "no-retry-on-divergence",
    ColdStart = "cold-start",
    HeadPersists = "head-persists",
    ZeroHead = "zero-head",
    CacheKeyed = "cache-keyed",
    CacheSymlink = "cache-symlink",
    CacheTorn = "cache-torn",
    ServerFaults = "server-faults",
}

impl ScenarioId {
    /// The scenario whose id is `id`, if any.
    pub fn parse(id: &str) -> Option<ScenarioId> {
        ScenarioId::ALL.iter().copied().find(|s| s.as_str() == id)
    }
}

impl std::str::FromStr for ScenarioId {
    type Err = String;

    /// An id as a user spells it; an unknown one is refused with every id listed.
    fn from_str(id: &str) -> Result<ScenarioId, String> {
        ScenarioId::parse(id).ok_or_else(|| {
            let ids: Vec<&str> = ScenarioId::ALL.iter().map(|s| s.as_str()).collect();
            format!(
                "unknown scenario {id:?}; the scenarios are: {}",
                ids.join(", ")
            )
        })
    }
}

impl fmt::Display for ScenarioId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_parses_back_to_its_scenario_and_ids_are_distinct() {
        for &scenario in ScenarioId::ALL {
            assert_eq!(ScenarioId::parse(scenario.as_str()), Some(scenario));
        }
        let mut ids: Vec<&str> = ScenarioId::ALL.iter().map(|s| s.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ScenarioId::ALL.len());
        assert_eq!(ScenarioId::parse("keygen_race"), None);
        let refused = "keygen_race".parse::<ScenarioId>().expect_err("not an id");
        assert!(
            refused.contains("the scenarios are: keygen-race, put-race"),
            "{refused}"
        );
    }
}
