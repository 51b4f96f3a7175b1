//! The certificates the gateway presents or trusts, and when each expires: an expired client
//! certificate stops a national service as surely as an outage, only more quietly.

use crate::config::Config;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct CertificateStatus {
    /// What the certificate is for, e.g. `kanta 853 system signature`.
    pub purpose: String,
    pub file: PathBuf,
    pub subject: String,
    pub not_after: Option<DateTime<Utc>>,
    /// Why the file could not be read, if it could not.
    pub problem: Option<String>,
}

impl CertificateStatus {
    pub fn days_left(&self, now: DateTime<Utc>) -> Option<i64> {
        self.not_after.map(|t| (t - now).num_days())
    }
}

/// Reads the first certificate of a PEM file.
pub fn inspect(purpose: &str, file: &Path) -> CertificateStatus {
    let read = std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|pem| openssl::x509::X509::from_pem(&pem).map_err(|e| e.to_string()))
        .and_then(|cert| {
            let subject = cert
                .subject_name()
                .entries()
                .map(|e| String::from_utf8_lossy(e.data().as_slice()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(|e| e.to_string())?;
            let diff = epoch.diff(cert.not_after()).map_err(|e| e.to_string())?;
            let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
            Ok((subject, DateTime::from_timestamp(seconds, 0)))
        });
    match read {
        Ok((subject, not_after)) => CertificateStatus {
            purpose: purpose.to_string(),
            file: file.to_path_buf(),
            subject,
            not_after,
            problem: None,
        },
        Err(problem) => CertificateStatus {
            purpose: purpose.to_string(),
            file: file.to_path_buf(),
            subject: String::new(),
            not_after: None,
            problem: Some(problem),
        },
    }
}

/// The certificate files this configuration and these adapters use.
pub fn in_use(
    config: &Config,
    kanta: Option<&portti_kanta::KantaAdapter>,
    identification: Option<&crate::identification::Identification>,
) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    if let Some(tls) = &config.tls {
        files.push(("inbound TLS server".to_string(), config.data_path(&tls.cert_file)));
        if let Some(ca) = &tls.client_ca_file {
            files.push(("inbound TLS client CA".to_string(), config.data_path(ca)));
        }
    }
    if let Some(kanta) = kanta {
        files.extend(kanta.certificate_files());
    }
    if let Some(identification) = identification {
        let s = &identification.settings;
        files.push((
            "Suomi.fi Identification SP signing".into(),
            s.signing_certificate.clone(),
        ));
        files.push((
            "Suomi.fi Identification SP encryption".into(),
            s.encryption_certificate.clone(),
        ));
        for (i, cert) in s.metadata_signing_certificates.iter().enumerate() {
            files.push((
                format!("Suomi.fi Identification metadata signer {}", i + 1),
                cert.clone(),
            ));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_subject_and_expiry_and_reports_unreadable_files() {
        let certs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs-example");
        let status = inspect("demo CA", &certs.join("demo-ca.pem"));
        assert!(status.problem.is_none(), "{status:?}");
        assert!(!status.subject.is_empty());
        let expected = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
            .arg(certs.join("demo-ca.pem"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&expected.stdout);
        let date = text.trim().trim_start_matches("notAfter=");
        let expected: DateTime<Utc> = DateTime::parse_from_rfc3339(&date.replace(' ', "T").replace("Z", "+00:00"))
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(status.not_after, Some(expected));
        let missing = inspect("nothing", &certs.join("no-such.pem"));
        assert!(missing.problem.is_some() && missing.not_after.is_none());
    }
}
