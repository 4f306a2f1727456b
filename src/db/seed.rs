//! Filling an empty database with realistic data, fast: for trying the service and for benchmarks.
//! Rows go in by multi-row INSERTs, all in one transaction; action keys continue from the seeded ones.
//! Seeded rows have no audit history (they were not changed by anyone).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::conn::{execute_batch, on};
use super::rows::{ActionRow, IncidentRow, to_column};
use super::schema::{action_tags, actions, incidents, people};
use super::{Conn, Db, StoreError};

/// Rows per INSERT statement: well under both backends' limits on bound parameters.
const BATCH: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    pub incidents: usize,
    pub actions: usize,
    pub owners: usize,
    /// Seed even though the database already holds incidents.
    pub force: bool,
    /// Every action open and overdue (for benchmarking the reminder sweep).
    pub all_overdue: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Seeded {
    pub incidents: usize,
    pub actions: usize,
    pub tags: usize,
}

const TITLES: [&str; 12] = [
    "Enforce phishing-resistant MFA",
    "Rotate exposed API keys",
    "Block newly registered domains at the proxy",
    "Patch the VPN concentrator",
    "Review firewall egress rules",
    "Add EDR coverage to build servers",
    "Run a phishing drill",
    "Document the account-takeover runbook",
    "Alert on impossible-travel sign-ins",
    "Restrict admin consent for OAuth apps",
    "Back up the HR database offline",
    "Tabletop exercise for ransomware",
];
const CATEGORIES: [&str; 8] =
    ["prevention", "detection", "response", "process", "training", "tooling", "communication", "other"];
const TEAMS: [&str; 6] = ["IT Security", "Network", "Identity", "Platform", "Service Desk", "Legal"];
const TAGS: [&str; 8] = ["mfa", "aws", "phishing", "vpn", "edr", "backup", "oauth", "training"];
const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

/// Seeds `plan` into `db`, as of `now`, in one transaction; refuses a database with incidents unless
/// `plan.force`.
pub async fn seed(db: &Db, plan: SeedPlan, now: DateTime<Utc>) -> Result<Seeded, StoreError> {
    let today = now.date_naive();
    let seeded = db
        .change(async |conn| {
            let existing: i64 = on!(conn, c => incidents::table.count().get_result(c).await)?;
            if existing > 0 && !plan.force {
                return Err(StoreError::Conflict(format!(
                    "the database already holds {existing} incidents; pass --force to add more"
                )));
            }
            let first_number = first_action_number(conn).await?;
            // Into empty tables, building each index and checking each foreign key once at the end is
            // several times faster than keeping them up row by row. Into a live database (--force) the
            // indexes stay: dropping them would stall every reader.
            let deferred = if first_number == 1 {
                Deferred::take(conn, &["action_tags", "actions"]).await?
            } else {
                Deferred::default()
            };
            if let Conn::Postgres(pg) = conn {
                pg.batch_execute("SET LOCAL maintenance_work_mem = '256MB'").await?;
            }
            let mut rng = StdRng::seed_from_u64(0x5eed);
            let incident_ids: Vec<String> = (0..plan.incidents.max(1)).map(|_| Uuid::now_v7().to_string()).collect();
            let mut seeded = Seeded::default();
            for chunk in incident_ids.chunks(BATCH) {
                let rows: Vec<IncidentRow> = chunk.iter().map(|id| incident(&mut rng, id, now)).collect();
                seeded.incidents += rows.len();
                insert_incidents(conn, rows).await?;
            }
            let mut number = first_number;
            let owners = plan.owners.max(1);
            let mut remaining = plan.actions;
            while remaining > 0 {
                // Generating 20 000 actions at a time keeps memory flat.
                let mut actions = Vec::new();
                let mut tags = Vec::new();
                for _ in 0..remaining.min(BATCH * 20) {
                    let incident_id = &incident_ids[rng.gen_range(0..incident_ids.len())];
                    let mut row = action(&mut rng, incident_id, number, owners, today, now);
                    if plan.all_overdue {
                        row.status = "open".to_owned();
                        row.resolution = None;
                        row.completed_at = None;
                        row.due_date = today - Duration::days(rng.gen_range(1..60));
                    }
                    if rng.gen_bool(0.6) {
                        let tag = TAGS[rng.gen_range(0..TAGS.len())];
                        row.tags = serde_json::json!([tag]).to_string();
                        tags.push((row.id.clone(), tag));
                    }
                    actions.push(row);
                    number += 1;
                }
                remaining -= actions.len();
                seeded.actions += actions.len();
                seeded.tags += tags.len();
                insert_actions(conn, actions).await?;
                insert_tags(conn, tags).await?;
            }
            deferred.restore(conn).await?;
            // Seeded owners may be in the directory already, as having left.
            let gone = people::table.filter(people::active.eq(0)).select(people::email);
            on!(conn, c => diesel::update(actions::table)
                .filter(actions::number.ge(first_number))
                .filter(actions::owner_email.eq_any(gone))
                .set(actions::owner_inactive.eq(true))
                .execute(c)
                .await)?;
            set_next_action_number(conn, number).await?;
            Ok(seeded)
        })
        .await?;
    // Counting a million actions once beats folding a million appended changes.
    super::tallies::rebuild(db, today).await?;
    // Left to autovacuum, the first minutes of use would share the machine with it, and index-only scans
    // would wait for the visibility map. VACUUM cannot run inside a transaction, hence here.
    db.read(async |conn| {
        if let Conn::Postgres(pg) = conn {
            pg.batch_execute("VACUUM (ANALYZE) incidents, actions, action_tags").await?;
        }
        Ok(())
    })
    .await?;
    Ok(seeded)
}

/// The secondary indexes and foreign keys of some tables, taken off while they are filled: the
/// statements that put them back. PostgreSQL's manual advises this for bulk loads ("Populating a
/// Database"). It runs inside the seeding transaction, so a failed seed leaves them as they were.
#[derive(Default)]
struct Deferred {
    restore: Vec<String>,
}

#[derive(QueryableByName)]
struct DeferredItem {
    #[diesel(sql_type = diesel::sql_types::Text)]
    take: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    restore: String,
}

impl Deferred {
    async fn take(conn: &mut Conn, tables: &[&str]) -> Result<Self, StoreError> {
        let mut deferred = Self::default();
        for table in tables {
            // Unique indexes and primary keys stay: they are part of what the rows must satisfy.
            let items: Vec<DeferredItem> = match conn {
                Conn::Postgres(pg) => {
                    diesel::sql_query(
                        "SELECT format('DROP INDEX %s', i.indexrelid::regclass) AS take, \
                            pg_get_indexdef(i.indexrelid) AS restore, 1 AS pass \
                     FROM pg_index i WHERE i.indrelid = to_regclass($1) AND NOT i.indisunique \
                     UNION ALL \
                     SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), \
                            format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, \
                                   pg_get_constraintdef(c.oid)), 2 \
                     FROM pg_constraint c WHERE c.conrelid = to_regclass($1) AND c.contype = 'f' \
                     ORDER BY 3",
                    )
                    .bind::<diesel::sql_types::Text, _>(*table)
                    .load(&mut **pg)
                    .await?
                }
                Conn::Sqlite(sqlite) => {
                    diesel::sql_query(
                        "SELECT 'DROP INDEX \"' || name || '\"' AS take, sql AS restore FROM sqlite_master \
                     WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'",
                    )
                    .bind::<diesel::sql_types::Text, _>(*table)
                    .load(&mut **sqlite)
                    .await?
                }
            };
            for item in items {
                on!(conn, c => c.batch_execute(&item.take).await)?;
                deferred.restore.push(item.restore);
            }
        }
        Ok(deferred)
    }

    async fn restore(self, conn: &mut Conn) -> Result<(), StoreError> {
        for statement in &self.restore {
            on!(conn, c => c.batch_execute(statement).await)?;
        }
        Ok(())
    }
}

fn incident(rng: &mut StdRng, id: &str, now: DateTime<Utc>) -> IncidentRow {
    let detected = now - Duration::minutes(rng.gen_range(60..365 * 24 * 60));
    let contained = detected + Duration::minutes(rng.gen_range(10..72 * 60));
    let resolved = contained + Duration::minutes(rng.gen_range(60..14 * 24 * 60));
    let (status, contained_at, resolved_at) = match rng.gen_range(0..10) {
        0 => ("open", None, None),
        1 => ("contained", Some(contained), None),
        2..=5 => ("resolved", Some(contained), Some(resolved.min(now))),
        _ => ("closed", Some(contained), Some(resolved.min(now))),
    };
    IncidentRow {
        id: id.to_owned(),
        reference: Some(format!("SEC-{}", &id[24..])),
        title: format!(
            "{} incident",
            ["Phishing", "Malware", "Data leak", "Lost laptop", "Ransomware"][rng.gen_range(0..5)]
        ),
        summary: None,
        severity: SEVERITIES[rng.gen_range(0..SEVERITIES.len())].to_owned(),
        category: Some(["phishing", "malware", "data-leak", "loss", "ransomware"][rng.gen_range(0..5)].to_owned()),
        status: status.to_owned(),
        detected_at: Some(to_column(detected)),
        contained_at: contained_at.map(to_column),
        resolved_at: resolved_at.map(to_column),
        discovered_by: Some("SOC".to_owned()),
        created_at: to_column(detected),
        updated_at: to_column(detected),
        version: 1,
        created_by: "seed".to_owned(),
        updated_by: "seed".to_owned(),
        business_impact: None,
        affected_systems: "[]".to_owned(),
        data_exposed: "[]".to_owned(),
        records_exposed: None,
        downtime_minutes: Some(rng.gen_range(0..3 * 24 * 60)),
        people_affected: None,
        cost_minor_units: Some(rng.gen_range(0..5_000_000) * 100),
        cost_currency: Some("EUR".to_owned()),
        notification: None,
        root_cause: None,
        root_cause_category: Some(
            ["vulnerability", "misconfiguration", "human_error", "process_gap", "third_party", "unknown"]
                [rng.gen_range(0..6)]
            .to_owned(),
        ),
        contributing_factors: "[]".to_owned(),
        attack_vector: None,
        attack_techniques: "[]".to_owned(),
    }
}

fn action(
    rng: &mut StdRng,
    incident_id: &str,
    number: i64,
    owners: usize,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> ActionRow {
    let status = match rng.gen_range(0..100) {
        0..30 => "open",
        30..45 => "in_progress",
        45..50 => "blocked",
        50..95 => "done",
        _ => "cancelled",
    };
    let created = now - Duration::minutes(rng.gen_range(60..365 * 24 * 60));
    let due_date = today + Duration::days(rng.gen_range(-180..180));
    let finished = matches!(status, "done" | "cancelled");
    let completed_at = finished.then(|| (created + Duration::hours(rng.gen_range(1..90 * 24))).min(now));
    ActionRow {
        id: Uuid::now_v7().to_string(),
        number,
        incident_id: incident_id.to_owned(),
        title: TITLES[rng.gen_range(0..TITLES.len())].to_owned(),
        description: None,
        owner_email: format!("owner{}@example.com", rng.gen_range(0..owners)),
        owner_name: None,
        team: Some(TEAMS[rng.gen_range(0..TEAMS.len())].to_owned()),
        due_date,
        priority: rng.gen_range(1..=4),
        category: CATEGORIES[rng.gen_range(0..CATEGORIES.len())].to_owned(),
        status: status.to_owned(),
        resolution: finished.then(|| "Done as agreed in the review".to_owned()),
        completed_at: completed_at.map(to_column),
        created_at: to_column(created),
        updated_at: to_column(completed_at.unwrap_or(created)),
        version: 1,
        created_by: "seed".to_owned(),
        updated_by: "seed".to_owned(),
        snoozed_until: None,
        review_id: None,
        verified_at: None,
        verified_by: None,
        verification_evidence: None,
        tags: "[]".to_owned(),
        external_refs: "[]".to_owned(),
        owner_inactive: false,
    }
}

// Multi-row INSERTs of BATCH rows. PostgreSQL took rows by COPY, which diesel-async does not offer.

async fn insert_incidents(conn: &mut Conn, rows: Vec<IncidentRow>) -> Result<(), StoreError> {
    for chunk in rows.chunks(BATCH) {
        execute_batch!(conn, diesel::insert_into(incidents::table).values(chunk.to_vec()))?;
    }
    Ok(())
}

async fn insert_actions(conn: &mut Conn, rows: Vec<ActionRow>) -> Result<(), StoreError> {
    for chunk in rows.chunks(BATCH) {
        execute_batch!(conn, diesel::insert_into(actions::table).values(chunk.to_vec()))?;
    }
    Ok(())
}

async fn insert_tags(conn: &mut Conn, tags: Vec<(String, &'static str)>) -> Result<(), StoreError> {
    let values: Vec<_> =
        tags.into_iter().map(|(id, tag)| (action_tags::action_id.eq(id), action_tags::tag.eq(tag))).collect();
    for chunk in values.chunks(BATCH) {
        execute_batch!(conn, diesel::insert_into(action_tags::table).values(chunk.to_vec()))?;
    }
    Ok(())
}

async fn first_action_number(conn: &mut Conn) -> Result<i64, StoreError> {
    let max: Option<i64> = on!(conn, c => actions::table.select(diesel::dsl::max(actions::number)).first(c).await)?;
    Ok(max.unwrap_or(0) + 1)
}

/// The next key handed out after the seeded ones.
async fn set_next_action_number(conn: &mut Conn, next: i64) -> Result<(), StoreError> {
    let last = next - 1;
    match conn {
        Conn::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT setval('action_number_seq', GREATEST({last}, 1), {})", last >= 1)).await?
        }
        Conn::Sqlite(sqlite) => {
            sqlite
                .batch_execute(&format!("UPDATE key_counters SET value = MAX(value, {last}) WHERE name = 'action'"))
                .await?
        }
    }
    Ok(())
}
