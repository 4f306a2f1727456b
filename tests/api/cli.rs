//! The `action-tracker` command as an operator meets it: what each command's `--help` lists, how refusals
//! name a setting, listening on a host name, logs without colour codes in files, and `token` beside the
//! wrong data directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The command with nothing from the test's environment, run in `dir`.
fn action_tracker(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_action-tracker"));
    command.args(args).env_clear().current_dir(dir).stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn help(command: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&mut action_tracker(dir.path(), &[command, "--help"]));
    assert!(output.status.success(), "{command} --help: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// The long flags a `--help` text lists.
fn flags(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|line| line.trim_start().split([' ', ',']).find(|word| word.starts_with("--")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_command_lists_only_the_settings_it_reads() {
    assert_eq!(flags(&help("openapi")), ["--help"]);
    let token = flags(&help("token"));
    for flag in ["--email", "--role", "--jwt-secret", "--jwt-issuer", "--data-dir", "--database-url"] {
        assert!(token.iter().any(|f| f == flag), "token --help lacks {flag}: {token:?}");
    }
    for flag in ["--smtp-url", "--listen-addr", "--database-pool-size", "--metrics-token", "--log"] {
        assert!(!token.iter().any(|f| f == flag), "token --help lists {flag}");
    }
    for command in ["migrate", "seed"] {
        let listed = flags(&help(command));
        assert!(listed.iter().any(|f| f == "--database-url") && listed.iter().any(|f| f == "--log-format"));
        for flag in ["--smtp-url", "--jwt-secret", "--listen-addr", "--data-dir", "--timezone"] {
            assert!(!listed.iter().any(|f| f == flag), "{command} --help lists {flag}");
        }
    }
    let remind = flags(&help("remind"));
    for flag in ["--once", "--dry-run", "--smtp-url", "--reminder-due-soon-days", "--mail-max-per-recipient-per-day"] {
        assert!(remind.iter().any(|f| f == flag), "remind --help lacks {flag}: {remind:?}");
    }
    for flag in ["--metrics-token", "--cors-allowed-origins", "--reminder-sweep-interval", "--http-workers"] {
        assert!(!remind.iter().any(|f| f == flag), "remind --help lists {flag}");
    }
    let serve = flags(&help("serve"));
    for flag in ["--listen-addr", "--metrics-token", "--smtp-url", "--jwt-leeway", "--reminder-sweep-interval"] {
        assert!(serve.iter().any(|f| f == flag), "serve --help lacks {flag}");
    }
}

#[test]
fn a_command_refuses_a_setting_it_does_not_read_and_ignores_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let secret = ("JWT_SECRET", "a-secret-of-at-least-32-bytes-for-tokens");
    let refused = run(action_tracker(dir.path(), &["token", "--email", "a@example.com", "--smtp-url", "smtp://x"])
        .env(secret.0, secret.1));
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("`token` does not read --smtp-url"), "{}", stderr(&refused));

    // The server's settings, set for the server, do not concern `token`, even when they would not parse.
    let minted = run(action_tracker(dir.path(), &["token", "--email", "a@example.com"])
        .env(secret.0, secret.1)
        .env("LISTEN_ADDR", "not an address")
        .env("SMTP_CONNECTIONS", "0"));
    assert!(minted.status.success(), "{}", stderr(&minted));
    assert_eq!(String::from_utf8_lossy(&minted.stdout).matches('.').count(), 2, "a JWT");
}

#[test]
fn every_flag_of_every_command_says_what_it_does() {
    for command in ["serve", "migrate", "openapi", "token", "remind", "seed"] {
        let text = help(command);
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let line = line.trim_start();
            if !line.starts_with('-') {
                continue;
            }
            // Either on the same line after the flag and two spaces, or alone on the next line.
            let said = match line.split_once("  ") {
                Some((_, said)) => said.trim(),
                None => lines.get(at + 1).map_or("", |next| next.trim()),
            };
            assert!(!said.is_empty() && !said.starts_with('['), "{command}: {line:?} has no help text:\n{text}");
        }
    }
}

#[test]
fn a_bad_value_is_refused_in_the_words_the_user_used() {
    let dir = tempfile::tempdir().unwrap();
    let from_env = run(action_tracker(dir.path(), &["migrate"]).env("DATABASE_URL", "mysql://app:pw@db/tracker"));
    assert!(!from_env.status.success());
    let said = stderr(&from_env);
    assert!(said.contains("'DATABASE_URL'") && !said.contains("--database-url <"), "{said}");
    assert!(!said.contains(":pw@"), "a secret setting's value is not repeated: {said}");

    let from_flag = run(&mut action_tracker(dir.path(), &["migrate", "--database-url", "mysql://db/tracker"]));
    assert!(stderr(&from_flag).contains("--database-url"), "{}", stderr(&from_flag));

    let from_env = run(action_tracker(dir.path(), &["serve"]).env("LISTEN_ADDR", "8080"));
    assert!(stderr(&from_env).contains("'LISTEN_ADDR'"), "{}", stderr(&from_env));

    // Refusals at start name the flag when the setting was given as one, and the variable otherwise.
    let short = "too-short";
    let from_flag = run(&mut action_tracker(dir.path(), &["serve", "--metrics-token", short]));
    assert!(stderr(&from_flag).contains("--metrics-token must be at least 32"), "{}", stderr(&from_flag));
    let from_env = run(action_tracker(dir.path(), &["serve"]).env("METRICS_TOKEN", short));
    assert!(stderr(&from_env).contains("METRICS_TOKEN must be at least 32"), "{}", stderr(&from_env));

    // E-mail settings follow the rules of the addresses the API takes, named as given.
    let escalation = run(&mut action_tracker(dir.path(), &["serve", "--reminder-escalation-email", "ciso at example"]));
    assert!(stderr(&escalation).contains("'--reminder-escalation-email"), "{}", stderr(&escalation));
    let sender = run(action_tracker(dir.path(), &["remind", "--once"]).env("MAIL_FROM", "Tracker <tracker@>"));
    assert!(stderr(&sender).contains("'MAIL_FROM'"), "{}", stderr(&sender));
}

/// A server started as its own process on `dir`, and the port it says it listens on.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(mut command: Command) -> Self {
        let child = command
            .env("LOG_FORMAT", "json")
            .env("BACKGROUND_WORK", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Killed and waited for on drop, also when it never listens.
        let mut server = Self { child, port: 0 };
        let mut stderr = BufReader::new(server.child.stderr.take().unwrap()).lines();
        let mut said = Vec::new();
        for line in stderr.by_ref() {
            let line = line.unwrap();
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && let Some(port) = event["port"].as_u64()
            {
                // Keep reading, so the server never writes to a closed pipe.
                std::thread::spawn(move || stderr.for_each(drop));
                server.port = u16::try_from(port).unwrap();
                return server;
            }
            said.push(line);
        }
        panic!("the server stopped before listening: {said:#?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_host_name_is_a_listen_address_without_or_with_the_serve_command() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start({
        let mut command = action_tracker(dir.path(), &["serve"]);
        command.env("LISTEN_ADDR", "localhost:0").env("DATA_DIR", &data);
        command
    });
    let health = reqwest::get(format!("http://localhost:{}/healthz", server.port)).await.unwrap();
    assert_eq!(health.status(), 200);
    drop(server);

    // `action-tracker` with flags and no command is `serve`.
    let server = Server::start(action_tracker(
        dir.path(),
        &["--listen-addr", "localhost:0", "--data-dir", data.to_str().unwrap()],
    ));
    let health = reqwest::get(format!("http://localhost:{}/healthz", server.port)).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("migrate.log");
    let output = run(action_tracker(dir.path(), &["migrate"]).stderr(std::fs::File::create(&log).unwrap()));
    assert!(output.status.success());
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("database schema is up to date"), "{written}");
    assert!(!written.contains('\u{1b}'), "escape codes in {written:?}");
}

#[test]
fn token_beside_no_server_secret_refuses_and_says_where_the_secret_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&mut action_tracker(dir.path(), &["token", "--email", "a@example.com", "--role", "admin"]));
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let said = stderr(&output);
    let expected = std::path::absolute(dir.path().join("data").join("jwt-secret")).unwrap();
    for words in [expected.to_str().unwrap(), "--data-dir or DATA_DIR", "JWT_SECRET"] {
        assert!(said.contains(words), "{words:?} missing from: {said}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "token created something");
}
