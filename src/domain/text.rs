//! Bounded, trimmed text. Every free-text field of the API is one of these, so no field is unlimited,
//! and every string a client sends is held to the same character rules (`check_characters`), so what one
//! backend stores the other does too (PostgreSQL refuses NUL in text; SQLite keeps it).

use std::fmt;

use super::FieldError;

/// Text of 1 to `MAX` characters, trimmed, held to `check_characters` (line breaks and tabs are allowed
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
        check_characters(field, value, MULTILINE)?;
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

// Serialized as the plain string, as the API and the audit history show it.
impl<const MAX: usize, const MULTILINE: bool> serde::Serialize for Text<MAX, MULTILINE> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Characters that change how the text around them reads without being seen: bidirectional embeddings,
/// overrides and isolates, which can make a title in an e-mail subject read as something else
/// ("Trojan Source"), and the deprecated format controls beside them; the zero-width space, the
/// byte-order mark and the Mongolian vowel separator, which hide inside words; the interlinear annotation
/// marks, which hide text; and the tag characters, which carry invisible ASCII ("ASCII smuggling").
fn hides_or_reorders(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{206A}'..='\u{206F}'
            | '\u{200B}'
            | '\u{FEFF}'
            | '\u{180E}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// The joiners and direction marks, the soft hyphen and the line and paragraph separators: Persian and
/// Indic scripts need the zero-width (non-)joiner inside words, right-to-left text needs the marks around
/// numbers and Latin words, emoji are joined with U+200D, and long text may break lines and hyphenate.
/// Long texts keep them; one-line texts (titles, names, subjects) refuse them, since a line shown alone
/// has no surrounding text that needs them and they can disguise or break what it says.
fn joins_or_marks(c: char) -> bool {
    matches!(c, '\u{200C}'..='\u{200F}' | '\u{061C}' | '\u{2060}'..='\u{2064}' | '\u{00AD}' | '\u{2028}' | '\u{2029}')
}

/// The character rules every string a client sends is held to: no control characters (NUL included;
/// line breaks and tabs only in multi-line text), and none of the invisible characters that disguise
/// text (`hides_or_reorders`, and in one-line text `joins_or_marks`). Refused, never stripped: the client
/// learns which field and which character, and what is stored is what was sent.
pub fn check_characters(field: &str, value: &str, multiline: bool) -> Result<(), FieldError> {
    for c in value.chars() {
        if c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')) {
            let what = if multiline { "control characters" } else { "line breaks or control characters" };
            return Err(FieldError::new(field, format!("must not contain {what} (found U+{:04X})", u32::from(c))));
        }
        if hides_or_reorders(c) || (!multiline && joins_or_marks(c)) {
            return Err(FieldError::new(
                field,
                format!("must not contain invisible or text-direction characters (found U+{:04X})", u32::from(c)),
            ));
        }
    }
    Ok(())
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
        assert!(LongText::parse("summary", "nul\u{0}").is_err());
    }

    #[test]
    fn direction_overrides_and_invisible_characters_are_refused_with_their_code_point() {
        // "Invoice 'fdp.exe'" shown as "Invoice 'exe.pdf'" by a right-to-left override.
        let error = Title::parse("title", "Invoice \u{202E}fdp.exe").unwrap_err();
        assert_eq!(error.message, "must not contain invisible or text-direction characters (found U+202E)");
        for c in ['\u{202A}', '\u{202D}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200C}', '\u{200F}', '\u{FEFF}'] {
            assert!(Title::parse("title", &format!("a{c}b")).is_err(), "{:04X}", u32::from(c));
        }
        for c in ['\u{202E}', '\u{2067}', '\u{200B}', '\u{FEFF}'] {
            assert!(LongText::parse("description", &format!("a{c}b")).is_err(), "{:04X}", u32::from(c));
        }
        // Persian needs the zero-width non-joiner, emoji the joiner: long text keeps them.
        assert!(LongText::parse("description", "می\u{200C}خواهم").is_ok());
        assert!(LongText::parse("description", "👩\u{200D}💻").is_ok());
        // A line separator is a line break a subject must not have; tag characters smuggle text.
        assert!(Title::parse("title", "Patch\u{2028}servers").is_err());
        assert!(LongText::parse("description", "first\u{2028}second").is_ok());
        assert!(LongText::parse("description", "ok\u{E0041}\u{E0042}").is_err());
        assert!(Title::parse("title", "soft\u{00AD}hyphen").is_err());
    }

    #[test]
    fn blank_optional_text_is_absent() {
        assert_eq!(ShortText::parse_optional("team", Some("   ")).unwrap(), None);
        assert_eq!(ShortText::parse_optional("team", None).unwrap(), None);
        assert!(Title::parse("title", " ").is_err());
    }
}
