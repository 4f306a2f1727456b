//! Links to tickets in other systems (Jira, ServiceNow, …): `jira/SEC-123`. One ticket links to at most
//! one action, so a ticketing system can find and update "its" action without storing our ids.

use super::{FieldError, FieldErrors};

/// The ticketing system: 1–50 ASCII letters, digits and `- _ .` ("jira", "servicenow"), stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct System(String);

/// The ticket's key in that system: 1–100 ASCII letters, digits and `- _ . : #` ("SEC-123", "INC0012345").
/// No slash or space, so it fits in a URL path segment as it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

/// An absolute http or https URL of at most 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRef {
    pub system: System,
    pub key: Key,
    /// Where people open the ticket.
    pub url: Option<HttpUrl>,
}

/// The tickets of one action: at most 10, each (system, key) once, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalRefs(Vec<ExternalRef>);

impl System {
    /// The same rule as the OpenAPI spec's pattern `^[A-Za-z0-9._-]{1,50}$`: exactly that, nothing trimmed.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if raw.is_empty() || raw.len() > 50 || !raw.chars().all(valid) {
            return Err(FieldError::new(field, "must be 1 to 50 letters, digits or - _ . (e.g. jira)"));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Key {
    /// The same rule as the OpenAPI spec's pattern `^[A-Za-z0-9._:#-]{1,100}$`: exactly that, nothing trimmed.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_.:#".contains(c);
        if raw.is_empty() || raw.len() > 100 || !raw.chars().all(valid) {
            return Err(FieldError::new(field, "must be 1 to 100 letters, digits or - _ . : # (e.g. SEC-123)"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl HttpUrl {
    pub const MAX: usize = 2000;

    /// A plain http(s) URL of the shape the OpenAPI spec's pattern states (see `has_plain_shape`), so a
    /// client can check it before sending.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw;
        let parsed = url::Url::parse(value)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host() && has_plain_shape(value));
        match parsed {
            Some(url) if value.len() <= Self::MAX => Ok(Self(url.to_string())),
            _ => {
                Err(FieldError::new(field, format!("must be an http or https URL of at most {} characters", Self::MAX)))
            }
        }
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The spec's pattern, by hand: `https?://` then a host name (labels of letters, digits and hyphens,
/// each starting with a letter) or a dotted IPv4 address, an optional port (0–65535, no leading zeros), and a path of
/// printable ASCII.
fn has_plain_shape(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")) else {
        return false;
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |slash| rest.split_at(slash));
    let (host, port) = authority.split_once(':').map_or((authority, None), |(h, p)| (h, Some(p)));
    let label_ok = |label: &str| {
        label.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let port_ok = port.is_none_or(|p| {
        p.chars().all(|c| c.is_ascii_digit()) && !(p.len() > 1 && p.starts_with('0')) && p.parse::<u16>().is_ok()
    });
    let octet_ok = |octet: &str| {
        (1..=3).contains(&octet.len())
            && octet.chars().all(|c| c.is_ascii_digit())
            && !(octet.len() > 1 && octet.starts_with('0'))
            && octet.parse::<u8>().is_ok()
    };
    let ipv4 = host.split('.').count() == 4 && host.split('.').all(octet_ok);
    (ipv4 || host.split('.').all(label_ok)) && port_ok && path.chars().all(|c| ('!'..='~').contains(&c))
}

impl ExternalRefs {
    pub const MAX: usize = 10;

    pub fn new(field: &str, mut refs: Vec<ExternalRef>) -> Result<Self, FieldErrors> {
        if refs.len() > Self::MAX {
            return Err(FieldError::new(field, format!("must have at most {} tickets", Self::MAX)).into());
        }
        refs.sort_by(|a, b| (&a.system, &a.key).cmp(&(&b.system, &b.key)));
        if refs.windows(2).any(|pair| pair[0].system == pair[1].system && pair[0].key == pair[1].key) {
            return Err(FieldError::new(field, "lists the same ticket twice").into());
        }
        Ok(Self(refs))
    }

    pub(crate) fn from_stored(mut refs: Vec<ExternalRef>) -> Self {
        refs.sort_by(|a, b| (&a.system, &a.key).cmp(&(&b.system, &b.key)));
        Self(refs)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ExternalRef> {
        self.0.iter()
    }

    /// These refs with `link` among them (its URL updated if given).
    pub fn including(&self, link: ExternalRef) -> Self {
        let mut refs: Vec<ExternalRef> = self.0.clone();
        match refs.iter_mut().find(|r| r.system == link.system && r.key == link.key) {
            Some(existing) => {
                if link.url.is_some() {
                    existing.url = link.url;
                }
            }
            None => refs.push(link),
        }
        Self::from_stored(refs)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.0
                .iter()
                .map(|r| serde_json::json!({"system": r.system.as_str(), "key": r.key.as_str(), "url": r.url.as_ref().map(HttpUrl::as_str)}))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systems_keys_and_urls_are_checked() {
        assert_eq!(System::parse("s", "Jira").unwrap().as_str(), "jira");
        assert!(System::parse("s", " jira").is_err(), "the spec's pattern has no room for spaces");
        assert!(System::parse("s", "ji ra").is_err());
        assert!(Key::parse("k", "SÉC-1").is_err(), "the spec's pattern is ASCII");
        assert_eq!(Key::parse("k", "SEC-123").unwrap().as_str(), "SEC-123");
        assert!(Key::parse("k", "SEC/123").is_err());
        assert!(HttpUrl::parse("u", "https://jira.example.com/browse/SEC-123").is_ok());
        assert!(HttpUrl::parse("u", "javascript:alert(1)").is_err());
        assert!(HttpUrl::parse("u", "ftp://example.com/x").is_err());
    }

    #[test]
    fn a_ticket_is_listed_once() {
        let link = |key: &str| ExternalRef {
            system: System::parse("s", "jira").unwrap(),
            key: Key::parse("k", key).unwrap(),
            url: None,
        };
        assert!(ExternalRefs::new("external_refs", vec![link("A-1"), link("A-1")]).is_err());
        let refs = ExternalRefs::new("external_refs", vec![link("B-2"), link("A-1")]).unwrap();
        assert_eq!(refs.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["A-1", "B-2"]);
        assert_eq!(refs.including(link("A-1")).iter().count(), 2);
    }
}
