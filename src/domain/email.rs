//! E-mail addresses: syntactically valid and lower-case, so that owner look-ups are exact matches.

use std::fmt;

use super::FieldError;

const MAX_LENGTH: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_lowercase();
        if value.len() > MAX_LENGTH {
            return Err(FieldError::new(field, format!("must be at most {MAX_LENGTH} characters")));
        }
        // `email_address` accepts display-name forms like "Bob <bob@x>"; an owner field takes a bare address.
        let bare = email_address::EmailAddress::parse_with_options(
            &value,
            email_address::Options::default().without_display_text().without_domain_literal(),
        );
        // And what the mail transport takes: an address it cannot put in `To` (`"a b"@example.com`) would be
        // stored, and then every reminder to it would fail for good.
        let sendable = value
            .parse::<lettre::message::Mailbox>()
            .is_ok_and(|mailbox| mailbox.name.is_none() && mailbox.email.as_ref() == value);
        match bare {
            Ok(_) if sendable && value.contains('@') => Ok(Self(value)),
            _ => Err(FieldError::new(field, "must be a valid e-mail address such as alice@example.com")),
        }
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_addresses_lower_case() {
        let email = EmailAddress::parse("owner_email", " Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn refuses_what_is_not_a_bare_address() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "Alice <alice@example.com>",
            "a b@example.com",
            // Valid by RFC 5322, but not something the mail transport can address.
            "\"a b\"@example.com",
            "alice@[192.0.2.1]",
        ] {
            assert!(EmailAddress::parse("owner_email", bad).is_err(), "{bad:?} was accepted");
        }
    }
}
