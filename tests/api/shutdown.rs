//! Graceful shutdown of the real binary: on SIGTERM it stops accepting, finishes the requests in flight
//! and exits 0.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Blocker, TestApp, spawn_app};

/// `action-tracker serve` as its own process, on the test app's database, on a port of its own.
struct Served {
    child: Child,
    port: u16,
}

fn serve(app: &TestApp, extra: &[(&str, &str)]) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = app
        .command(&["serve"])
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("BACKGROUND_WORK", "false")
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Served { child, port }
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn wait_until_ready(&self) {
        let started = Instant::now();
        while reqwest::get(self.url("/readyz")).await.map(|r| r.status() != 200).unwrap_or(true) {
            assert!(started.elapsed() < Duration::from_secs(30), "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// The exit status, waiting at most `deadline`.
    async fn exit_status(&mut self, deadline: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < deadline, "still running {deadline:?} after SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0() {
    let app = spawn_app().await;
    let mut served = serve(&app, &[("DATABASE_TIMEOUT", "20s")]);
    served.wait_until_ready().await;

    // A write that cannot finish until the lock held here is released: in flight when SIGTERM comes.
    let blocker = Blocker::hold(&app.settings.database.url);
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(
        client
            .post(served.url("/api/v1/incidents"))
            .bearer_auth(&app.admin_token)
            .json(&json!({"title": "Phishing", "severity": "low"}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    served.terminate();

    // New connections are refused once the server has stopped accepting.
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", served.port)).is_ok() {
        assert!(started.elapsed() < Duration::from_secs(5), "still accepting connections after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served.child.try_wait().unwrap().is_none(), "it waits for the request in flight");

    blocker.release();
    let response = in_flight.await.unwrap().expect("the request in flight is answered");
    assert_eq!(response.status(), 201, "and its work is done");
    let status = served.exit_status(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");
}
