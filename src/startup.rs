//! Building and running the server. The same builder serves production and the tests: it binds to the
//! configured address (port 0 picks a free port) and says which port it got.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, AppState, extract, middleware::request_context};
use crate::auth::Keys;
use crate::config::Settings;
use crate::db::Db;
use crate::reminders::Reminders;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects to the database, brings its schema up to date and binds the listener.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let keys = Keys::load(&settings.auth, &settings.data_dir, &settings.database.url)?;
        if settings.metrics_token.as_ref().is_some_and(|t| t.expose().len() < 32) {
            anyhow::bail!("METRICS_TOKEN must be at least 32 characters (openssl rand -base64 32)");
        }
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
        if settings.background_work {
            Arc::clone(&reminders).spawn();
            crate::webhooks::Webhooks::new(settings, db.clone())?.spawn();
        }
        let state = web::Data::new(AppState {
            db,
            timezone: settings.timezone,
            tokens: keys.verifier,
            reminders,
            review_due_days: settings.reminders.review_due_days,
            cache_max_age: settings.cache_max_age.as_secs(),
            metrics: Arc::new(crate::metrics::Metrics::new()?),
            metrics_token: settings.metrics_token.clone(),
        });

        let listener = TcpListener::bind(settings.listen_addr)
            .with_context(|| format!("listening on {}", settings.listen_addr))?;
        let port = listener.local_addr()?.port();
        let spec = api::openapi();

        let server = HttpServer::new(move || {
            let (app, _) = App::new().into_utoipa_app().configure(api::routes).split_for_parts();
            app.app_data(state.clone())
                .app_data(extract::payload_config())
                .app_data(extract::query_config())
                .app_data(extract::path_config())
                .app_data(extract::form_config())
                .service(web::redirect("/docs", "/docs/"))
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", spec.clone()))
                .default_service(web::to(api::no_route))
                .wrap(from_fn(api::idempotency::idempotency))
                .wrap(from_fn(request_context))
        });
        let server = match settings.http_workers {
            Some(workers) => server.workers(workers),
            None => server,
        };
        let server = server.listen(listener)?.run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (tests, signal handling).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
