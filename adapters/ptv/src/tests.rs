//! The mapping on JSON shaped like PTV's v11 answers (field names and nesting as in `WIRE.md`).

use super::wire::{ServicesPage as WirePage, WireChannel};
use super::*;

const PAGE: &str = r#"{
  "pageNumber": 1, "pageSize": 2, "pageCount": 3,
  "itemList": [
    {
      "id": "2d5a3c8e-0f3b-4b8e-9a55-6a1e5b0f8853",
      "sourceId": null,
      "type": "Service",
      "fundingType": "PubliclyFunded",
      "serviceNames": [
        {"language": "fi", "value": "Kotihoito", "type": "Name"},
        {"language": "sv", "value": "Hemvård", "type": "Name"},
        {"language": "sv", "value": "Hemservice", "type": "AlternativeName"},
        {"language": "en", "value": "Home care", "type": "AlternativeName"},
        {"language": "se", "value": "Ruoktofuolahus", "type": "Name"}
      ],
      "serviceDescriptions": [
        {"language": "fi", "value": "Apua kotona asumiseen.", "type": "Summary"},
        {"language": "fi", "value": "Kotihoito tukee ikäihmisten kotona asumista.", "type": "Description"},
        {"language": "sv", "value": "Hjälp med boende hemma.", "type": "Summary"},
        {"language": "fi", "value": "Hakemus käsitellään kahdessa viikossa.", "type": "ProcessingTime"}
      ],
      "languages": ["fi", "sv"],
      "areas": [{"type": "Municipality", "code": "853", "name": [{"language": "fi", "value": "Turku"}]}],
      "serviceClasses": [{"name": [{"language": "fi", "value": "Ikääntyneiden palvelut"}], "code": "P3.2", "ontologyType": "PTVL", "uri": "http://urn.fi/URN:NBN:fi:au:ptvl:v1066", "parentId": null, "parentUri": null, "description": []}],
      "targetGroups": [{"name": [{"language": "fi", "value": "Ikäihmiset"}], "code": "KR1.1"}],
      "serviceChannels": [
        {"serviceChargeType": null, "description": [], "serviceHours": [], "contactDetails": null,
         "serviceChannel": {"id": "6b7f1d8a-3c2e-4f5a-8b9c-0d1e2f3a4b5c", "name": "Kotihoidon neuvonta"}, "extraTypes": []},
        {"serviceChannel": {"id": "6b7f1d8a-3c2e-4f5a-8b9c-0d1e2f3a4b5c", "name": "Kotihoidon neuvonta"}}
      ],
      "organizations": [],
      "publishingStatus": "Published",
      "modified": "2026-10-01T08:12:30.123"
    },
    {
      "id": "9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      "serviceNames": [{"language": "fi", "value": "Luonnos", "type": "Name"}],
      "serviceDescriptions": null,
      "serviceChannels": null,
      "publishingStatus": "Draft"
    }
  ]
}"#;

#[test]
fn a_services_page_maps_names_descriptions_and_channels() {
    let page: WirePage = serde_json::from_str(PAGE).unwrap();
    assert_eq!((page.page_number, page.page_count), (1, 3));
    let services: Vec<Service> = page.item_list.into_iter().filter_map(|s| s.into_service()).collect();
    assert_eq!(services.len(), 1, "the draft is left out");
    let s = &services[0];
    assert_eq!(s.names["fi"], "Kotihoito");
    assert_eq!(s.names["sv"], "Hemvård", "a Name wins over an AlternativeName");
    assert_eq!(s.names["en"], "Home care", "an AlternativeName where no Name is given");
    assert!(!s.names.contains_key("se"), "only fi, sv and en are kept");
    assert_eq!(s.summaries["fi"], "Apua kotona asumiseen.");
    assert_eq!(s.summaries["sv"], "Hjälp med boende hemma.");
    assert_eq!(s.descriptions.len(), 1);
    assert_eq!(s.channels.len(), 1, "a channel linked twice is one channel");
    assert_eq!(s.channels[0].id, "6b7f1d8a-3c2e-4f5a-8b9c-0d1e2f3a4b5c");
    assert_eq!(s.modified.as_deref(), Some("2026-10-01T08:12:30.123"));
    assert_eq!(s.service_type.as_deref(), Some("Service"));
}

#[test]
fn a_page_without_an_item_list_is_empty_and_a_service_without_an_id_is_refused() {
    let page: WirePage =
        serde_json::from_str(r#"{"pageNumber":4,"pageSize":2,"pageCount":3,"itemList":null}"#).unwrap();
    assert!(page.item_list.is_empty());
    let missing_id = r#"{"pageNumber":1,"pageSize":2,"pageCount":1,"itemList":[{"serviceNames":[]}]}"#;
    assert!(serde_json::from_str::<WirePage>(missing_id).is_err());
    let no_page_count = r#"{"pageNumber":1,"pageSize":2,"itemList":[]}"#;
    assert!(serde_json::from_str::<WirePage>(no_page_count).is_err());
}

const CHANNELS: &str = r#"[
  {
    "id": "6b7f1d8a-3c2e-4f5a-8b9c-0d1e2f3a4b5c",
    "serviceChannelType": "Phone",
    "organizationId": "7b7f1d8a-3c2e-4f5a-8b9c-0d1e2f3a4b5c",
    "serviceChannelNames": [{"language": "fi", "value": "Kotihoidon neuvonta", "type": "Name"},
                            {"language": "sv", "value": "Rådgivning i hemvård", "type": "Name"}],
    "serviceChannelDescriptions": [{"language": "fi", "value": "Soita arkisin.", "type": "Summary"}],
    "phoneNumbers": [
      {"number": "02 262 6171", "prefixNumber": "+358", "isFinnishServiceNumber": false, "language": "fi",
       "type": "Phone", "serviceChargeType": "Chargeable", "chargeDescription": "pvm/mpm", "additionalInformation": "Neuvonta"},
      {"number": "0295 000 000", "prefixNumber": null, "isFinnishServiceNumber": true, "language": "sv", "type": "Phone"},
      {"number": "02 262 0000", "prefixNumber": "+358", "language": "fi", "type": "Fax"}
    ],
    "supportEmails": [{"language": "fi", "value": "kotihoito@turku.example"}],
    "webPages": [],
    "serviceHours": [{
      "serviceHourType": "DaysOfTheWeek", "validFrom": null, "validTo": null, "isClosed": false,
      "validForNow": true, "isAlwaysOpen": false, "isReservation": false,
      "additionalInformation": [{"language": "fi", "value": "Arkipyhinä suljettu"}],
      "openingHour": [{"dayFrom": "Monday", "dayTo": "Friday", "from": "08:00:00", "to": "16:00:00", "isExtra": false}]
    }],
    "publishingStatus": "Published",
    "modified": "2026-09-30T10:00:00"
  },
  {
    "id": "8c1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
    "serviceChannelType": "ServiceLocation",
    "serviceChannelNames": [{"language": "fi", "value": "Palvelutori", "type": "Name"}],
    "addresses": [{
      "type": "Location", "subType": "Single", "country": "FI",
      "streetAddress": {
        "street": [{"language": "fi", "value": "Puolalankatu"}, {"language": "sv", "value": "Puolalagatan"}],
        "streetNumber": "5", "postalCode": "20100",
        "postOffice": [{"language": "fi", "value": "TURKU"}, {"language": "sv", "value": "ÅBO"}],
        "municipality": {"code": "853", "name": [{"language": "fi", "value": "Turku"}]},
        "latitude": "6704000", "longitude": "239000"
      }
    }, {"type": "Postal", "subType": "PostOfficeBox", "postOfficeBoxAddress": {"postOfficeBox": [{"language": "fi", "value": "PL 355"}]}}],
    "webPages": null,
    "serviceHours": null
  },
  {
    "id": "9d2f3a4b-5c6d-4e7f-8091-a2b3c4d5e6f7",
    "serviceChannelType": "EChannel",
    "serviceChannelNames": [{"language": "fi", "value": "Omaishoidon tuen hakemus", "type": "Name"}],
    "webPages": [{"url": "https://asiointi.turku.example/omaishoito", "value": null, "language": "fi"},
                 {"url": "https://asiointi.turku.example/sv/narstaende", "value": null, "language": "sv"}],
    "publishingStatus": "Published"
  }
]"#;

#[test]
fn channels_map_phones_addresses_hours_and_web_pages() {
    let wire: Vec<WireChannel> = serde_json::from_str(CHANNELS).unwrap();
    let channels: Vec<Channel> = wire.into_iter().filter_map(|c| c.into_channel()).collect();
    let phone = &channels[0];
    assert_eq!(phone.channel_type, "Phone");
    assert_eq!(phone.names["sv"], "Rådgivning i hemvård");
    assert_eq!(phone.phones.len(), 2, "fax numbers are not phones");
    assert_eq!(phone.phones[0].number, "+358 2 262 6171");
    assert_eq!(phone.phones[0].info.as_deref(), Some("Neuvonta"));
    assert_eq!(
        phone.phones[1].number, "0295 000 000",
        "a service number is dialled as written"
    );
    assert_eq!(phone.emails["fi"], vec!["kotihoito@turku.example".to_string()]);
    let hours = &phone.service_hours[0];
    assert_eq!(hours.kind, "DaysOfTheWeek");
    assert_eq!(hours.opening[0].day_to.as_deref(), Some("Friday"));
    assert_eq!(hours.info["fi"], "Arkipyhinä suljettu");

    let place = &channels[1];
    assert_eq!(place.addresses.len(), 1, "only street addresses are modelled");
    assert_eq!(place.addresses[0].text["fi"], "Puolalankatu 5, 20100 TURKU");
    assert_eq!(place.addresses[0].text["sv"], "Puolalagatan 5, 20100 ÅBO");
    assert!(!place.addresses[0].postal);
    assert!(place.urls.is_empty() && place.service_hours.is_empty());

    let e = &channels[2];
    assert_eq!(
        e.urls["sv"],
        vec!["https://asiointi.turku.example/sv/narstaende".to_string()]
    );
}

#[test]
fn a_channel_without_its_type_is_refused() {
    assert!(serde_json::from_str::<Vec<WireChannel>>(r#"[{"id": "6b7f1d8a-3c2e-4f5a-8b9c-0d1e2f3a4b5c"}]"#).is_err());
}

#[test]
fn ptv_error_bodies_become_short_reasons() {
    assert_eq!(
        error_detail(br#"{"errorMessage": "Municipality with code '999' not found."}"#),
        "Municipality with code '999' not found."
    );
    assert_eq!(
        error_detail(br#"{"page": ["The page number cannot be negative value."]}"#),
        "page: The page number cannot be negative value."
    );
    assert_eq!(error_detail(b"<html>"), "");
}

#[test]
fn ids_and_codes_are_checked_before_asking() {
    assert!(is_guid("6b7f1d8a-3c2e-4f5a-8b9c-0d1e2f3a4b5c"));
    assert!(!is_guid("6b7f1d8a3c2e4f5a8b9c0d1e2f3a4b5c"));
    assert!(!is_guid("6b7f1d8a-3c2e-4f5a-8b9c-0d1e2f3a4b5g"));
    assert!(is_municipality_code("853"));
    assert!(!is_municipality_code("91") && !is_municipality_code("85a"));
}

#[tokio::test]
async fn bad_input_is_refused_without_a_request() {
    let ptv = Ptv::new(PtvConfig {
        base_url: "http://127.0.0.1:9".into(),
        http: HttpClientConfig::default(),
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    let e = ptv.services_page("Turku", 1, deadline).await.unwrap_err();
    assert!(matches!(e, AdapterError::Permanent(_)), "{e}");
    let e = ptv.services_page("853", 0, deadline).await.unwrap_err();
    assert!(matches!(e, AdapterError::Permanent(_)), "{e}");
    let e = ptv.channels(&["x".into()], deadline).await.unwrap_err();
    assert!(matches!(e, AdapterError::Permanent(_)), "{e}");
    assert!(Ptv::new(PtvConfig {
        base_url: "ftp://example".into(),
        http: HttpClientConfig::default()
    })
    .is_err());
}
