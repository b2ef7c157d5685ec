//! The HTTP client every connector's calls go through, one per timeout, shared by every inbox.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use switchboard_model::DeliveryError;

/// How long one call of a messaging platform may take, connection and upload included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// What the hub calls itself to the platforms it calls.
pub const USER_AGENT: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));

/// The client whose calls time out after `timeout` (a request may ask for longer with
/// `RequestBuilder::timeout`), built on first use and then shared.
///
/// It never follows a redirect: a redirect would take the request, and its credentials,
/// wherever the answer says, past the checks the platform's base URL went through
/// (`ConfigError::base_url`, docs/security.md). TLS is rustls with ring; the hub installs ring
/// as the crypto provider at start, and installing it here too (a no-op when one is set) keeps
/// reqwest from panicking in a process that did not, such as a connector's tests.
pub fn client(timeout: Duration) -> Result<reqwest::Client, DeliveryError> {
    static CLIENTS: Mutex<Vec<(Duration, reqwest::Client)>> = Mutex::new(Vec::new());
    let mut clients = CLIENTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, client)) = clients.iter().find(|(built_for, _)| *built_for == timeout) {
        return Ok(client.clone());
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .build()
        .map_err(|err| DeliveryError::Permanent {
            reason: format!("cannot build an HTTP client: {err}"),
        })?;
    clients.push((timeout, client.clone()));
    Ok(client)
}
