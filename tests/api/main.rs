//! End-to-end tests: the real server over real HTTP, on SQLite or (with TEST_DATABASE_URL) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failed expectation is a failed test")]

mod actions;
mod auth;
mod authorization;
mod cli;
mod comments;
mod conditional;
mod crash;
mod errors;
mod examples;
mod faults;
mod feed;
mod health;
mod helpers;
mod history;
mod idempotency;
mod incidents;
mod input_rules;
mod limits;
mod listing;
mod logs;
mod metrics;
mod openapi;
mod people;
mod plans;
mod reminders;
mod report;
mod reviews;
mod seed;
mod shutdown;
mod smtp;
mod stats;
mod tickets;
mod timeline;
mod verification;
mod webhooks;
