//! Background work that folds the changes to actions into the `/stats` tallies (see `db::tallies`).
//! Readers are exact without it; folding keeps what they add up small. Every replica with background
//! work folds; the folds take turns in the database.

use std::time::Duration;

use chrono::Utc;

use crate::db::{self, Db};
use crate::shutdown::Shutdown;

/// Often enough that a reader adds up at most a few seconds' worth of writes.
const FOLD_INTERVAL: Duration = Duration::from_secs(10);

/// Folds every FOLD_INTERVAL until `shutdown` is requested.
pub fn spawn(db: Db, timezone: chrono_tz::Tz, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
    super::every(FOLD_INTERVAL, shutdown, move || {
        let db = db.clone();
        async move {
            let today = Utc::now().with_timezone(&timezone).date_naive();
            if let Err(error) = db::tallies::fold(&db, today).await {
                tracing::error!(%error, "folding the stats tallies failed");
            }
        }
    })
}
