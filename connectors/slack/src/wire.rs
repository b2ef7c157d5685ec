//! Slack's own wire types: the Events API and `chat.postMessage` request from slack-morphism,
//! and the one envelope every Web API answer shares (`ok`, `error`), which slack-morphism only
//! exposes through its hyper client.

use serde::{Deserialize, Serialize};
pub(crate) use slack_morphism::{
    SlackMessageContent,
    api::SlackApiChatPostMessageRequest,
    events::{
        SlackEventCallbackBody, SlackMessageEvent, SlackMessageEventType, SlackPushEvent,
        SlackPushEventCallback,
    },
};

/// Every Web API answer: `{"ok": true, …}` or `{"ok": false, "error": "channel_not_found"}`,
/// usually with HTTP 200 either way.
#[derive(Debug, Deserialize)]
pub(crate) struct ApiEnvelope {
    pub ok: bool,
    pub error: Option<String>,
    /// `chat.postMessage`: the new message's `ts` and its channel.
    pub ts: Option<String>,
    pub channel: Option<String>,
    /// `users.info`: the user asked about.
    pub user: Option<UserInfo>,
    /// `files.getUploadURLExternal`: where to send the bytes, and the file's id.
    pub upload_url: Option<String>,
    pub file_id: Option<String>,
}

/// `files.completeUploadExternal`: shares the uploaded files in a thread, the text with them.
#[derive(Debug, Serialize)]
pub(crate) struct CompleteUpload<'a> {
    pub files: Vec<UploadedFile<'a>>,
    pub channel_id: &'a str,
    pub thread_ts: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_comment: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct UploadedFile<'a> {
    pub id: &'a str,
    pub title: &'a str,
}

/// The part of `users.info`'s `user` the agent desk needs: who writes in a mirror thread.
#[derive(Debug, Deserialize)]
pub(crate) struct UserInfo {
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub is_bot: bool,
    pub profile: Option<UserProfile>,
}

/// `user.profile`: `email` is there only with the `users:read.email` scope.
#[derive(Debug, Deserialize)]
pub(crate) struct UserProfile {
    pub email: Option<String>,
}
