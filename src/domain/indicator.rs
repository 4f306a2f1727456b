//! Indicators of compromise: what the attacker left behind that others can look for (an address, a
//! domain, a file hash), each value checked and written one way for its type, so "have we seen this
//! before?" is an exact match, and marked with who may see it (TLP 2.0).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::Snapshot;
use super::email::EmailAddress;
use super::text::{LongText, ShortText, check_characters};
use super::{FieldError, FieldErrors, Patch};

/// Indicators per incident: the ones worth sharing and reporting, not a SIEM export.
pub const MAX_PER_INCIDENT: i64 = 1000;

/// The longest value of any type (a URL); longer ones do not fit an index entry on PostgreSQL either.
const MAX_VALUE_LENGTH: usize = 2048;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// What an indicator's value is; it decides how the value is checked and written.
pub enum IndicatorType {
    Ipv4,
    Ipv6,
    /// An IPv4 or IPv6 network such as `203.0.113.0/24`.
    Cidr,
    Domain,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    FileName,
    /// A Windows registry key, starting with its hive (`HKLM\…` or `HKEY_LOCAL_MACHINE\…`).
    RegistryKey,
    UserAgent,
    /// A vulnerability the attacker used, such as `CVE-2024-3400`.
    Cve,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
/// The Traffic Light Protocol 2.0 marking (FIRST): who the indicator may be shared with. `red`: only the
/// people in the room (viewers do not see it, and no export carries it unless an admin asks); `amber+strict`:
/// the recipient's organisation only; `amber`: their organisation and its clients; `green`: the community;
/// `clear`: anyone. Indicators are `amber` unless marked otherwise.
pub enum Tlp {
    #[serde(rename = "clear")]
    #[strum(serialize = "clear")]
    Clear,
    #[serde(rename = "green")]
    #[strum(serialize = "green")]
    Green,
    #[default]
    #[serde(rename = "amber")]
    #[strum(serialize = "amber")]
    Amber,
    #[serde(rename = "amber+strict")]
    #[strum(serialize = "amber+strict")]
    AmberStrict,
    #[serde(rename = "red")]
    #[strum(serialize = "red")]
    Red,
}

impl Tlp {
    /// As TLP 2.0 writes it: `TLP:AMBER+STRICT`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Clear => "TLP:CLEAR",
            Self::Green => "TLP:GREEN",
            Self::Amber => "TLP:AMBER",
            Self::AmberStrict => "TLP:AMBER+STRICT",
            Self::Red => "TLP:RED",
        }
    }
}

/// An indicator's value, checked and normalised for its type: addresses and networks in their canonical
/// form, domains and URLs in lower-case ASCII (IDNA), hashes in lower-case hex, CVE ids in upper case.
/// Defanged input (`hxxps://evil[.]example`) is accepted for the network types and stored refanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndicatorValue {
    kind: IndicatorType,
    value: String,
}

impl IndicatorValue {
    pub fn parse(field: &str, kind: IndicatorType, raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new(field, "must not be blank"));
        }
        if trimmed.chars().count() > MAX_VALUE_LENGTH {
            return Err(FieldError::new(field, format!("must be at most {MAX_VALUE_LENGTH} characters")));
        }
        check_characters(field, trimmed, false)?;
        let invalid = |what: &str| FieldError::new(field, format!("must be {what}"));
        let value = match kind {
            IndicatorType::Ipv4 => {
                refang(trimmed).parse::<Ipv4Addr>().map_err(|_| invalid("an IPv4 address such as 203.0.113.7"))?.to_string()
            }
            IndicatorType::Ipv6 => refang(trimmed)
                .parse::<Ipv6Addr>()
                .map_err(|_| invalid("an IPv6 address such as 2001:db8::7"))?
                .to_string(),
            IndicatorType::Cidr => network(&refang(trimmed))
                .ok_or_else(|| invalid("a network in CIDR notation such as 203.0.113.0/24 or 2001:db8::/32"))?,
            IndicatorType::Domain => {
                domain(&refang(trimmed)).ok_or_else(|| invalid("a domain name such as login.example.com"))?
            }
            IndicatorType::Url => url(&refang(trimmed))
                .ok_or_else(|| invalid("an absolute URL with a host, such as https://login.example.com/sso"))?,
            IndicatorType::Email => EmailAddress::parse(field, &refang(trimmed))?.as_str().to_owned(),
            IndicatorType::Md5 => hex_digest(trimmed, 32).ok_or_else(|| invalid("an MD5 hash: 32 hex digits"))?,
            IndicatorType::Sha1 => hex_digest(trimmed, 40).ok_or_else(|| invalid("a SHA-1 hash: 40 hex digits"))?,
            IndicatorType::Sha256 => {
                hex_digest(trimmed, 64).ok_or_else(|| invalid("a SHA-256 hash: 64 hex digits"))?
            }
            IndicatorType::FileName => file_name(trimmed)
                .ok_or_else(|| invalid("a file name without a directory, at most 255 characters"))?,
            IndicatorType::RegistryKey => registry_key(trimmed).ok_or_else(|| {
                invalid("a registry key starting with its hive, such as HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run")
            })?,
            IndicatorType::UserAgent => trimmed.to_owned(),
            IndicatorType::Cve => cve(trimmed).ok_or_else(|| invalid("a CVE id such as CVE-2024-3400"))?,
        };
        // What is stored and indexed is the normal form in UTF-8, which can be longer than what was sent
        // (a URL percent-encodes each non-ASCII character into up to 12 bytes); PostgreSQL's index rows
        // hold about 2700 bytes.
        if value.len() > MAX_VALUE_LENGTH {
            return Err(FieldError::new(
                field,
                format!("must be at most {MAX_VALUE_LENGTH} bytes once normalised (UTF-8, URLs percent-encoded)"),
            ));
        }
        Ok(Self { kind, value })
    }

    /// How a search reads a value given without its type: the first type, from the most particular to the
    /// most general, that it parses as. A file name that looks like a domain needs its type given.
    pub fn detect(raw: &str) -> Option<Self> {
        use IndicatorType::*;
        [Ipv4, Ipv6, Cidr, Cve, Md5, Sha1, Sha256, Email, Url, RegistryKey, Domain, FileName, UserAgent]
            .into_iter()
            .find_map(|kind| Self::parse("value", kind, raw).ok())
    }

    pub(crate) fn from_stored(kind: IndicatorType, value: String) -> Self {
        Self { kind, value }
    }

    pub fn kind(&self) -> IndicatorType {
        self.kind
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The value made safe to print where a reader might click or paste it: `hxxps://evil[.]example`,
    /// `203.0.113[.]7`, `bob[@]evil[.]example`. Hashes, file names and the rest are left as they are.
    pub fn defanged(&self) -> String {
        match self.kind {
            IndicatorType::Ipv4 | IndicatorType::Domain => self.value.replace('.', "[.]"),
            IndicatorType::Cidr if !self.value.contains(':') => self.value.replace('.', "[.]"),
            IndicatorType::Ipv6 | IndicatorType::Cidr => self.value.replace(':', "[:]"),
            IndicatorType::Email => self.value.replace('@', "[@]").replace('.', "[.]"),
            IndicatorType::Url => {
                let (scheme, rest) = self.value.split_once("://").unwrap_or(("", &self.value));
                let scheme = match scheme {
                    "http" => "hxxp",
                    "https" => "hxxps",
                    "ftp" => "fxp",
                    other => other,
                };
                format!("{scheme}[://]{}", rest.replace('.', "[.]"))
            }
            _ => self.value.clone(),
        }
    }
}

/// Undoes the usual defanging: `hxxp`, `[.]`, `(.)`, `[dot]`, `[:]`, `[@]`, `[at]`.
fn refang(raw: &str) -> String {
    let mut value = raw
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("[dot]", ".")
        .replace("[:]", ":")
        .replace("[://]", "://")
        .replace("[@]", "@")
        .replace("[at]", "@");
    for (fanged, real) in [("hxxps://", "https://"), ("hxxp://", "http://"), ("fxp://", "ftp://")] {
        if value.len() >= fanged.len() && value[..fanged.len()].eq_ignore_ascii_case(fanged) {
            value = format!("{real}{}", &value[fanged.len()..]);
        }
    }
    value
}

/// The network a CIDR names, written with its host bits cleared (`10.1.2.3/8` is `10.0.0.0/8`).
fn network(raw: &str) -> Option<String> {
    let (address, prefix) = raw.split_once('/')?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
        return None;
    }
    let net = ipnet::IpNet::new(address.parse::<IpAddr>().ok()?, prefix.parse().ok()?).ok()?;
    Some(net.trunc().to_string())
}

/// A host name in lower-case ASCII: international names as IDNA (`xn--…`), no trailing dot, at least two
/// labels of letters, digits and inner hyphens (underscores are allowed too: DNS carries them in real use).
fn domain(raw: &str) -> Option<String> {
    let ascii = idna::domain_to_ascii(raw.strip_suffix('.').unwrap_or(raw)).ok()?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let top_level_ok = labels.last().is_some_and(|top| !top.bytes().all(|b| b.is_ascii_digit()));
    (ascii.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && top_level_ok).then_some(ascii)
}

fn url(raw: &str) -> Option<String> {
    let parsed = url::Url::parse(raw).ok()?;
    let host_ok = match parsed.host()? {
        url::Host::Domain(name) => domain(name).is_some(),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => true,
    };
    host_ok.then(|| parsed.to_string())
}

fn hex_digest(raw: &str, digits: usize) -> Option<String> {
    (raw.len() == digits && raw.bytes().all(|b| b.is_ascii_hexdigit())).then(|| raw.to_ascii_lowercase())
}

fn file_name(raw: &str) -> Option<String> {
    let ok = raw.chars().count() <= 255 && !raw.contains(['/', '\\']) && raw != "." && raw != "..";
    ok.then(|| raw.to_owned())
}

/// The hives by their full and short names; a key is stored with the full name.
const HIVES: [(&str, &str); 5] = [
    ("HKEY_LOCAL_MACHINE", "HKLM"),
    ("HKEY_CURRENT_USER", "HKCU"),
    ("HKEY_CLASSES_ROOT", "HKCR"),
    ("HKEY_USERS", "HKU"),
    ("HKEY_CURRENT_CONFIG", "HKCC"),
];

fn registry_key(raw: &str) -> Option<String> {
    let (hive, path) = raw.split_once('\\').unwrap_or((raw, ""));
    let (full, _) =
        HIVES.iter().find(|(full, short)| hive.eq_ignore_ascii_case(full) || hive.eq_ignore_ascii_case(short))?;
    let path = path.trim_end_matches('\\');
    // A key name is at most 255 characters; an empty one (`a\\b`) does not exist.
    let names_ok = path.is_empty() || path.split('\\').all(|name| (1..=255).contains(&name.chars().count()));
    (names_ok && raw.chars().count() <= 1024)
        .then(|| if path.is_empty() { (*full).to_owned() } else { format!("{full}\\{path}") })
}

/// `CVE-YYYY-NNNN…`: a year from 1999 (the first CVE ids) and at least four digits.
fn cve(raw: &str) -> Option<String> {
    let value = raw.to_ascii_uppercase();
    let mut parts = value.strip_prefix("CVE-")?.splitn(2, '-');
    let (year, number) = (parts.next()?, parts.next()?);
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let ok = year.len() == 4 && digits(year) && year >= "1999" && (4..=19).contains(&number.len()) && digits(number);
    ok.then_some(value)
}

/// How sure the team is that the indicator means compromise, 0–100 (STIX 2.1's confidence scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confidence(u8);

impl Confidence {
    pub fn parse(field: &str, raw: i64) -> Result<Self, FieldError> {
        u8::try_from(raw)
            .ok()
            .filter(|value| *value <= 100)
            .map(Self)
            .ok_or_else(|| FieldError::new(field, "must be a whole number from 0 to 100"))
    }

    pub(crate) fn from_stored(value: i32) -> Self {
        Self(u8::try_from(value.clamp(0, 100)).unwrap_or(100))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorFields {
    pub value: IndicatorValue,
    pub tlp: Tlp,
    pub confidence: Option<Confidence>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    /// Where it came from: "EDR", "proxy logs", a threat-intelligence feed.
    pub source: Option<ShortText>,
    pub description: Option<LongText>,
}

impl IndicatorFields {
    /// First seen no later than last seen.
    pub fn check(self) -> Result<Self, FieldErrors> {
        if let (Some(first), Some(last)) = (self.first_seen, self.last_seen)
            && last < first
        {
            let mut errors = FieldErrors::new();
            errors.push(FieldError::new("last_seen", "must not be before first_seen"));
            return Err(errors);
        }
        Ok(self)
    }

    pub fn apply(&self, patch: IndicatorPatch) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let kind = patch.kind.unwrap_or(self.value.kind());
        // A new type re-reads the value it is given, or the one stored: a hash stays a hash only if it is one.
        let value = match (patch.value, patch.kind) {
            (Some(raw), _) => errors.take(IndicatorValue::parse("value", kind, &raw)),
            (None, Some(_)) => errors.take(IndicatorValue::parse("value", kind, self.value.as_str())),
            (None, None) => Some(self.value.clone()),
        };
        let next = value.map(|value| Self {
            value,
            tlp: patch.tlp.unwrap_or(self.tlp),
            confidence: patch.confidence.apply_to(self.confidence),
            first_seen: patch.first_seen.apply_to(self.first_seen),
            last_seen: patch.last_seen.apply_to(self.last_seen),
            source: patch.source.apply_to(self.source.clone()),
            description: patch.description.apply_to(self.description.clone()),
        });
        errors.check(next)?.check()
    }
}

/// A change to an indicator; `value` is the raw text, read against the type it will have.
#[derive(Debug, Clone, Default)]
pub struct IndicatorPatch {
    pub kind: Option<IndicatorType>,
    pub value: Option<String>,
    pub tlp: Option<Tlp>,
    pub confidence: Patch<Confidence>,
    pub first_seen: Patch<DateTime<Utc>>,
    pub last_seen: Patch<DateTime<Utc>>,
    pub source: Patch<ShortText>,
    pub description: Patch<LongText>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub fields: IndicatorFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl Indicator {
    pub fn audit_snapshot(&self) -> Snapshot {
        let f = &self.fields;
        Snapshot::from([
            ("type", json!(<&str>::from(f.value.kind()))),
            ("value", json!(f.value.as_str())),
            ("tlp", json!(<&str>::from(f.tlp))),
            ("confidence", json!(f.confidence.map(Confidence::get))),
            ("first_seen", json!(f.first_seen)),
            ("last_seen", json!(f.last_seen)),
            ("source", json!(f.source.as_ref().map(ShortText::as_str))),
            ("description", json!(f.description.as_ref().map(LongText::as_str))),
        ])
    }

    pub fn is_red(&self) -> bool {
        self.fields.tlp == Tlp::Red
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(kind: IndicatorType, raw: &str) -> Result<String, String> {
        IndicatorValue::parse("value", kind, raw).map(|v| v.as_str().to_owned()).map_err(|e| e.message)
    }

    #[test]
    fn values_are_written_one_way_per_type() {
        use IndicatorType::*;
        assert_eq!(parsed(Ipv4, " 203.0.113.7 ").unwrap(), "203.0.113.7");
        assert_eq!(parsed(Ipv4, "203.0.113[.]7").unwrap(), "203.0.113.7");
        assert_eq!(parsed(Ipv6, "2001:DB8:0:0::7").unwrap(), "2001:db8::7");
        assert_eq!(parsed(Cidr, "10.1.2.3/8").unwrap(), "10.0.0.0/8");
        assert_eq!(parsed(Cidr, "2001:db8::1/32").unwrap(), "2001:db8::/32");
        assert_eq!(parsed(Domain, "Login.Example.COM.").unwrap(), "login.example.com");
        assert_eq!(parsed(Domain, "bücher.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(parsed(Domain, "evil[.]example").unwrap(), "evil.example");
        assert_eq!(parsed(Url, "hxxps://Evil[.]Example/Login?a=1").unwrap(), "https://evil.example/Login?a=1");
        assert_eq!(parsed(Email, "Bob[@]evil[.]example").unwrap(), "bob@evil.example");
        assert_eq!(parsed(Md5, "D41D8CD98F00B204E9800998ECF8427E").unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(parsed(RegistryKey, "hklm\\Software\\Run\\").unwrap(), "HKEY_LOCAL_MACHINE\\Software\\Run");
        assert_eq!(parsed(Cve, "cve-2024-3400").unwrap(), "CVE-2024-3400");
        assert_eq!(parsed(FileName, "invoice.pdf.exe").unwrap(), "invoice.pdf.exe");
    }

    #[test]
    fn malformed_values_are_refused() {
        use IndicatorType::*;
        for (kind, raw) in [
            (Ipv4, "203.0.113.256"),
            (Ipv4, "203.0.113"),
            (Ipv4, "010.0.0.1"),
            (Ipv6, "2001:db8::g"),
            (Cidr, "10.0.0.0/33"),
            (Cidr, "10.0.0.0"),
            (Cidr, "10.0.0.0/+8"),
            (Domain, "localhost"),
            (Domain, "-bad.example"),
            (Domain, "example.123"),
            (Domain, "a b.example"),
            (Url, "/relative/path"),
            (Url, "mailto:bob@example.com"),
            (Email, "not-an-address"),
            (Md5, "d41d8cd98f00b204e9800998ecf8427"),
            (Sha1, "zz39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (Sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"),
            (FileName, "C:\\Users\\bob\\invoice.exe"),
            (RegistryKey, "Software\\Run"),
            (RegistryKey, "HKLM\\a\\\\b"),
            (Cve, "CVE-24-3400"),
            (Cve, "CVE-2024-34"),
            (UserAgent, "   "),
        ] {
            assert!(parsed(kind, raw).is_err(), "{kind:?} {raw:?} should be refused");
        }
    }

    #[test]
    fn a_value_without_its_type_is_read_as_the_most_particular_one() {
        let detected = |raw: &str| IndicatorValue::detect(raw).map(|v| (v.kind(), v.value));
        assert_eq!(detected("203.0.113.7"), Some((IndicatorType::Ipv4, "203.0.113.7".into())));
        assert_eq!(detected("evil[.]example"), Some((IndicatorType::Domain, "evil.example".into())));
        assert_eq!(detected("hxxp://evil.example/x"), Some((IndicatorType::Url, "http://evil.example/x".into())));
        assert_eq!(
            detected("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855").map(|(k, _)| k),
            Some(IndicatorType::Sha256)
        );
        assert_eq!(detected("Mozilla/5.0 (X11)").map(|(k, _)| k), Some(IndicatorType::UserAgent));
    }

    #[test]
    fn defanged_values_cannot_be_clicked() {
        let value = |kind, raw| IndicatorValue::parse("value", kind, raw).unwrap().defanged();
        assert_eq!(value(IndicatorType::Url, "https://evil.example/a.php"), "hxxps[://]evil[.]example/a[.]php");
        assert_eq!(value(IndicatorType::Domain, "evil.example"), "evil[.]example");
        assert_eq!(value(IndicatorType::Ipv4, "203.0.113.7"), "203[.]0[.]113[.]7");
        assert_eq!(value(IndicatorType::Email, "bob@evil.example"), "bob[@]evil[.]example");
        assert_eq!(value(IndicatorType::Md5, "d41d8cd98f00b204e9800998ecf8427e"), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
