//! no-stable-key (seed 001): without `KEYRACE_MASTER_KEY` and with nowhere to keep a key, an
//! implementation refuses with a coded error, and it never acknowledges a put that a restarted
//! process then cannot read (the silent fall-back to an ephemeral key).
//!
//! Actors run without a master key and with an unwritable `HOME`; as root they run as the
//! unprivileged user 65534, since root writes anywhere. Two cases per round:
//! - the store directory itself cannot be written: open and put must fail with a coded error;
//! - the store directory is writable (only `HOME` is not): a put may succeed, but then a
//!   restarted actor must read the value back.

use std::fs;
use std::path::{Path, PathBuf};

use super::{call, Env, Mode, Round, ScenarioDef, ScenarioId};
use crate::actor::{Actor, ActorError, ActorSpec};
use crate::protocol::{Op, OpName};
use crate::scratch::Scratch;

pub const DEF: ScenarioDef = ScenarioDef {
    id: ScenarioId::NoStableKey,
    summary: "no master key, unwritable store or HOME: refuse with a coded error, never acknowledge a put lost on restart",
    needs: &[OpName::Open, OpName::Put, OpName::Get],
    needs_key: true,
    default_rounds: 2,
    mode: Mode::Stochastic,
    run_round,
};

/// The unprivileged user and group actors run as when the runner is root (`nobody`).
pub const UNPRIVILEGED: (u32, u32) = (65534, 65534);

fn run_round(env: &mut Env<'_>, round: &mut Round) -> Result<(), ActorError> {
    let as_root = rustix::process::getuid().is_root();
    let run_as = as_root.then_some(UNPRIVILEGED);
    // The scratch root is private (0700): an actor run as another user gets a directory of
    // its own that it can traverse, removed after the round.
    let foreign = match run_as.map(|_| Scratch::create_traversable()).transpose() {
        Ok(foreign) => foreign,
        Err(e) => {
            round.skip = Some(format!(
                "cannot create a directory for the unprivileged actor: {e}"
            ));
            return Ok(());
        }
    };
    let base = foreign.as_ref().map_or(&round.area, Scratch::area);
    let prepared = (|| -> std::io::Result<(PathBuf, PathBuf, PathBuf)> {
        let home = base.create("home", 0o555)?;
        let locked = base.create("locked-store", 0o555)?;
        let open_dir = base.create("writable", 0o700)?;
        if let Some((uid, gid)) = run_as {
            // Inside a root-owned directory no other user can write: the path is ours.
            std::os::unix::fs::chown(open_dir.path(), Some(uid), Some(gid))?;
        }
        Ok((
            home.path().to_owned(),
            locked.path().to_owned(),
            open_dir.path().to_owned(),
        ))
    })();
    let (home, locked, open_dir) = match prepared {
        Ok(dirs) => dirs,
        Err(e) => {
            round.skip = Some(format!("cannot prepare the directories: {e}"));
            return Ok(());
        }
    };
    if !as_root && writable_by_us(&locked) {
        round.skip = Some(
            "a directory with mode 0555 is still writable here (CAP_DAC_OVERRIDE?), so no store directory can be made unwritable".to_owned(),
        );
        return Ok(());
    }
    let spec = ActorSpec {
        home,
        run_as,
        ..env.spec("keyless actor")
    };
    let mut actor = match Actor::spawn(&spec) {
        Ok(actor) => actor,
        Err(e) if run_as.is_some() => {
            round.skip = Some(format!(
                "the adapter cannot run as the unprivileged user {} ({e}); make the adapter and its interpreter executable by that user, or run keyrace as a normal user",
                UNPRIVILEGED.0
            ));
            return Ok(());
        }
        Err(e) => return Err(e),
    };

    // Case 1: the store directory cannot be written.
    let open = call(
        &mut actor,
        Op::Open {
            store: locked.clone(),
        },
    )?;
    let put = call(
        &mut actor,
        Op::Put {
            store: locked,
            name: "secret".to_owned(),
            value: round.value("locked"),
        },
    )?;
    for exchange in [&open, &put] {
        if exchange.ok() {
            round.violation(
                "with no master key and an unwritable store directory, the implementation refuses with a coded error",
                vec![exchange.describe()],
            );
        }
    }

    // Case 2: only HOME is unwritable; whatever is acknowledged must survive a restart.
    let store = open_dir.join("store");
    let value = round.value("kept");
    let put = call(
        &mut actor,
        Op::Put {
            store: store.clone(),
            name: "secret".to_owned(),
            value: value.clone(),
        },
    )?;
    actor.stop()?;
    if put.ok() {
        let mut restarted = Actor::spawn(&ActorSpec {
            label: "restarted keyless actor".to_owned(),
            ..spec
        })?;
        let get = call(
            &mut restarted,
            Op::Get {
                store,
                name: "secret".to_owned(),
            },
        )?;
        if get.value() != Some(Some(value.as_str())) {
            round.violation(
                "a put acknowledged without a master key reads back after a restart (no silent ephemeral key)",
                vec![put.describe(), get.describe()],
            );
        }
    }
    Ok(())
}

fn writable_by_us(dir: &Path) -> bool {
    let probe = dir.join(".keyrace-probe");
    let created = fs::File::create(&probe).is_ok();
    let _ = fs::remove_file(&probe);
    created
}
