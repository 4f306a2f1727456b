//! The `action-tracker` command: reads the settings its subcommand uses, sets up logging and runs it.

use std::process::ExitCode;

use clap::{Arg, CommandFactory, FromArgMatches, Parser, Subcommand};

use action_tracker::auth::TokenSigner;
use action_tracker::cli::{self, GivenAs};
use action_tracker::config::{DatabaseSettings, LogSettings, Settings};
use action_tracker::domain::principal::Role;
use action_tracker::jobs::{email::EmailSender, reminders::Reminders, webhooks::WebhookSender};
use action_tracker::{api, db::Db, startup::Application, telemetry};

/// Keeps the corrective actions of post-incident reviews from being forgotten.
#[derive(Debug, Parser)]
#[command(
    name = "action-tracker",
    version,
    about,
    after_help = "Without a command, `action-tracker [SETTINGS]` runs `serve`. Each command's --help lists the \
                  settings it reads, each a flag with an environment variable behind it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server, with the reminder sweep and the senders unless BACKGROUND_WORK is false (the
    /// default command).
    Serve {
        #[command(flatten, next_help_heading = "Settings")]
        settings: Settings,
    },
    /// Bring the database schema up to date, then exit.
    Migrate {
        #[command(flatten, next_help_heading = "Settings")]
        settings: Settings,
    },
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Print a signed API token (HS256, with JWT_SECRET or the secret the server generated).
    Token(TokenArgs),
    /// Run the reminder sweep and deliver the e-mail and webhook outboxes, then exit (for cron, or to test
    /// the ladder).
    Remind(RemindArgs),
    /// Fill an empty database with realistic incidents and actions (for trying the service, and benchmarks).
    Seed(SeedArgs),
}

/// Settings only the HTTP server reads: `remind` reads every other one.
const SERVER_ONLY: &[&str] = &[
    "http-workers",
    "cache-max-age",
    "metrics-token",
    "background-work",
    "reminder-sweep-interval",
    "request-timeout",
    "rate-limit-per-minute",
    "rate-limit-burst",
    "cors-allowed-origins",
    "jwt-public-key",
    "jwt-algorithm",
    "jwt-issuer",
    "jwt-audience",
    "jwt-leeway",
    "jwt-roles-claim",
];

/// What `token` reads: how the server checks tokens, and where it keeps a generated secret.
const TOKEN_READS: &[&str] =
    &["jwt-secret", "jwt-public-key", "jwt-issuer", "jwt-audience", "data-dir", "database-url"];

/// Whether the command `name` reads `setting`; the others are left out of its `--help` and refused.
fn reads(name: &str, setting: &Arg) -> bool {
    let flag = setting.get_long().unwrap_or_default();
    match name {
        "serve" => true,
        "migrate" | "seed" => cli::is_one_of::<DatabaseSettings>(setting) || cli::is_one_of::<LogSettings>(setting),
        "token" => TOKEN_READS.contains(&flag),
        "remind" => !SERVER_ONLY.contains(&flag),
        _ => false,
    }
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// Incidents to create.
    #[arg(long, default_value_t = 100)]
    incidents: usize,
    /// Corrective actions to create, spread over the incidents.
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
    #[command(flatten, next_help_heading = "Settings")]
    settings: Settings,
}

#[derive(Debug, clap::Args)]
struct RemindArgs {
    /// Run once and exit. Required, as the only mode: `serve` runs the sweep on a timer.
    #[arg(long, required = true)]
    once: bool,
    /// Sweep as if it were this time (RFC 3339), e.g. with --dry-run to see what a given day would send.
    /// Without --dry-run the e-mails go out for real, as if sent then: for tests and rehearsals on a copy
    /// of the database, since the ladder records them at that time.
    #[arg(long, value_parser = parse_as_of)]
    as_of: Option<chrono::DateTime<chrono::Utc>>,
    /// Print the e-mails the sweep would queue (recipient, subject, actions), without queuing or sending
    /// anything.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten, next_help_heading = "Settings")]
    settings: Settings,
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
    #[command(flatten, next_help_heading = "Settings")]
    settings: Settings,
}

fn parse_as_of(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    action_tracker::domain::reminder::parse_sweep_time("--as-of", raw).map_err(|e| e.message)
}

fn parse_role(raw: &str) -> Result<Role, String> {
    raw.parse().map_err(|_| format!("{raw:?} is not a role: use viewer, editor or admin"))
}

fn main() -> ExitCode {
    let mut command = cli::narrow(Cli::command(), reads);
    let commands: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let args = cli::with_default_command(std::env::args_os().collect(), "serve", &commands);
    let matches = match command.try_get_matches_from_mut(&args) {
        Ok(matches) => matches,
        Err(error) => cli::name_env_values(error, &command, &args).exit(),
    };
    if let Err(error) = cli::refuse_unread(&command, &matches) {
        error.exit();
    }
    let given_as = GivenAs::new(&command, &matches);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    match actix_web::rt::System::new().block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", given_as.reword(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&api::openapi())?);
        }
        Command::Token(args) => {
            let settings = args.settings;
            let signer = TokenSigner::for_the_server(&settings.auth, &settings.data_dir, &settings.database.url)?;
            let Some(sub) = args.sub.as_deref().or(args.email.as_deref()) else {
                anyhow::bail!("give --email or --sub: a token must name its subject");
            };
            println!("{}", signer.mint(sub, args.email.as_deref(), &args.roles, args.ttl)?);
        }
        Command::Seed(args) => {
            telemetry::init(&args.settings.log)?;
            let db = Db::connect(&args.settings.database)?;
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
            let settings = args.settings;
            telemetry::init(&settings.log)?;
            let _ = args.once;
            let db = Db::connect(&settings.database)?;
            db.migrate()?;
            let reminders = std::sync::Arc::new(Reminders::new(&settings, db.clone())?);
            let emails = EmailSender::new(&settings, db)?;
            let as_of = args.as_of.unwrap_or_else(chrono::Utc::now);
            let started = std::time::Instant::now();
            let planned = reminders.sweep(as_of, args.dry_run).await?;
            let swept = started.elapsed();
            for email in &planned {
                println!("{}\t{}\t{}", email.recipient, email.subject, email.action_keys.join(","));
            }
            if !args.dry_run {
                let hooks = WebhookSender::new(&settings, Db::connect(&settings.database)?)?;
                let hook_report = hooks.deliver().await?;
                eprintln!(
                    "webhooks: sent {}, retrying {}, failed {}",
                    hook_report.sent, hook_report.retrying, hook_report.failed
                );
                let delivering = std::time::Instant::now();
                let report = emails.deliver().await?;
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
        Command::Migrate { settings } => {
            telemetry::init(&settings.log)?;
            Db::connect(&settings.database)?.migrate()?;
            tracing::info!(database = %settings.database.url, "database schema is up to date");
        }
        Command::Serve { settings } => {
            telemetry::init(&settings.log)?;
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

#[cfg(test)]
mod tests {
    use clap::Args;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed_and_its_lists_name_real_settings() {
        cli::narrow(Cli::command(), reads).debug_assert();
        let settings = Settings::augment_args(clap::Command::new("settings"));
        for flag in SERVER_ONLY.iter().chain(TOKEN_READS) {
            assert!(settings.get_arguments().any(|arg| arg.get_long() == Some(flag)), "--{flag} is not a setting");
        }
    }
}
