//! Telegram sends the `secret_token` given to `setWebhook` back in
//! `X-Telegram-Bot-Api-Secret-Token`; it is compared in constant time. Updates carry no signed
//! timestamp, so there is no replay window: a replayed update has the same ids and is stored once.

use http::HeaderMap;
use subtle::ConstantTimeEq;
use switchboard_model::{Secret, VerifyError};

pub fn verify(secret_token: &Secret, headers: &HeaderMap) -> Result<(), VerifyError> {
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .ok_or(VerifyError::Missing("X-Telegram-Bot-Api-Secret-Token"))?;
    if bool::from(given.as_bytes().ct_eq(secret_token.expose().as_bytes())) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}
