//! The `action-tracker` command: loads settings, sets up logging and runs the chosen subcommand.

use clap::{Parser, Subcommand};

use action_tracker::auth::Keys;
use action_tracker::config::Settings;
use action_tracker::domain::principal::Role;
use action_tracker::reminders::Reminders;
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
    /// Print a signed API token (HS256, with JWT_SECRET or the generated secret).
    Token(TokenArgs),
    /// Run the reminder sweep and deliver the e-mail and webhook outboxes, then exit (for cron, or to test
    /// the ladder).
    Remind(RemindArgs),
    /// Fill an empty database with realistic incidents and actions (for trying the service, and benchmarks).
    Seed(SeedArgs),
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    #[arg(long, default_value_t = 100)]
    incidents: usize,
    #[arg(long, default_value_t = 1000)]
    actions: usize,
    /// Distinct owners the actions are spread over [default: one per 100 actions].
    #[arg(long)]
    owners: Option<usize>,
    /// Add to a database that already holds incidents.
    #[arg(long)]
    force: bool,
    /// Make every action open and overdue (to benchmark the reminder sweep).
    #[arg(long)]
    all_overdue: bool,
}

#[derive(Debug, clap::Args)]
struct RemindArgs {
    /// Run once and exit (the only mode; `serve` runs the sweep on a timer).
    #[arg(long, required = true)]
    once: bool,
    /// Sweep as if it were this time (RFC 3339), e.g. with --dry-run to see what a given day would send.
    /// Without --dry-run the e-mails go out for real, as if sent then: for tests and rehearsals on a copy
    /// of the database, since the ladder records them at that time.
    #[arg(long, value_parser = parse_as_of)]
    as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// Show what would be sent without queuing or sending anything.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The principal's e-mail address (owners are matched on it).
    #[arg(long)]
    email: Option<String>,
    /// A role to grant: viewer, editor or admin; repeat for several.
    #[arg(long = "role", value_parser = parse_role)]
    roles: Vec<Role>,
    /// How long the token is valid, e.g. 12h, 30d.
    #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
    ttl: std::time::Duration,
    /// The token's subject [default: the e-mail address].
    #[arg(long)]
    sub: Option<String>,
}

fn parse_as_of(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    action_tracker::domain::reminder::parse_sweep_time("--as-of", raw).map_err(|e| e.message)
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse().map_err(|_| format!("{raw:?} is not a role: use viewer, editor or admin"))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&api::openapi())?);
        }
        Command::Token(args) => {
            let settings = cli.settings;
            let keys = Keys::load(&settings.auth, &settings.data_dir, &settings.database.url)?;
            let Some(signer) = keys.signer else {
                anyhow::bail!(
                    "cannot mint tokens: only JWT_PUBLIC_KEY is configured, so tokens come from your identity provider"
                );
            };
            let Some(sub) = args.sub.as_deref().or(args.email.as_deref()) else {
                anyhow::bail!("give --email or --sub: a token must name its subject");
            };
            println!("{}", signer.mint(sub, args.email.as_deref(), &args.roles, args.ttl)?);
        }
        Command::Seed(args) => {
            telemetry::init(&cli.settings.log)?;
            let db = Db::connect(&cli.settings.database)?;
            db.migrate()?;
            let plan = action_tracker::db::seed::SeedPlan {
                incidents: args.incidents,
                actions: args.actions,
                owners: args.owners.unwrap_or(args.actions / 100 + 1),
                force: args.force,
                all_overdue: args.all_overdue,
            };
            let started = std::time::Instant::now();
            let seeded = action_tracker::db::seed::seed(&db, plan, chrono::Utc::now()).await?;
            eprintln!(
                "seeded {} incidents, {} actions, {} tags in {:.1} s",
                seeded.incidents,
                seeded.actions,
                seeded.tags,
                started.elapsed().as_secs_f64()
            );
        }
        Command::Remind(args) => {
            telemetry::init(&cli.settings.log)?;
            let _ = args.once;
            let db = Db::connect(&cli.settings.database)?;
            db.migrate()?;
            let reminders = std::sync::Arc::new(Reminders::new(&cli.settings, db)?);
            let as_of = args.as_of.unwrap_or_else(chrono::Utc::now);
            let started = std::time::Instant::now();
            let planned = reminders.sweep(as_of, args.dry_run).await?;
            let swept = started.elapsed();
            for email in &planned {
                println!("{}\t{}\t{}", email.recipient, email.subject, email.action_keys.join(","));
            }
            if !args.dry_run {
                let hooks =
                    action_tracker::webhooks::Webhooks::new(&cli.settings, Db::connect(&cli.settings.database)?)?;
                let hook_report = hooks.deliver().await?;
                eprintln!(
                    "webhooks: sent {}, retrying {}, failed {}",
                    hook_report.sent, hook_report.retrying, hook_report.failed
                );
                let delivering = std::time::Instant::now();
                let report = reminders.deliver().await?;
                eprintln!(
                    "queued {} in {:.2} s, sent {}, retrying {}, failed {} in {:.2} s",
                    planned.len(),
                    swept.as_secs_f64(),
                    report.sent,
                    report.retrying,
                    report.failed,
                    delivering.elapsed().as_secs_f64()
                );
            }
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
