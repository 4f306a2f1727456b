//! action-tracker keeps the corrective actions agreed in post-incident lessons-learned reviews.
//!
//! Where things live: `config` (settings), `cli` (which settings each command reads, and naming a
//! setting as the user gave it), `startup` (building and running the server), `api` (HTTP routes, the
//! OpenAPI spec and the error type clients see), `domain` (parsed types and product rules), `db` (all
//! SQL), `mail` (rendering and sending e-mail), `reminders` (when to send what), `report` (the final
//! incident report), `webhooks` (signed deliveries), `outbound` (which addresses webhooks may reach),
//! `shutdown` (stopping background work), `telemetry` (logs).

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod mail;
pub mod metrics;
pub mod outbound;
pub mod reminders;
pub mod report;
pub mod shutdown;
pub mod startup;
pub mod tallies;
pub mod telemetry;
pub mod webhooks;
