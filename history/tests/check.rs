//! The checker on the classic small histories, on generated linearizable ones (accepted), on
//! the same with one answer falsified (rejected), and under a budget that runs out (undecided,
//! never a pass).

use std::time::Duration;

use keyrace_history::generate::{linearizable, Shape};
use keyrace_history::shrink::shrink;
use keyrace_history::{check, timeline, Budget, Call, History, Operation, Outcome, Ret, Verdict};
use proptest::prelude::*;
use rand::SeedableRng;

fn op(actor: usize, call: Call, outcome: Outcome, invoked: u64, completed: u64) -> Operation {
    Operation {
        actor,
        call,
        outcome,
        invoked,
        completed,
    }
}

fn put(name: &str, value: &str) -> Call {
    Call::Put {
        name: name.into(),
        value: value.into(),
    }
}

fn get(name: &str) -> Call {
    Call::Get { name: name.into() }
}

fn del(name: &str) -> Call {
    Call::Delete { name: name.into() }
}

fn consume(token: &str) -> Call {
    Call::Consume {
        token: token.into(),
    }
}

fn done() -> Outcome {
    Outcome::Ok(Ret::Done)
}

fn read(value: Option<&str>) -> Outcome {
    Outcome::Ok(Ret::Value(value.map(str::to_owned)))
}

fn won(won: bool) -> Outcome {
    Outcome::Ok(Ret::Won(won))
}

fn verdict(operations: Vec<Operation>) -> Verdict {
    check(&History { operations }, Budget::new(Duration::from_secs(5)))
}

fn fails(operations: Vec<Operation>) -> bool {
    matches!(verdict(operations), Verdict::NotLinearizable(_))
}

#[test]
fn a_read_after_an_acknowledged_put_must_see_it() {
    let stale = vec![
        op(0, put("a", "v1"), done(), 0, 10),
        op(1, get("a"), read(None), 20, 30),
    ];
    assert!(fails(stale));
    let fresh = vec![
        op(0, put("a", "v1"), done(), 0, 10),
        op(1, get("a"), read(Some("v1")), 20, 30),
    ];
    assert_eq!(verdict(fresh), Verdict::Linearizable);
}

#[test]
fn a_read_concurrent_with_a_put_may_see_either() {
    for seen in [None, Some("v1")] {
        let h = vec![
            op(0, put("a", "v1"), done(), 0, 30),
            op(1, get("a"), read(seen), 10, 20),
        ];
        assert_eq!(verdict(h), Verdict::Linearizable, "{seen:?}");
    }
}

#[test]
fn two_reads_in_sequence_cannot_see_new_then_old() {
    // The classic: one slow write, a reader sees it, a later reader does not.
    let h = vec![
        op(0, put("a", "v1"), done(), 0, 100),
        op(1, get("a"), read(Some("v1")), 10, 20),
        op(2, get("a"), read(None), 30, 40),
    ];
    assert!(fails(h));
}

#[test]
fn a_value_nobody_wrote_cannot_be_read() {
    assert!(fails(vec![op(0, get("a"), read(Some("ghost")), 0, 1)]));
}

#[test]
fn a_deleted_value_does_not_come_back() {
    let h = vec![
        op(0, put("a", "v1"), done(), 0, 10),
        op(0, del("a"), done(), 20, 30),
        op(1, get("a"), read(Some("v1")), 40, 50),
    ];
    assert!(fails(h));
}

#[test]
fn a_failed_put_never_took_effect_but_an_info_put_may_have() {
    let failed = vec![
        op(0, put("a", "v1"), Outcome::Fail, 0, 10),
        op(1, get("a"), read(Some("v1")), 20, 30),
    ];
    assert!(fails(failed));
    for seen in [None, Some("v1")] {
        let info = vec![
            op(0, put("a", "v1"), Outcome::Info, 0, 10),
            op(1, get("a"), read(seen), 20, 30),
        ];
        assert_eq!(verdict(info), Verdict::Linearizable, "{seen:?}");
    }
    // Maybe applied, but once seen it stays: it took effect at one instant.
    let flicker = vec![
        op(0, put("a", "v1"), Outcome::Info, 0, 10),
        op(1, get("a"), read(Some("v1")), 20, 30),
        op(1, get("a"), read(None), 40, 50),
    ];
    assert!(fails(flicker));
}

#[test]
fn only_one_consumer_of_a_token_ever_wins() {
    let twice = vec![
        op(0, consume("t"), won(true), 0, 10),
        op(1, consume("t"), won(true), 5, 15),
    ];
    assert!(fails(twice));
    let once = vec![
        op(0, consume("t"), won(true), 0, 10),
        op(1, consume("t"), won(false), 5, 15),
    ];
    assert_eq!(verdict(once), Verdict::Linearizable);
    // A maybe-applied consume may have spent it, or not.
    let after_info = vec![
        op(0, consume("t"), Outcome::Info, 0, 10),
        op(1, consume("t"), won(true), 20, 30),
    ];
    assert_eq!(verdict(after_info), Verdict::Linearizable);
    // A fresh token's first consume must win.
    assert!(fails(vec![op(0, consume("t"), won(false), 0, 1)]));
}

#[test]
fn names_are_checked_apart_and_the_failure_names_its_partition() {
    let h = vec![
        op(0, put("a", "v1"), done(), 0, 10),
        op(1, put("b", "v2"), done(), 0, 10),
        op(1, get("b"), read(Some("v2")), 20, 30),
        op(0, get("a"), read(None), 20, 30),
    ];
    match verdict(h) {
        Verdict::NotLinearizable(failure) => {
            assert_eq!(failure.partition, "name \"a\"");
            assert_eq!(failure.stuck, 3);
        }
        other => panic!("{other:?}"),
    }
}

/// Many maybe-applied writes, then reads no order explains: the search has exponentially many
/// subsets to rule out, and must say so rather than pass.
#[test]
fn a_search_over_its_budget_is_undecided_not_a_pass() {
    let mut ops: Vec<Operation> = (0..26)
        .map(|i| op(i, put("a", &format!("v{i}")), Outcome::Info, 0, 1))
        .collect();
    ops.push(op(30, get("a"), read(Some("v0")), 10, 11));
    ops.push(op(30, get("a"), read(Some("v1")), 12, 13));
    ops.push(op(30, get("a"), read(Some("v0")), 14, 15));
    let verdict = check(
        &History { operations: ops },
        Budget::new(Duration::from_millis(20)),
    );
    assert_eq!(
        verdict,
        Verdict::Undecided {
            partition: "name \"a\"".into()
        }
    );
}

fn shape(actors: usize, names: usize, operations: usize, info_percent: u32) -> Shape {
    Shape {
        actors,
        names,
        tokens: 2,
        operations,
        info_percent,
    }
}

/// A generated history with its first read (after `after` operations) answering a value
/// nobody wrote: a stale or invented read in the middle of a long history.
fn falsified(history: &mut History, after: usize) -> Option<usize> {
    let at = history
        .operations
        .iter()
        .skip(after)
        .position(|op| matches!(op.call, Call::Get { .. }) && op.outcome != Outcome::Info)?
        + after;
    history.operations[at].outcome = read(Some("never-written"));
    Some(at)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn generated_histories_are_linearizable(
        seed in any::<u64>(),
        actors in 1usize..6,
        names in 1usize..4,
        operations in 0usize..120,
        info_percent in 0u32..30,
    ) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let history = linearizable(&mut rng, &shape(actors, names, operations, info_percent));
        prop_assert_eq!(check(&history, Budget::new(Duration::from_secs(10))), Verdict::Linearizable);
    }

    #[test]
    fn a_read_of_a_value_nobody_wrote_is_found_and_shrunk_to_a_failing_few(
        seed in any::<u64>(),
        actors in 2usize..6,
        after in 0usize..60,
    ) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut history = linearizable(&mut rng, &shape(actors, 2, 80, 5));
        let Some(at) = falsified(&mut history, after) else { return Ok(()) };
        let Verdict::NotLinearizable(failure) = check(&history, Budget::new(Duration::from_secs(10))) else {
            return Err(TestCaseError::fail("a falsified read passed"));
        };
        prop_assert_eq!(failure.stuck, at);
        let shrunk = shrink(&history, &failure, Duration::from_secs(1), Duration::from_secs(20))
            .ok_or_else(|| TestCaseError::fail("shrinking lost the failure"))?;
        // A read of a value nobody wrote fails alone.
        prop_assert_eq!(shrunk.history.operations.len(), 1);
        prop_assert_eq!(&shrunk.history.operations[0], &history.operations[at]);
    }
}

#[test]
fn a_stale_read_shrinks_to_the_put_it_missed_and_draws_a_timeline() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut history = linearizable(&mut rng, &shape(4, 2, 200, 0));
    // A stale read: after an acknowledged put of a name, a later get of it answers the value
    // that put replaced.
    let (at, name, old) = (1..history.operations.len())
        .find_map(|i| {
            let Call::Get { name } = &history.operations[i].call else {
                return None;
            };
            let Outcome::Ok(Ret::Value(Some(seen))) = &history.operations[i].outcome else {
                return None;
            };
            Some((i, name.clone(), seen.clone()))
        })
        .expect("a get that saw a value");
    let completed = history.operations[at].completed;
    history.operations.push(op(
        9,
        put(&name, "fresh"),
        done(),
        completed + 1,
        completed + 2,
    ));
    history.operations.push(op(
        9,
        get(&name),
        read(Some(&old)),
        completed + 3,
        completed + 4,
    ));
    let Verdict::NotLinearizable(failure) = check(&history, Budget::new(Duration::from_secs(5)))
    else {
        panic!("a stale read passed");
    };
    let shrunk = shrink(
        &history,
        &failure,
        Duration::from_secs(1),
        Duration::from_secs(20),
    )
    .expect("still fails");
    // The stale read needs the put it missed and the put of the value it saw.
    assert!(shrunk.history.operations.len() <= 4, "{shrunk:#?}");
    assert!(shrunk.hidden >= 150, "{}", shrunk.hidden);
    let text = timeline::text(&shrunk.history, &shrunk.failure);
    assert!(text.contains("✗ cannot be placed"), "{text}");
    assert!(
        text.contains(&format!("put {name:?} = \"fresh\"")),
        "{text}"
    );
    let html = timeline::html(
        &shrunk.history,
        &shrunk.failure,
        "stale <read>",
        "keyrace check",
    );
    assert!(
        html.contains("<svg") && html.contains("stale &lt;read&gt;"),
        "{html}"
    );
}

#[test]
fn a_hostile_or_long_value_never_prints_raw_or_whole() {
    let long = "s".repeat(1000);
    let h = History {
        operations: vec![
            op(0, put("a", &long), done(), 0, 1),
            op(1, get("a"), read(Some("evil\n\u{1b}[2J")), 2, 3),
        ],
    };
    let Verdict::NotLinearizable(failure) = check(&h, Budget::new(Duration::from_secs(5))) else {
        panic!("a read from nowhere passed");
    };
    let text = timeline::text(&h, &failure);
    assert!(!text.contains(&long), "{text}");
    assert!(text.contains("<1000 bytes, sha256 "), "{text}");
    assert!(text.contains(r#"get "a" → "evil\n\u{1b}[2J""#), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
}

#[test]
fn a_completion_before_its_invocation_is_read_as_instantaneous_not_a_panic() {
    let h = vec![
        op(0, put("a", "v1"), done(), 10, 5),
        op(1, get("a"), read(Some("v1")), 20, 30),
    ];
    assert_eq!(verdict(h), Verdict::Linearizable);
}
