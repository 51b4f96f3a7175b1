//! The sandbox catalogue: services for older people in Turku (853), Kaarina (202) and Salo (734),
//! in Finnish and Swedish (some in English), one national service in all three, one service in
//! Finnish only; their phone, service location and e-service channels. Made up in PTV's v11 shape,
//! not copied from the real catalogue.

use serde_json::{json, Value};

/// `xxxxxxxx-…` ids that show their municipality: `00000853-0000-4000-8000-000000000001`.
pub fn service_id(municipality: &str, n: u32) -> String {
    format!("00000{municipality}-0000-4000-8000-{n:012}")
}

pub fn channel_id(municipality: &str, n: u32) -> String {
    format!("00000{municipality}-c0a1-4000-8000-{n:012}")
}

fn items(kind: &str, texts: &[(&str, &str)]) -> Vec<Value> {
    (texts.iter())
        .map(|(language, value)| json!({"language": language, "value": value, "type": kind}))
        .collect()
}

/// A published service in the v11 shape (`V11VmOpenApiService`), linked to `channels` (id, name).
pub fn service(
    id: &str,
    names: &[(&str, &str)],
    summaries: &[(&str, &str)],
    descriptions: &[(&str, &str)],
    channels: &[(&str, &str)],
) -> Value {
    let mut text = items("Summary", summaries);
    text.extend(items("Description", descriptions));
    let languages: Vec<&str> = names.iter().map(|(l, _)| *l).collect();
    json!({
        "id": id,
        "sourceId": null,
        "type": "Service",
        "fundingType": "PubliclyFunded",
        "serviceNames": items("Name", names),
        "serviceChargeType": null,
        "areaType": "LimitedType",
        "serviceDescriptions": text,
        "languages": languages,
        "legislation": [],
        "keywords": [],
        "requirements": [],
        "serviceVouchersInUse": false,
        "serviceVouchers": [],
        "targetGroups": [{"name": [{"language": "fi", "value": "Ikäihmiset"}, {"language": "sv", "value": "Äldre"}],
                          "code": "KR1.1", "ontologyType": "PTVL", "uri": "http://urn.fi/URN:NBN:fi:au:ptvl:v2000", "parentId": null, "parentUri": null}],
        "serviceChannels": channels.iter().map(|(id, name)| json!({
            "serviceChargeType": null, "description": [], "serviceHours": [], "contactDetails": null,
            "serviceChannel": {"id": id, "name": name}, "extraTypes": []
        })).collect::<Vec<_>>(),
        "organizations": [],
        "publishingStatus": "Published",
        "modified": "2026-10-01T08:00:00"
    })
}

fn phone_channel(id: &str, names: &[(&str, &str)], number: &str, info: &str) -> Value {
    json!({
        "id": id,
        "serviceChannelType": "Phone",
        "serviceChannelNames": items("Name", names),
        "serviceChannelDescriptions": items("Summary", &[("fi", "Neuvontaa puhelimitse arkisin."), ("sv", "Rådgivning per telefon på vardagar.")]),
        "languages": ["fi", "sv"],
        "phoneNumbers": [
            {"number": number, "prefixNumber": "+358", "isFinnishServiceNumber": false, "language": "fi", "type": "Phone",
             "serviceChargeType": "Chargeable", "chargeDescription": "", "additionalInformation": info},
            {"number": number, "prefixNumber": "+358", "isFinnishServiceNumber": false, "language": "sv", "type": "Phone",
             "serviceChargeType": "Chargeable", "chargeDescription": "", "additionalInformation": null}
        ],
        "supportEmails": [],
        "webPages": [],
        "serviceHours": [hours("08:00:00", "16:00:00")],
        "publishingStatus": "Published",
        "modified": "2026-09-01T08:00:00"
    })
}

fn hours(from: &str, to: &str) -> Value {
    json!({
        "serviceHourType": "DaysOfTheWeek", "validFrom": null, "validTo": null, "isClosed": false, "validForNow": true,
        "isAlwaysOpen": false, "isReservation": false, "additionalInformation": [],
        "openingHour": [{"dayFrom": "Monday", "dayTo": "Friday", "from": from, "to": to, "isExtra": false}]
    })
}

fn location_channel(
    id: &str,
    names: &[(&str, &str)],
    street: &[(&str, &str)],
    number: &str,
    postal: &str,
    office: &[(&str, &str)],
) -> Value {
    let language_items =
        |t: &[(&str, &str)]| -> Vec<Value> { t.iter().map(|(l, v)| json!({"language": l, "value": v})).collect() };
    json!({
        "id": id,
        "serviceChannelType": "ServiceLocation",
        "serviceChannelNames": items("Name", names),
        "serviceChannelDescriptions": [],
        "languages": ["fi", "sv"],
        "addresses": [{
            "type": "Location", "subType": "Single", "country": "FI",
            "streetAddress": {"street": language_items(street), "streetNumber": number, "postalCode": postal,
                              "postOffice": language_items(office), "additionalInformation": [], "latitude": null, "longitude": null}
        }],
        "phoneNumbers": [],
        "webPages": [],
        "serviceHours": [hours("09:00:00", "15:00:00")],
        "publishingStatus": "Published",
        "modified": "2026-09-01T08:00:00"
    })
}

fn echannel(id: &str, names: &[(&str, &str)], urls: &[(&str, &str)]) -> Value {
    json!({
        "id": id,
        "serviceChannelType": "EChannel",
        "serviceChannelNames": items("Name", names),
        "serviceChannelDescriptions": [],
        "languages": ["fi", "sv"],
        "webPages": urls.iter().map(|(l, u)| json!({"url": u, "value": null, "language": l})).collect::<Vec<_>>(),
        "serviceHours": [],
        "publishingStatus": "Published",
        "modified": "2026-09-01T08:00:00"
    })
}

/// (municipalities, service) pairs and the channels.
pub fn catalogue() -> (Vec<(Vec<String>, Value)>, Vec<Value>) {
    let mut services = Vec::new();
    let mut channels = Vec::new();
    for (code, town_fi, town_sv, street, street_sv, postal) in [
        ("853", "Turku", "Åbo", "Puolalankatu", "Puolalagatan", "20100"),
        ("202", "Kaarina", "S:t Karins", "Lautakunnantie", "Nämndvägen", "20780"),
        ("734", "Salo", "Salo", "Turuntie", "Åbovägen", "24100"),
    ] {
        let (phone, place, online) = (channel_id(code, 1), channel_id(code, 2), channel_id(code, 3));
        let phone_name_fi = format!("Ikäihmisten palveluneuvonta, {town_fi}");
        let phone_name_sv = format!("Servicerådgivning för äldre, {town_sv}");
        channels.push(phone_channel(
            &phone,
            &[("fi", &phone_name_fi), ("sv", &phone_name_sv)],
            &format!("02 {code} 1000"),
            "Neuvonta ja palveluohjaus",
        ));
        let place_fi = format!("Seniori-info, {town_fi}");
        let place_sv = format!("Seniorinfo, {town_sv}");
        channels.push(location_channel(
            &place,
            &[("fi", &place_fi), ("sv", &place_sv)],
            &[("fi", street), ("sv", street_sv)],
            "5",
            postal,
            &[("fi", &town_fi.to_uppercase()), ("sv", &town_sv.to_uppercase())],
        ));
        let lower = town_fi.to_lowercase();
        channels.push(echannel(
            &online,
            &[("fi", "Sähköinen hakemus"), ("sv", "Elektronisk ansökan")],
            &[
                ("fi", &format!("https://asiointi.{lower}.example/hakemus")),
                ("sv", &format!("https://asiointi.{lower}.example/sv/ansokan")),
            ],
        ));
        let links = [
            (phone.as_str(), phone_name_fi.as_str()),
            (place.as_str(), place_fi.as_str()),
        ];
        let with_form = [links[0], links[1], (online.as_str(), "Sähköinen hakemus")];
        let here = vec![code.to_string()];
        services.push((
            here.clone(),
            service(
                &service_id(code, 1),
                &[("fi", "Kotihoito"), ("sv", "Hemvård"), ("en", "Home care")],
                &[
                    ("fi", "Kotihoito auttaa ikäihmisiä asumaan omassa kodissaan."),
                    ("sv", "Hemvården hjälper äldre att bo kvar i sitt eget hem."),
                    ("en", "Home care helps older people live in their own homes."),
                ],
                &[
                    ("fi", "Kotihoidon työntekijät käyvät kotona auttamassa päivittäisissä toimissa, lääkehoidossa ja hygieniassa."),
                    ("sv", "Hemvårdens personal hjälper till hemma med dagliga sysslor, medicinering och hygien."),
                ],
                &links,
            ),
        ));
        services.push((
            here.clone(),
            service(
                &service_id(code, 2),
                &[("fi", "Omaishoidon tuki"), ("sv", "Stöd för närståendevård")],
                &[
                    ("fi", "Tukea läheisestään huolehtivalle omaishoitajalle."),
                    ("sv", "Stöd för den som vårdar en närstående."),
                ],
                &[(
                    "fi",
                    "Omaishoidon tukeen kuuluu hoitopalkkio, vapaapäivät ja hoitoa tukevat palvelut.",
                )],
                &with_form,
            ),
        ));
        services.push((
            here.clone(),
            service(
                &service_id(code, 3),
                &[
                    ("fi", "Ikäihmisten palveluneuvonta"),
                    ("sv", "Servicerådgivning för äldre"),
                ],
                &[
                    (
                        "fi",
                        "Yhdellä yhteydenotolla neuvontaa ja ohjausta ikäihmisille ja läheisille.",
                    ),
                    (
                        "sv",
                        "Rådgivning och handledning för äldre och anhöriga med en enda kontakt.",
                    ),
                ],
                &[],
                &links,
            ),
        ));
        services.push((
            here.clone(),
            service(
                &service_id(code, 4),
                &[("fi", "Kuljetuspalvelu"), ("sv", "Färdtjänst")],
                &[
                    ("fi", "Asiointi- ja virkistysmatkat vaikeasti liikkuville."),
                    (
                        "sv",
                        "Ärende- och rekreationsresor för personer med svårt att röra sig.",
                    ),
                ],
                &[],
                &with_form,
            ),
        ));
    }
    // Turku's further services, one of them in Finnish only.
    let turku_phone = channel_id("853", 1);
    let turku = [(turku_phone.as_str(), "Ikäihmisten palveluneuvonta, Turku")];
    for (n, names, summaries) in [
        (
            5,
            vec![("fi", "Turvapuhelinpalvelu"), ("sv", "Trygghetstelefontjänst")],
            vec![
                (
                    "fi",
                    "Turvaranneke ja auttajan käynti hälytyksen jälkeen ympäri vuorokauden.",
                ),
                ("sv", "Trygghetsarmband och hjälp på plats efter larm dygnet runt."),
            ],
        ),
        (
            6,
            vec![("fi", "Ateriapalvelu"), ("sv", "Måltidsservice")],
            vec![
                ("fi", "Valmiit ateriat kotiin kuljetettuina."),
                ("sv", "Färdiga måltider hemkörda."),
            ],
        ),
        (
            7,
            vec![("fi", "Palveluasuminen"), ("sv", "Serviceboende")],
            vec![
                ("fi", "Asumista ympärivuorokautisen hoivan piirissä."),
                ("sv", "Boende med vård dygnet runt."),
            ],
        ),
        (
            8,
            vec![("fi", "Päivätoiminta ikäihmisille")],
            vec![("fi", "Virkistystä, liikuntaa ja yhteisiä aterioita päiväkeskuksessa.")],
        ),
    ] {
        services.push((
            vec!["853".into()],
            service(&service_id("853", n), &names, &summaries, &[], &turku),
        ));
    }
    // A national service offered in every municipality.
    services.push((
        vec!["853".into(), "202".into(), "734".into()],
        service(
            "0000c0de-0000-4000-8000-000000000001",
            &[
                ("fi", "Eläkkeensaajan hoitotuki"),
                ("sv", "Vårdbidrag för pensionstagare"),
                ("en", "Care allowance for pensioners"),
            ],
            &[
                ("fi", "Tukea sairaana tai vammaisena kotona asuvalle eläkkeensaajalle."),
                (
                    "sv",
                    "Stöd för pensionstagare som bor hemma med sjukdom eller funktionsnedsättning.",
                ),
            ],
            &[],
            &[],
        ),
    ));
    (services, channels)
}
