//! What an incident did and why it happened: its impact, its root cause and how the attacker got in
//! (NIST SP 800-61's post-incident questions, and the sections of a complete incident report that answer
//! them). These types serialize as the API and the audit history show them, so both read the same.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use super::text::{LongText, ShortText};
use super::{FieldError, FieldErrors, Patch};

/// Counts and durations: whole, not negative, and small enough for every JSON reader (2^53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Count(i64);

impl Count {
    pub const MAX: i64 = 999_999_999_999_999;

    pub fn parse(field: &str, raw: i64) -> Result<Self, FieldError> {
        if !(0..=Self::MAX).contains(&raw) {
            return Err(FieldError::new(field, format!("must be a whole number from 0 to {}", Self::MAX)));
        }
        Ok(Self(raw))
    }

    pub(crate) fn from_stored(value: i64) -> Self {
        Self(value)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An amount of money in an ISO 4217 currency, held in the currency's minor units (cents), never as a
/// float: "12500.00" EUR is 1 250 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    minor_units: i64,
    currency: iso_currency::Currency,
    exponent: u32,
}

/// Money as clients send it and read it back: the amount as a decimal string, so no reader rounds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": "12500.00", "currency": "EUR"}))]
pub struct MoneyText {
    /// A decimal amount, not negative, with at most as many decimals as the currency has (2 for EUR,
    /// 0 for JPY, 3 for BHD, 4 for CLF): `"12500.00"`, `"12500"`.
    #[schema(pattern = "^[0-9]{1,15}(\\.[0-9]{1,4})?$", example = "12500.00")]
    pub amount: String,
    /// An ISO 4217 currency code with minor units, e.g. `EUR`, `USD`, `JPY`.
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
}

impl Money {
    pub fn parse(field: &str, raw: &MoneyText) -> Result<Self, FieldErrors> {
        let currency_field = format!("{field}.currency");
        let code = raw.currency.trim();
        let currency = iso_currency::Currency::from_code(code)
            .and_then(|currency| currency.exponent().map(|exponent| (currency, u32::from(exponent))));
        let Some((currency, exponent)) = currency else {
            return Err(FieldError::new(
                currency_field,
                "must be an ISO 4217 code of a currency with minor units, in capitals (e.g. EUR, USD, JPY)",
            )
            .into());
        };
        let minor_units = Self::minor_units_of(raw.amount.trim(), exponent)
            .ok_or_else(|| {
                FieldError::new(
                    format!("{field}.amount"),
                    format!(
                        "must be a decimal amount from 0 to {} with at most {exponent} decimals for {code} (e.g. \"12500{}\")",
                        Count::MAX / 10_i64.pow(exponent),
                        if exponent > 0 { format!(".{}", "0".repeat(exponent as usize)) } else { String::new() }
                    ),
                )
            })?;
        Ok(Self { minor_units, currency, exponent })
    }

    fn minor_units_of(amount: &str, exponent: u32) -> Option<i64> {
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let fraction_ok = !amount.contains('.') || (!fraction.is_empty() && fraction.len() <= exponent as usize);
        if whole.is_empty() || whole.len() > 15 || !digits(whole) || !digits(fraction) || !fraction_ok {
            return None;
        }
        let padded = format!("{whole}{fraction:0<width$}", width = exponent as usize);
        padded.parse::<i64>().ok().filter(|units| *units <= Count::MAX)
    }

    pub(crate) fn from_stored(minor_units: i64, code: &str) -> Option<Self> {
        let currency = iso_currency::Currency::from_code(code)?;
        Some(Self { minor_units, currency, exponent: u32::from(currency.exponent()?) })
    }

    pub fn minor_units(&self) -> i64 {
        self.minor_units
    }

    pub fn currency_code(&self) -> &'static str {
        self.currency.code()
    }

    /// The amount with all the currency's decimals: "12500.00".
    pub fn amount(&self) -> String {
        let scale = 10_i64.pow(self.exponent);
        let (whole, fraction) = (self.minor_units / scale, self.minor_units % scale);
        match self.exponent {
            0 => whole.to_string(),
            width => format!("{whole}.{fraction:0width$}", width = width as usize),
        }
    }

    pub fn to_text(&self) -> MoneyText {
        MoneyText { amount: self.amount(), currency: self.currency_code().to_owned() }
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_text().serialize(serializer)
    }
}

macro_rules! choice {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, ToSchema,
            strum::EnumString, strum::IntoStaticStr,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($variant),+ }
    };
}

choice! {
    /// What kind of thing an affected system is.
    SystemKind { Host, Application, Account, Dataset, Network, Device, CloudResource, Other }
}

choice! {
    /// A kind of data the incident exposed.
    DataCategory {
        Credentials, PersonalData, PaymentData, HealthData, FinancialData, SourceCode, IntellectualProperty, Other
    }
}

impl DataCategory {
    /// How many there are: a longer list repeats one.
    pub const COUNT: usize = 8;
}

choice! {
    /// Why it happened, in one word.
    RootCauseCategory { Vulnerability, Misconfiguration, HumanError, ProcessGap, ThirdParty, Unknown }
}

choice! {
    /// How the attacker got in: the attack vectors of NIST SP 800-61 rev. 2, section 3.2.1.
    AttackVector { ExternalMedia, Attrition, Web, Email, Impersonation, ImproperUsage, LossOrTheft, Other }
}

/// A service, system, account or dataset the incident touched, and its part in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AffectedSystem {
    #[schema(value_type = String, example = "sso.example.com")]
    pub name: ShortText,
    pub kind: SystemKind,
    /// Its part in the incident, e.g. "impersonated by the phishing page".
    #[schema(value_type = Option<String>)]
    pub role: Option<ShortText>,
}

/// Whom the incident had to be reported to, and by when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Notification {
    /// A notification was owed to a regulator (e.g. a data protection authority).
    pub regulator: bool,
    /// A notification was owed to customers or the people affected.
    pub customers: bool,
    pub deadline: Option<DateTime<Utc>>,
}

impl Notification {
    pub fn new(
        field: &str,
        regulator: bool,
        customers: bool,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Self, FieldError> {
        if deadline.is_some() && !regulator && !customers {
            return Err(FieldError::new(
                format!("{field}.deadline"),
                "needs a notification owed to the regulator or to customers",
            ));
        }
        Ok(Self { regulator, customers, deadline })
    }
}

/// What the incident cost the organisation. Every member may be unknown (null or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Impact {
    /// What the business could not do, or lost.
    #[schema(value_type = Option<String>)]
    pub business_impact: Option<LongText>,
    pub affected_systems: Vec<AffectedSystem>,
    /// The kinds of data exposed, each once, in a fixed order.
    pub data_exposed: Vec<DataCategory>,
    /// How many records were exposed; null when unknown.
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub records_exposed: Option<Count>,
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub downtime_minutes: Option<Count>,
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub people_affected: Option<Count>,
    #[schema(value_type = Option<MoneyText>)]
    pub cost: Option<Money>,
    pub notification: Option<Notification>,
}

/// Why the incident happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RootCause {
    #[schema(value_type = Option<String>)]
    pub description: Option<LongText>,
    pub category: Option<RootCauseCategory>,
    /// What made it possible or worse, besides the root cause.
    #[schema(value_type = Vec<String>)]
    pub contributing_factors: Vec<ShortText>,
}

/// A MITRE ATT&CK technique or sub-technique id: `T1566`, `T1566.001`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TechniqueId(String);

impl TechniqueId {
    pub const PATTERN: &str = "^T[0-9]{4}(\\.[0-9]{3})?$";

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
        let valid = match bytes.len() {
            5 => bytes[0] == b'T' && digits(1..5),
            9 => bytes[0] == b'T' && digits(1..5) && bytes[5] == b'.' && digits(6..9),
            _ => false,
        };
        if !valid {
            return Err(FieldError::new(field, "must be a MITRE ATT&CK technique id such as T1566 or T1566.001"));
        }
        Ok(Self(value))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An attack technique seen in the incident, with what the team saw of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Technique {
    #[schema(value_type = String, pattern = "^T[0-9]{4}(\\.[0-9]{3})?$", example = "T1566.002")]
    pub id: TechniqueId,
    #[schema(value_type = Option<String>)]
    pub note: Option<ShortText>,
}

/// How the attacker got in and what they did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attack {
    pub vector: Option<AttackVector>,
    pub techniques: Vec<Technique>,
}

/// The most items each list holds: enough for any real incident, and no incident with a million.
pub const MAX_AFFECTED_SYSTEMS: usize = 100;
pub const MAX_CONTRIBUTING_FACTORS: usize = 20;
pub const MAX_TECHNIQUES: usize = 50;

pub fn limit<T>(field: &str, items: Vec<T>, max: usize) -> Result<Vec<T>, FieldError> {
    if items.len() > max {
        return Err(FieldError::new(field, format!("must have at most {max} items (got {})", items.len())));
    }
    Ok(items)
}

/// Techniques each once: a second entry for an id is a mistake the client should hear about.
pub fn distinct_techniques(field: &str, techniques: Vec<Technique>) -> Result<Vec<Technique>, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, technique) in techniques.iter().enumerate() {
        if !seen.insert(technique.id.as_str()) {
            errors.push(FieldError::new(format!("{field}[{i}].id"), "is listed twice"));
        }
    }
    errors.into_result().map(|()| techniques)
}

/// A merge-patch of the impact: members left out keep their value, `null` clears one; lists and the two
/// small objects (`cost`, `notification`) are replaced whole.
#[derive(Debug, Clone, Default)]
pub struct ImpactPatch {
    pub business_impact: Patch<LongText>,
    pub affected_systems: Patch<Vec<AffectedSystem>>,
    pub data_exposed: Patch<Vec<DataCategory>>,
    pub records_exposed: Patch<Count>,
    pub downtime_minutes: Patch<Count>,
    pub people_affected: Patch<Count>,
    pub cost: Patch<Money>,
    pub notification: Patch<Notification>,
}

#[derive(Debug, Clone, Default)]
pub struct RootCausePatch {
    pub description: Patch<LongText>,
    pub category: Patch<RootCauseCategory>,
    pub contributing_factors: Patch<Vec<ShortText>>,
}

#[derive(Debug, Clone, Default)]
pub struct AttackPatch {
    pub vector: Patch<AttackVector>,
    pub techniques: Patch<Vec<Technique>>,
}

fn list<T>(patch: Patch<Vec<T>>, current: Vec<T>) -> Vec<T> {
    patch.apply_to(Some(current)).unwrap_or_default()
}

/// A group patched as a whole: `null` clears every member, an object is merged member by member.
pub fn apply_group<T: Default, P>(patch: Patch<P>, current: T, merge: impl FnOnce(P, T) -> T) -> T {
    match patch {
        Patch::Absent => current,
        Patch::Null => T::default(),
        Patch::Value(patch) => merge(patch, current),
    }
}

impl ImpactPatch {
    pub fn apply(self, current: Impact) -> Impact {
        let mut data_exposed = list(self.data_exposed, current.data_exposed);
        data_exposed.sort();
        data_exposed.dedup();
        Impact {
            business_impact: self.business_impact.apply_to(current.business_impact),
            affected_systems: list(self.affected_systems, current.affected_systems),
            data_exposed,
            records_exposed: self.records_exposed.apply_to(current.records_exposed),
            downtime_minutes: self.downtime_minutes.apply_to(current.downtime_minutes),
            people_affected: self.people_affected.apply_to(current.people_affected),
            cost: self.cost.apply_to(current.cost),
            notification: self.notification.apply_to(current.notification),
        }
    }
}

impl RootCausePatch {
    pub fn apply(self, current: RootCause) -> RootCause {
        RootCause {
            description: self.description.apply_to(current.description),
            category: self.category.apply_to(current.category),
            contributing_factors: list(self.contributing_factors, current.contributing_factors),
        }
    }
}

impl AttackPatch {
    pub fn apply(self, current: Attack) -> Attack {
        Attack { vector: self.vector.apply_to(current.vector), techniques: list(self.techniques, current.techniques) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount: &str, currency: &str) -> Result<Money, FieldErrors> {
        Money::parse("cost", &MoneyText { amount: amount.into(), currency: currency.into() })
    }

    fn field_of(errors: FieldErrors) -> String {
        errors.iter().next().unwrap().field.clone()
    }

    #[test]
    fn money_keeps_the_currency_s_minor_units_and_never_rounds() {
        let eur = money("12500.5", "EUR").unwrap();
        assert_eq!((eur.minor_units(), eur.amount().as_str(), eur.currency_code()), (1_250_050, "12500.50", "EUR"));
        assert_eq!(money("1500", "JPY").unwrap().amount(), "1500");
        assert_eq!(money("1.234", "BHD").unwrap().minor_units(), 1234);
        assert_eq!(field_of(money("1.234", "EUR").unwrap_err()), "cost.amount", "a third decimal of a cent");
        assert_eq!(field_of(money("1.5", "JPY").unwrap_err()), "cost.amount");
        for bad in ["-1", "1e3", "1,000", "", ".5", "5.", "0x10", "1 000", "9999999999999999"] {
            assert_eq!(field_of(money(bad, "USD").unwrap_err()), "cost.amount", "{bad:?}");
        }
        for bad in ["EURO", "eur", "XXX", "XAU", "ABC", ""] {
            assert_eq!(field_of(money("1", bad).unwrap_err()), "cost.currency", "{bad:?}");
        }
    }

    #[test]
    fn technique_ids_are_att_ck_s_format_in_capitals() {
        assert_eq!(TechniqueId::parse("id", " t1566.001 ").unwrap().as_str(), "T1566.001");
        assert_eq!(TechniqueId::parse("id", "T1078").unwrap().as_str(), "T1078");
        for bad in ["T156", "T15660", "T1566.01", "T1566.0011", "1566", "TA0001", "T1566-001", "", "T１５６６"] {
            assert!(TechniqueId::parse("id", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counts_are_whole_and_not_negative() {
        assert!(Count::parse("downtime_minutes", 0).is_ok());
        assert_eq!(Count::parse("downtime_minutes", -1).unwrap_err().field, "downtime_minutes");
        assert!(Count::parse("records_exposed", Count::MAX + 1).is_err());
    }

    #[test]
    fn a_notification_deadline_needs_someone_to_notify() {
        let at = Some(Utc::now());
        assert_eq!(Notification::new("n", false, false, at).unwrap_err().field, "n.deadline");
        assert!(Notification::new("n", true, false, at).is_ok());
        assert!(Notification::new("n", false, false, None).is_ok(), "assessed: nobody had to be told");
    }

    #[test]
    fn a_patch_merges_members_and_null_clears_the_group() {
        let cost = money("100", "EUR").unwrap();
        let current = Impact { downtime_minutes: Some(Count(30)), cost: Some(cost), ..Impact::default() };
        let patch = ImpactPatch {
            downtime_minutes: Patch::Value(Count(45)),
            data_exposed: Patch::Value(vec![
                DataCategory::PersonalData,
                DataCategory::Credentials,
                DataCategory::Credentials,
            ]),
            ..ImpactPatch::default()
        };
        let merged = apply_group(Patch::Value(patch), current.clone(), ImpactPatch::apply);
        assert_eq!(merged.downtime_minutes, Some(Count(45)));
        assert_eq!(merged.cost, Some(cost), "left out, kept");
        assert_eq!(merged.data_exposed, vec![DataCategory::Credentials, DataCategory::PersonalData]);
        assert_eq!(apply_group(Patch::<ImpactPatch>::Null, current, ImpactPatch::apply), Impact::default());
    }
}
