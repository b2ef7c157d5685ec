//! Telegram sends the `secret_token` given to `setWebhook` back in
//! `X-Telegram-Bot-Api-Secret-Token`; it is compared in constant time. Updates carry no signed
//! timestamp, so there is no replay window: a replayed update has the same ids and is stored once.

use http::HeaderMap;
use switchboard_connector_kit::signature::verify_secret_header;
use switchboard_model::{Secret, VerifyError};

pub fn verify(secret_token: &Secret, headers: &HeaderMap) -> Result<(), VerifyError> {
    verify_secret_header(
        headers,
        "x-telegram-bot-api-secret-token",
        "X-Telegram-Bot-Api-Secret-Token",
        secret_token.expose().as_bytes(),
    )
}
