//! What every handler and worker shares.

use std::{collections::HashMap, sync::Arc};

use switchboard_model::{ChannelKind, Clock, ConfigField, Connector, ConnectorFactory, Responder};
use switchboard_store::{InboxWithSecrets, Store};

use crate::{
    bot::{BotContext, BotQueue},
    bus::EventBus,
    chat::ChatHub,
    config::Settings,
    routing::{RoutingContext, RuleCache},
};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub settings: Arc<Settings>,
    pub connectors: Arc<ConnectorRegistry>,
    /// Wakes the delivery workers when a message is queued, so they need not wait for a poll.
    pub delivery_wakeup: Arc<tokio::sync::Notify>,
    /// Answers customers in conversations the bot holds (`bot.rs`).
    pub responder: Arc<dyn Responder>,
    /// Conversations waiting for a bot turn.
    pub bot: Arc<BotQueue>,
    /// The open web-chat connections and the fan-out to them.
    pub chat: Arc<ChatHub>,
    /// "Now" for routing, SLA due times, presence and the SLA timer: the system clock, or one
    /// a test sets. The store reads the same clock.
    pub clock: Clock,
    /// The organizations' escalation rules, compiled, by rules revision.
    pub rule_cache: Arc<RuleCache>,
    /// The configured LLM, for sentiment and handoff notes (`understanding.rs`,
    /// `routing/handoff.rs`); `None`: offline.
    pub llm: Option<switchboard_ai::llm::LlmClient>,
    /// The organizations' topic classifiers, cached.
    pub topic_models: Arc<crate::understanding::TopicModels>,
    /// Cancelled when the hub stops: long-lived responses (event streams) end on it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Where work that may wait runs: routing after the ack, the bot's turns.
    pub background: Arc<crate::background::Background>,
    /// Failed logins by account and address (`login.rs`), counted with Redis across nodes.
    pub login_throttle: Arc<crate::login::LoginThrottle>,
    /// Each organization's requests to the REST API (`limits.rs`), checked by `Auth`.
    pub api_limit: Arc<crate::limits::ApiLimit>,
    /// Signs upload ids and web-chat visitors' file links (`attachments.rs`).
    pub file_links: Arc<crate::attachments::FileLinks>,
    /// Agents' presence heartbeats in Redis, which this node writes for the sessions it holds
    /// (`presence.rs`).
    pub heartbeats: Arc<crate::presence::Heartbeats>,
}

impl AppState {
    /// This state for work in the background lane: the same, reading through the lane's
    /// connections.
    pub fn in_background(&self) -> AppState {
        AppState {
            store: self.background.store().clone(),
            ..self.clone()
        }
    }

    /// What routing uses, from this state.
    pub fn routing(&self) -> RoutingContext {
        RoutingContext {
            store: self.store.clone(),
            bus: self.bus.clone(),
            clock: self.clock.clone(),
            rule_cache: self.rule_cache.clone(),
            llm: self.llm.clone(),
            presence_stale_secs: self.settings.presence_stale_secs,
            heartbeats: self.heartbeats.clone(),
        }
    }

    /// What the bot's workers use, from this state.
    pub fn bot_context(&self) -> BotContext {
        BotContext {
            queue: self.bot.clone(),
            store: self.store.clone(),
            bus: self.bus.clone(),
            responder: self.responder.clone(),
            delivery_wakeup: self.delivery_wakeup.clone(),
            routing: self.routing(),
            workers: self.settings.bot_workers,
            timeout: std::time::Duration::from_secs(self.settings.bot_timeout_secs.max(1)),
        }
    }
}

/// The connector factories the hub knows, one per channel.
#[derive(Default)]
pub struct ConnectorRegistry {
    factories: HashMap<ChannelKind, Arc<dyn ConnectorFactory>>,
    /// Each inbox's connector with the config it was built from, so that what a connector
    /// keeps between calls (a helpdesk's rate-limit gate, its own user id) is shared by every
    /// caller until the config changes.
    built: std::sync::Mutex<HashMap<String, Built>>,
}

impl ConnectorRegistry {
    pub fn with(mut self, factory: impl ConnectorFactory) -> Self {
        self.factories.insert(factory.channel(), Arc::new(factory));
        self
    }

    pub fn channels(&self) -> Vec<ChannelKind> {
        let mut channels: Vec<_> = self.factories.keys().copied().collect();
        channels.sort();
        channels
    }

    /// Each channel this hub has a connector for, sorted by name, with the config fields its
    /// connector reads (`ConnectorFactory::config_fields`).
    pub fn config_fields(&self) -> Vec<(ChannelKind, Vec<ConfigField>)> {
        let mut channels: Vec<_> = self
            .factories
            .iter()
            .map(|(channel, factory)| (*channel, factory.config_fields()))
            .collect();
        channels.sort_by_key(|(channel, _)| channel.as_str());
        channels
    }

    /// Checks an inbox config with the channel's connector; `None` when this hub has no
    /// connector for the channel.
    pub fn validate(
        &self,
        channel: ChannelKind,
        inbox_id: &str,
        config: &serde_json::Value,
    ) -> Option<Result<(), switchboard_model::ConfigError>> {
        let factory = self.factories.get(&channel)?;
        Some(factory.build(inbox_id, config).map(|_| ()))
    }

    /// The connector of one inbox, built from its stored config.
    pub fn connector_for(
        &self,
        inbox: &InboxWithSecrets,
    ) -> Result<Arc<dyn Connector>, ConnectorUnavailable> {
        let channel = inbox.inbox.channel;
        let factory = self
            .factories
            .get(&channel)
            .ok_or(ConnectorUnavailable::NotEnabled(channel))?;
        let built = |connectors: &HashMap<String, Built>| {
            connectors
                .get(&inbox.inbox.id)
                .filter(|(config, _)| *config == inbox.full_config)
                .map(|(_, connector)| connector.clone())
        };
        if let Some(connector) = built(&self.built.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(connector);
        }
        let connector = factory
            .build(&inbox.inbox.id, &inbox.full_config)
            .map_err(|err| ConnectorUnavailable::BadConfig(err.to_string()))?;
        self.built.lock().unwrap_or_else(|e| e.into_inner()).insert(
            inbox.inbox.id.clone(),
            (inbox.full_config.clone(), connector.clone()),
        );
        Ok(connector)
    }
}

/// A connector and the inbox config it was built from.
type Built = (serde_json::Value, Arc<dyn Connector>);

#[derive(Debug, thiserror::Error)]
pub enum ConnectorUnavailable {
    #[error("the {0} channel is not enabled on this hub")]
    NotEnabled(ChannelKind),
    #[error("{0}")]
    BadConfig(String),
}
