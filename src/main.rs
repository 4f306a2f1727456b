//! The `action-tracker` command: loads settings, sets up logging and runs the chosen subcommand.

use clap::{Parser, Subcommand};

use action_tracker::config::Settings;
use action_tracker::{api, db::Db, startup::Application, telemetry};

/// Keeps the corrective actions of post-incident reviews from being forgotten.
#[derive(Debug, Parser)]
#[command(name = "action-tracker", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Print the OpenAPI document as JSON.
    Openapi,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&api::openapi())?);
        }
        Command::Migrate => {
            telemetry::init(&cli.settings.log)?;
            Db::connect(&cli.settings.database)?.migrate()?;
            tracing::info!(database = %cli.settings.database.url, "database schema is up to date");
        }
        Command::Serve => {
            telemetry::init(&cli.settings.log)?;
            let settings = cli.settings;
            let application = Application::build(&settings)?;
            tracing::info!(
                database = %settings.database.url,
                address = %settings.listen_addr,
                port = application.port(),
                timezone = %settings.timezone,
                "action-tracker is listening; API docs at /docs"
            );
            application.run_until_stopped().await?;
        }
    }
    Ok(())
}
