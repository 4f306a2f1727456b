//! API tokens: verifying the JWTs callers present, and minting them for the embedded default.
//!
//! Verification is configured explicitly: one algorithm is pinned (HS256 with a shared secret, or the
//! configured public-key algorithm), `exp` and `sub` are required, and `iss`/`aud` are required and
//! checked when configured. A token naming any other algorithm, `none` included, is refused. Nothing
//! here falls back to a guessable secret: without configuration a random secret is generated once and
//! kept in the data directory, readable by its owner only.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde_json::{Value, json};

use crate::config::{AuthSettings, DatabaseUrl, PublicKeyAlgorithm, Secret};
use crate::domain::email::EmailAddress;
use crate::domain::principal::{Principal, Role};

const MIN_SECRET_BYTES: usize = 32;
const GENERATED_SECRET_FILE: &str = "jwt-secret";

/// Checks tokens; built once at start from the settings.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    roles_claim: String,
}

/// Signs tokens with the HS256 secret; absent when only a public key is configured.
pub struct TokenSigner {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

pub struct Keys {
    pub verifier: TokenVerifier,
    pub signer: Option<TokenSigner>,
    /// Where the generated secret lives, when the embedded default made one.
    pub generated_secret: Option<PathBuf>,
}

/// Why a token was refused; the text is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidToken(pub String);

impl Keys {
    /// Builds the keys the settings describe, generating or reusing the embedded secret when none is set.
    pub fn load(settings: &AuthSettings, data_dir: &Path, database: &DatabaseUrl) -> anyhow::Result<Self> {
        if let Some(path) = &settings.public_key {
            let pem = fs::read(path).with_context(|| format!("reading JWT_PUBLIC_KEY {}", path.display()))?;
            let (algorithm, key) = match settings.algorithm {
                PublicKeyAlgorithm::Rs256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
                PublicKeyAlgorithm::Es256 => (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
                PublicKeyAlgorithm::EdDsa => (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)),
            };
            let key = key.map_err(|e| {
                anyhow::anyhow!("JWT_PUBLIC_KEY {} is not a {algorithm:?} public key in PEM form: {e}", path.display())
            })?;
            let verifier = TokenVerifier::new(key, algorithm, settings);
            return Ok(Keys { verifier, signer: None, generated_secret: None });
        }
        let (secret, generated_secret) = match &settings.secret {
            Some(secret) => (secret.clone(), None),
            None => {
                refuse_generating_on_postgres(database)?;
                let path = data_dir.join(GENERATED_SECRET_FILE);
                (load_or_generate_secret(&path)?, Some(path))
            }
        };
        let signer = TokenSigner::new(&secret, settings)?;
        let verifier =
            TokenVerifier::new(DecodingKey::from_secret(secret.expose().as_bytes()), Algorithm::HS256, settings);
        Ok(Keys { verifier, signer: Some(signer), generated_secret })
    }
}

fn refuse_generating_on_postgres(database: &DatabaseUrl) -> anyhow::Result<()> {
    if let DatabaseUrl::Postgres(_) = database {
        bail!(
            "set JWT_SECRET (or JWT_PUBLIC_KEY) when running on PostgreSQL: replicas must share one secret, so \
             none is generated"
        );
    }
    Ok(())
}

/// The secret kept in `path`, if there is one.
fn read_secret(path: &Path) -> anyhow::Result<Option<Secret>> {
    let existing = match fs::read_to_string(path) {
        Ok(existing) => existing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading the secret {}", path.display())),
    };
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the secret file is readable by others; chmod 600 it");
    }
    Ok(Some(Secret::new(existing.trim())))
}

fn load_or_generate_secret(path: &Path) -> anyhow::Result<Secret> {
    match read_secret(path)? {
        Some(existing) => Ok(existing),
        None => generate_secret(path),
    }
}

fn generate_secret(path: &Path) -> anyhow::Result<Secret> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating DATA_DIR {}", parent.display()))?;
    }
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the secret {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a secret");
    Ok(Secret::new(secret))
}

impl TokenVerifier {
    fn new(key: DecodingKey, algorithm: Algorithm, settings: &AuthSettings) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.leeway = settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &settings.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Self { key, validation, roles_claim: settings.roles_claim.clone() }
    }

    pub fn verify(&self, token: &str) -> Result<Principal, InvalidToken> {
        let data = jsonwebtoken::decode::<Value>(token, &self.key, &self.validation).map_err(|error| {
            InvalidToken(
                match error.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf is in the future)",
                    ErrorKind::InvalidIssuer => "the token's issuer (iss) is not accepted",
                    ErrorKind::InvalidAudience => "the token's audience (aud) is not accepted",
                    ErrorKind::InvalidSignature => "the token's signature does not verify",
                    ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                        "the token is signed with an algorithm this service does not accept"
                    }
                    ErrorKind::MissingRequiredClaim(claim) => {
                        return InvalidToken(format!("the token has no `{claim}` claim"));
                    }
                    _ => "the token is malformed",
                }
                .to_owned(),
            )
        })?;
        // A one-click link is signed for one action; were LINK_SECRET and JWT_SECRET the same, it would
        // otherwise pass as an API token for everything its owner may do.
        let audiences = match &data.claims["aud"] {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if audiences.contains(&LINK_AUDIENCE) {
            return Err(InvalidToken("a one-click link is not an API token".into()));
        }
        self.principal(&data.claims)
    }

    /// The principal a token names. One identity rule holds everywhere (ownership, verification, the
    /// audit trail): a token names one person, its `email` claim, or without one its `sub` when that is an
    /// address. A token whose `sub` is an address other than its `email` names two people and is refused:
    /// whichever one a rule picked, another rule could be made to act as the other.
    fn principal(&self, claims: &Value) -> Result<Principal, InvalidToken> {
        let sub = claims["sub"].as_str().filter(|s| {
            !s.trim().is_empty() && s.len() <= 256 && crate::domain::text::check_characters("sub", s, false).is_ok()
        });
        let sub = sub.ok_or_else(|| {
            InvalidToken("the token's `sub` claim must be a non-empty string of printable characters".into())
        })?;
        let sub_address = EmailAddress::parse("sub", sub).ok();
        let email = match claims.get("email").and_then(Value::as_str) {
            Some(email) => {
                let email = EmailAddress::parse("email", email)
                    .map_err(|_| InvalidToken("the token's `email` claim is not an e-mail address".into()))?;
                if sub_address.as_ref().is_some_and(|address| *address != email) {
                    return Err(InvalidToken(
                        "the token's `sub` is one e-mail address and its `email` another; a token must name one person"
                            .into(),
                    ));
                }
                Some(email)
            }
            None => sub_address,
        };
        // A display name breaking the text rules is left out rather than refusing the sign-in over it.
        let name = claims
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| crate::domain::text::ShortText::parse("name", n).ok())
            .map(crate::domain::text::ShortText::into_string);
        let role = match claims.get(&self.roles_claim) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).filter_map(parse_role).max(),
            Some(Value::String(scope)) => scope.split_whitespace().filter_map(parse_role).max(),
            _ => None,
        };
        Ok(Principal { sub: sub.to_owned(), email, name, role })
    }
}

fn parse_role(name: &str) -> Option<Role> {
    name.to_ascii_lowercase().parse().ok()
}

impl TokenSigner {
    fn new(secret: &Secret, settings: &AuthSettings) -> anyhow::Result<Self> {
        if secret.expose().len() < MIN_SECRET_BYTES {
            bail!(
                "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long; generate one with `openssl rand -base64 48`"
            );
        }
        Ok(Self {
            key: EncodingKey::from_secret(secret.expose().as_bytes()),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    /// The signer of `action-tracker token`: JWT_SECRET, or the secret the server generated into its
    /// DATA_DIR. It never makes one: a secret made beside the wrong DATA_DIR would sign tokens the
    /// server refuses, so it says where the server's secret should be instead.
    pub fn for_the_server(settings: &AuthSettings, data_dir: &Path, database: &DatabaseUrl) -> anyhow::Result<Self> {
        if settings.public_key.is_some() {
            bail!("cannot mint tokens: only JWT_PUBLIC_KEY is configured, so tokens come from your identity provider");
        }
        if let Some(secret) = &settings.secret {
            return Self::new(secret, settings);
        }
        refuse_generating_on_postgres(database)?;
        let path = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned()).join(GENERATED_SECRET_FILE);
        match read_secret(&path)? {
            Some(secret) => Self::new(&secret, settings),
            None => bail!(
                "no secret to sign with: JWT_SECRET is not set and there is no generated secret at {}. The server \
                 generates it into its DATA_DIR on first start: point `token` at the server's data directory with \
                 --data-dir or DATA_DIR, or set JWT_SECRET to the secret the server uses",
                path.display()
            ),
        }
    }

    /// A signed token for `sub` with the given address and roles, valid for `ttl`.
    pub fn mint(&self, sub: &str, email: Option<&str>, roles: &[Role], ttl: Duration) -> anyhow::Result<String> {
        if let Some(email) = email {
            let email = EmailAddress::parse("--email", email).map_err(|e| anyhow::anyhow!("--email {}", e.message))?;
            if EmailAddress::parse("--sub", sub).is_ok_and(|address| address != email) {
                bail!("--sub is one e-mail address and --email another; a token must name one person");
            }
        }
        let now = chrono::Utc::now().timestamp();
        let roles: Vec<&str> = roles.iter().map(|r| <&str>::from(*r)).collect();
        let mut claims = json!({"sub": sub, "roles": roles, "iat": now, "exp": now + ttl.as_secs() as i64});
        if let Some(email) = email {
            claims["email"] = json!(email);
        }
        if let Some(issuer) = &self.issuer {
            claims["iss"] = json!(issuer);
        }
        if let Some(audience) = &self.audience {
            claims["aud"] = json!(audience);
        }
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)?)
    }
}

/// Signs and checks the one-click links in reminder e-mails. They use their own key and audience, so a
/// link can never stand in for an API token, nor an API token for a link; each is bound to one action
/// and its owner, and expires after LINK_TTL.
pub struct LinkKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// What a valid link grants: acting as `owner` on `action_id`, once, while the action is still at
/// `version`, the version the reminder was written about. Any change since (the link's own use, the action
/// done, verified, reassigned or given another due date) ends what the link may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkGrant {
    pub action_id: uuid::Uuid,
    pub owner: EmailAddress,
    pub version: i64,
}

const LINK_AUDIENCE: &str = "action-tracker/owner-link";
const GENERATED_LINK_SECRET_FILE: &str = "link-secret";

impl LinkKeys {
    pub fn load(
        settings: &crate::config::MailSettings,
        jwt_secret: Option<&Secret>,
        data_dir: &Path,
        database: &DatabaseUrl,
    ) -> anyhow::Result<Self> {
        let secret = match &settings.link_secret {
            Some(secret) => secret.clone(),
            None => {
                if let DatabaseUrl::Postgres(_) = database {
                    bail!("set LINK_SECRET when running on PostgreSQL: replicas must share one, so none is generated");
                }
                load_or_generate_secret(&data_dir.join(GENERATED_LINK_SECRET_FILE))?
            }
        };
        if secret.expose().len() < MIN_SECRET_BYTES {
            bail!("LINK_SECRET must be at least {MIN_SECRET_BYTES} bytes long");
        }
        if jwt_secret.is_some_and(|jwt| jwt.expose() == secret.expose()) {
            bail!("LINK_SECRET must differ from JWT_SECRET: a link e-mailed to an owner must not sign API tokens");
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_audience(&[LINK_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = 0;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            ttl: settings.link_ttl,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A link token for `owner` on `action_id` as it is at `version`, valid for the configured time from `now`.
    pub fn sign(
        &self,
        action_id: uuid::Uuid,
        owner: &EmailAddress,
        version: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let claims = json!({
            "aud": LINK_AUDIENCE,
            "sub": owner.as_str(),
            "act": action_id,
            "ver": version,
            "exp": now.timestamp() + self.ttl.as_secs() as i64,
        });
        // HMAC signing of a JSON object cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    pub fn verify(&self, token: &str) -> Result<LinkGrant, InvalidToken> {
        let data = jsonwebtoken::decode::<Value>(token, &self.decoding, &self.validation).map_err(|error| {
            InvalidToken(match error.kind() {
                ErrorKind::ExpiredSignature => "This link has expired.".to_owned(),
                _ => "This link is not valid.".to_owned(),
            })
        })?;
        let invalid = || InvalidToken("This link is not valid.".to_owned());
        let action_id =
            data.claims["act"].as_str().and_then(|id| uuid::Uuid::parse_str(id).ok()).ok_or_else(invalid)?;
        let owner =
            data.claims["sub"].as_str().and_then(|sub| EmailAddress::parse("sub", sub).ok()).ok_or_else(invalid)?;
        // Links from before links were bound to a version carry none; they are refused like forged ones.
        let version = data.claims["ver"].as_i64().ok_or_else(invalid)?;
        Ok(LinkGrant { action_id, owner, version })
    }
}
