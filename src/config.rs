//! Settings: every knob is a command-line flag with an environment variable behind it and a default,
//! all listed by `serve --help`; each other command reads and lists the ones it uses (`main.rs`, with
//! `cli`). Settings are passed to what needs them, never read from globals, so a test can run with its
//! own copy (port 0, its own database).

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use lettre::message::Mailbox;

use crate::db::options::DatabaseOptions;
pub use crate::db::options::DatabaseUrl;
use crate::domain::email::EmailAddress;

#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Address and port the HTTP server listens on: an IP address (`0.0.0.0:8080`, `[::1]:8080`) or a host
    /// name (`localhost:8080`), which is resolved at start and listened on at every address it has. Links
    /// in e-mails point here unless PUBLIC_BASE_URL is set.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: ListenAddr,

    /// Number of HTTP worker threads [default: one per CPU core].
    #[arg(long, env = "HTTP_WORKERS")]
    pub http_workers: Option<usize>,

    /// IANA time zone that decides what "today" is, and so which actions are overdue.
    #[arg(long, env = "TIMEZONE", default_value = "UTC")]
    pub timezone: chrono_tz::Tz,

    /// How long dashboards may reuse a list or `/stats` without asking (`Cache-Control: private, max-age`);
    /// after that, `If-None-Match` makes asking cheap.
    #[arg(long = "cache-max-age", env = "CACHE_MAX_AGE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub cache_max_age: Duration,

    /// A bearer token Prometheus may scrape `/metrics` with (at least 32 characters); without it, `/metrics`
    /// needs a viewer's JWT.
    #[arg(long = "metrics-token", env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// Run the reminder sweep and the e-mail sender inside `serve`. Turn off on replicas that should only
    /// answer the API, when `action-tracker remind --once` runs from cron instead.
    #[arg(long = "background-work", env = "BACKGROUND_WORK", default_value_t = true, action = clap::ArgAction::Set)]
    pub background_work: bool,

    /// Let webhooks reach receivers on private networks (loopback, RFC 1918, link-local, CGNAT, unique
    /// local): for on-premises ticketing systems. Off: only public addresses, checked when a webhook is
    /// registered and again on every delivery, on the address connected to.
    #[arg(long = "webhook-allow-private-targets", env = "WEBHOOK_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private_targets: bool,

    /// Directory for files the service keeps beside its database: generated secrets, the mail outbox.
    #[arg(long = "data-dir", env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub auth: AuthSettings,

    #[command(flatten)]
    pub mail: MailSettings,

    #[command(flatten)]
    pub reminders: ReminderSettings,

    #[command(flatten)]
    pub limits: LimitSettings,

    #[command(flatten)]
    pub log: LogSettings,
}

/// How API tokens (JWT) are verified. Either a shared secret (HS256) or an identity provider's public
/// key; with neither, the embedded default generates a secret into DATA_DIR (SQLite only).
#[derive(Debug, Clone, Args)]
pub struct AuthSettings {
    /// HS256 secret shared with whoever mints tokens; at least 32 bytes. Prefer the environment variable.
    #[arg(long = "jwt-secret", env = "JWT_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,

    /// PEM file with an identity provider's public key; tokens must be signed with JWT_ALGORITHM.
    #[arg(long = "jwt-public-key", env = "JWT_PUBLIC_KEY", conflicts_with = "secret")]
    pub public_key: Option<PathBuf>,

    /// The one algorithm accepted with JWT_PUBLIC_KEY (tokens naming any other are refused).
    #[arg(long = "jwt-algorithm", env = "JWT_ALGORITHM", value_enum, default_value_t = PublicKeyAlgorithm::Rs256)]
    pub algorithm: PublicKeyAlgorithm,

    /// When set, tokens must carry this `iss`.
    #[arg(long = "jwt-issuer", env = "JWT_ISSUER")]
    pub issuer: Option<String>,

    /// When set, tokens must carry this `aud`.
    #[arg(long = "jwt-audience", env = "JWT_AUDIENCE")]
    pub audience: Option<String>,

    /// Clock skew allowed when checking `exp` and `nbf`.
    #[arg(long = "jwt-leeway", env = "JWT_LEEWAY", default_value = "30s", value_parser = humantime::parse_duration)]
    pub leeway: Duration,

    /// The claim holding the roles: a list of strings, or one space-separated string (`scope` style).
    #[arg(long = "jwt-roles-claim", env = "JWT_ROLES_CLAIM", default_value = "roles")]
    pub roles_claim: String,
}

/// Where e-mail goes and what it links to.
#[derive(Debug, Clone, Args)]
pub struct MailSettings {
    /// SMTP relay in lettre's URL form: `smtp://user:pass@host:587?tls=required`, `smtps://host`, or
    /// `smtp://localhost:1025` for a local relay. Unset: e-mails are written to DATA_DIR/outbox as .eml files.
    #[arg(long = "smtp-url", env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// SMTP conversations in flight at once, each on its own connection. Relays limit this per client
    /// (Microsoft 365 allows 3); every e-mail waits for the relay's answer, so more go out per second
    /// with more connections.
    #[arg(long = "smtp-connections", env = "SMTP_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub connections: u32,

    /// Longest one SMTP conversation may take, from connecting to the relay's answer to the message; a
    /// relay that stops answering (or accepts the connection and never greets) is given up on after it,
    /// and the e-mail is retried. Keep it well under MAIL_LEASE.
    #[arg(long = "smtp-timeout", env = "SMTP_TIMEOUT", default_value = "60s", value_parser = positive_duration)]
    pub smtp_timeout: Duration,

    /// The sender of every e-mail: an address, or a name and an address (`Name <address>`).
    #[arg(long = "mail-from", env = "MAIL_FROM", default_value = "action-tracker <action-tracker@localhost>")]
    pub from: Mailbox,

    /// The address people reach the service at, for links in e-mails [default: http://LISTEN_ADDR].
    #[arg(long = "public-base-url", env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Secret that signs the one-click links in e-mails (distinct from API tokens); at least 32 bytes.
    /// Unset: generated into DATA_DIR (SQLite only).
    #[arg(long = "link-secret", env = "LINK_SECRET", hide_env_values = true)]
    pub link_secret: Option<Secret>,

    /// How long a one-click link in an e-mail works.
    #[arg(long = "link-ttl", env = "LINK_TTL", default_value = "7d", value_parser = positive_duration)]
    pub link_ttl: Duration,

    /// Attempts to deliver one e-mail (or webhook delivery) before it is marked failed. The default, with
    /// the default waits, keeps trying for about a day, to outlast a relay's outage.
    #[arg(long = "mail-max-attempts", env = "MAIL_MAX_ATTEMPTS", default_value_t = 30)]
    pub max_attempts: i32,

    /// Wait before the first retry; doubles with each failure up to MAIL_RETRY_MAX.
    #[arg(long = "mail-retry-base", env = "MAIL_RETRY_BASE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub retry_base: Duration,

    /// Longest wait between two attempts.
    #[arg(long = "mail-retry-max", env = "MAIL_RETRY_MAX", default_value = "1h", value_parser = humantime::parse_duration)]
    pub retry_max: Duration,

    /// How long a sender holds the e-mails and webhook deliveries it claimed. A crashed sender's rows
    /// go out again once it runs out. A live sender starts no conversation that could outlast it, and
    /// puts back what it had no time left for; keep it well above SMTP_TIMEOUT so that happens rarely.
    #[arg(long = "mail-lease", env = "MAIL_LEASE", default_value = "5m", value_parser = lease_duration)]
    pub lease: Duration,
}

/// What a sender keeps of its lease to record an outcome, before another sender may take the row over.
pub const TIME_TO_RECORD: chrono::Duration = chrono::Duration::seconds(1);

impl MailSettings {
    /// The longest one conversation (SMTP or webhook) may take: `longest`, but short enough that a
    /// claim's first conversation fits in MAIL_LEASE with a second to spare for the claim itself and one
    /// to record the outcome, so a sender with a short lease still makes progress.
    pub fn conversation_limit(&self, longest: Duration) -> Duration {
        longest.min(self.lease.saturating_sub(Duration::from_secs(2)))
    }
}

/// The reminder ladder: when owners hear about their actions, and when their managers do.
#[derive(Debug, Clone, Args)]
pub struct ReminderSettings {
    /// Remind once when the due date is this many days away or fewer.
    #[arg(long = "reminder-due-soon-days", env = "REMINDER_DUE_SOON_DAYS", default_value_t = 3)]
    pub due_soon_days: i64,

    /// Once overdue: remind the day after the due date, then every this many days.
    #[arg(long = "reminder-repeat-days", env = "REMINDER_REPEAT_DAYS", default_value_t = 3)]
    pub repeat_days: i64,

    /// At most this many overdue reminders per action.
    #[arg(long = "reminder-max-overdue", env = "REMINDER_MAX_OVERDUE", default_value_t = 10)]
    pub max_overdue: i64,

    /// Tell the escalation contact when an action is this many days overdue, and again at each multiple.
    #[arg(long = "reminder-escalate-after-days", env = "REMINDER_ESCALATE_AFTER_DAYS", default_value_t = 7)]
    pub escalate_after_days: i64,

    /// Who hears about escalations for owners without a manager in the people directory, and about
    /// reviews of incidents without a facilitator. Unset: those e-mails are not sent.
    #[arg(long = "reminder-escalation-email", env = "REMINDER_ESCALATION_EMAIL", value_parser = email_address)]
    pub escalation_email: Option<EmailAddress>,

    /// Reminders go out from this hour of the recipient's day on (their directory time zone, else TIMEZONE).
    #[arg(long = "reminder-send-hour", env = "REMINDER_SEND_HOUR", default_value_t = 9)]
    pub send_hour: u32,

    /// Send only Monday to Friday.
    #[arg(long = "reminder-weekdays-only", env = "REMINDER_WEEKDAYS_ONLY", default_value_t = true, action = clap::ArgAction::Set)]
    pub weekdays_only: bool,

    /// A lessons-learned review is due this many days after its incident is resolved.
    #[arg(long = "review-due-days", env = "REVIEW_DUE_DAYS", default_value_t = 14, value_parser = clap::value_parser!(i64).range(0..=365))]
    pub review_due_days: i64,

    /// How often `serve` sweeps for reminders that are due.
    #[arg(long = "reminder-sweep-interval", env = "REMINDER_SWEEP_INTERVAL", default_value = "15m", value_parser = positive_duration)]
    pub sweep_interval: Duration,
}

/// What one client may ask of the service (OWASP API4), and which browser pages may ask at all.
#[derive(Debug, Clone, Args)]
pub struct LimitSettings {
    /// A request still running after this long is answered 503 with Retry-After. Work it started in the
    /// database finishes or rolls back on its own; retry with the same Idempotency-Key to be safe.
    #[arg(long = "request-timeout", env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = positive_duration)]
    pub request_timeout: Duration,

    /// Requests per minute one bearer token (or one client address without a token) may make to the API,
    /// on each replica; 0 turns the limit off. Beyond it: 429 with Retry-After.
    #[arg(long = "rate-limit-per-minute", env = "RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,

    /// How many requests a token may make at once before the per-minute pace applies.
    #[arg(long = "rate-limit-burst", env = "RATE_LIMIT_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Most e-mails one recipient gets in 24 hours; the rest wait in the outbox until the window allows.
    #[arg(long = "mail-max-per-recipient-per-day", env = "MAIL_MAX_PER_RECIPIENT_PER_DAY", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..))]
    pub mail_per_recipient_per_day: i64,

    /// Browser origins (comma-separated, like `https://dash.example.com`) whose pages may call the API.
    /// None by default: only non-browser clients and same-origin pages.
    #[arg(long = "cors-allowed-origins", env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublicKeyAlgorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
}

/// A secret setting: it never appears in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host/db` for PostgreSQL; a file path or `sqlite://path` for SQLite.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "./data/action-tracker.db",
        hide_env_values = true
    )]
    pub url: DatabaseUrl,

    /// Most database connections each HTTP worker keeps open, and the background jobs as many [default: 2].
    #[arg(long = "database-pool-size", env = "DATABASE_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: Option<u32>,

    /// How long a request waits for a database connection, or on SQLite for its turn to write, before it
    /// is answered 503.
    #[arg(
        long = "database-timeout",
        env = "DATABASE_TIMEOUT",
        default_value = "5s",
        value_parser = positive_duration
    )]
    pub timeout: Duration,

    /// PostgreSQL cancels any single statement running longer than this, so a stuck query cannot hold a
    /// connection forever.
    #[arg(
        long = "database-statement-timeout",
        env = "DATABASE_STATEMENT_TIMEOUT",
        default_value = "60s",
        value_parser = positive_duration
    )]
    pub statement_timeout: Duration,
}

/// The same rules as every address the API takes, so the escalation contact is one the mail transport
/// accepts.
fn email_address(raw: &str) -> Result<EmailAddress, String> {
    EmailAddress::parse("e-mail address", raw).map_err(|error| error.message)
}

/// A duration for which zero means nothing sensible: a timeout that has always run out, a lease that has
/// always expired, a timer that never waits. Zero is refused at start-up rather than failing later (a
/// zero sweep interval stopped the sweep task with a panic; a zero database timeout, the pool).
fn positive_duration(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value) {
        Ok(duration) if duration.is_zero() => Err("must be longer than zero".into()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}

/// A sender keeps two seconds of its lease for claiming and recording (`MailSettings::conversation_limit`);
/// a shorter lease would leave no time to send anything, and it would claim and put back the same rows
/// for ever.
fn lease_duration(value: &str) -> Result<Duration, String> {
    match positive_duration(value)? {
        lease if lease < Duration::from_secs(3) => Err("must be at least 3s".into()),
        lease => Ok(lease),
    }
}

impl From<&DatabaseSettings> for DatabaseOptions {
    fn from(settings: &DatabaseSettings) -> Self {
        Self {
            url: settings.url.clone(),
            pool_size: settings.pool_size(),
            timeout: settings.timeout,
            statement_timeout: settings.statement_timeout,
        }
    }
}

impl DatabaseSettings {
    /// Two by default, per HTTP worker (one per core by default) and for the background jobs. Each
    /// connection is a query running at once; past about two per core they only wait in the CPU
    /// scheduler, which serves no one in order, so the tail latency grows with no gain in throughput
    /// (BENCHMARKS.md, seventh round).
    pub fn pool_size(&self) -> u32 {
        self.pool_size.unwrap_or(2)
    }
}

#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// `text` for people, `json` for log collectors.
    #[arg(long = "log-format", env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub format: LogFormat,

    /// Log filter in `tracing` syntax, e.g. `info` or `action_tracker=debug,actix_web=warn`.
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the server listens: an IP address and port, or a host name and port resolved at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Ip(SocketAddr),
    Name { host: String, port: u16 },
}

impl ListenAddr {
    /// Every address this stands for, in the resolver's order and without repeats: one for an IP
    /// address, possibly several for a name (`localhost`: 127.0.0.1 and ::1).
    pub fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        let found: Vec<SocketAddr> = match self {
            Self::Ip(address) => vec![*address],
            Self::Name { host, port } => (host.as_str(), *port).to_socket_addrs()?.collect(),
        };
        let mut addresses = Vec::with_capacity(found.len());
        for address in found {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        Ok(addresses)
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if let Ok(address) = raw.parse() {
            return Ok(Self::Ip(address));
        }
        let expected = "expected host:port, such as 127.0.0.1:8080, localhost:8080 or [::1]:8080";
        let Some((host, port)) = raw.rsplit_once(':') else { return Err(expected.into()) };
        let port = port.parse().map_err(|_| format!("{port:?} is not a port (0 to 65535); {expected}"))?;
        let is_name = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if host.contains(':') {
            return Err(format!("put an IPv6 address in brackets, like [{host}]:{port}"));
        }
        if !is_name {
            return Err(format!("{host:?} is neither an IP address nor a host name; {expected}"));
        }
        Ok(Self::Name { host: host.to_owned(), port })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(address) => address.fmt(f),
            Self::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_address_is_an_ip_address_or_a_host_name_with_a_port() {
        let parse = |raw: &str| raw.parse::<ListenAddr>();
        assert_eq!(parse("0.0.0.0:8080"), Ok(ListenAddr::Ip("0.0.0.0:8080".parse().unwrap())));
        assert_eq!(parse("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert_eq!(parse("localhost:8080"), Ok(ListenAddr::Name { host: "localhost".into(), port: 8080 }));
        assert_eq!(parse("tracker.internal:0").unwrap().to_string(), "tracker.internal:0");
        for bad in ["localhost", "localhost:http", ":8080", "::1:8080", "local host:80", "a..b:80", "127.0.0.1:70000"] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse("::1:8080").unwrap_err().contains("[::1]:8080"));
    }

    #[test]
    fn a_name_listens_on_every_address_it_resolves_to() {
        let addresses = "localhost:0".parse::<ListenAddr>().unwrap().resolve().unwrap();
        assert!(
            !addresses.is_empty() && addresses.iter().all(|a| a.ip().is_loopback() && a.port() == 0),
            "{addresses:?}"
        );
        let ip = "127.0.0.1:9".parse::<ListenAddr>().unwrap();
        assert_eq!(ip.resolve().unwrap(), vec!["127.0.0.1:9".parse().unwrap()]);
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    #[test]
    fn a_pool_holds_two_connections_unless_set_and_never_none() {
        use clap::Parser;
        let parse = |args: &[&str]| Cli::try_parse_from([&["action-tracker"], args].concat());
        assert_eq!(parse(&[]).unwrap().settings.database.pool_size(), 2);
        assert_eq!(parse(&["--database-pool-size", "3"]).unwrap().settings.database.pool_size(), 3);
        assert!(parse(&["--database-pool-size", "0"]).is_err());
    }

    #[test]
    fn timeouts_leases_and_intervals_of_zero_are_refused() {
        use clap::Parser;
        for flag in [
            "--database-timeout",
            "--database-statement-timeout",
            "--smtp-timeout",
            "--link-ttl",
            "--mail-lease",
            "--reminder-sweep-interval",
            "--request-timeout",
        ] {
            let error = Cli::try_parse_from(["action-tracker", flag, "0s"]).unwrap_err();
            assert!(error.to_string().contains("must be longer than zero"), "{flag}: {error}");
            assert!(Cli::try_parse_from(["action-tracker", flag, "3s"]).is_ok(), "{flag}");
        }
        let error = Cli::try_parse_from(["action-tracker", "--mail-lease", "2s"]).unwrap_err();
        assert!(error.to_string().contains("must be at least 3s"), "{error}");
    }
}
