//! Evidence of an incident: what each item is, where it is stored (a URI, never the file itself), its
//! SHA-256, who collected it and when, and its chain of custody. A chain of custody is only ever
//! appended to: nothing in it is changed or removed, and a correction is a new entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::Snapshot;
use super::text::{LongText, ShortText, Text, check_characters};
use super::{FieldError, Patch};

/// Items per incident: evidence is listed whole with its custody logs, and a case with more items than
/// this keeps them in a forensic case-management system, not here.
pub const MAX_EVIDENCE_PER_INCIDENT: i64 = 200;
/// Entries in one item's chain of custody.
pub const MAX_CUSTODY_ENTRIES: i64 = 100;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
/// What kind of item it is.
pub enum EvidenceKind {
    DiskImage,
    MemoryImage,
    Log,
    NetworkCapture,
    File,
    Email,
    Screenshot,
    Document,
    CloudExport,
    Other,
}

impl EvidenceKind {
    const NAMES: &str = "disk_image, memory_image, log, network_capture, file, email, screenshot, document, \
                         cloud_export or other";

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        raw.parse().map_err(|_| FieldError::new(field, format!("must be one of {}", Self::NAMES)))
    }
}

/// Where an item is stored, as an absolute hierarchical URI (`s3://forensics/case-17/laptop.e01`,
/// `smb://nas/evidence/x`, `file:///…`, `https://…`). Only recorded, never fetched; normalised as the
/// `url` crate writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location(String);

impl Location {
    pub const MAX: usize = 2000;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                field,
                format!(
                    "must be an absolute URI of at most {} characters with a scheme and a path, such as \
                     s3://forensics/case-17/laptop.e01",
                    Self::MAX
                ),
            )
        };
        let value = raw.trim();
        // A URI holds no spaces (RFC 3986); `url` would percent-encode them silently, storing something
        // other than what was sent.
        check_characters(field, value, false)?;
        if value.is_empty() || value.len() > Self::MAX || value.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        // `javascript:…`, `mailto:…` and `data:…` cannot be a base: they name no place things are kept.
        let url = url::Url::parse(value).ok().filter(|url| !url.cannot_be_a_base()).ok_or_else(invalid)?;
        let normalised: String = url.into();
        if normalised.len() > Self::MAX {
            return Err(invalid());
        }
        Ok(Self(normalised))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SHA-256 digest: 64 hexadecimal digits, kept lower-case so two spellings of one digest are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256(String);

impl Sha256 {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(FieldError::new(field, "must be a SHA-256 digest: exactly 64 hexadecimal digits"))
        }
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceFields {
    pub description: LongText,
    pub kind: EvidenceKind,
    pub location: Location,
    pub sha256: Option<Sha256>,
    /// A name or an address: collectors are often outside the team (a forensics firm, the police).
    pub collected_by: ShortText,
    pub collected_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct EvidencePatch {
    pub description: Option<LongText>,
    pub kind: Option<EvidenceKind>,
    pub location: Option<Location>,
    pub sha256: Patch<Sha256>,
    pub collected_by: Option<ShortText>,
    pub collected_at: Option<DateTime<Utc>>,
}

/// One hand-over of an item: from whom (nobody before the collector), to whom, when and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub from: Option<ShortText>,
    pub to: ShortText,
    pub at: DateTime<Utc>,
    pub purpose: ShortText,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustodyEntry {
    pub id: Uuid,
    pub evidence_id: Uuid,
    pub transfer: Transfer,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub fields: EvidenceFields,
    /// In the order of `transferred_at`, then of recording.
    pub custody: Vec<CustodyEntry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub created_by: String,
    pub updated_by: String,
}

impl EvidenceFields {
    pub fn apply(&self, patch: EvidencePatch) -> Self {
        Self {
            description: patch.description.unwrap_or_else(|| self.description.clone()),
            kind: patch.kind.unwrap_or(self.kind),
            location: patch.location.unwrap_or_else(|| self.location.clone()),
            sha256: patch.sha256.apply_to(self.sha256.clone()),
            collected_by: patch.collected_by.unwrap_or_else(|| self.collected_by.clone()),
            collected_at: patch.collected_at.unwrap_or(self.collected_at),
        }
    }

    /// The first entry of every chain of custody: from nobody to the collector, when collected.
    pub fn collection(&self) -> Transfer {
        self.collected(COLLECTED)
    }

    /// The entry a corrected collector or collection time adds: the log keeps what it said before.
    pub fn collection_correction(&self) -> Transfer {
        self.collected(COLLECTION_CORRECTED)
    }

    fn collected(&self, purpose: &str) -> Transfer {
        Transfer {
            from: None,
            to: self.collected_by.clone(),
            at: self.collected_at,
            purpose: Text::from_stored(purpose.to_owned()),
        }
    }

    pub fn same_collection(&self, other: &Self) -> bool {
        self.collected_by == other.collected_by && self.collected_at == other.collected_at
    }
}

const COLLECTED: &str = "collected";
const COLLECTION_CORRECTED: &str = "collection corrected";

impl Evidence {
    /// Who holds the item now: the receiver of the latest hand-over, or before any, the collector as last
    /// corrected (a corrected collection may sort before the entry it corrects).
    pub fn current_holder(&self) -> &ShortText {
        self.custody
            .iter()
            .rfind(|entry| entry.transfer.from.is_some())
            .map_or(&self.fields.collected_by, |entry| &entry.transfer.to)
    }

    /// A hand-over cannot come before the item was collected, nor a collection after a hand-over.
    pub fn check_transfer(&self, field: &str, transfer: &Transfer) -> Result<(), FieldError> {
        if transfer.at < self.fields.collected_at {
            return Err(FieldError::new(
                field,
                format!("must not be before the item was collected ({})", self.fields.collected_at.to_rfc3339()),
            ));
        }
        Ok(())
    }

    /// The earliest hand-over after the collection, which a corrected collection time must not pass.
    pub fn first_hand_over(&self) -> Option<DateTime<Utc>> {
        self.custody.iter().filter(|entry| entry.transfer.from.is_some()).map(|entry| entry.transfer.at).min()
    }

    pub fn audit_snapshot(&self) -> Snapshot {
        let f = &self.fields;
        Snapshot::from([
            ("incident_id", json!(self.incident_id)),
            ("description", json!(f.description.as_str())),
            ("kind", json!(f.kind)),
            ("location", json!(f.location.as_str())),
            ("sha256", json!(f.sha256.as_ref().map(Sha256::as_str))),
            ("collected_by", json!(f.collected_by.as_str())),
            ("collected_at", json!(f.collected_at)),
        ])
    }
}

impl CustodyEntry {
    pub fn audit_snapshot(&self) -> Snapshot {
        let t = &self.transfer;
        Snapshot::from([
            ("evidence_id", json!(self.evidence_id)),
            ("from", json!(t.from.as_ref().map(ShortText::as_str))),
            ("to", json!(t.to.as_str())),
            ("at", json!(t.at)),
            ("purpose", json!(t.purpose.as_str())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_absolute_hierarchical_uris() {
        for good in [
            "s3://forensics/case-17/laptop.e01",
            "smb://nas/evidence/x",
            "file:///srv/evidence/mail.pst",
            "https://drive.example.com/cases/17",
        ] {
            assert_eq!(Location::parse("location", good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "laptop.e01",
            "/srv/evidence/x",
            "javascript:alert(1)",
            "mailto:soc@example.com",
            "s3://bucket/a b",
            "s3://bucket/\u{202E}x",
        ] {
            assert!(Location::parse("location", bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("s3://bucket/{}", "a".repeat(Location::MAX));
        assert!(Location::parse("location", &long).is_err());
    }

    #[test]
    fn digests_are_64_hex_digits_kept_lower_case() {
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(Sha256::parse("sha256", upper).unwrap().as_str(), upper.to_ascii_lowercase());
        for bad in
            ["", "abc", &upper[1..], &format!("{upper}0"), &upper.replace('E', "g"), &format!(" {}", &upper[1..])]
        {
            assert!(Sha256::parse("sha256", bad).is_err(), "{bad:?} was accepted");
        }
    }
}
