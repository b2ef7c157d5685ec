//! The Cloud API's own JSON: webhook notifications in, `/messages` requests and answers out.
//! Only the fields the hub reads; unknown ones are ignored, so new ones do not break us.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub(crate) struct Notification {
    pub object: Option<String>,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Entry {
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Change {
    pub field: Option<String>,
    pub value: Option<ChangeValue>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChangeValue {
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub messages: Vec<serde_json::Value>,
    #[serde(default)]
    pub statuses: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    pub phone_number_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Contact {
    pub wa_id: Option<String>,
    pub profile: Option<Profile>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Profile {
    pub name: Option<String>,
}

/// One message of `value.messages`; read from a `Value` first so that one odd message does
/// not cost the others in the same notification.
#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    pub from: String,
    pub id: String,
    pub timestamp: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub text: Option<Text>,
    pub image: Option<Media>,
    pub video: Option<Media>,
    pub audio: Option<Media>,
    pub sticker: Option<Media>,
    pub document: Option<Media>,
    pub location: Option<Location>,
    pub button: Option<Button>,
    pub interactive: Option<Interactive>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Text {
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Media {
    pub id: String,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub name: Option<String>,
    pub address: Option<String>,
}

/// A quick-reply button of a template.
#[derive(Debug, Deserialize)]
pub(crate) struct Button {
    pub text: Option<String>,
    pub payload: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Interactive {
    pub button_reply: Option<Reply>,
    pub list_reply: Option<Reply>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Reply {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Status {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub errors: Vec<ApiErrorDetail>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApiErrorDetail {
    pub code: Option<i64>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub error_data: Option<ErrorData>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorData {
    pub details: Option<String>,
}

/// `POST /{phone_number_id}/messages`.
#[derive(Debug, Serialize)]
pub(crate) struct SendRequest<'a> {
    pub messaging_product: &'static str,
    pub recipient_type: &'static str,
    pub to: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<SendText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<SendTemplate<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<SendMedia<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<SendMedia<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<SendMedia<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<SendMedia<'a>>,
}

/// A media message's object, by the id `POST /{phone_number_id}/media` answered.
#[derive(Debug, Serialize)]
pub(crate) struct SendMedia<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<&'a str>,
    /// Documents only: the name the customer sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<&'a str>,
}

/// `POST /{phone_number_id}/media` answers `{"id": "<media id>"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadedMedia {
    pub id: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SendText<'a> {
    pub preview_url: bool,
    pub body: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct SendTemplate<'a> {
    pub name: &'a str,
    pub language: Language<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Language<'a> {
    pub code: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct Component<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub parameters: Vec<Parameter<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Parameter<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
}

/// `{"messaging_product":"whatsapp","contacts":[…],"messages":[{"id":"wamid…"}]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct SendResponse {
    #[serde(default)]
    pub messages: Vec<SentMessage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SentMessage {
    pub id: String,
}

/// `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorResponse {
    pub error: GraphError,
}

#[derive(Debug, Deserialize)]
pub(crate) struct GraphError {
    pub message: Option<String>,
    pub code: Option<i64>,
}
