//! No thread waits on PostgreSQL: the request path speaks to it over async sockets (diesel-async), with
//! no connection pool that hands out blocking connections and no hop to the blocking threads. Held by
//! reading the source and the lock file, since any of them would still compile and pass every test.
//!
//! SQLite's statements do run on the blocking threads, through the one runner in `db/conn.rs`; the
//! `.spawn_blocking(…)` calls elsewhere in `db/` are methods of SQLite's connection wrapper, which
//! PostgreSQL's connection does not have, so the compiler keeps them off PostgreSQL's path.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failed expectation is a failed test")]

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_sqlites_statement_runner_hands_work_to_the_blocking_threads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut offenders: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            text.contains("task::spawn_blocking") || text.contains("block_in_place")
        })
        .map(|path| path.strip_prefix(root).unwrap().display().to_string())
        .collect();
    offenders.sort();
    assert_eq!(offenders, ["src/db/conn.rs"]);
}

#[test]
fn no_blocking_connection_pool_is_built_in() {
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock")).unwrap();
    for pool in ["r2d2", "deadpool-sync"] {
        assert!(!lock.contains(&format!("name = \"{pool}\"")), "{pool} is in Cargo.lock");
    }
    assert!(lock.contains("name = \"diesel-async\""));
}
