//! Building and running the server. The same builder serves production and the tests: it binds to the
//! configured address (port 0 picks a free port) and says which port it got.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::middleware::{request_context, security_headers};
use crate::api::{self, AppState, extract};
use crate::auth::Keys;
use crate::config::{ListenAddr, Settings};
use crate::db::Db;
use crate::jobs::{email::EmailSender, reminders::Reminders, webhooks::WebhookSender};

pub struct Application {
    port: u16,
    server: Server,
    stop_background: crate::shutdown::Trigger,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connects to the database, brings its schema up to date and binds the listener.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let keys = Keys::load(&settings.auth, &settings.data_dir, &settings.database.url)?;
        let addresses = settings
            .listen_addr
            .resolve()
            .with_context(|| format!("LISTEN_ADDR {} does not resolve to an address", settings.listen_addr))?;
        refuse_dangerous_settings(settings, &addresses)?;
        if let Some(path) = &keys.generated_secret {
            tracing::info!(
                secret = %path.display(),
                "API tokens are signed with the generated secret; mint one with: \
                 action-tracker token --email you@example.com --role admin"
            );
        }
        let db = Db::connect(&settings.database)?;
        db.migrate()?;
        let reminders = Arc::new(Reminders::new(settings, db.clone())?);
        let emails = Arc::new(EmailSender::new(settings, db.clone())?);
        let (stop_background, shutdown) = crate::shutdown::channel();
        let mut background = Vec::new();
        if settings.background_work {
            background.push(Arc::clone(&reminders).spawn(&shutdown));
            background.push(Arc::clone(&emails).spawn(&shutdown));
            background.push(Arc::new(WebhookSender::new(settings, db.clone())?).spawn(&shutdown));
            background.push(crate::jobs::tallies::spawn(db.clone(), settings.timezone, &shutdown));
        }
        let state = web::Data::new(AppState {
            db,
            timezone: settings.timezone,
            tokens: keys.verifier,
            reminders,
            emails,
            review_due_days: settings.reminders.review_due_days,
            cache_max_age: settings.cache_max_age.as_secs(),
            metrics: Arc::new(crate::metrics::Metrics::new()?),
            metrics_token: settings.metrics_token.clone(),
            webhook_targets: crate::outbound::TargetPolicy { allow_private: settings.webhook_allow_private_targets },
            idempotency_lease: chrono::Duration::from_std(
                settings.limits.request_timeout + settings.database.statement_timeout,
            )
            .unwrap_or(chrono::Duration::hours(1)),
        });

        let limits = web::Data::new(api::limits::Limits::new(&settings.limits));

        let listeners = listen(&settings.listen_addr, &addresses)?;
        let port = listeners.first().map(TcpListener::local_addr).transpose()?.map_or(0, |address| address.port());
        let document = web::Data::new(api::ServedDocument::new(&api::openapi())?);
        let settings = settings.clone();

        let server = HttpServer::new(move || {
            let (app, _) = App::new().into_utoipa_app().configure(api::routes).split_for_parts();
            app.app_data(on_this_worker(&state))
                .app_data(limits.clone())
                .app_data(extract::payload_config())
                .app_data(extract::query_config())
                .app_data(extract::path_config())
                .app_data(extract::form_config())
                .service(web::redirect("/docs", "/docs/"))
                .app_data(document.clone())
                .route(api::DOCUMENT_PATH, web::get().to(api::served_document))
                .service(SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from(api::DOCUMENT_PATH)))
                .default_service(web::to(api::no_route))
                .wrap(from_fn(api::idempotency::idempotency))
                .wrap(from_fn(api::limits::limits))
                .wrap(cors(&settings.limits.cors_allowed_origins))
                .wrap(from_fn(security_headers))
                .wrap(from_fn(request_context))
        });
        let server = match settings.http_workers {
            Some(workers) => server.workers(workers),
            None => server,
        };
        // In-flight requests get as long to finish as any request may take.
        let server = server.shutdown_timeout(settings.limits.request_timeout.as_secs().max(1));
        let server = listeners.into_iter().try_fold(server, |server, listener| server.listen(listener))?.run();
        Ok(Self { port, server, stop_background, background })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (tests, signal handling).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT (or `handle().stop()`): then stops accepting, lets the requests in
    /// flight finish, and has the background loops finish the batch in hand before returning.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        tracing::info!("HTTP server stopped; finishing the background work in hand");
        self.stop_background.stop();
        for task in self.background {
            if let Err(error) = task.await {
                tracing::error!(%error, "a background task ended abnormally");
            }
        }
        tracing::info!("stopped");
        served
    }
}

/// The state for the HTTP worker this is called on (the server's factory runs on each): the same, with
/// database connections driven by the worker's own thread (`db::conn`).
fn on_this_worker(state: &web::Data<AppState>) -> web::Data<AppState> {
    match state.db.on_this_runtime() {
        Ok(db) => web::Data::new(AppState { db, ..AppState::clone(state) }),
        Err(error) => {
            tracing::warn!(%error, "this HTTP worker shares the background jobs' database connections");
            state.clone()
        }
    }
}

/// Binds every address LISTEN_ADDR stands for, since clients may try any of them (a browser asked for
/// `localhost` tries ::1 as well as 127.0.0.1). With port 0 the others take the port the first one got, so
/// the server has one port. An address this machine does not have (::1 where IPv6 is off) is skipped with
/// a warning, as long as another one is bound; any other failure stops the start.
fn listen(listen_addr: &ListenAddr, addresses: &[SocketAddr]) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners: Vec<TcpListener> = Vec::with_capacity(addresses.len());
    for &address in addresses {
        let address = match listeners.first() {
            Some(first) if address.port() == 0 => SocketAddr::new(address.ip(), first.local_addr()?.port()),
            _ => address,
        };
        match TcpListener::bind(address) {
            Ok(listener) => listeners.push(listener),
            Err(error) if error.kind() == std::io::ErrorKind::AddrNotAvailable && addresses.len() > 1 => {
                tracing::warn!(%address, %error, "LISTEN_ADDR {listen_addr} stands for an address this machine does not have; skipped");
            }
            Err(error) => {
                return Err(error).with_context(|| format!("LISTEN_ADDR {listen_addr}: cannot listen on {address}"));
            }
        }
    }
    if listeners.is_empty() {
        anyhow::bail!("LISTEN_ADDR {listen_addr}: none of {addresses:?} is an address of this machine");
    }
    Ok(listeners)
}

/// Cross-origin access for browser dashboards: only the configured origins, and only when there are any.
/// Other origins get no CORS headers, so the browser keeps their pages from reading answers; same-origin
/// pages (the API docs) need none.
fn cors(origins: &[String]) -> actix_web::middleware::Condition<Cors> {
    let mut cors = Cors::default()
        .block_on_origin_mismatch(false)
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            api::middleware::REQUEST_ID_HEADER,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::CACHE_CONTROL,
            HeaderName::from_static("idempotent-replayed"),
            api::middleware::REQUEST_ID_HEADER,
            api::limits::RATE_LIMIT_LIMIT,
            api::limits::RATE_LIMIT_REMAINING,
            api::limits::RATE_LIMIT_RESET,
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    actix_web::middleware::Condition::new(!origins.is_empty(), cors)
}

/// Settings that would leave the service open or broken are refused before anything starts; the secrets'
/// own checks live with them (`Keys::load`, `LinkKeys::load`, `Mailer::new`).
fn refuse_dangerous_settings(settings: &Settings, addresses: &[SocketAddr]) -> anyhow::Result<()> {
    if settings.metrics_token.as_ref().is_some_and(|t| t.expose().len() < 32) {
        anyhow::bail!("METRICS_TOKEN must be at least 32 characters (openssl rand -base64 32)");
    }
    for origin in &settings.limits.cors_allowed_origins {
        let parsed = url::Url::parse(origin).ok().filter(|url| {
            matches!(url.scheme(), "http" | "https") && url.origin().ascii_serialization() == origin.as_str()
        });
        if parsed.is_none() {
            anyhow::bail!(
                "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin; give scheme, host and port only, like https://dash.example.com"
            );
        }
    }
    let https_links = settings.mail.public_base_url.as_deref().is_some_and(|url| url.starts_with("https://"));
    if addresses.iter().any(|address| !address.ip().is_loopback()) && !https_links {
        tracing::warn!(
            address = %settings.listen_addr,
            "listening beyond this machine while PUBLIC_BASE_URL is not https: tokens and one-click links would \
             cross the network in clear text; put a TLS-terminating proxy in front and set PUBLIC_BASE_URL=https://…"
        );
    }
    Ok(())
}
