//! Who is calling: the principal a verified token names, and the roles it holds.

use super::email::EmailAddress;

/// Roles, each including the ones before it: an admin may do all an editor may, an editor all a viewer may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Reads everything (dashboards).
    Viewer,
    /// Also creates and changes incidents and actions (facilitators, ticketing systems).
    Editor,
    /// Also deletes.
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject: a stable id of the user or integration.
    pub sub: String,
    pub email: Option<EmailAddress>,
    pub name: Option<String>,
    /// The highest role the token grants; `None` for a principal that only owns actions.
    pub role: Option<Role>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.role.is_some_and(|held| held >= role)
    }

    /// The principal is the person with this address.
    pub fn is(&self, email: &EmailAddress) -> bool {
        self.email.as_ref() == Some(email)
    }

    /// How the principal appears in `created_by` and `updated_by`: its address, or its subject.
    pub fn display_name(&self) -> String {
        self.email.as_ref().map_or_else(|| self.sub.clone(), ToString::to_string)
    }
}
