//! What the database layer needs to open its pool: where the data lives and how long to wait. `config`
//! reads these from flags and the environment and builds them, so db/ knows nothing of either.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How to connect, as the settings decided it.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    pub url: DatabaseUrl,
    /// Most connections each pool keeps open: one pool per HTTP worker, one for the background jobs.
    pub pool_size: u32,
    /// How long a call waits for a connection, or on SQLite for its turn to write.
    pub timeout: Duration,
    /// PostgreSQL cancels any single statement running longer than this.
    pub statement_timeout: Duration,
}

/// Where the data lives. The scheme picks the backend; a password in a PostgreSQL URL never appears
/// in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let path = raw.strip_prefix("sqlite://").unwrap_or(raw);
        if path.is_empty() || path.contains("://") {
            return Err(format!(
                "unsupported database URL scheme in {:?}: use postgres://… or a SQLite file path",
                raw.split("://").next().unwrap_or_default()
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            // Show only what follows the credentials: postgres://host:port/db
            Self::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                let location = rest.rsplit_once('@').map_or(rest, |(_, location)| location);
                write!(f, "{scheme}://{location}")
            }
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert_eq!("postgres://h/db".parse(), Ok(DatabaseUrl::Postgres("postgres://h/db".into())));
        assert_eq!("sqlite://a/b.db".parse(), Ok(DatabaseUrl::Sqlite("a/b.db".into())));
        assert_eq!("b.db".parse(), Ok(DatabaseUrl::Sqlite("b.db".into())));
        assert!("mysql://h/db".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn passwords_never_print() {
        let url: DatabaseUrl = "postgres://app:s3cret@db.internal:5432/tracker".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://db.internal:5432/tracker");
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
