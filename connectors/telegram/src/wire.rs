//! The Bot API's own JSON (core.telegram.org/bots/api): the fields of `Update` the hub reads,
//! `sendMessage` / `setWebhook` requests and the `{ok, result | error_code, description,
//! parameters}` answer.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub(crate) struct Update {
    /// Required, so that other JSON is not taken for an update; the ids within are what
    /// makes a redelivered update a duplicate.
    #[allow(dead_code)]
    pub update_id: i64,
    pub message: Option<Message>,
    pub edited_message: Option<Message>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    pub message_id: i64,
    pub from: Option<User>,
    pub chat: Chat,
    pub date: i64,
    pub edit_date: Option<i64>,
    pub text: Option<String>,
    pub caption: Option<String>,
    pub reply_to_message: Option<Box<Message>>,
    /// The sizes of one photo, smallest first.
    pub photo: Option<Vec<File>>,
    pub document: Option<File>,
    pub audio: Option<File>,
    pub voice: Option<File>,
    pub video: Option<File>,
    pub location: Option<Location>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Chat {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct File {
    pub file_id: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct SendMessage<'a> {
    pub chat_id: ChatId<'a>,
    pub text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_parameters: Option<ReplyParameters>,
}

/// A numeric chat id, or `@channelusername`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum ChatId<'a> {
    Id(i64),
    Username(&'a str),
}

#[derive(Debug, Serialize)]
pub(crate) struct ReplyParameters {
    pub message_id: i64,
    pub allow_sending_without_reply: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct SetWebhook<'a> {
    pub url: &'a str,
    pub secret_token: &'a str,
    pub allowed_updates: &'a [&'a str],
}

#[derive(Debug, Deserialize)]
pub(crate) struct Answer {
    pub ok: bool,
    pub result: Option<serde_json::Value>,
    pub error_code: Option<u16>,
    pub description: Option<String>,
    pub parameters: Option<ResponseParameters>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResponseParameters {
    pub retry_after: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SentMessage {
    pub message_id: i64,
    pub chat: Chat,
}
