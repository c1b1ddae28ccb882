//! The server conformance check: a swarm of clients against a witness server
//! (`keyrace check-server URL`). Each check states its invariant; every round uses fresh API
//! keys, so a check never depends on what an earlier one left behind.
//!
//! | check | invariant |
//! |---|---|
//! | `zero-head` | before the first seal the zero placeholder passes; after it, it is a 409 |
//! | `bootstrap-race` | N concurrent bootstraps of one key: exactly one 200, every other a 412 carrying a valid current head, and that head passes |
//! | `refusal-has-no-effect` | a refused request never runs the guarded operation (the reference server counts them) |
//! | `historical-head` | a stale head the log once held still passes |
//! | `forged-head` | a head the log never held (another prefix, a future position) is a 409 with the current head |
//! | `malformed-head` | a malformed head header, or no API key, is a 400 with a coded JSON body, never a 5xx |

use std::fmt;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use keyrace_core::bootstrap::SignedTreeHead;
use keyrace_core::witness::{ApiKey, Transport, WitnessRequest, WitnessResponse};
use keyrace_core::ErrorCode;

use crate::transport::HttpTransport;
use crate::wire::{OpsBody, Preset, SealBody, SEAL_PATH};

/// Every check, in the order they run (`zero-head` first: it must see the server before any
/// seal of ours).
pub const CHECKS: [&str; 6] = [
    "zero-head",
    "bootstrap-race",
    "refusal-has-no-effect",
    "historical-head",
    "forged-head",
    "malformed-head",
];

/// What to check and how hard.
#[derive(Debug, Clone)]
pub struct ServerCheck {
    /// `http://host:port` of the server.
    pub url: String,
    pub preset: Preset,
    /// Concurrent clients per bootstrap race.
    pub clients: usize,
    /// Races (each with a fresh key).
    pub rounds: u32,
    pub timeout: Duration,
    /// Only these checks (all when empty).
    pub only: Vec<String>,
}

impl ServerCheck {
    pub fn new(url: &str) -> ServerCheck {
        ServerCheck {
            url: url.to_owned(),
            preset: Preset::default(),
            clients: 16,
            rounds: 50,
            timeout: crate::transport::DEFAULT_TIMEOUT,
            only: Vec::new(),
        }
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: &'static str,
    pub rounds: u32,
    /// What broke, one line each (at most [`MAX_SHOWN`] kept; `violating` counts them all).
    pub violations: Vec<String>,
    pub violating: u32,
    pub skipped: Option<String>,
    pub seconds: f64,
}

/// Violations kept per check.
pub const MAX_SHOWN: usize = 5;

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.violating == 0
    }
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct ServerReport {
    pub url: String,
    pub results: Vec<CheckResult>,
    /// Requests sent and their latency, for the statistics line.
    pub requests: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub seconds: f64,
}

impl ServerReport {
    /// Every check that ran held, and at least one ran.
    pub fn passed(&self) -> bool {
        self.results.iter().all(CheckResult::passed)
            && self.results.iter().any(|r| r.skipped.is_none())
    }

    /// Passed, and no check was skipped: for a server that must support every check.
    pub fn passed_without_skips(&self) -> bool {
        self.passed() && self.results.iter().all(|r| r.skipped.is_none())
    }
}

impl fmt::Display for ServerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "keyrace check-server {}", self.url)?;
        writeln!(
            f,
            "{:<24} {:<8} {:>7} {:>10}",
            "check", "result", "rounds", "violations"
        )?;
        for r in &self.results {
            let result = match (&r.skipped, r.passed()) {
                (Some(_), _) => "skipped",
                (None, true) => "passed",
                (None, false) => "FAILED",
            };
            writeln!(
                f,
                "{:<24} {:<8} {:>7} {:>10}",
                r.id, result, r.rounds, r.violating
            )?;
        }
        for r in &self.results {
            if let Some(why) = &r.skipped {
                writeln!(f, "\n{}: skipped: {why}", r.id)?;
            }
            if r.violations.is_empty() {
                continue;
            }
            writeln!(
                f,
                "\n{}: VIOLATION in {} of {} rounds: {}",
                r.id,
                r.violating,
                r.rounds,
                invariant(r.id)
            )?;
            for v in &r.violations {
                writeln!(f, "  {v}")?;
            }
            writeln!(
                f,
                "  re-run: keyrace check-server {} --check {}",
                self.url, r.id
            )?;
        }
        writeln!(
            f,
            "\n{} requests in {:.1} s ({:.0}/s), latency p50 {:.2?} p99 {:.2?}",
            self.requests,
            self.seconds,
            self.requests as f64 / self.seconds.max(1e-9),
            self.p50,
            self.p99
        )
    }
}

/// The invariant check `id` states.
pub fn invariant(id: &str) -> &'static str {
    match id {
        "zero-head" => "before the first seal the zero placeholder passes; after it, it is a 409 with the current head",
        "bootstrap-race" => "concurrent bootstraps of one key: exactly one 200, every other a 412 with a valid current head, and that head passes",
        "refusal-has-no-effect" => "a refused request never runs the guarded operation",
        "historical-head" => "a stale head the log once held still passes",
        "forged-head" => "a head the log never held is a 409 carrying the current head",
        "malformed-head" => "a malformed head header or a missing API key is a 400 with a coded JSON body, never a 5xx",
        _ => "",
    }
}

/// Sends requests and keeps their latencies.
struct Client {
    transport: HttpTransport,
    latencies: std::sync::Mutex<Vec<Duration>>,
    url: String,
    timeout: Duration,
}

impl Client {
    fn send(&self, key: &ApiKey, head: Option<&str>) -> Result<WitnessResponse, String> {
        let start = Instant::now();
        let sent = self.transport.send(&WitnessRequest {
            key,
            last_known_head: head.map(str::to_owned),
            body: b"",
        });
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(start.elapsed());
        sent.map_err(|e| format!("no answer: {e}"))
    }

    /// `POST /v1/seal`; `None` when the server has no such endpoint.
    fn seal(&self) -> Result<Option<SignedTreeHead>, String> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            .build()
            .new_agent();
        let mut response = agent
            .post(&format!("{}{SEAL_PATH}", self.url.trim_end_matches('/')))
            .send(&[][..])
            .map_err(|e| format!("seal: {e}"))?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(crate::transport::MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| format!("seal: unreadable answer: {e}"))?;
        let body: SealBody =
            serde_json::from_slice(&bytes).map_err(|e| format!("seal: unreadable answer: {e}"))?;
        SignedTreeHead::parse(&body.head)
            .map(Some)
            .map_err(|e| format!("seal: a malformed head {:?}: {e}", body.head))
    }
}

fn fresh_key() -> ApiKey {
    let mut bytes = [0u8; 16];
    // A failed random source gives a fixed key; the checks then collide and say so.
    let _ = getrandom::fill(&mut bytes);
    ApiKey::new(format!("keyrace-check-{}", hex::encode(bytes)))
}

fn show(response: &WitnessResponse) -> String {
    format!(
        "{} {} head {}",
        response.status,
        response.code.as_deref().unwrap_or("-"),
        response.current_head.as_deref().unwrap_or("(none)")
    )
}

fn valid_head(response: &WitnessResponse) -> Option<SignedTreeHead> {
    SignedTreeHead::parse(response.current_head.as_deref()?).ok()
}

fn ops(response: &WitnessResponse) -> Option<u64> {
    serde_json::from_slice::<OpsBody>(&response.body)
        .ok()
        .map(|b| b.ops)
}

struct Tally {
    result: CheckResult,
    start: Instant,
}

impl Tally {
    fn new(id: &'static str) -> Tally {
        Tally {
            result: CheckResult {
                id,
                rounds: 0,
                violations: Vec::new(),
                violating: 0,
                skipped: None,
                seconds: 0.0,
            },
            start: Instant::now(),
        }
    }

    fn round(&mut self, broken: Vec<String>) {
        self.result.rounds += 1;
        if !broken.is_empty() {
            self.result.violating += 1;
            let room = MAX_SHOWN.saturating_sub(self.result.violations.len());
            self.result.violations.extend(broken.into_iter().take(room));
        }
    }

    fn skip(mut self, why: String) -> CheckResult {
        self.result.skipped = Some(why);
        self.done()
    }

    fn done(mut self) -> CheckResult {
        self.result.seconds = self.start.elapsed().as_secs_f64();
        self.result
    }
}

/// Run the checks against the server.
pub fn run(check: &ServerCheck) -> ServerReport {
    let start = Instant::now();
    let client = Arc::new(Client {
        transport: HttpTransport::new(&check.url, check.preset, check.timeout),
        latencies: std::sync::Mutex::new(Vec::new()),
        url: check.url.clone(),
        timeout: check.timeout,
    });
    let wanted = |id: &str| check.only.is_empty() || check.only.iter().any(|o| o == id);
    let mut results = Vec::new();
    if wanted("zero-head") {
        results.push(zero_head(&client));
    }
    if wanted("bootstrap-race") || wanted("refusal-has-no-effect") {
        let (race, effect) = bootstrap_race(&client, check.clients, check.rounds);
        results.extend([race, effect].into_iter().filter(|r| wanted(r.id)));
    }
    if wanted("historical-head") {
        results.push(historical_head(&client));
    }
    if wanted("forged-head") {
        results.push(forged_head(&client));
    }
    if wanted("malformed-head") {
        results.push(malformed_head(&client, check));
    }
    let mut latencies = client
        .latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    ServerReport {
        url: check.url.clone(),
        requests: latencies.len(),
        p50: at(0.50),
        p99: at(0.99),
        results,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn zero_head(client: &Client) -> CheckResult {
    let mut tally = Tally::new("zero-head");
    let current = match zero_head_round(client, &mut tally) {
        Ok(current) => current,
        Err(why) => return tally.skip(why),
    };
    // The other branch: once a head is sealed the placeholder is a 409. A server without a
    // seal endpoint this check can use (404, or any other refusal) is checked in the branch it
    // is in.
    if current.is_some_and(|head| head.is_zero()) {
        if let Ok(Some(_)) = client.seal() {
            if let Err(why) = zero_head_round(client, &mut tally) {
                tally.round(vec![format!("after a seal: {why}")]);
            }
        }
    }
    tally.done()
}

/// One round of `zero-head` with a fresh key: its bootstrap's current head (`None` when the
/// 200 carried none, which is itself a violation), or why nothing could be checked.
fn zero_head_round(client: &Client, tally: &mut Tally) -> Result<Option<SignedTreeHead>, String> {
    let zero = SignedTreeHead::ZERO.to_string();
    let key = fresh_key();
    let bootstrap = match client.send(&key, None) {
        Ok(r) if r.status == 200 => r,
        Ok(r) => return Err(format!("a fresh key's bootstrap was refused: {}", show(&r))),
        Err(e) => return Err(e),
    };
    let Some(current) = valid_head(&bootstrap) else {
        tally.round(vec![format!(
            "the bootstrap's 200 carries no valid current head: {}",
            show(&bootstrap)
        )]);
        return Ok(None);
    };
    let mut broken = Vec::new();
    match client.send(&key, Some(&zero)) {
        Ok(r) if current.is_zero() && r.status != 200 => broken.push(format!(
            "nothing is sealed (current head {current}), yet the zero head got {}",
            show(&r)
        )),
        Ok(r) if !current.is_zero() && (r.status != 409 || valid_head(&r).is_none()) => broken
            .push(format!(
                "the server holds {current}, yet the zero head got {}",
                show(&r)
            )),
        Ok(_) => {}
        Err(e) => broken.push(e),
    }
    tally.round(broken);
    Ok(Some(current))
}

fn bootstrap_race(client: &Arc<Client>, clients: usize, rounds: u32) -> (CheckResult, CheckResult) {
    let mut race = Tally::new("bootstrap-race");
    let mut effect = Tally::new("refusal-has-no-effect");
    let clients = clients.max(2);
    for _ in 0..rounds {
        let key = Arc::new(fresh_key());
        let barrier = Arc::new(Barrier::new(clients));
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (client, key, barrier) =
                    (Arc::clone(client), Arc::clone(&key), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    client.send(&key, None)
                })
            })
            .collect();
        let answers: Vec<Result<WitnessResponse, String>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a client thread panicked".to_owned()))
            })
            .collect();
        let mut broken = Vec::new();
        let winners = answers
            .iter()
            .filter(|a| matches!(a, Ok(r) if r.status == 200))
            .count();
        if winners != 1 {
            broken.push(format!(
                "{winners} of {clients} concurrent bootstraps got 200"
            ));
        }
        let mut retry_head = None;
        for answer in &answers {
            match answer {
                Ok(r) if r.status == 200 => {}
                Ok(r)
                    if r.status == 412
                        && r.code.as_deref()
                            == Some(ErrorCode::BootstrapAlreadyConsumed.as_str()) =>
                {
                    match valid_head(r) {
                        Some(head) => retry_head = Some(head),
                        None => {
                            broken.push(format!("a 412 without a valid current head: {}", show(r)))
                        }
                    }
                }
                Ok(r) => broken.push(format!("a bootstrap got {}", show(r))),
                Err(e) => broken.push(e.clone()),
            }
        }
        if let Some(head) = retry_head {
            match client.send(&key, Some(&head.to_string())) {
                Ok(r) if r.status == 200 => {
                    let expected = winners as u64 + 1;
                    match ops(&r) {
                        Some(n) if n != expected => effect.round(vec![format!(
                            "after {winners} pass(es) and {} refusal(s) the server has run {n} guarded operations, expected {expected}",
                            clients - winners
                        )]),
                        Some(_) => effect.round(Vec::new()),
                        None => {}
                    }
                }
                Ok(r) => broken.push(format!(
                    "the retry with the 412's head {head} got {}",
                    show(&r)
                )),
                Err(e) => broken.push(e),
            }
        }
        race.round(broken);
    }
    if effect.result.rounds == 0 {
        let why = "the server's 200 carries no operation count ({\"ops\": n}); only the reference server's guarded operation reports one".to_owned();
        return (race.done(), effect.skip(why));
    }
    (race.done(), effect.done())
}

fn historical_head(client: &Client) -> CheckResult {
    let mut tally = Tally::new("historical-head");
    let (first, second) = match (client.seal(), client.seal()) {
        (Ok(Some(a)), Ok(Some(b))) => (a, b),
        (Ok(None), _) | (_, Ok(None)) => {
            return tally.skip(format!(
                "the server has no {SEAL_PATH} endpoint to seal heads with"
            ))
        }
        (Err(e), _) | (_, Err(e)) => return tally.skip(e),
    };
    let key = fresh_key();
    let mut broken = Vec::new();
    if let Err(e) = client.send(&key, None) {
        broken.push(e);
    }
    for head in [first, second] {
        match client.send(&key, Some(&head.to_string())) {
            Ok(r) if r.status == 200 => {}
            Ok(r) => broken.push(format!("the held head {head} got {}", show(&r))),
            Err(e) => broken.push(e),
        }
    }
    tally.round(broken);
    tally.done()
}

fn forged_head(client: &Client) -> CheckResult {
    let mut tally = Tally::new("forged-head");
    let key = fresh_key();
    let current = match client.send(&key, None) {
        Ok(r) => match valid_head(&r) {
            Some(head) if !head.is_zero() => head,
            _ => match client.seal() {
                Ok(Some(head)) => head,
                _ => return tally.skip("nothing is sealed and the server cannot be asked to seal: no head to forge from".to_owned()),
            },
        },
        Err(e) => return tally.skip(e),
    };
    let mut other_prefix = current.prefix;
    other_prefix[0] ^= 0xff;
    let forged = [
        SignedTreeHead::new(current.position, other_prefix),
        SignedTreeHead::new(current.position.saturating_add(1000), current.prefix),
    ];
    let mut broken = Vec::new();
    for head in forged {
        match client.send(&key, Some(&head.to_string())) {
            Ok(r) if r.status == 409 && valid_head(&r).is_some() => {}
            Ok(r) => broken.push(format!("the never-held head {head} got {}", show(&r))),
            Err(e) => broken.push(e),
        }
    }
    tally.round(broken);
    tally.done()
}

/// Header values a strict head parser refuses.
pub const MALFORMED: [&str; 10] = [
    "",
    "not-a-head",
    "-1:AAAAAAAAAAAAAAAAAAAAAA",
    "01:AAAAAAAAAAAAAAAAAAAAAA",
    "1:AAAA",
    "1:AAAAAAAAAAAAAAAAAAAAAAA",
    "1:AAAAAAAAAAAAAAAAAAAAA=",
    "18446744073709551616:AAAAAAAAAAAAAAAAAAAAAA",
    "1:AAAAAAAAAAAAAAAAAAAAAB",
    "1 :AAAAAAAAAAAAAAAAAAAAAA",
];

fn malformed_head(client: &Client, check: &ServerCheck) -> CheckResult {
    let mut tally = Tally::new("malformed-head");
    let key = fresh_key();
    let refused = |r: &WitnessResponse| {
        r.status == 400 && r.code.as_deref() == Some(ErrorCode::InvalidArgument.as_str())
    };
    for value in MALFORMED {
        let broken = match client.send(&key, Some(value)) {
            Ok(r) if refused(&r) => Vec::new(),
            Ok(r) => vec![format!("the head header {value:?} got {}", show(&r))],
            Err(e) => vec![format!("the head header {value:?}: {e}")],
        };
        tally.round(broken);
    }
    // No API key at all.
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(check.timeout))
        .build()
        .new_agent();
    let url = format!(
        "{}{}",
        check.url.trim_end_matches('/'),
        crate::wire::WITNESS_PATH
    );
    let broken = match agent.post(&url).send(&[][..]) {
        Ok(r) if r.status().as_u16() == 400 => Vec::new(),
        Ok(r) => vec![format!(
            "a request without an API key got {}",
            r.status().as_u16()
        )],
        Err(e) => vec![format!("a request without an API key: {e}")],
    };
    tally.round(broken);
    tally.done()
}
