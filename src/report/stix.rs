//! An incident as a STIX 2.1 bundle, for sharing with other organisations (a threat-intelligence
//! platform, an ISAC): the incident, its indicators as STIX patterns, the ATT&CK techniques as attack
//! patterns, the CVEs as vulnerabilities, the relationships between them and the TLP 2.0 markings.
//!
//! Every id is derived from what it stands for, so a second export of the same incident carries the same
//! ids and a newer `modified` where something changed: the receiver updates its copy instead of adding
//! another. Knows nothing of HTTP or SQL; which indicators go in (TLP:RED or not) is the caller's.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::assessment::Technique;
use crate::domain::incident::Incident;
use crate::domain::indicator::{Indicator, IndicatorType, Tlp};

/// Our namespace for STIX ids; changing it would make every receiver see new objects.
const NAMESPACE: &str = "action-tracker STIX 2.1 export";

/// The OASIS extension that defines the TLP 2.0 marking definitions.
const TLP_2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The incident and the relationships that say which techniques it saw are as confidential as the
/// default marking of an indicator: the recipient's organisation and its clients.
const INCIDENT_TLP: Tlp = Tlp::Amber;

/// The published TLP 2.0 marking definitions (OASIS CTI TC), which receivers recognise by id.
fn tlp_marking_id(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

fn tlp_marking(tlp: Tlp) -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp_marking_id(tlp),
        "created": "2022-10-01T00:00:00.000Z",
        "name": tlp.label(),
        "extensions": {TLP_2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": <&str>::from(tlp)}},
    })
}

/// STIX timestamps: UTC, to the millisecond.
fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The id of the STIX object of `kind` that stands for `what`. STIX wants version 4 (random) UUIDs for
/// these objects, and its validator checks the version; a SHA-256 of what the object stands for is as
/// unpredictable and as unlikely to collide as random bits, and the same every time.
fn stix_id(kind: &str, what: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(NAMESPACE)
        .chain_update([0])
        .chain_update(kind)
        .chain_update([0])
        .chain_update(what)
        .finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!("{kind}--{}", uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// Objects that stand for public knowledge (an ATT&CK technique, a CVE) are the same in every bundle;
/// their one version is dated when this export was first written.
const PUBLIC_KNOWLEDGE_DATE: &str = "2026-12-06T00:00:00.000Z";

/// A STIX pattern string literal: quotes and backslashes escaped.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The STIX pattern that matches an indicator; `None` for a CVE, which is a vulnerability, not a pattern.
fn pattern(indicator: &Indicator) -> Option<String> {
    let value = &indicator.fields.value;
    let address = if value.as_str().contains(':') { "ipv6-addr" } else { "ipv4-addr" };
    let path = match value.kind() {
        IndicatorType::Ipv4 => "ipv4-addr:value",
        IndicatorType::Ipv6 => "ipv6-addr:value",
        IndicatorType::Cidr => return Some(format!("[{address}:value = {}]", literal(value.as_str()))),
        IndicatorType::Domain => "domain-name:value",
        IndicatorType::Url => "url:value",
        IndicatorType::Email => "email-addr:value",
        IndicatorType::Md5 => "file:hashes.MD5",
        IndicatorType::Sha1 => "file:hashes.'SHA-1'",
        IndicatorType::Sha256 => "file:hashes.'SHA-256'",
        IndicatorType::FileName => "file:name",
        IndicatorType::RegistryKey => "windows-registry-key:key",
        IndicatorType::UserAgent => "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
        IndicatorType::Cve => return None,
    };
    Some(format!("[{path} = {}]", literal(value.as_str())))
}

/// The bundle of one incident and the indicators given.
pub fn bundle(incident: &Incident, indicators: &[Indicator]) -> Value {
    let fields = &incident.fields;
    let incident_id = stix_id("incident", &incident.id.to_string());
    let mut markings = vec![INCIDENT_TLP, Tlp::Clear];
    let mut external_references =
        vec![json!({"source_name": "action-tracker", "external_id": incident.id.to_string()})];
    if let Some(reference) = &fields.reference {
        external_references.push(json!({"source_name": "incident-reference", "external_id": reference.as_str()}));
    }
    let mut incident_object = json!({
        "type": "incident",
        "spec_version": "2.1",
        "id": incident_id,
        "created": timestamp(incident.created_at),
        "modified": timestamp(incident.updated_at),
        "name": fields.title.as_str(),
        "external_references": external_references,
        "object_marking_refs": [tlp_marking_id(INCIDENT_TLP)],
    });
    if let Some(summary) = &fields.summary {
        incident_object["description"] = json!(summary.as_str());
    }
    let mut objects = vec![incident_object];

    let relationship = |source: &str, kind: &str, target: &str, at: (DateTime<Utc>, DateTime<Utc>), tlp: Tlp| {
        json!({
            "type": "relationship",
            "spec_version": "2.1",
            "id": stix_id("relationship", &format!("{source}|{kind}|{target}")),
            "created": timestamp(at.0),
            "modified": timestamp(at.1),
            "relationship_type": kind,
            "source_ref": source,
            "target_ref": target,
            "object_marking_refs": [tlp_marking_id(tlp)],
        })
    };

    for Technique { id, note } in &fields.attack.techniques {
        let pattern_id = stix_id("attack-pattern", id.as_str());
        objects.push(json!({
            "type": "attack-pattern",
            "spec_version": "2.1",
            "id": pattern_id,
            "created": PUBLIC_KNOWLEDGE_DATE,
            "modified": PUBLIC_KNOWLEDGE_DATE,
            "name": id.as_str(),
            // Receivers match techniques by this reference (as ATT&CK's own STIX data writes it); a URL would
            // need the hash of the page behind it, which we do not fetch.
            "external_references": [{"source_name": "mitre-attack", "external_id": id.as_str()}],
            "object_marking_refs": [tlp_marking_id(Tlp::Clear)],
        }));
        let mut uses = relationship(
            &incident_id,
            "related-to",
            &pattern_id,
            (incident.created_at, incident.updated_at),
            INCIDENT_TLP,
        );
        if let Some(note) = note {
            uses["description"] = json!(note.as_str());
        }
        objects.push(uses);
    }

    for indicator in indicators {
        let f = &indicator.fields;
        markings.push(f.tlp);
        let at = (indicator.created_at, indicator.updated_at);
        let object_id = match pattern(indicator) {
            Some(pattern) => {
                let id = stix_id("indicator", &indicator.id.to_string());
                let mut object = json!({
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": id,
                    "created": timestamp(indicator.created_at),
                    "modified": timestamp(indicator.updated_at),
                    "name": f.value.as_str(),
                    "pattern": pattern,
                    "pattern_type": "stix",
                    "pattern_version": "2.1",
                    "valid_from": timestamp(f.first_seen.unwrap_or(indicator.created_at)),
                    "object_marking_refs": [tlp_marking_id(f.tlp)],
                });
                if let Some(description) = &f.description {
                    object["description"] = json!(description.as_str());
                }
                if let Some(confidence) = f.confidence {
                    object["confidence"] = json!(confidence.get());
                }
                objects.push(object);
                id
            }
            None => {
                // A CVE is public; that this incident exploited it is what the relationship's marking guards.
                let id = stix_id("vulnerability", f.value.as_str());
                objects.push(json!({
                    "type": "vulnerability",
                    "spec_version": "2.1",
                    "id": id,
                    "created": PUBLIC_KNOWLEDGE_DATE,
                    "modified": PUBLIC_KNOWLEDGE_DATE,
                    "name": f.value.as_str(),
                    "external_references": [{"source_name": "cve", "external_id": f.value.as_str()}],
                    "object_marking_refs": [tlp_marking_id(Tlp::Clear)],
                }));
                id
            }
        };
        objects.push(relationship(&object_id, "related-to", &incident_id, at, f.tlp));
    }

    markings.sort();
    markings.dedup();
    objects.extend(markings.into_iter().map(tlp_marking));
    json!({"type": "bundle", "id": format!("bundle--{}", Uuid::new_v4()), "objects": objects})
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::indicator::{IndicatorFields, IndicatorValue};

    fn indicator(kind: IndicatorType, value: &str) -> Indicator {
        let at = Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap();
        Indicator {
            id: Uuid::now_v7(),
            incident_id: Uuid::now_v7(),
            fields: IndicatorFields {
                value: IndicatorValue::parse("value", kind, value).unwrap(),
                tlp: Tlp::Green,
                confidence: None,
                first_seen: None,
                last_seen: None,
                source: None,
                description: None,
            },
            created_at: at,
            updated_at: at,
            version: 1,
            created_by: "x".into(),
            updated_by: "x".into(),
        }
    }

    #[test]
    fn patterns_escape_what_the_pattern_language_would_read() {
        let key = indicator(IndicatorType::RegistryKey, "HKLM\\Software\\O'Brien");
        assert_eq!(
            pattern(&key).unwrap(),
            "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software\\\\O\\'Brien']"
        );
        let hash = indicator(IndicatorType::Sha256, &"A".repeat(64));
        assert_eq!(pattern(&hash).unwrap(), format!("[file:hashes.'SHA-256' = '{}']", "a".repeat(64)));
        let network = indicator(IndicatorType::Cidr, "2001:db8::/32");
        assert_eq!(pattern(&network).unwrap(), "[ipv6-addr:value = '2001:db8::/32']");
        assert_eq!(pattern(&indicator(IndicatorType::Cve, "CVE-2024-3400")), None);
    }

    #[test]
    fn ids_stand_for_the_same_thing_in_every_export() {
        assert_eq!(stix_id("attack-pattern", "T1566"), stix_id("attack-pattern", "T1566"));
        assert_ne!(stix_id("attack-pattern", "T1566"), stix_id("attack-pattern", "T1566.001"));
        let id = stix_id("indicator", "x");
        assert_eq!(Uuid::parse_str(id.trim_start_matches("indicator--")).unwrap().get_version_num(), 4);
    }
}
