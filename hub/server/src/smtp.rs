//! The built-in SMTP receiver (`--smtp-listen`): a mail server relays to the hub directly.
//! A recipient is accepted when it is one email inbox's address (or a plus-addressed form of
//! it); a message is normalized by that inbox's connector and stored through the same ingest
//! path as a webhook delivery, and answered 250 only once it is committed.
//!
//! The receiver does not check signatures (SMTP has none to check): bind it to loopback or a
//! private network that only the organization's mail server reaches.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use switchboard_email::{
    ENVELOPE_TO_HEADER, EmailConfig,
    receiver::{self, Envelope, Limits, MailHandler, Reply},
};
use switchboard_model::{ChannelKind, Inbound, RawInbound};
use switchboard_store::InboxWithSecrets;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    app::ingest::{IngestError, ingest_events},
    state::AppState,
};

struct IngestMail {
    state: AppState,
}

impl IngestMail {
    /// The email inbox `recipient` reaches. Addresses are unique across the hub
    /// (`Store::create_inbox`); should data from before that rule give one address to two
    /// inboxes, the mail goes to neither (it could cross organizations): the sender is told to
    /// try later and the log says which inboxes to fix.
    async fn inbox_for(&self, recipient: &str) -> Result<InboxWithSecrets, Reply> {
        let inboxes = self
            .state
            .store
            .inboxes_for_channel(ChannelKind::Email)
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "cannot look up email inboxes");
                Reply::new(451, "4.3.0 temporary failure, try again later")
            })?;
        let mut reached = inboxes.into_iter().filter(|inbox| {
            EmailConfig::from_json(&inbox.full_config)
                .is_ok_and(|config| config.accepts(recipient).is_some())
        });
        let Some(inbox) = reached.next() else {
            return Err(Reply::new(550, "5.1.1 no such mailbox here"));
        };
        let others: Vec<String> = reached.map(|other| other.inbox.id).collect();
        if !others.is_empty() {
            tracing::error!(
                recipient,
                inbox_id = %inbox.inbox.id,
                other_inbox_ids = ?others,
                "several email inboxes have this address: mail to it is refused until one \
                 keeps it"
            );
            return Err(Reply::new(
                451,
                "4.3.5 this mailbox is misconfigured, try again later",
            ));
        }
        Ok(inbox)
    }
}

#[async_trait::async_trait]
impl MailHandler for IngestMail {
    async fn recipient(&self, recipient: &str) -> Result<(), Reply> {
        self.inbox_for(recipient).await.map(|_| ())
    }

    async fn message(&self, envelope: Envelope) -> Reply {
        let mut inboxes: Vec<InboxWithSecrets> = Vec::new();
        for recipient in &envelope.recipients {
            match self.inbox_for(recipient).await {
                Ok(inbox) => {
                    if !inboxes.iter().any(|known| known.inbox.id == inbox.inbox.id) {
                        inboxes.push(inbox);
                    }
                }
                Err(reply) => return reply,
            }
        }
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&envelope.recipients.join(", ")) {
            headers.insert(ENVELOPE_TO_HEADER, value);
        }
        let request = RawInbound {
            headers: &headers,
            query: None,
            body: &envelope.data,
        };
        for inbox in &inboxes {
            let Ok(connector) = self.state.connectors.connector_for(inbox) else {
                return Reply::new(451, "4.3.5 the inbox is misconfigured");
            };
            let events = match connector.normalize(&request) {
                Ok(Inbound::Events(events)) => events,
                Ok(Inbound::Handshake { .. }) => Vec::new(),
                Err(err) => return Reply::new(554, format!("5.6.0 {err}")),
            };
            match ingest_events(&self.state, &inbox.inbox, events, &envelope.data).await {
                Ok(()) => {}
                Err(IngestError::Store(switchboard_store::StoreError::Invalid(reason))) => {
                    return Reply::new(554, format!("5.6.0 {reason}"));
                }
                Err(err) => {
                    tracing::error!(error = %err, inbox_id = %inbox.inbox.id, "cannot store a received email");
                    return Reply::new(451, "4.3.0 temporary failure, try again later");
                }
            }
        }
        metrics::counter!("switchboard_smtp_messages_total").increment(1);
        Reply::new(250, "2.0.0 stored")
    }
}

/// Serves SMTP on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: CancellationToken) {
    let limits = Limits {
        max_message_bytes: state.settings.smtp_max_message_bytes.max(1024),
        ..Limits::default()
    };
    let handler = Arc::new(IngestMail { state });
    receiver::serve(listener, handler, limits, shutdown).await;
}
