//! OAuth 2.0 client credentials with a signed JWT client assertion (RFC 7521/7523, the SMART Backend
//! Services profile): the client signs `{iss: client_id, sub: client_id, aud: token_url, jti, iat, exp}` with
//! its private key (ES384 for an EC P-384 key, RS384 for an RSA key) and posts it to the token endpoint as
//! `client_assertion`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::fmt;
use std::path::Path;
use std::time::Duration;

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// A client assertion is valid this long (SMART: at most five minutes).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(240);

/// The client's signing key.
pub struct ClientKey {
    key: EncodingKey,
    algorithm: Algorithm,
    key_id: Option<String>,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    exp: i64,
}

impl ClientKey {
    /// Reads a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC): EC P-384 signs ES384, RSA (≥ 2048 bits)
    /// RS384. The error names the problem, never the key.
    pub fn from_pem(pem: &[u8], key_id: Option<String>) -> Result<ClientKey, String> {
        let pkey = openssl::pkey::PKey::private_key_from_pem(pem).map_err(|_| "not a PEM private key".to_owned())?;
        let pkcs8 = pkey
            .private_key_to_pem_pkcs8()
            .map_err(|e| format!("cannot convert the key: {e}"))?;
        let (algorithm, key) = match pkey.id() {
            openssl::pkey::Id::EC => {
                let curve = pkey.ec_key().ok().and_then(|k| k.group().curve_name());
                if curve != Some(openssl::nid::Nid::SECP384R1) {
                    return Err("an EC key must be on P-384 (ES384)".into());
                }
                (Algorithm::ES384, EncodingKey::from_ec_pem(&pkcs8))
            }
            openssl::pkey::Id::RSA => {
                if pkey.bits() < 2048 {
                    return Err("an RSA key must have at least 2048 bits".into());
                }
                let pkcs1 = pkey
                    .rsa()
                    .and_then(|r| r.private_key_to_pem())
                    .map_err(|e| format!("cannot convert the key: {e}"))?;
                (Algorithm::RS384, EncodingKey::from_rsa_pem(&pkcs1))
            }
            _ => return Err("the key must be EC P-384 or RSA".into()),
        };
        let key = key.map_err(|e| format!("unusable key: {e}"))?;
        Ok(ClientKey { key, algorithm, key_id })
    }

    pub fn from_file(path: &Path, key_id: Option<String>) -> Result<ClientKey, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_pem(&pem, key_id).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// A fresh client assertion for `token_url`; `jti` is a new UUID every time.
    pub fn assertion(&self, client_id: &str, token_url: &str) -> Result<String, String> {
        let mut header = Header::new(self.algorithm);
        header.typ = Some("JWT".into());
        header.kid = self.key_id.clone();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: client_id,
            sub: client_id,
            aud: token_url,
            jti: uuid::Uuid::now_v7().to_string(),
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs() as i64,
        };
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| format!("cannot sign the client assertion: {e}"))
    }
}

/// The form body of the token request.
pub fn token_form(assertion: &str, scope: Option<&str>) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()),
        ("client_assertion", assertion.to_owned()),
    ];
    if let Some(scope) = scope.filter(|s| !s.trim().is_empty()) {
        form.push(("scope", scope.trim().to_owned()));
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use std::path::PathBuf;

    fn certs() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-example")
    }

    #[test]
    fn the_demo_key_signs_a_verifiable_es384_assertion() {
        let key = ClientKey::from_file(&certs().join("oda-client.key"), Some("k1".into())).unwrap();
        assert_eq!(key.algorithm(), Algorithm::ES384);
        let jwt = key.assertion("portti", "https://auth.example/token").unwrap();
        let public = std::fs::read(certs().join("oda-client.pem")).unwrap();
        let mut validation = Validation::new(Algorithm::ES384);
        validation.set_audience(&["https://auth.example/token"]);
        validation.set_issuer(&["portti"]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(&jwt, &DecodingKey::from_ec_pem(&public).unwrap(), &validation)
                .unwrap();
        assert_eq!(data.header.kid.as_deref(), Some("k1"));
        assert_eq!(data.header.typ.as_deref(), Some("JWT"));
        assert_eq!(data.claims["sub"], "portti");
        let (iat, exp) = (
            data.claims["iat"].as_i64().unwrap(),
            data.claims["exp"].as_i64().unwrap(),
        );
        assert!(exp > iat && exp - iat <= 300);
        let other = key.assertion("portti", "https://auth.example/token").unwrap();
        let jti = |jwt: &str| {
            jsonwebtoken::decode::<serde_json::Value>(jwt, &DecodingKey::from_ec_pem(&public).unwrap(), &validation)
                .unwrap()
                .claims["jti"]
                .clone()
        };
        assert_ne!(jti(&jwt), jti(&other), "jti is unique");
    }

    #[test]
    fn rsa_keys_sign_rs384_and_other_keys_are_refused() {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let pem = openssl::pkey::PKey::from_rsa(rsa)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap();
        let key = ClientKey::from_pem(&pem, None).unwrap();
        assert_eq!(key.algorithm(), Algorithm::RS384);
        key.assertion("c", "http://t").unwrap();

        let p256 = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let ec = openssl::ec::EcKey::generate(&p256).unwrap();
        let pem = ec.private_key_to_pem().unwrap();
        assert!(ClientKey::from_pem(&pem, None).unwrap_err().contains("P-384"));
        // SEC1 P-384 is accepted.
        let p384 = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::SECP384R1).unwrap();
        let pem = openssl::ec::EcKey::generate(&p384)
            .unwrap()
            .private_key_to_pem()
            .unwrap();
        assert_eq!(ClientKey::from_pem(&pem, None).unwrap().algorithm(), Algorithm::ES384);
        // A public key is no private key.
        let public = std::fs::read(certs().join("oda-client.pem")).unwrap();
        assert!(ClientKey::from_pem(&public, None).is_err());
    }

    #[test]
    fn the_token_form_is_rfc_7523() {
        let form = token_form("a.b.c", Some(" system/Task.write "));
        assert_eq!(
            form,
            vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()),
                ("client_assertion", "a.b.c".to_owned()),
                ("scope", "system/Task.write".to_owned()),
            ]
        );
        assert_eq!(token_form("a.b.c", Some("")).len(), 3);
    }
}
