//! Authentication: which tokens are accepted, and every way a token must be refused.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, assert_problem, spawn_app, spawn_app_with};
use action_tracker::config::{DatabaseUrl, PublicKeyAlgorithm, Secret};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(claims: &Value, algorithm: Algorithm, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(claims, Algorithm::HS256, &EncodingKey::from_secret(TEST_SECRET.as_bytes()))
}

fn viewer_claims() -> Value {
    json!({"sub": "dashboard", "roles": ["viewer"], "exp": now() + 600})
}

async fn status_with(app: &TestApp, token: &str) -> u16 {
    app.request_as(Some(token), Method::GET, "/api/v1/actions", None).await.status().as_u16()
}

/// Asserts a 401 that names the token as the problem.
async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let response = app.request_as(Some(token), Method::GET, "/api/v1/actions", None).await;
    let challenge = response.headers().get("www-authenticate").map(|h| h.to_str().unwrap().to_owned());
    let problem = assert_problem(response, 401, "unauthorized").await;
    let challenge = challenge.unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    assert!(challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
    assert!(!problem["detail"].as_str().unwrap().is_empty(), "{what}: {problem}");
}

#[tokio::test]
async fn a_missing_token_is_answered_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let response = app.request_as(None, Method::GET, "/api/v1/actions", None).await;
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_problem(response, 401, "unauthorized").await;
    assert_eq!(challenge, "Bearer realm=\"action-tracker\"");
    let basic = app.client.get(app.url("/api/v1/actions")).basic_auth("admin", Some("admin")).send().await.unwrap();
    assert_problem(basic, 401, "unauthorized").await;
}

/// Start-up refuses one secret for both, but a token shaped like a link must not pass even if signed with
/// the API's key: it would act as its owner on every action, not the one it was sent for.
#[tokio::test]
async fn a_one_click_link_is_not_an_api_token() {
    let app = spawn_app().await;
    let link = json!({"sub": "dana@example.com", "aud": "action-tracker/owner-link", "act": uuid::Uuid::nil(),
                      "roles": ["viewer"], "exp": now() + 600});
    assert_refused(&app, &hs256(&link), "a link's audience").await;
    let among = json!({"sub": "dana@example.com", "aud": ["dashboards", "action-tracker/owner-link"],
                       "roles": ["viewer"], "exp": now() + 600});
    assert_refused(&app, &hs256(&among), "a link's audience among others").await;
    let other = json!({"sub": "dashboard", "aud": "dashboards", "roles": ["viewer"], "exp": now() + 600});
    assert_eq!(status_with(&app, &hs256(&other)).await, 200, "another audience is not checked without JWT_AUDIENCE");
}

#[tokio::test]
async fn forged_broken_and_stale_tokens_are_refused() {
    let app = spawn_app().await;
    assert_eq!(status_with(&app, &hs256(&viewer_claims())).await, 200, "the well-formed token is accepted");

    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    let unsigned = format!("{}.{}.", encode(&json!({"alg": "none", "typ": "JWT"})), encode(&viewer_claims()));
    assert_refused(&app, &unsigned, "alg none").await;

    let mut expired = viewer_claims();
    expired["exp"] = json!(now() - 120);
    assert_refused(&app, &hs256(&expired), "expired").await;

    let mut early = viewer_claims();
    early["nbf"] = json!(now() + 3600);
    assert_refused(&app, &hs256(&early), "nbf in the future").await;

    let mut no_exp = viewer_claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_refused(&app, &hs256(&no_exp), "missing exp").await;

    let mut no_sub = viewer_claims();
    no_sub.as_object_mut().unwrap().remove("sub");
    assert_refused(&app, &hs256(&no_sub), "missing sub").await;

    let good = hs256(&viewer_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut promoted = viewer_claims();
    promoted["roles"] = json!(["admin"]);
    let tampered = format!("{}.{}.{}", parts[0], encode(&promoted), parts[2]);
    assert_refused(&app, &tampered, "tampered payload").await;
    assert_refused(&app, &good[..good.len() - 6], "truncated").await;
    assert_refused(&app, "not-a-jwt", "garbage").await;

    let other_secret = sign(&viewer_claims(), Algorithm::HS256, &EncodingKey::from_secret(&[7u8; 48]));
    assert_refused(&app, &other_secret, "signed with another secret").await;
}

#[tokio::test]
async fn issuer_and_audience_are_enforced_when_configured() {
    let app = spawn_app_with(|settings| {
        settings.auth.issuer = Some("https://idp.example.com".into());
        settings.auth.audience = Some("action-tracker".into());
    })
    .await;
    let claims = |iss: Option<&str>, aud: Option<&str>| {
        let mut claims = viewer_claims();
        if let Some(iss) = iss {
            claims["iss"] = json!(iss);
        }
        if let Some(aud) = aud {
            claims["aud"] = json!(aud);
        }
        claims
    };
    let right = hs256(&claims(Some("https://idp.example.com"), Some("action-tracker")));
    assert_eq!(status_with(&app, &right).await, 200);
    assert_refused(&app, &hs256(&claims(Some("https://evil.example.com"), Some("action-tracker"))), "wrong iss").await;
    assert_refused(&app, &hs256(&claims(Some("https://idp.example.com"), Some("another-api"))), "wrong aud").await;
    assert_refused(&app, &hs256(&claims(None, Some("action-tracker"))), "no iss").await;
    assert_refused(&app, &hs256(&claims(Some("https://idp.example.com"), None)), "no aud").await;
}

#[tokio::test]
async fn roles_come_from_the_configured_claim_as_a_list_or_a_scope_string() {
    let app = spawn_app_with(|settings| settings.auth.roles_claim = "scope".into()).await;
    let token = |scope: Value| hs256(&json!({"sub": "jira", "scope": scope, "exp": now() + 600}));
    assert_eq!(status_with(&app, &token(json!("openid action-tracker viewer"))).await, 200);
    assert_eq!(status_with(&app, &token(json!(["Editor"]))).await, 200);
    assert_eq!(status_with(&app, &token(json!("openid profile"))).await, 403);
}

/// Writes `pem` to a temp file and starts a server that trusts it for `algorithm` only.
async fn spawn_with_public_key(pem: &str, algorithm: PublicKeyAlgorithm) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.pem");
    std::fs::write(&path, pem).unwrap();
    let app = spawn_app_with(|settings| {
        settings.auth.secret = None;
        settings.auth.public_key = Some(path);
        settings.auth.algorithm = algorithm;
    })
    .await;
    (app, dir)
}

#[tokio::test]
async fn rs256_tokens_verify_against_a_public_key_and_hs256_confusion_is_refused() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let (app, _dir) = spawn_with_public_key(&public_pem, PublicKeyAlgorithm::Rs256).await;

    let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap();
    assert_eq!(status_with(&app, &sign(&viewer_claims(), Algorithm::RS256, &key)).await, 200);
    // The classic confusion attack: HMAC-sign with the public key's bytes, hoping they are used as a secret.
    let confused = sign(&viewer_claims(), Algorithm::HS256, &EncodingKey::from_secret(public_pem.as_bytes()));
    assert_refused(&app, &confused, "HS256 signed with the public key").await;
    assert_refused(&app, &hs256(&viewer_claims()), "HS256 with the old secret").await;
    let other = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let other_key = EncodingKey::from_rsa_pem(other.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    assert_refused(&app, &sign(&viewer_claims(), Algorithm::RS256, &other_key), "another RSA key").await;
}

#[tokio::test]
async fn es256_and_eddsa_tokens_verify_against_their_public_keys() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let ec = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let ec_public = ec.public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let ec_private = ec.to_pkcs8_pem(LineEnding::LF).unwrap();
    let (app, _dir) = spawn_with_public_key(&ec_public, PublicKeyAlgorithm::Es256).await;
    let key = EncodingKey::from_ec_pem(ec_private.as_bytes()).unwrap();
    assert_eq!(status_with(&app, &sign(&viewer_claims(), Algorithm::ES256, &key)).await, 200);
    assert_refused(&app, &hs256(&viewer_claims()), "HS256 where ES256 is pinned").await;

    let ed = ed25519_dalek::SigningKey::generate(&mut rsa::rand_core::OsRng);
    let ed_public = ed.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let ed_private = ed.to_pkcs8_pem(LineEnding::LF).unwrap();
    let (app, _dir) = spawn_with_public_key(&ed_public, PublicKeyAlgorithm::EdDsa).await;
    let key = EncodingKey::from_ed_pem(ed_private.as_bytes()).unwrap();
    assert_eq!(status_with(&app, &sign(&viewer_claims(), Algorithm::EdDSA, &key)).await, 200);
}

#[tokio::test]
async fn dangerous_settings_are_refused_at_start() {
    use action_tracker::startup::Application;
    let dir = tempfile::tempdir().unwrap();
    let short = crate::helpers::test_settings(DatabaseUrl::Sqlite(dir.path().join("unused.db")));
    let mut short = short;
    short.auth.secret = Some(Secret::new("too-short"));
    let error = Application::build(&short).err().expect("a short secret is refused").to_string();
    assert!(error.contains("at least 32 bytes"), "{error}");

    let mut postgres = crate::helpers::test_settings(DatabaseUrl::Postgres("postgres://nowhere.invalid/db".into()));
    postgres.auth.secret = None;
    let error = Application::build(&postgres).err().expect("no generated secret on PostgreSQL").to_string();
    assert!(error.contains("JWT_SECRET"), "{error}");

    let mut missing_key = crate::helpers::test_settings(DatabaseUrl::Sqlite(dir.path().join("unused.db")));
    missing_key.auth.secret = None;
    missing_key.auth.public_key = Some("/nonexistent/idp.pem".into());
    let error = Application::build(&missing_key).err().expect("an unreadable key is refused").to_string();
    assert!(error.contains("JWT_PUBLIC_KEY"), "{error}");
}

/// The embedded default: no secret configured, one is generated into the data directory (owner-only),
/// and `action-tracker token` mints tokens the server accepts.
#[tokio::test]
async fn the_generated_secret_is_private_and_the_token_command_uses_it() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("tracker.db");
    let app = spawn_app_with(|settings| {
        settings.auth.secret = None;
        settings.data_dir = data.path().to_owned();
        settings.database.url = DatabaseUrl::Sqlite(database.clone());
    })
    .await;
    let secret_file = data.path().join("jwt-secret");
    let mode = std::fs::metadata(&secret_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the secret is readable by its owner only");
    assert!(std::fs::read_to_string(&secret_file).unwrap().len() >= 43);

    let output = Command::new(env!("CARGO_BIN_EXE_action-tracker"))
        .args(["token", "--email", "Lee@Example.com", "--role", "editor", "--ttl", "1h"])
        .env("DATA_DIR", data.path())
        .env("DATABASE_URL", &database)
        .env_remove("JWT_SECRET")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let created = app
        .request_as(Some(&token), Method::POST, "/api/v1/incidents", Some(&json!({"title": "t", "severity": "low"})))
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.json::<Value>().await.unwrap()["created_by"], "lee@example.com");
    assert_eq!(status_with(&app, &hs256(&viewer_claims())).await, 401, "the test secret is not the generated one");
}

#[test]
fn the_token_command_refuses_when_only_a_public_key_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("idp.pem");
    std::fs::write(&key, include_str!("fixtures/ec-public.pem")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_action-tracker"))
        .args(["token", "--email", "a@example.com", "--role", "admin"])
        .env("JWT_PUBLIC_KEY", &key)
        .env("JWT_ALGORITHM", "ES256")
        .env("DATA_DIR", dir.path())
        .env_remove("JWT_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot mint tokens"));
    assert!(output.stdout.is_empty());
}

/// One identity rule: a token names one person (its `email`, else its `sub` when that is an address), so
/// no rule can be made to see the owner while another sees someone else.
#[tokio::test]
async fn a_token_names_one_person_for_ownership_verification_and_the_audit_trail() {
    let app = spawn_app().await;
    let incident = app.create_incident(json!({})).await;
    let action = app.create_action(incident["id"].as_str().unwrap(), json!({"owner_email": "dana@example.com"})).await;
    let path = format!("/api/v1/actions/{}", action["id"].as_str().unwrap());
    let done = app.patch(&path, &json!({"status": "done", "resolution": "Keys rotated."})).await;
    assert_eq!(done.status(), 200);

    // The owner's address as `sub`, someone else's as `email`: refused outright, for every use.
    let two_people = hs256(&json!({"sub": "Dana@Example.com", "email": "mallory@example.com", "roles": ["editor"],
                                   "exp": now() + 600}));
    assert_refused(&app, &two_people, "sub and email naming two people").await;
    let verify = json!({"evidence": "Looks fine to me."});
    let response = app.request_as(Some(&two_people), Method::POST, &format!("{path}/verify"), Some(&verify)).await;
    let problem = assert_problem(response, 401, "unauthorized").await;
    assert!(problem["detail"].as_str().unwrap().contains("must name one person"), "{problem}");

    // The same person in both claims, in any case, is one person: the owner, who may not verify.
    let dana = hs256(&json!({"sub": "dana@example.com", "email": "DANA@example.com", "roles": ["editor"],
                             "exp": now() + 600}));
    let own = app.request_as(Some(&dana), Method::POST, &format!("{path}/verify"), Some(&verify)).await;
    assert_problem(own, 403, "forbidden").await;
    // An opaque `sub` (an identity provider's user id) with the owner's `email` is the owner too.
    let opaque =
        hs256(&json!({"sub": "00u1a2b3c4", "email": "dana@example.com", "roles": ["editor"], "exp": now() + 600}));
    let own = app.request_as(Some(&opaque), Method::POST, &format!("{path}/verify"), Some(&verify)).await;
    assert_problem(own, 403, "forbidden").await;

    // The token command refuses to mint a token naming two people.
    let output = app.command(&["token", "--sub", "dana@example.com", "--email", "sam@example.com"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("must name one person"));

    // A subject with control characters is no name for the audit trail.
    let nul = hs256(&json!({"sub": "svc\u{0}jira", "roles": ["admin"], "exp": now() + 600}));
    assert_refused(&app, &nul, "NUL in sub").await;
}
