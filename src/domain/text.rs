//! Bounded, trimmed text. Every free-text field of the API is one of these, so no field is unlimited.

use std::fmt;

use super::FieldError;

/// Text of 1 to `MAX` characters, trimmed, without control characters (line breaks and tabs are allowed
/// only when `MULTILINE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize, const MULTILINE: bool>(String);

/// A title: one line, at most 200 characters.
pub type Title = Text<200, false>;
/// A short label such as a name, a team or a category: one line, at most 200 characters.
pub type ShortText = Text<200, false>;
/// A description, summary or resolution: at most 10 000 characters.
pub type LongText = Text<10_000, true>;

impl<const MAX: usize, const MULTILINE: bool> Text<MAX, MULTILINE> {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        let length = value.chars().count();
        if length > MAX {
            return Err(FieldError::new(field, format!("must be at most {MAX} characters (got {length})")));
        }
        let allowed = |c: char| !c.is_control() || (MULTILINE && matches!(c, '\n' | '\r' | '\t'));
        if !value.chars().all(allowed) {
            let what = if MULTILINE { "control characters" } else { "line breaks or control characters" };
            return Err(FieldError::new(field, format!("must not contain {what}")));
        }
        Ok(Self(value.to_owned()))
    }

    /// Optional text: blank counts as absent, so clients that send "" for "nothing" are understood.
    pub fn parse_optional(field: &str, raw: Option<&str>) -> Result<Option<Self>, FieldError> {
        match raw {
            Some(value) if !value.trim().is_empty() => Self::parse(field, value).map(Some),
            _ => Ok(None),
        }
    }

    /// Text read back from our own database, which only ever stored parsed values.
    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize, const MULTILINE: bool> fmt::Display for Text<MAX, MULTILINE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_counts_characters_not_bytes() {
        let title = Title::parse("title", "  Rotate the VPN keys  ").unwrap();
        assert_eq!(title.as_str(), "Rotate the VPN keys");
        assert!(Title::parse("title", &"é".repeat(200)).is_ok());
        let error = Title::parse("title", &"é".repeat(201)).unwrap_err();
        assert_eq!(error.message, "must be at most 200 characters (got 201)");
    }

    #[test]
    fn single_line_text_refuses_line_breaks_but_long_text_keeps_them() {
        assert!(Title::parse("title", "two\nlines").is_err());
        assert_eq!(LongText::parse("summary", "two\nlines").unwrap().as_str(), "two\nlines");
        assert!(LongText::parse("summary", "bell\u{7}").is_err());
    }

    #[test]
    fn blank_optional_text_is_absent() {
        assert_eq!(ShortText::parse_optional("team", Some("   ")).unwrap(), None);
        assert_eq!(ShortText::parse_optional("team", None).unwrap(), None);
        assert!(Title::parse("title", " ").is_err());
    }
}
