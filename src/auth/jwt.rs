//! Bearer token verification with jsonwebtoken: RS256 or ES256 against configured public keys
//! or a JWKS file; `iss`, `aud`, `exp` and `nbf` are required.

use super::{Caller, Scope};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("only RS256 and ES256 tokens are accepted")]
    Algorithm,
    #[error("no configured key verifies the token's signature")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer or audience is wrong, or a required claim is missing: {0}")]
    Claims(String),
}

struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verified tokens are remembered until they expire (at most a minute), so that a client
/// reusing its token does not pay for a signature check on every request.
struct Cached {
    caller: Caller,
    until: Instant,
}

const CACHE_MAX: usize = 10_000;
const CACHE_TTL: Duration = Duration::from_secs(60);

pub struct TokenVerifier {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
    leeway_s: u64,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    client_id: Option<String>,
    exp: u64,
    /// OAuth style: space-separated.
    scope: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    orgs: Vec<String>,
    end_user: Option<String>,
    role: Option<String>,
    /// Login tokens (`identification`): the session and the person who logged in.
    sid: Option<String>,
    identity_code: Option<String>,
}

impl TokenVerifier {
    pub fn new(issuer: &str, audience: &str, leeway_s: u64) -> Self {
        Self {
            keys: Vec::new(),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            leeway_s,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Adds a PEM public key (SPKI RSA, PKCS#1 RSA or EC P-256).
    pub fn add_pem(&mut self, pem: &[u8]) -> anyhow::Result<()> {
        let text = std::str::from_utf8(pem)?;
        let is_ec = openssl::pkey::PKey::public_key_from_pem(pem)
            .map(|k| k.id() == openssl::pkey::Id::EC)
            .unwrap_or(false);
        let (algorithm, key) = if is_ec {
            (Algorithm::ES256, DecodingKey::from_ec_pem(text.as_bytes())?)
        } else {
            (Algorithm::RS256, DecodingKey::from_rsa_pem(text.as_bytes())?)
        };
        self.keys.push(Key {
            kid: None,
            algorithm,
            key,
        });
        Ok(())
    }

    pub fn add_pem_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        self.add_pem(&pem)
    }

    /// Adds every RS256 or ES256 key of a JWKS document.
    pub fn add_jwks(&mut self, json: &str) -> anyhow::Result<()> {
        let set: JwkSet = serde_json::from_str(json)?;
        for jwk in &set.keys {
            let algorithm = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            self.keys.push(Key {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key: DecodingKey::from_jwk(jwk)?,
            });
        }
        Ok(())
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Verifies a token and returns the caller it names.
    pub fn verify(&self, token: &str) -> Result<Caller, VerifyError> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Some(hit) = self.cache.lock().expect("cache lock").get(&fingerprint) {
            if hit.until > now {
                return Ok(hit.caller.clone());
            }
        }
        let (caller, exp) = self.verify_uncached(token)?;
        let remaining = exp.saturating_sub(unix_now());
        let until = now + CACHE_TTL.min(Duration::from_secs(remaining));
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, c| c.until > now);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(
            fingerprint,
            Cached {
                caller: caller.clone(),
                until,
            },
        );
        Ok(caller)
    }

    fn verify_uncached(&self, token: &str) -> Result<(Caller, u64), VerifyError> {
        let header = decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(VerifyError::Algorithm);
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["iss", "aud", "exp", "nbf"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway_s;
        let candidates = self
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg && (header.kid.is_none() || k.kid.is_none() || k.kid == header.kid));
        let mut last = VerifyError::Signature;
        for key in candidates {
            match decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return claims_to_caller(data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last = match e.kind() {
                        ErrorKind::InvalidSignature => VerifyError::Signature,
                        ErrorKind::ExpiredSignature => return Err(VerifyError::Expired),
                        ErrorKind::ImmatureSignature => return Err(VerifyError::NotYetValid),
                        ErrorKind::InvalidIssuer => return Err(VerifyError::Claims("iss".into())),
                        ErrorKind::InvalidAudience => return Err(VerifyError::Claims("aud".into())),
                        ErrorKind::MissingRequiredClaim(c) => return Err(VerifyError::Claims(c.clone())),
                        ErrorKind::Json(_) => {
                            return Err(VerifyError::Claims("claims are not the expected JSON".into()))
                        }
                        _ => VerifyError::Malformed,
                    };
                }
            }
        }
        Err(last)
    }
}

fn claims_to_caller(c: Claims) -> Result<(Caller, u64), VerifyError> {
    let client_id = c
        .client_id
        .or(c.sub)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| VerifyError::Claims("client_id or sub".into()))?;
    // These end up in the audit trail in clear, where persons must only appear as keyed hashes.
    for (claim, value) in [
        ("client_id", Some(&client_id)),
        ("end_user", c.end_user.as_ref()),
        ("role", c.role.as_ref()),
    ] {
        if value.is_some_and(|v| crate::case::hetu::contains_identity_code(v)) {
            return Err(VerifyError::Claims(format!(
                "{claim} must be a user id, not a personal identity code"
            )));
        }
    }
    let names: Vec<String> = match (c.scopes, c.scope) {
        (Some(list), _) => list,
        (None, Some(s)) => s.split_whitespace().map(str::to_string).collect(),
        (None, None) => Vec::new(),
    };
    let scopes = names.iter().filter_map(|n| Scope::parse(n)).collect();
    let citizen = match c.sid {
        None => None,
        Some(session_id) => Some(super::Citizen {
            session_id,
            identity_code: c
                .identity_code
                .map(|code| crate::case::IdentityCode::parse(&code))
                .transpose()
                .map_err(|_| VerifyError::Claims("identity_code".into()))?,
        }),
    };
    Ok((
        Caller {
            client_id,
            scopes,
            orgs: c.orgs,
            end_user: c.end_user,
            role: c.role,
            purpose: None,
            citizen,
        },
        c.exp,
    ))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sandbox::{self, SigningKey};
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn verifier(key: &SigningKey) -> TokenVerifier {
        let mut v = TokenVerifier::new("portti-sandbox", "portti", 0);
        v.add_pem(key.public_pem.as_bytes()).unwrap();
        v
    }

    fn token(key: &SigningKey, claims: serde_json::Value) -> String {
        let enc = EncodingKey::from_ec_pem(key.private_pem.as_bytes()).unwrap();
        encode(&Header::new(Algorithm::ES256), &claims, &enc).unwrap()
    }

    fn claims() -> serde_json::Value {
        let now = unix_now();
        json!({ "iss": "portti-sandbox", "aud": "portti", "sub": "ohjaus", "nbf": now - 10, "exp": now + 600,
                "scope": "cases:write cases:read bogus", "orgs": ["853"] })
    }

    #[test]
    fn a_good_es256_token_names_its_caller() {
        let key = SigningKey::generate().unwrap();
        let caller = verifier(&key).verify(&token(&key, claims())).unwrap();
        assert_eq!(caller.client_id, "ohjaus");
        assert_eq!(caller.scopes, vec![Scope::CasesWrite, Scope::CasesRead]);
        assert_eq!(caller.orgs, vec!["853"]);
        let minted = sandbox::mint(
            &key,
            "portti-sandbox",
            "portti",
            "c",
            &[Scope::AuditRead],
            &["529".into()],
            60,
        )
        .unwrap();
        assert!(verifier(&key).verify(&minted).unwrap().has(Scope::AuditRead));
    }

    #[test]
    fn rs256_tokens_verify_against_an_rsa_key() {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let pkey = openssl::pkey::PKey::from_rsa(rsa).unwrap();
        let mut v = TokenVerifier::new("portti-sandbox", "portti", 0);
        v.add_pem(&pkey.public_key_to_pem().unwrap()).unwrap();
        let enc = EncodingKey::from_rsa_pem(&pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let t = encode(&Header::new(Algorithm::RS256), &claims(), &enc).unwrap();
        assert_eq!(v.verify(&t).unwrap().client_id, "ohjaus");
    }

    #[test]
    fn bad_tokens_are_refused_for_the_right_reason() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let v = verifier(&key);
        assert_eq!(v.verify("not a token"), Err(VerifyError::Malformed));
        assert_eq!(v.verify(&token(&other, claims())), Err(VerifyError::Signature));
        let mut c = claims();
        c["exp"] = json!(unix_now() - 100);
        assert_eq!(v.verify(&token(&key, c)), Err(VerifyError::Expired));
        let mut c = claims();
        c["nbf"] = json!(unix_now() + 100);
        assert_eq!(v.verify(&token(&key, c)), Err(VerifyError::NotYetValid));
        let mut c = claims();
        c["aud"] = json!("someone-else");
        assert!(matches!(v.verify(&token(&key, c)), Err(VerifyError::Claims(_))));
        let mut c = claims();
        c["iss"] = json!("evil");
        assert!(matches!(v.verify(&token(&key, c)), Err(VerifyError::Claims(_))));
        let mut c = claims();
        c.as_object_mut().unwrap().remove("nbf");
        assert!(matches!(v.verify(&token(&key, c)), Err(VerifyError::Claims(_))));
        let mut c = claims();
        c["end_user"] = json!("131052-308T");
        assert!(matches!(v.verify(&token(&key, c)), Err(VerifyError::Claims(_))));
        let hs = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(v.verify(&hs), Err(VerifyError::Algorithm));
    }

    #[test]
    fn jwks_keys_are_used() {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let b64 = |b: Vec<u8>| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
        };
        let jwks = json!({ "keys": [{ "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
            "n": b64(rsa.n().to_vec()), "e": b64(rsa.e().to_vec()) }] });
        let mut v = TokenVerifier::new("portti-sandbox", "portti", 0);
        v.add_jwks(&jwks.to_string()).unwrap();
        let pkey = openssl::pkey::PKey::from_rsa(rsa).unwrap();
        let enc = EncodingKey::from_rsa_pem(&pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k1".into());
        assert!(v.verify(&encode(&header, &claims(), &enc).unwrap()).is_ok());
    }
}
