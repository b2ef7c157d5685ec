//! Builds the application from settings: database, migrations, first-start demo, routes,
//! workers. `Application::build` then `run_until_stopped`; tests do the same on port 0.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::StreamExt;
use switchboard_store::{SecretKeys, Store};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};

use switchboard_model::{Clock, Responder};

use crate::{
    ai, api,
    app::slack_desk,
    background::Background,
    bot::{self, BotQueue},
    bus::{EventBus, LocalBus, RedisBus},
    chat::{self, ChatHub},
    config::Settings,
    delivery, demo,
    error::ApiError,
    inbound,
    limits::{ApiLimit, Counters, Quota},
    login::LoginThrottle,
    presence::Heartbeats,
    routing,
    state::{AppState, ConnectorRegistry},
    telemetry, web,
};

/// JSON bodies of the REST API.
pub const API_BODY_LIMIT: usize = 1024 * 1024;
/// Channel webhooks: an email with attachments can be large.
pub const WEBHOOK_BODY_LIMIT: usize = 16 * 1024 * 1024;

pub struct Application {
    listener: TcpListener,
    /// The built-in SMTP receiver's socket, when `smtp_listen` is set.
    smtp_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
    shutdown: CancellationToken,
    /// The events this node publishes, for the webhook enqueuer (`webhooks.rs`).
    webhook_events: tokio::sync::mpsc::Receiver<switchboard_model::BusEvent>,
}

/// Opens the database named by the settings and brings its schema up to date.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    if settings.database_url.is_none() {
        create_data_dir(&settings.data_dir)?;
    }
    let keys = secret_keys(settings)?;
    let store = Store::connect(&settings.database_url())
        .await
        .context("failed to connect to the database")?
        .with_secret_keys(keys);
    store
        .migrate()
        .await
        .context("failed to migrate the database")?;
    let resealed = store
        .reseal_secrets()
        .await
        .context("failed to seal the stored secrets under the current key")?;
    if resealed > 0 {
        tracing::info!(resealed, "sealed stored secrets under the current key");
    }
    Ok(store)
}

/// Creates the data dir, readable by the hub's user alone (it holds the database and the key).
fn create_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create the data dir {}", dir.display()))
}

/// The keys that seal secrets at rest (`switchboard_store::SecretKeys`), from the settings.
pub(crate) fn secret_keys(settings: &Settings) -> anyhow::Result<SecretKeys> {
    let previous: Vec<&str> = settings
        .previous_secret_keys
        .as_ref()
        .map(|keys| keys.expose().split(',').map(str::trim).collect())
        .unwrap_or_default();
    let current = if let Some(key) = &settings.secret_key {
        key.expose().to_owned()
    } else if let Some(file) = &settings.secret_key_file {
        std::fs::read_to_string(file)
            .with_context(|| format!("failed to read the secret key file {}", file.display()))?
    } else if settings.database_url().starts_with("sqlite:") {
        key_file(&settings.data_dir.join("secret.key"))?
    } else {
        tracing::warn!(
            "no secret key: inbox and webhook secrets are stored unsealed in PostgreSQL; set \
             SWITCHBOARD_SECRET_KEY (the same on every node, docs/operations.md)"
        );
        return Ok(SecretKeys::none());
    };
    SecretKeys::new(&current, &previous).context("the secret key")
}

/// The key in `path`, made (readable by the hub's user alone) on first start.
fn key_file(path: &std::path::Path) -> anyhow::Result<String> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    match std::fs::read_to_string(path) {
        Ok(key) => return Ok(key),
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("failed to read {}", path.display()));
        }
        Err(_) => {}
    }
    let key = SecretKeys::generate().context("a new secret key")?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    file.write_all(key.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write {}", path.display()))?;
    tracing::info!(path = %path.display(), "made the key that seals secrets at rest: back it up with the database");
    Ok(key)
}

/// How long a stopping hub waits, once it takes no more requests, for its web chats to close
/// (1001 "going away": the widget reconnects to another node and resumes), for the workers'
/// deliveries, and for the background lane's routing. What is still running after that is
/// left: a delivery's lease expires and another node takes it.
const CHATS_CLOSE_WITHIN: Duration = Duration::from_secs(5);
const WORKERS_FINISH_WITHIN: Duration = Duration::from_secs(30);
const ROUTING_FINISH_WITHIN: Duration = Duration::from_secs(10);

/// The longest a graceful stop (SIGTERM) takes: the requests in flight, each bounded by
/// `request_timeout_secs` (an upload may take longer and is cut off), then the waits above. A
/// supervisor that kills the hub sooner (Kubernetes' `terminationGracePeriodSeconds` after the
/// `preStop` hook, systemd's `TimeoutStopSec`) cuts deliveries short.
pub fn longest_graceful_stop(settings: &Settings) -> Duration {
    Duration::from_secs(settings.request_timeout_secs.max(1))
        + CHATS_CLOSE_WITHIN
        + WORKERS_FINISH_WITHIN
        + ROUTING_FINISH_WITHIN
}

/// Events buffered per subscriber before a slow one lags and must reload from the store.
const BUS_CAPACITY: usize = 4096;

/// The in-process bus, or with `redis_url` the bus that fans events out to every node.
async fn connect_bus(
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<dyn EventBus>> {
    let local = LocalBus::new(BUS_CAPACITY);
    Ok(match &settings.redis_url {
        None => Arc::new(local),
        Some(url) => Arc::new(
            RedisBus::connect(url, local, shutdown)
                .await
                .context("failed to connect to Redis (redis_url)")?,
        ),
    })
}

impl Application {
    /// Builds the hub with the AI responder its settings ask for: the offline responder over
    /// the knowledge base, or an OpenAI-compatible model (`ai::responder`).
    pub async fn build(
        settings: Settings,
        connectors: ConnectorRegistry,
    ) -> anyhow::Result<Application> {
        Self::build_with(settings, connectors, None).await
    }

    /// Builds the hub with `responder` answering bot conversations, or the one the settings
    /// ask for when it is `None`.
    pub async fn build_with(
        settings: Settings,
        connectors: ConnectorRegistry,
        responder: Option<Arc<dyn Responder>>,
    ) -> anyhow::Result<Application> {
        Self::build_with_clock(settings, connectors, responder, Clock::system()).await
    }

    /// [`Application::build_with`] with routing, SLA clocks and presence reading `clock`
    /// (tests set it to a Friday afternoon and move it to Monday).
    pub async fn build_with_clock(
        settings: Settings,
        connectors: ConnectorRegistry,
        responder: Option<Arc<dyn Responder>>,
        clock: Clock,
    ) -> anyhow::Result<Application> {
        telemetry::metrics_handle();
        let store = open_store(&settings).await?.with_clock(clock.clone());
        if let Some(seeded) = demo::seed_first_start(&store, &settings).await? {
            seeded.print(&settings);
        }
        let llm = ai::llm_client(&settings)?;
        let (responder, knowledge) = match responder {
            Some(responder) => (responder, None),
            None => {
                let knowledge = ai::knowledge(&settings, &store, true)?;
                let responder = ai::responder(llm.clone(), &store, knowledge.clone(), true);
                (responder, Some(knowledge))
            }
        };
        let listener = listen(settings.listen)
            .with_context(|| format!("failed to listen on {}", settings.listen))?;
        let smtp_listener = match settings.smtp_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("failed to listen for SMTP on {address}"))?,
            ),
            None => None,
        };
        let shutdown = CancellationToken::new();
        let (bus, webhook_events) =
            crate::webhooks::tap(connect_bus(&settings, shutdown.clone()).await?);
        let file_links = Arc::new(
            crate::attachments::FileLinks::open(&settings.attachments_dir())
                .context("failed to open the key that signs file links")?,
        );
        let background = Arc::new(Background::start(&store).await?);
        if let Some(knowledge) = knowledge.filter(|_| settings.offline_encoder) {
            background.spawn(ai::prepare_knowledge(store.clone(), knowledge));
        }
        let heartbeats = Arc::new(match &settings.redis_url {
            None => Heartbeats::none(),
            Some(url) => Heartbeats::connect(url, Duration::from_secs(settings.presence_ttl_secs))
                .await
                .context("failed to connect to Redis for presence (redis_url)")?,
        });
        let limits = Arc::new(match &settings.redis_url {
            None => Counters::in_memory(),
            Some(url) => Counters::in_redis(url, crate::limits::REDIS_PREFIX)
                .context("failed to set up Redis for the limits (redis_url)")?,
        });
        let chat = ChatHub::new(
            file_links.clone(),
            limits.clone(),
            settings.webchat_queue_frames,
            Duration::from_secs(settings.webchat_ping_secs.max(1)),
            shutdown.child_token(),
        );
        let api_limit = Arc::new(ApiLimit::new(
            limits.clone(),
            Quota {
                per_minute: settings.api_requests_per_minute,
                burst: settings.api_burst,
            },
        ));
        let state = AppState {
            background,
            store,
            bus,
            bot: Arc::new(BotQueue::new(settings.bot_queue)),
            settings: Arc::new(settings),
            connectors: Arc::new(connectors),
            delivery_wakeup: Arc::new(tokio::sync::Notify::new()),
            responder,
            chat: Arc::new(chat),
            llm,
            topic_models: Arc::default(),
            clock,
            rule_cache: Arc::default(),
            shutdown: shutdown.clone(),
            login_throttle: Arc::new(LoginThrottle::new(limits)),
            api_limit,
            file_links,
            heartbeats,
        };
        let router = router(state.clone());
        Ok(Application {
            listener,
            smtp_listener,
            router,
            state,
            shutdown,
            webhook_events,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.settings.listen)
    }

    /// Where the SMTP receiver listens, when it is on.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Cancel it to stop the application gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then stops taking requests, lets requests
    /// and deliveries in flight finish, and closes the database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            listener,
            smtp_listener,
            router,
            state,
            shutdown,
            webhook_events,
        } = self;
        let workers = TaskTracker::new();
        workers.spawn(delivery::run(state.clone(), shutdown.clone()));
        let webhooks_queued = Arc::new(tokio::sync::Notify::new());
        workers.spawn(crate::webhooks::enqueue_events(
            state.store.clone(),
            webhook_events,
            webhooks_queued.clone(),
            shutdown.clone(),
        ));
        workers.spawn(crate::webhooks::run(
            state.store.clone(),
            webhooks_queued,
            shutdown.clone(),
        ));
        // The bot answers in the background lane, which shutdown waits for after the workers.
        state.background.spawn(bot::run(
            state.in_background().bot_context(),
            shutdown.clone(),
        ));
        workers.spawn(chat::route_events(
            state.chat.clone(),
            state.bus.clone(),
            shutdown.clone(),
        ));
        if let Some(smtp_listener) = smtp_listener {
            workers.spawn(crate::smtp::serve(
                smtp_listener,
                state.clone(),
                shutdown.clone(),
            ));
        }
        workers.spawn(routing::sla::run(
            state.routing(),
            Duration::from_millis(state.settings.sla_check_ms.max(50)),
            shutdown.clone(),
        ));
        workers.spawn(crate::snooze::run(state.clone(), shutdown.clone()));
        workers.spawn(crate::lost_turns::run(state.clone(), shutdown.clone()));
        workers.spawn(crate::presence::run(
            state.heartbeats.clone(),
            shutdown.clone(),
        ));
        workers.spawn(crate::rollups::run(state.clone(), shutdown.clone()));
        workers.spawn(slack_desk::run(state.clone(), shutdown.clone()));
        workers.spawn(crate::helpdesk::run(state.clone(), shutdown.clone()));
        workers.spawn(crate::retention::run(
            state.store.clone(),
            state.settings.attachments_dir(),
            Duration::from_secs(state.settings.retention_check_secs.max(1)),
            shutdown.clone(),
        ));
        workers.close();
        let stopping = shutdown.clone();
        // With the peer's address, which login throttling counts by (`login.rs`).
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service)
            .with_graceful_shutdown(async move { stopping.cancelled().await })
            .await
            .context("the HTTP server failed")?;
        shutdown.cancel();
        // Upgraded web-chat connections outlive `serve`: they close with 1001 on the
        // cancellation; give them a moment to say so.
        state.chat.connections.close();
        if tokio::time::timeout(CHATS_CLOSE_WITHIN, state.chat.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(within = ?CHATS_CLOSE_WITHIN, "web-chat connections still open");
        }
        if tokio::time::timeout(WORKERS_FINISH_WITHIN, workers.wait())
            .await
            .is_err()
        {
            tracing::warn!(within = ?WORKERS_FINISH_WITHIN, "deliveries still in flight; their leases will expire");
        }
        if tokio::time::timeout(ROUTING_FINISH_WITHIN, state.background.wait())
            .await
            .is_err()
        {
            tracing::warn!(within = ?ROUTING_FINISH_WITHIN, "routing still in flight");
        }
        state
            .background
            .store()
            .clone()
            .close_own_readers()
            .await
            .context("failed to close the background readers")?;
        state
            .store
            .close()
            .await
            .context("failed to close the database")?;
        Ok(())
    }
}

fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.request_timeout_secs.max(1));
    let (api, uploads) = api::router();
    let api = bounded(api, API_BODY_LIMIT, timeout);
    // A file takes longer than a JSON body on a slow line.
    let uploads = bounded(
        uploads,
        api::UPLOAD_BODY_LIMIT,
        timeout.max(Duration::from_secs(300)),
    );
    let webhooks = Router::new().route(
        "/webhooks/{channel}/{inbox_id}",
        post(inbound::webhook).get(inbound::handshake),
    );
    let webhooks = bounded(webhooks, WEBHOOK_BODY_LIMIT, timeout);
    // No timeout layer: a WebSocket lives as long as the visitor stays.
    let chat = Router::new().route("/chat/ws", get(chat::chat_ws));
    let chat_files = Router::new().route(
        "/chat/files/{org_id}/{hash}/{signature}/{filename}",
        get(chat::file),
    );
    let chat = chat.merge(bounded(chat_files, API_BODY_LIMIT, timeout));
    Router::new()
        .route("/healthz", get(telemetry::healthz))
        .route("/readyz", get(telemetry::readyz))
        .route("/metrics", get(telemetry::metrics))
        .merge(api)
        .merge(uploads)
        .merge(webhooks)
        .merge(chat)
        .merge(web::router())
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn(telemetry::track_requests))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Limits the routes' request bodies to `body_limit` bytes and their handling to `timeout`.
fn bounded(routes: Router<AppState>, body_limit: usize, timeout: Duration) -> Router<AppState> {
    routes
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(body_limit, refuse_oversized))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}

/// Answers 413 to a request that declares a body over `limit`, before any handler runs. The
/// body is read and thrown away first (up to a cap), so that the client, still sending, gets
/// the answer rather than a reset connection. Bodies without a declared length are cut off at
/// the limit by `DefaultBodyLimit` in the extractors.
async fn refuse_oversized(
    State(limit): State<usize>,
    request: Request,
    next: middleware::Next,
) -> Response {
    const DRAIN_AT_MOST: u64 = 64 * 1024 * 1024;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => {
            if length <= DRAIN_AT_MOST {
                let mut body = request.into_body().into_data_stream();
                let drain = async { while let Some(Ok(_)) = body.next().await {} };
                let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
            }
            ApiError::PayloadTooLarge.into_response()
        }
        _ => next.run(request).await,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// How many connections may wait for `accept`: tokio's default (1,024) drops the SYNs of a
/// reconnect storm (every web-chat visitor at once after a restart), which then wait a second
/// or more to retry. The kernel caps it at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 8192;

/// The hub's listening socket.
fn listen(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_BACKLOG)
}
