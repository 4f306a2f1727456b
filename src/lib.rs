//! action-tracker keeps the corrective actions agreed in post-incident lessons-learned reviews.
//!
//! Where things live: `config` (settings), `cli` (which settings each command reads, and naming a
//! setting as the user gave it), `startup` (building and running the server), `api` (HTTP routes, the
//! OpenAPI spec and the error type clients see), `domain` (parsed types and product rules), `db` (all
//! SQL), `mail` (rendering and sending e-mail), `jobs` (all background work: the reminder sweep, the e-mail
//! and webhook senders, the tallies fold), `report` (the final incident report), `outbound` (which
//! addresses webhooks may reach), `shutdown` (stopping background work), `telemetry` (logs). ARCHITECTURE.md
//! says what each may import.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod outbound;
pub mod report;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
