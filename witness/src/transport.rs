//! [`HttpTransport`]: the core's [`Transport`] over HTTP/1.1, so the reference
//! [`keyrace_core::witness::WitnessClient`] talks to any witness server that speaks
//! `docs/witness.md`. Blocking (ureq, without TLS: loopback and test servers).

use std::io;
use std::time::Duration;

use keyrace_core::witness::{Transport, WitnessRequest, WitnessResponse};

use crate::wire::{Preset, AUTHORIZATION, WITNESS_PATH};

/// Longest response body read.
pub const MAX_RESPONSE: u64 = 64 * 1024;

/// How long one exchange may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A transport to the server at `base` (`http://host:port`).
#[derive(Debug)]
pub struct HttpTransport {
    url: String,
    preset: Preset,
    agent: ureq::Agent,
}

impl HttpTransport {
    pub fn new(base: &str, preset: Preset, timeout: Duration) -> HttpTransport {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .new_agent();
        HttpTransport {
            url: format!("{}{WITNESS_PATH}", base.trim_end_matches('/')),
            preset,
            agent,
        }
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: &WitnessRequest<'_>) -> io::Result<WitnessResponse> {
        let mut call = self
            .agent
            .post(&self.url)
            .header(AUTHORIZATION, &format!("Bearer {}", request.key.expose()));
        match (&request.last_known_head, self.preset.bootstrap_header()) {
            (Some(head), _) => call = call.header(self.preset.last_known_header(), head),
            (None, Some((name, value))) => call = call.header(name, value),
            (None, None) => {}
        }
        let mut response = call.send(request.body).map_err(into_io)?;
        let status = response.status().as_u16();
        let current_head = response
            .headers()
            .get(self.preset.current_header())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(into_io)?;
        if status == 200 {
            return Ok(WitnessResponse::ok(current_head, body));
        }
        let (code, message) = match self.preset.parse_refusal(&body) {
            Some(e) => (Some(e.code), e.message),
            None => (None, String::from_utf8_lossy(&body).into_owned()),
        };
        Ok(WitnessResponse::refusal(
            status,
            code.as_deref(),
            current_head,
            message,
        ))
    }
}

fn into_io(e: ureq::Error) -> io::Error {
    match e {
        ureq::Error::Io(e) => e,
        ureq::Error::Timeout(_) => io::Error::new(io::ErrorKind::TimedOut, e.to_string()),
        other => io::Error::other(other.to_string()),
    }
}
