//! `keyrace`: the conformance runner. `keyrace check` races the built-in reference adapter;
//! `keyrace check --adapter CMD [ARGS...]` races any implementation's adapter.

mod jobs;
mod merge;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use keyrace_process::reaper;
use keyrace_reference::{self as adapter, Mutant};
use keyrace_runner::catalogue::{self, ScenarioId};
use keyrace_runner::config::{
    split_adapter, Budget, Config, RunMode, Shard, DEFAULT_TIMEOUT, MAX_ACTORS, MAX_TIME,
    MAX_TIMEOUT,
};
use keyrace_runner::explore::{
    parse_preemptions, parse_word, Strategy, DEFAULT_DEPTH, DEFAULT_PREEMPTIONS,
};
use keyrace_runner::report::EXIT_FAULT;
use keyrace_runner::Check;
use keyrace_witness::ledger::LedgerSpec;
use keyrace_witness::mutants::ServerMutant;
use keyrace_witness::wire::Preset;

#[derive(Parser)]
#[command(
    name = "keyrace",
    version,
    about = "Race real processes of a secret/key store through the keyrace-adapter/1 protocol",
    after_help = "Exit codes: 0 every scenario that ran passed, 1 an invariant was violated (whatever else happened), 2 nothing was violated but something could not be judged (usage error, adapter fault, every scenario skipped), 128+n interrupted by signal n."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenarios against an adapter (default: the built-in reference adapter).
    Check(CheckArgs),
    /// List the scenarios, one line each.
    List,
    /// Join the JSON reports of a sharded run (check --shard K/N) into the whole run's report.
    Merge(MergeArgs),
    /// Serve the reference witness server (seed 002's protocol, docs/witness.md) over HTTP.
    WitnessServer(WitnessServerArgs),
    /// Race a swarm of clients against a witness server and check its invariants.
    CheckServer(CheckServerArgs),
    /// Run the built-in reference adapter on stdin/stdout (what `check` starts by default).
    Adapter {
        /// Switch on one known-bad variant.
        #[arg(long, value_parser = named::<Mutant>(Mutant::names()))]
        mutant: Option<Mutant>,
    },
}

#[derive(Args)]
struct MergeArgs {
    /// Also write the merged report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The shards' reports (keyrace check --shard K/N --json FILE), every shard once.
    #[arg(required = true, value_name = "REPORT.json")]
    reports: Vec<PathBuf>,
}

#[derive(Args)]
struct WitnessServerArgs {
    /// Address to listen on (port 0: an ephemeral port, printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: String,
    /// Where the one-time grace ledger lives: sqlite:PATH, postgres:CONNECTION
    /// (e.g. "postgres:host=/var/run/postgresql dbname=keyrace") or memory.
    #[arg(long, default_value = "sqlite:keyrace-witness.sqlite", value_parser = |spec: &str| spec.parse::<LedgerSpec>())]
    ledger: LedgerSpec,
    /// The protocol's spelling: keyrace (X-Keyrace-Last-Known-Head / X-Keyrace-Current-Head,
    /// flat refusal bodies) or loopctl (X-Loopctl-Last-Known-STH / x-loopctl-current-sth,
    /// {"error": {"code": "witness_..."}} refusals).
    #[arg(long, default_value = Preset::default().name(), value_parser = named::<Preset>(Preset::ALL.map(Preset::name).to_vec()))]
    preset: Preset,
    /// Heads to seal at start (0: nothing sealed, the zero placeholder passes).
    #[arg(long, default_value_t = 0)]
    sealed: u64,
    /// Worker threads (and ledger connections).
    #[arg(long, default_value_t = keyrace_witness::server::DEFAULT_THREADS)]
    threads: usize,
    /// Switch on one known-bad variant, to show that `keyrace check-server` catches it.
    #[arg(long, value_parser = named::<ServerMutant>(ServerMutant::names().to_vec()))]
    mutant: Option<ServerMutant>,
}

#[derive(Args)]
struct CheckServerArgs {
    /// The server, as http://host:port.
    url: String,
    /// The protocol's spelling the server uses (keyrace or loopctl).
    #[arg(long, default_value = Preset::default().name(), value_parser = named::<Preset>(Preset::ALL.map(Preset::name).to_vec()))]
    preset: Preset,
    /// Concurrent clients per bootstrap race.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Bootstrap races, each with a fresh API key.
    #[arg(long, default_value_t = 50)]
    rounds: u32,
    /// Run only this check (repeatable): zero-head, bootstrap-race, refusal-has-no-effect,
    /// historical-head, forged-head, malformed-head.
    #[arg(long = "check", value_name = "ID", value_parser = PossibleValuesParser::new(keyrace_witness::check::CHECKS))]
    checks: Vec<String>,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StrategyName {
    Dfs,
    Pct,
}

#[derive(Args)]
struct CheckArgs {
    /// Run only this scenario (repeatable); default: all of them.
    #[arg(long = "scenario", value_name = "ID", value_parser = named::<ScenarioId>(ScenarioId::ALL.iter().map(|s| s.as_str()).collect()))]
    scenarios: Vec<ScenarioId>,
    /// Racing actors (adapter processes) per scenario [default: 2 in a controlled race, 4
    /// otherwise].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_ACTORS as i64))]
    actors: Option<u32>,
    /// full: every scenario in its strongest form (racing scenarios as controlled
    /// interleavings of traced file-system calls, the crash-state scenarios, fault scenarios
    /// untraced; where tracing is unavailable, racing scenarios fall back to chance and the
    /// report ends saying so). chance: every actor at once, ordered by chance; no crash states.
    #[arg(long, value_enum, default_value_t = RunMode::Full)]
    mode: RunMode,
    /// How controlled interleavings are chosen (full mode): dfs, bounded-exhaustive within
    /// --preemptions; pct, randomized with a stated bound (--depth).
    #[arg(long, value_enum, default_value_t = StrategyName::Dfs)]
    strategy: StrategyName,
    /// The same as --mode full --strategy STRATEGY (kept from earlier versions).
    #[arg(long, value_name = "STRATEGY", num_args = 0..=1, default_missing_value = "dfs", value_enum, conflicts_with = "strategy")]
    explore: Option<StrategyName>,
    /// Exit 2 when the run is weaker than full because tracing is unavailable (for CI).
    #[arg(long)]
    require_systematic: bool,
    /// DFS: the most preemptions per schedule (0 to 8), or `unbounded`: every schedule, which
    /// with the partial-order reduction also uses sleep sets.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PREEMPTIONS, value_parser = parse_preemptions)]
    preemptions: u32,
    /// DFS: run every schedule within the bound, also those that only reorder calls that
    /// commute (no partial-order reduction); for comparing, or to rule the reduction out.
    #[arg(long, conflicts_with = "schedule")]
    no_reduction: bool,
    /// PCT: the bug depth to target.
    #[arg(long, value_name = "D", default_value_t = DEFAULT_DEPTH, value_parser = clap::value_parser!(u32).range(1..=8))]
    depth: u32,
    /// Replay exactly this schedule (a word of actor indices, as a violation prints it).
    #[arg(long, value_name = "WORD", conflicts_with_all = ["explore", "strategy"])]
    schedule: Option<String>,
    /// Rounds per scenario (default: each scenario's own budget; a crash form's stops after
    /// 180 s, never before its second round).
    #[arg(long, conflicts_with = "time", value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,
    /// Run each scenario for this many seconds instead of a number of rounds.
    #[arg(long, value_name = "SECS")]
    time: Option<f64>,
    /// Seed of every random choice (printed in the report; re-use it to replay a run).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds to wait for an adapter's hello or reply before calling it hung.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the report as JUnit XML.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the first history that does not linearize (scenario history) as a timeline page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Run the history scenario with this workload (JSON: names, tokens, op mix, value size,
    /// actors, steps, crash; docs/protocol.md, "Workloads of your own") instead of its own mix;
    /// with "crash": true, crash-history too.
    #[arg(long, value_name = "FILE")]
    workload: Option<PathBuf>,
    /// Stop each scenario at its first violating round.
    #[arg(long)]
    fail_fast: bool,
    /// Set by `--jobs` on its workers: the parent's pid, so that a worker ends with it.
    #[arg(long, value_name = "PID", hide = true, requires = "shard")]
    worker_of: Option<u32>,
    /// Run only the K-th of N parts of the run (scenarios, and a controlled race's schedules
    /// by the actor run at its first choice), for N CI jobs; join their --json reports with
    /// keyrace merge.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Run the parts of the run in N worker processes at once (each its own tracer, actors
    /// and scratch directory), then merge them: the same schedules and verdicts as one job
    /// where every part's budget lasts (a budget applies per part). Default: $KEYRACE_JOBS,
    /// else the cores, at most 8.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_JOBS)), conflicts_with_all = ["shard", "schedule"])]
    jobs: Option<u32>,
    /// How the client scenarios' scripted server spells the witness protocol: keyrace, or
    /// loopctl (seed 002's header names, refusal bodies and bootstrap marker), so that a client
    /// written for loopctl is checked unchanged.
    #[arg(long, default_value = Preset::default().name(), value_parser = named::<Preset>(Preset::ALL.map(Preset::name).to_vec()))]
    preset: Preset,
    /// The adapter command; must come last: everything after it is passed to the adapter verbatim.
    #[arg(long, value_name = "CMD [ARGS]...", num_args = 1.., allow_hyphen_values = true)]
    adapter: Vec<OsString>,
}

/// `value` seconds as a duration in (0, `max`], or a usage error naming the bounds.
fn seconds(value: f64, what: &str, max: Duration) -> Duration {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() && *d <= max)
        .unwrap_or_else(|| {
            usage(&format!(
                "{what} must be a number of seconds more than 0 and at most {}",
                max.as_secs()
            ))
        })
}

/// The most workers `--jobs` (or `KEYRACE_JOBS`) may ask for.
const MAX_JOBS: u8 = 64;

/// The most workers `--jobs` defaults to: each worker's tracer thread and actors want a core
/// of their own, and past a few workers the run's parts (an actor's share of each race) run out.
const DEFAULT_MAX_JOBS: u32 = 8;

/// `--jobs`' default: `KEYRACE_JOBS` if set (and not empty), else the cores this process may
/// use, at most [`DEFAULT_MAX_JOBS`]. The workers' merged report is one run's report.
fn default_jobs() -> u32 {
    let Some(value) = std::env::var_os("KEYRACE_JOBS").filter(|v| !v.is_empty()) else {
        return std::thread::available_parallelism()
            .map_or(1, |cores| u32::try_from(cores.get()).unwrap_or(u32::MAX))
            .min(DEFAULT_MAX_JOBS);
    };
    value
        .to_str()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (1..=u32::from(MAX_JOBS)).contains(n))
        .unwrap_or_else(|| {
            usage(&format!(
                "KEYRACE_JOBS must be a number of workers from 1 to {MAX_JOBS}, not {value:?}"
            ))
        })
}

fn usage(message: &str) -> ! {
    eprintln!("keyrace: {message}");
    std::process::exit(2);
}

fn main() {
    let (own, adapter_argv) = split_adapter(std::env::args_os().collect());
    let own_args: Vec<OsString> = own.iter().skip(1).cloned().collect();
    let cli = Cli::parse_from(own);
    match cli.command {
        Command::List => {
            for def in catalogue::CATALOGUE {
                let form = match def.mode {
                    catalogue::Mode::Stochastic => "[untraced]",
                    catalogue::Mode::Race => "[controlled; by chance in --mode chance]",
                    catalogue::Mode::Traced => "[crash states; needs tracing]",
                    catalogue::Mode::TracedRace => {
                        "[controlled, each schedule in its crash states; needs tracing]"
                    }
                };
                println!("{:<24} {} {form}", def.id, def.summary);
            }
        }
        Command::Merge(args) => merge(args),
        Command::WitnessServer(args) => witness_server(args),
        Command::CheckServer(args) => check_server(args),
        Command::Adapter { mutant } => {
            if let Err(e) =
                adapter::serve(mutant, std::io::stdin().lock(), std::io::stdout().lock())
            {
                eprintln!("keyrace adapter: {e}");
                std::process::exit(1);
            }
        }
        Command::Check(args) => {
            let worker_of = args.worker_of;
            if let Some(parent) = worker_of {
                follow_parent(parent);
            }
            let jobs_wanted = match args.jobs {
                Some(n) => n,
                // A shard or a replay is one worker's part already.
                None if args.shard.is_some() || args.schedule.is_some() => 1,
                None => default_jobs(),
            };
            let cfg = check_of(args, adapter_argv).config();
            reaper::install_signal_handlers();
            if jobs_wanted > 1 {
                // Not `own_every_child`: a second signal must not sweep the workers away
                // (SIGKILL, their scratch directories left), but reach them (their parent's
                // death signal), so that each cleans up as one run does.
                std::process::exit(jobs(&cfg, jobs_wanted, &own_args));
            }
            reaper::own_every_child();
            if worker_of.is_some() {
                jobs::ready(&cfg);
            }
            std::process::exit(keyrace_runner::run(&cfg));
        }
    }
}

/// The run `keyrace check` asks for, or a usage error.
fn check_of(args: CheckArgs, adapter_argv: Option<Vec<OsString>>) -> Check {
    let mut check = match adapter_argv {
        Some(argv) if argv.is_empty() => usage("--adapter needs a command"),
        Some(argv) => Check::adapter(argv),
        None => match std::env::current_exe() {
            Ok(exe) => Check::builtin_adapter([exe.into_os_string(), "adapter".into()]),
            Err(e) => usage(&format!(
                "cannot find the built-in adapter ({e}); pass --adapter"
            )),
        },
    };
    if args.explore.is_some() && args.mode == RunMode::Chance {
        usage("--explore is the full mode; it cannot be combined with --mode chance");
    }
    if args.schedule.is_some() && args.mode == RunMode::Chance {
        usage("--schedule replays a controlled interleaving; it cannot be combined with --mode chance");
    }
    let strategy = args.explore.unwrap_or(args.strategy);
    if args.no_reduction && strategy == StrategyName::Pct {
        usage("--no-reduction applies to the dfs strategy; pct does not reduce");
    }
    check = check
        .mode(args.mode)
        .strategy(match (&args.schedule, strategy) {
            (Some(word), _) => Strategy::Replay(parse_word(word).unwrap_or_else(|e| usage(&e))),
            (None, StrategyName::Pct) => Strategy::Pct { depth: args.depth },
            (None, StrategyName::Dfs) => Strategy::Dfs {
                preemptions: args.preemptions,
                reduction: !args.no_reduction,
            },
        });
    if args.require_systematic {
        check = check.require_systematic();
    }
    check = check
        .preset(args.preset)
        .budget(match (args.rounds, args.time) {
            (Some(n), _) => Budget::Rounds(n),
            (None, Some(t)) => Budget::Time(seconds(t, "--time", MAX_TIME)),
            (None, None) => Budget::Default,
        });
    if let Some(seed) = args.seed {
        check = check.seed(seed);
    }
    check = check.timeout(seconds(args.timeout, "--timeout", MAX_TIMEOUT));
    if let Some(path) = args.json {
        check = check.json(path);
    }
    if let Some(path) = args.junit {
        check = check.junit(path);
    }
    if let Some(path) = args.html {
        check = check.html(path);
    }
    let mut scenarios = args.scenarios;
    let mut actors = args.actors.map(|n| n as usize);
    if let Some(path) = &args.workload {
        let workload = keyrace_runner::workload::Workload::load(path)
            .unwrap_or_else(|e| usage(&e.to_string()));
        scenarios = workload_forms(&workload, &scenarios, args.mode);
        actors = actors.or(workload.actors);
        check = check.workload(workload);
    }
    for id in scenarios {
        check = check.scenario(id.as_str());
    }
    if let Some(n) = actors {
        check = check.actors(n);
    }
    if let Some(shard) = args.shard {
        check = check.shard(shard);
    }
    if args.fail_fast {
        check = check.fail_fast();
    }
    check.progress()
}

/// The scenarios a `--workload` runs: each of its forms once, in the catalogue's order (the
/// ones named, or both forms the workload asks for), or a usage error.
fn workload_forms(
    workload: &keyrace_runner::workload::Workload,
    named: &[ScenarioId],
    mode: RunMode,
) -> Vec<ScenarioId> {
    let forms = [ScenarioId::History, ScenarioId::CrashHistory];
    if named.iter().any(|id| !forms.contains(id)) {
        usage(
            "--workload runs the history scenario (and crash-history, with \"crash\": \
             true); drop the other --scenario ids",
        );
    }
    let crash_named = named.contains(&forms[1]);
    if mode == RunMode::Chance && crash_named {
        usage(
            "--scenario crash-history judges crash states under the tracer, which \
             --mode chance does not run; drop --mode chance (or the crash form)",
        );
    }
    if !workload.crash && crash_named {
        usage(
            "--scenario crash-history runs a workload with \"crash\": true; add it \
             to the workload file",
        );
    }
    let wanted = |id: &ScenarioId| match named.is_empty() {
        true => *id == forms[0] || workload.crash,
        false => named.contains(id),
    };
    forms.into_iter().filter(wanted).collect()
}

/// A clap parser of a type named by `names`: clap lists and checks the names, and the field
/// holds the parsed value (nothing is left to parse, or to drop, after clap).
fn named<T>(names: Vec<&'static str>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

fn witness_server(args: WitnessServerArgs) {
    use keyrace_witness::server::{ServerConfig, WitnessServer};
    let (spec, mutant) = (args.ledger, args.mutant);
    let ledger =
        keyrace_witness::mutants::ledger_for(&spec, args.threads, mutant).unwrap_or_else(|e| {
            eprintln!("keyrace witness-server: {e}");
            std::process::exit(1);
        });
    let config = ServerConfig {
        preset: args.preset,
        mutant,
        sealed: args.sealed,
    };
    let server =
        WitnessServer::start(&args.listen, ledger, config, args.threads).unwrap_or_else(|e| {
            eprintln!(
                "keyrace witness-server: cannot listen on {}: {e}",
                args.listen
            );
            std::process::exit(1);
        });
    println!("keyrace witness-server listening on {}", server.url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Serve until a signal ends the process (SIGINT, SIGTERM: the default action). Every
    // acknowledged consume is already durable (synchronous = FULL, or PostgreSQL's commit).
    loop {
        std::thread::park();
    }
}

/// A `--jobs` worker runs in a process group of its own, so that a terminal's Ctrl-C or a CI
/// timeout's signal to the group reaches only the parent, which stops the workers once (a
/// worker signalled twice would exit at once, without its report); it must still end with its
/// parent: SIGTERM when the parent dies.
fn follow_parent(parent: u32) {
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM) {
        say(&format!(
            "a worker cannot follow its parent ({e}): if the parent is killed, stop it by hand"
        ));
    }
    // The parent died before the prctl: nobody would merge this worker's report.
    if u32::try_from(nix::unistd::getppid().as_raw()).ok() != Some(parent) {
        std::process::exit(EXIT_FAULT);
    }
}

/// A line on standard error that may be gone (a CI log collector that timed out): the report
/// on standard output and the files must not depend on it.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "keyrace: {line}");
}

/// `check --jobs N`: the run's shards in N workers, merged; returns the exit code as one run's.
fn jobs(cfg: &Config, jobs: u32, own: &[OsString]) -> i32 {
    say(&format!(
        "running {jobs} workers (shards 1/{jobs} to {jobs}/{jobs}), seed {}",
        cfg.seed()
    ));
    let (merged, written) = match jobs::run_jobs(cfg, jobs, own) {
        Ok(done) => done,
        Err(e) => {
            say(&e.to_string());
            return e.exit_code();
        }
    };
    {
        use std::io::Write;
        let _ = write!(std::io::stdout(), "{}", merged.text);
    }
    let json = cfg.json().map(|path| (path, Ok(merged.json())));
    let junit = cfg
        .junit()
        .map(|path| (path, jobs::join_junit(&written.junit)));
    // The first page in worker order: the one a single run would have written first (its
    // search runs the first part's schedules first).
    let html = cfg
        .html()
        .zip(written.html.first())
        .map(|(path, page)| (path, std::fs::read_to_string(page)));
    let page = html.as_ref().map(|(path, _)| path.to_path_buf());
    let exit_code = keyrace_runner::write_files(
        [json, junit, html].into_iter().flatten(),
        merged.exit_code,
        !merged.report["interrupted"].is_null(),
    );
    if let Some(path) = page {
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "the first history that did not linearize: its timeline was written to {}",
            path.display()
        );
    }
    exit_code
}

fn merge(args: MergeArgs) {
    let merged = match merge::merge(&args.reports) {
        Ok(merged) => merged,
        Err(e) => {
            eprintln!("keyrace: {e}");
            std::process::exit(e.exit_code());
        }
    };
    print!("{}", merged.text);
    let json = args.json.as_deref().map(|path| (path, Ok(merged.json())));
    let interrupted = !merged.report["interrupted"].is_null();
    std::process::exit(keyrace_runner::write_files(
        json,
        merged.exit_code,
        interrupted,
    ));
}

fn check_server(args: CheckServerArgs) {
    use keyrace_witness::check::{run, ServerCheck};
    let check = ServerCheck {
        preset: args.preset,
        clients: args.clients.clamp(2, 1000),
        rounds: args.rounds.max(1),
        timeout: seconds(args.timeout, "--timeout", MAX_TIMEOUT),
        only: args.checks,
        ..ServerCheck::new(&args.url)
    };
    let report = run(&check);
    print!("{report}");
    let failed = report.results.iter().any(|r| !r.passed());
    std::process::exit(if failed {
        1
    } else if report.passed() {
        0
    } else {
        2
    });
}
