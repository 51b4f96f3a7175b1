//! The v11 JSON as PTV's open API writes it (see `WIRE.md`), and its mapping into the plain
//! [`Service`] and [`Channel`] the gateway stores. Only what the gateway uses is modelled; unknown
//! fields are ignored, and a list PTV leaves out or writes as `null` reads as empty.

use crate::{Address, Channel, ChannelRef, Localized, OpeningTime, Phone, Service, ServiceHour, LANGUAGES};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

fn nullable<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// `V11VmOpenApiServicesWithPaging` (and every `…WithPaging`): page numbers start from one.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicesPage {
    pub page_number: u32,
    pub page_count: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub item_list: Vec<WireService>,
}

/// `VmOpenApiLocalizedListItem`: `type` tells a name from an alternative name, a summary from a description.
#[derive(Debug, Deserialize)]
pub struct LocalizedItem {
    pub language: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// `VmOpenApiLanguageItem`.
#[derive(Debug, Deserialize)]
pub struct LanguageItem {
    pub language: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// `VmOpenApiItem`: an id and a name in one language.
#[derive(Debug, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `V11VmOpenApiServiceServiceChannel`: the connection, with the channel as an item.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceServiceChannel {
    pub service_channel: Item,
}

/// `V11VmOpenApiService`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireService {
    pub id: String,
    #[serde(rename = "type", default)]
    pub service_type: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub service_names: Vec<LocalizedItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub service_descriptions: Vec<LocalizedItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub languages: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub service_channels: Vec<ServiceServiceChannel>,
    #[serde(default)]
    pub publishing_status: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
}

/// `V4VmOpenApiPhone` / `V4VmOpenApiPhoneWithType`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePhone {
    pub number: String,
    pub language: String,
    #[serde(default)]
    pub prefix_number: Option<String>,
    #[serde(default)]
    pub is_finnish_service_number: Option<bool>,
    #[serde(default)]
    pub additional_information: Option<String>,
    /// Phone, Sms or Fax (typed lists only).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// `V9VmOpenApiWebPage`.
#[derive(Debug, Deserialize)]
pub struct WireWebPage {
    pub url: String,
    pub language: String,
}

/// `V9VmOpenApiAddressStreet`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreetAddress {
    #[serde(default, deserialize_with = "nullable")]
    pub street: Vec<LanguageItem>,
    #[serde(default)]
    pub street_number: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub post_office: Vec<LanguageItem>,
}

/// `V9VmOpenApiAddressLocation`: `type` Location (visiting) or Postal, `subType` Single/Street,
/// PostOfficeBox, Abroad, Other…; only street addresses are modelled.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAddress {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub street_address: Option<StreetAddress>,
}

/// `V8VmOpenApiDailyOpeningTime`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireOpeningTime {
    pub day_from: String,
    #[serde(default)]
    pub day_to: Option<String>,
    pub from: String,
    pub to: String,
}

/// `V11VmOpenApiServiceHour`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireServiceHour {
    pub service_hour_type: String,
    #[serde(default)]
    pub is_closed: Option<bool>,
    #[serde(default)]
    pub is_always_open: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub additional_information: Vec<LanguageItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub opening_hour: Vec<WireOpeningTime>,
}

/// The fields of the five channel types (`V11VmOpenApiElectronicChannel`, `…PhoneChannel`,
/// `…ServiceLocationChannel`, `…WebPageChannel`, `…PrintableFormChannel`) the gateway uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireChannel {
    pub id: String,
    pub service_channel_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub service_channel_names: Vec<LocalizedItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub service_channel_descriptions: Vec<LocalizedItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub web_pages: Vec<WireWebPage>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone_numbers: Vec<WirePhone>,
    #[serde(default, deserialize_with = "nullable")]
    pub support_phones: Vec<WirePhone>,
    #[serde(default, deserialize_with = "nullable")]
    pub support_emails: Vec<LanguageItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<WireAddress>,
    #[serde(default, deserialize_with = "nullable")]
    pub service_hours: Vec<WireServiceHour>,
    #[serde(default)]
    pub publishing_status: Option<String>,
    #[serde(default)]
    pub modified: Option<String>,
}

fn ours(language: &str) -> bool {
    LANGUAGES.contains(&language)
}

/// The first non-empty value per language of items of `kind` (PTV's own `type` names).
fn localized(items: &[LocalizedItem], kind: &str) -> Localized {
    let mut out = BTreeMap::new();
    for item in items {
        let value = item.value.as_deref().map(str::trim).unwrap_or("");
        if ours(&item.language) && !value.is_empty() && item.kind.as_deref().unwrap_or(kind) == kind {
            out.entry(item.language.clone()).or_insert_with(|| value.to_owned());
        }
    }
    out
}

fn language_items(items: &[LanguageItem]) -> Localized {
    let mut out = BTreeMap::new();
    for item in items {
        let value = item.value.as_deref().map(str::trim).unwrap_or("");
        if ours(&item.language) && !value.is_empty() {
            out.entry(item.language.clone()).or_insert_with(|| value.to_owned());
        }
    }
    out
}

/// A published service is one the catalogue shows (absent status: the list only returns published ones).
fn published(status: Option<&str>) -> bool {
    status.is_none_or(|s| s == "Published")
}

impl WireService {
    /// None for a service that is not published.
    pub fn into_service(self) -> Option<Service> {
        if !published(self.publishing_status.as_deref()) {
            return None;
        }
        // The display name is `Name`; an `AlternativeName` only where no `Name` is given.
        let mut names = localized(&self.service_names, "Name");
        for (language, name) in localized(&self.service_names, "AlternativeName") {
            names.entry(language).or_insert(name);
        }
        let mut channels: Vec<ChannelRef> = Vec::new();
        for c in self.service_channels {
            if !channels.iter().any(|known| known.id == c.service_channel.id) {
                channels.push(ChannelRef {
                    id: c.service_channel.id,
                    name: c.service_channel.name,
                });
            }
        }
        Some(Service {
            id: self.id,
            service_type: self.service_type,
            names,
            summaries: localized(&self.service_descriptions, "Summary"),
            descriptions: localized(&self.service_descriptions, "Description"),
            languages: self.languages.into_iter().filter(|l| ours(l)).collect(),
            channels,
            modified: self.modified,
        })
    }
}

fn phone(p: WirePhone) -> Option<Phone> {
    if !ours(&p.language) || p.kind.as_deref() == Some("Fax") {
        return None;
    }
    let local = p.number.trim();
    if local.is_empty() {
        return None;
    }
    // A Finnish service number (e.g. 0295 …) is dialled as written; others get their prefix.
    let number = match p.prefix_number.as_deref().map(str::trim) {
        Some(prefix) if !prefix.is_empty() && p.is_finnish_service_number != Some(true) => {
            format!("{prefix} {}", local.trim_start_matches('0'))
        }
        _ => local.to_owned(),
    };
    Some(Phone {
        language: p.language,
        number,
        sms: p.kind.as_deref() == Some("Sms"),
        info: p.additional_information.filter(|i| !i.trim().is_empty()),
    })
}

fn address(a: WireAddress) -> Option<Address> {
    let street = a.street_address?;
    let streets = language_items(&street.street);
    let offices = language_items(&street.post_office);
    let mut text = BTreeMap::new();
    for language in LANGUAGES {
        let Some(name) = streets.get(language).or_else(|| streets.get("fi")) else {
            continue;
        };
        let office = offices.get(language).or_else(|| offices.get("fi"));
        let mut line = name.clone();
        if let Some(n) = street.street_number.as_deref().filter(|n| !n.is_empty()) {
            line.push(' ');
            line.push_str(n);
        }
        let town: Vec<&str> = [street.postal_code.as_deref(), office.map(String::as_str)]
            .into_iter()
            .flatten()
            .collect();
        if !town.is_empty() {
            line.push_str(", ");
            line.push_str(&town.join(" "));
        }
        text.insert(language.to_owned(), line);
    }
    if text.is_empty() {
        return None;
    }
    Some(Address {
        postal: a.kind.as_deref() == Some("Postal"),
        text,
        postal_code: street.postal_code,
    })
}

fn service_hour(h: WireServiceHour) -> ServiceHour {
    ServiceHour {
        kind: h.service_hour_type,
        closed: h.is_closed.unwrap_or(false),
        always_open: h.is_always_open.unwrap_or(false),
        opening: h
            .opening_hour
            .into_iter()
            .map(|o| OpeningTime {
                day_from: o.day_from,
                day_to: o.day_to,
                from: o.from,
                to: o.to,
            })
            .collect(),
        info: language_items(&h.additional_information),
    }
}

impl WireChannel {
    /// None for a channel that is not published.
    pub fn into_channel(self) -> Option<Channel> {
        if !published(self.publishing_status.as_deref()) {
            return None;
        }
        let mut names = localized(&self.service_channel_names, "Name");
        for (language, name) in localized(&self.service_channel_names, "AlternativeName") {
            names.entry(language).or_insert(name);
        }
        let mut urls: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for page in self.web_pages {
            if ours(&page.language) && !page.url.trim().is_empty() {
                urls.entry(page.language).or_default().push(page.url.trim().to_owned());
            }
        }
        let mut emails: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for email in self.support_emails {
            if let Some(value) = email.value.filter(|v| ours(&email.language) && !v.trim().is_empty()) {
                emails.entry(email.language).or_default().push(value.trim().to_owned());
            }
        }
        Some(Channel {
            id: self.id,
            channel_type: self.service_channel_type,
            names,
            summaries: localized(&self.service_channel_descriptions, "Summary"),
            descriptions: localized(&self.service_channel_descriptions, "Description"),
            urls,
            phones: self
                .phone_numbers
                .into_iter()
                .chain(self.support_phones)
                .filter_map(phone)
                .collect(),
            emails,
            addresses: self.addresses.into_iter().filter_map(address).collect(),
            service_hours: self.service_hours.into_iter().map(service_hour).collect(),
            modified: self.modified,
        })
    }
}
