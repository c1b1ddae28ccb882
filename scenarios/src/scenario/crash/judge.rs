//! Judging the crash states of a recording: every state a power loss could leave after it
//! (both persistence profiles), each written into a directory of its own and read by the
//! verifier.
//!
//! For a put or a delete, a state passes when every secret acknowledged before reads back
//! exactly, the secret in flight holds its old or its new value (its new value, or nothing
//! for a delete, once the operation was acknowledged), and the store opens or refuses with a
//! coded error. For a consume, an acknowledged win stays consumed. A wrong value, or an
//! uncoded error, always fails.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use super::recording::Recorded;
use crate::actor::ActorError;
use crate::crash::fix::fixes;
use crate::crash::materialize::materialize;
use crate::crash::states::{enumerate, CrashState, Limits, Profile};
use crate::finding::{Finding, Invariant};
use crate::protocol::{Code, Op};
use crate::scenario::{Env, Exchange, Round};

/// Violating states reported per round: the rest are counted.
const STATES_REPORTED: usize = 3;
pub const ACKED: Invariant =
    Invariant::new("after a power loss, every secret acknowledged before it reads back exactly");
pub const IN_FLIGHT: Invariant = Invariant::new(
    "after a power loss, the secret being written holds its old value \
    or its new value (its new value once the operation was acknowledged), never anything else",
);
pub const OPENS: Invariant = Invariant::new(
    "after a power loss, the store opens or refuses with a coded error, never an uncoded one",
);
pub const CONSUMED: Invariant = Invariant::new(
    "after a power loss, an acknowledged consume stays consumed (the grace is never granted twice)",
);

/// What a put or delete must leave.
pub struct Expectation {
    /// Secrets acknowledged before the operation: (name, value).
    pub acked: Vec<(String, String)>,
    /// The secret the operation changes: its value before (if any), after (`None`: deleted).
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}
/// A broken invariant in one crash state, with the replies that show it.
pub type Broken = Vec<Finding>;
/// Build every crash state of `recorded`, write each into a directory of its own and let
/// `judge` read it (with the store at `<state>/<store_rel>`).
pub fn judge_states(
    env: &mut Env<'_>,
    round: &mut Round,
    store_rel: &str,
    recorded: &Recorded,
    judge: &mut dyn FnMut(&mut Env<'_>, &Path, &CrashState) -> Result<Broken, ActorError>,
) -> Result<(), ActorError> {
    let ops = &recorded.ops;
    let states = match round.area.create("states", 0o700) {
        Ok(states) => states,
        Err(e) => {
            round.skip = Some(format!(
                "cannot create {} ({e})",
                round.dir.join("states").display()
            ));
            return Ok(());
        }
    };
    // Every distinct state of both profiles first, so progress can say "k of n".
    let mut seen = HashSet::new();
    let mut distinct = Vec::new();
    let mut cut_short = Vec::new();
    for profile in Profile::ALL {
        let enumeration = enumerate(&recorded.snapshot, ops, profile, &Limits::default());
        for why in enumeration.cut_short {
            cut_short.push(format!("{why} (the {} profile)", profile.name()));
        }
        for state in enumeration.states {
            if seen.insert((state.tree.digest(), state.acks)) {
                distinct.push((profile, state));
            }
        }
    }
    let total = distinct.len();
    let mut judged = 0usize;
    let mut violating = 0usize;
    for (profile, state) in &distinct {
        if judged > 0 && env.deadline.is_some_and(|d| Instant::now() >= d) {
            cut_short.push(format!(
                "the time budget ran out after {judged} of {total} distinct crash states"
            ));
            break;
        }
        if violating > 0 && env.cfg.fail_fast {
            cut_short.push(format!(
                "--fail-fast stopped at the first violating state, after {judged} of {total}"
            ));
            break;
        }
        env.ticker.detail(&format!(
            "round {}: judging crash state {} of {total}",
            round.index + 1,
            judged + 1
        ));
        let name = judged.to_string();
        judged += 1;
        let written = states
            .create(&name, 0o700)
            .and_then(|area| materialize(&state.tree, area.dir()).map(|()| area));
        let broken = match written {
            Ok(area) => judge(env, &area.path().join(store_rel), state)?,
            Err(e) => vec![Finding::new(
                OPENS,
                vec![format!("runner: cannot write the crash state ({e})")],
            )],
        };
        let _ = states.remove_all(&name);
        if broken.is_empty() {
            continue;
        }
        violating += 1;
        if violating > STATES_REPORTED {
            continue;
        }
        for Finding {
            invariant,
            evidence: replies,
        } in broken
        {
            let mut lines = vec![format!("state: {}", state.describe(ops))];
            lines.push(format!("under the {}", profile.description()));
            lines.extend(fixes(state, ops, &recorded.snapshot));
            lines.extend(replies);
            lines.extend(recorded.calls());
            round.violation(invariant, lines);
        }
    }
    if let Some(controlled) = env.controlled.as_mut() {
        controlled.crash.recordings += 1;
        controlled.crash.states_judged += judged as u64;
        controlled.crash.states_violating += violating as u64;
        for why in cut_short {
            if !controlled.crash.cut_short.contains(&why) {
                controlled.crash.cut_short.push(why);
            }
        }
    }
    Ok(())
}

/// The judge of a put or delete: open, every acknowledged secret, the one in flight.
pub fn judge_secrets<'e>(
    expect: &'e Expectation,
) -> impl FnMut(&mut Env<'_>, &Path, &CrashState) -> Result<Broken, ActorError> + 'e {
    move |env, store, state| {
        let mut broken = Vec::new();
        let opened = env.verify(Op::Open {
            store: store.to_owned(),
        })?;
        if is_uncoded(&opened) {
            broken.push(Finding::new(OPENS, vec![opened.describe()]));
        }
        for (name, value) in &expect.acked {
            let get = env.verify(Op::Get {
                store: store.to_owned(),
                name: name.clone(),
            })?;
            if get.value() != Some(Some(value.as_str())) {
                let mut lines = vec![get.describe()];
                lines.extend(which_value(get.value(), Some(value), None));
                broken.push(Finding::new(ACKED, lines));
            }
        }
        let get = env.verify(Op::Get {
            store: store.to_owned(),
            name: expect.name.clone(),
        })?;
        let is_old = |value: Option<&str>| value == expect.old.as_deref();
        let fine = match get.value() {
            Some(value) if value == expect.new.as_deref() => true,
            Some(value) => !state.acked && is_old(value),
            // A coded refusal is allowed while nothing that was acknowledged is at stake.
            None => {
                !state.acked && expect.acked.is_empty() && expect.old.is_none() && !is_uncoded(&get)
            }
        };
        if !fine {
            let mut lines = vec![get.describe()];
            lines.extend(which_value(
                get.value(),
                expect.new.as_deref(),
                expect.old.as_deref(),
            ));
            broken.push(Finding::new(IN_FLIGHT, lines));
        }
        Ok(broken)
    }
}

/// What a value the verifier read is, in words (`None` for a failed read, whose code says
/// it): the new value, the old value, nothing, or neither (with its size). Never the value.
pub(crate) fn which_value(
    read: Option<Option<&str>>,
    new: Option<&str>,
    old: Option<&str>,
) -> Option<String> {
    let read = read?;
    let what = if read == new && new.is_some() {
        "the new value".to_owned()
    } else if read == old && old.is_some() {
        "the old value".to_owned()
    } else {
        match read {
            None => "no value: the secret is absent".to_owned(),
            Some(value) => format!("neither the old nor the new value ({} bytes)", value.len()),
        }
    };
    Some(format!("runner: the verifier read {what}"))
}

/// The judge of a consume of `token` that won: once acknowledged, a later consume loses.
pub fn judge_consumed(
    token: &str,
) -> impl FnMut(&mut Env<'_>, &Path, &CrashState) -> Result<Broken, ActorError> + '_ {
    move |env, store, state| {
        let again = env.verify(Op::Consume {
            store: store.to_owned(),
            token: token.to_owned(),
        })?;
        let mut broken = Vec::new();
        if is_uncoded(&again) {
            broken.push(Finding::new(OPENS, vec![again.describe()]));
        } else if state.acked && again.won() == Some(true) {
            broken.push(Finding::new(CONSUMED, vec![again.describe()]));
        }
        Ok(broken)
    }
}

fn is_uncoded(exchange: &Exchange) -> bool {
    matches!(&exchange.reply.outcome, Err(f) if matches!(f.code, Code::Unknown(_)))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::crash::states::Tree;
    use std::ffi::OsString;

    /// A verifier that answers by request: `open` with `open`, `get` of a name with its
    /// entry in `gets` (else a not-found error), `consume` with `consume`. A body is the
    /// reply's fields after the id.
    fn verifier(open: &str, gets: &[(&str, &str)], consume: &str) -> Vec<OsString> {
        let mut arms = format!("*'\"op\":\"open\"'*) body='{open}' ;;\n");
        arms.push_str(&format!("*'\"op\":\"consume\"'*) body='{consume}' ;;\n"));
        for (name, body) in gets {
            arms.push_str(&format!("*'\"name\":\"{name}\"'*) body='{body}' ;;\n"));
        }
        let script = format!(
            r#"echo '{{"protocol":"keyrace-adapter/1","name":"judged","ops":["open","get","consume"]}}'
while IFS= read -r line; do
  id=${{line#*\"id\":}}; id=${{id%%,*}}
  case "$line" in
{arms}  *) body='"ok":false,"code":"NOT_FOUND","message":"unscripted"' ;;
  esac
  printf '{{"id":%s,%s}}\n' "$id" "$body"
done"#
        );
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn a_read_value_is_named_old_new_absent_or_neither_never_shown() {
        let said = |read| which_value(read, Some("new-secret"), Some("old-secret"));
        assert_eq!(
            said(Some(Some("new-secret"))).as_deref(),
            Some("runner: the verifier read the new value")
        );
        assert_eq!(
            said(Some(Some("old-secret"))).as_deref(),
            Some("runner: the verifier read the old value")
        );
        assert_eq!(
            said(Some(None)).as_deref(),
            Some("runner: the verifier read no value: the secret is absent")
        );
        assert_eq!(
            said(Some(Some("garbage"))).as_deref(),
            Some("runner: the verifier read neither the old nor the new value (7 bytes)")
        );
        assert_eq!(said(None), None);
        // A delete's new value is absence, and a first put has no old value.
        assert_eq!(
            which_value(Some(None), None, Some("old")).as_deref(),
            Some("runner: the verifier read no value: the secret is absent")
        );
        assert_eq!(
            which_value(Some(Some("old")), None, Some("old")).as_deref(),
            Some("runner: the verifier read the old value")
        );
    }

    fn state(acked: bool) -> CrashState {
        CrashState {
            crash_after: 0,
            acked,
            acks: usize::from(acked),
            lost: Vec::new(),
            torn: None,
            rename_halves: Vec::new(),
            tree: Tree::new(),
        }
    }

    type Judge<'j> =
        Box<dyn FnMut(&mut Env<'_>, &Path, &CrashState) -> Result<Broken, ActorError> + 'j>;

    fn judged(judge: &mut Judge<'_>, adapter: Vec<OsString>, acked: bool) -> Broken {
        let cfg = Config::new(adapter, false);
        let home = tempfile::tempdir().unwrap();
        let mut env = Env::new(&cfg, home.path().to_owned(), 1);
        judge(&mut env, Path::new("/state/store"), &state(acked)).unwrap()
    }

    fn invariants(broken: &Broken) -> Vec<Invariant> {
        broken.iter().map(|f| f.invariant.clone()).collect()
    }

    const OK: &str = r#""ok":true"#;
    const UNCODED: &str = r#""ok":false,"code":"EXPLODED","message":"boom""#;
    const REFUSED: &str = r#""ok":false,"code":"METADATA_MISSING","message":"no metadata""#;
    const NULL: &str = r#""ok":true,"value":null"#;

    fn value(v: &str) -> String {
        format!(r#""ok":true,"value":"{v}""#)
    }

    fn expectation(acked: &[(&str, &str)], old: Option<&str>, new: Option<&str>) -> Expectation {
        Expectation {
            acked: acked
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            name: "k".to_owned(),
            old: old.map(str::to_owned),
            new: new.map(str::to_owned),
        }
    }

    #[test]
    fn an_overwrite_is_judged_by_the_acknowledged_secrets_and_the_one_in_flight() {
        let expect = expectation(&[("a", "1")], Some("v1"), Some("v2"));
        let (one, v1, v2) = (value("1"), value("v1"), value("v2"));
        // (open, get "a", get "k", state acknowledged, broken invariants)
        let cases: [(&str, &str, &str, bool, &[Invariant]); 10] = [
            (OK, &one, &v2, true, &[]),
            (OK, &one, &v2, false, &[]),
            (OK, &one, &v1, false, &[]),
            (OK, &one, &v1, true, &[IN_FLIGHT]),
            (OK, &one, r#""ok":true,"value":"v3""#, false, &[IN_FLIGHT]),
            (OK, &one, NULL, false, &[IN_FLIGHT]),
            // A coded refusal while an acknowledged secret is at stake.
            (OK, &one, REFUSED, false, &[IN_FLIGHT]),
            (OK, NULL, &v2, true, &[ACKED]),
            (REFUSED, &one, &v2, true, &[]),
            (UNCODED, REFUSED, &v1, true, &[OPENS, ACKED, IN_FLIGHT]),
        ];
        for (open, a, k, acked, want) in cases {
            let mut judge: Judge<'_> = Box::new(judge_secrets(&expect));
            let broken = judged(&mut judge, verifier(open, &[("a", a), ("k", k)], OK), acked);
            assert_eq!(
                invariants(&broken),
                want,
                "open {open}, a {a}, k {k}, acked {acked}"
            );
        }
    }

    #[test]
    fn a_broken_state_shows_the_reply_that_broke_it() {
        let expect = expectation(&[], Some("v1"), Some("v2"));
        let mut judge: Judge<'_> = Box::new(judge_secrets(&expect));
        let broken = judged(&mut judge, verifier(OK, &[("k", &value("v1"))], OK), true);
        assert_eq!(
            broken,
            [Finding::new(
                IN_FLIGHT,
                vec![
                    r#"verifier: get "k" → ok, value "v1""#.to_owned(),
                    "runner: the verifier read the old value".to_owned()
                ]
            )]
        );
    }

    #[test]
    fn a_first_put_may_leave_nothing_or_a_coded_refusal_until_acknowledged() {
        let expect = expectation(&[], None, Some("v"));
        let (v, empty) = (value("v"), value(""));
        let cases: [(&str, bool, &[Invariant]); 7] = [
            (&v, true, &[]),
            (NULL, false, &[]),
            (NULL, true, &[IN_FLIGHT]),
            (REFUSED, false, &[]),
            (REFUSED, true, &[IN_FLIGHT]),
            (UNCODED, false, &[IN_FLIGHT]),
            (&empty, false, &[IN_FLIGHT]),
        ];
        for (k, acked, want) in cases {
            let mut judge: Judge<'_> = Box::new(judge_secrets(&expect));
            let broken = judged(&mut judge, verifier(OK, &[("k", k)], OK), acked);
            assert_eq!(invariants(&broken), want, "k {k}, acked {acked}");
        }
    }

    #[test]
    fn a_delete_leaves_null_once_acknowledged() {
        let expect = expectation(&[], Some("v"), None);
        let v = value("v");
        let cases: [(&str, bool, &[Invariant]); 5] = [
            (NULL, true, &[]),
            (NULL, false, &[]),
            (&v, false, &[]),
            (&v, true, &[IN_FLIGHT]),
            (REFUSED, false, &[IN_FLIGHT]),
        ];
        for (k, acked, want) in cases {
            let mut judge: Judge<'_> = Box::new(judge_secrets(&expect));
            let broken = judged(&mut judge, verifier(OK, &[("k", k)], OK), acked);
            assert_eq!(invariants(&broken), want, "k {k}, acked {acked}");
        }
    }

    #[test]
    fn an_acknowledged_consume_stays_consumed() {
        let won = r#""ok":true,"won":true"#;
        let lost = r#""ok":true,"won":false"#;
        let cases: [(&str, bool, &[Invariant]); 6] = [
            (lost, true, &[]),
            (won, false, &[]),
            (won, true, &[CONSUMED]),
            (REFUSED, true, &[]),
            (UNCODED, true, &[OPENS]),
            (UNCODED, false, &[OPENS]),
        ];
        for (consume, acked, want) in cases {
            let mut judge: Judge<'_> = Box::new(judge_consumed("t"));
            let broken = judged(&mut judge, verifier(OK, &[], consume), acked);
            assert_eq!(
                invariants(&broken),
                want,
                "consume {consume}, acked {acked}"
            );
        }
    }
}
