//! `keyrace list` and docs/protocol.md describe what each scenario checks; these tests hold
//! the numbers they state to the constants the checks use, so that a changed bound cannot
//! leave a description promising another.

use super::{cold_start, no_retry_on_divergence, retry_bounded, server_faults, CATALOGUE};

/// How the descriptions spell small counts.
fn word(n: usize) -> &'static str {
    match n {
        1 => "one",
        2 => "two",
        3 => "three",
        4 => "four",
        5 => "five",
        6 => "six",
        7 => "seven",
        8 => "eight",
        _ => panic!("{n}: spell larger counts in digits and extend this test"),
    }
}

fn says(text: &str, claim: &str) {
    assert!(text.contains(claim), "{text:?} does not say {claim:?}");
}

#[test]
fn request_bounds_in_summaries_and_invariants_are_the_checked_ones() {
    let at_most = format!("at most {} requests", word(server_faults::MAX_REQUESTS));
    says(server_faults::DEF.summary, &at_most);
    says(server_faults::INVARIANT.as_str(), &at_most);

    let exactly = format!("exactly {} requests", word(retry_bounded::REQUESTS));
    says(retry_bounded::DEF.summary, &exactly);
    says(retry_bounded::INVARIANT.as_str(), &exactly);

    let once = format!(
        "after exactly {} request",
        word(no_retry_on_divergence::REQUESTS)
    );
    says(no_retry_on_divergence::DEF.summary, &once);
    says(no_retry_on_divergence::INVARIANT.as_str(), &once);
}

#[test]
fn cold_start_states_its_concurrency_and_that_every_call_succeeds() {
    let concurrency = usize::try_from(cold_start::CONCURRENCY).expect("small");
    says(
        cold_start::DEF.summary,
        &format!("{} concurrent first calls", word(concurrency)),
    );
    says(cold_start::DEF.summary, "exactly one bootstrap");
    says(cold_start::DEF.summary, "all succeed");
    says(cold_start::INVARIANT.as_str(), "all succeed");
}

#[test]
fn docs_describe_every_scenario_in_the_catalogue() {
    let protocol = include_str!("../../../docs/protocol.md");
    let rows: Vec<&str> = protocol
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    for def in CATALOGUE {
        assert!(
            rows.contains(&def.id.as_str()),
            "docs/protocol.md has no table row for {}",
            def.id
        );
        assert!(
            !def.summary.contains('\n') && def.summary.len() <= 160,
            "{}: a summary is one short line: {:?}",
            def.id,
            def.summary
        );
    }
}
