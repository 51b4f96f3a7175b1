//! RFC 3161 timestamps through OpenSSL's own TS implementation (`csrc/shim.c`): a request with a
//! SHA-256 imprint, a random nonce and certReq; a reply accepted only if granted, for that
//! imprint and nonce, and signed by a certificate chaining to the configured TSA certificate
//! with the timeStamping purpose; stored tokens verified the same way later. [`respond`] is the
//! other side, for a simulated TSA.

use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::time::Duration;

/// The media types of RFC 3161 over HTTP.
pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    #[error("the TSA could not be reached: {0}")]
    Transport(String),
    #[error("the TSA answered HTTP {0}")]
    Status(u16),
    #[error("the TSA answered with content type {0:?}, not application/timestamp-reply")]
    ContentType(String),
    #[error("{0}")]
    Invalid(String),
}

extern "C" {
    fn portti_ts_free(p: *mut c_void);
    fn portti_ts_request(
        digest: *const u8,
        digest_len: usize,
        nonce: *const u8,
        nonce_len: usize,
        out: *mut *mut u8,
        out_len: *mut usize,
        err: *mut c_char,
        err_cap: usize,
    ) -> c_int;
    fn portti_ts_verify_reply(
        reply: *const u8,
        reply_len: usize,
        digest: *const u8,
        digest_len: usize,
        nonce: *const u8,
        nonce_len: usize,
        trust: *const c_char,
        trust_len: usize,
        token: *mut *mut u8,
        token_len: *mut usize,
        time: *mut c_char,
        time_cap: usize,
        err: *mut c_char,
        err_cap: usize,
    ) -> c_int;
    fn portti_ts_verify_token(
        token: *const u8,
        token_len: usize,
        digest: *const u8,
        digest_len: usize,
        trust: *const c_char,
        trust_len: usize,
        time: *mut c_char,
        time_cap: usize,
        err: *mut c_char,
        err_cap: usize,
    ) -> c_int;
    fn portti_ts_respond(
        request: *const u8,
        request_len: usize,
        key: *const c_char,
        key_len: usize,
        cert: *const c_char,
        cert_len: usize,
        serial: i64,
        wrong_imprint: c_int,
        out: *mut *mut u8,
        out_len: *mut usize,
        err: *mut c_char,
        err_cap: usize,
    ) -> c_int;
    fn portti_ts_is_request(der: *const u8, len: usize) -> c_int;
}

const ERR_CAP: usize = 1024;

fn text(buf: &[c_char]) -> String {
    // SAFETY: the shim always NUL-terminates what it writes into a zeroed buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// Takes ownership of a buffer the shim allocated with OPENSSL_malloc.
fn take(ptr: *mut u8, len: usize) -> Vec<u8> {
    // SAFETY: ptr/len come from a successful shim call, which allocated exactly len bytes.
    let v = unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec();
    // SAFETY: allocated by OpenSSL, freed once here.
    unsafe { portti_ts_free(ptr.cast()) };
    v
}

fn parse_gen_time(s: &str) -> Result<DateTime<Utc>, TimestampError> {
    let trimmed = s.strip_suffix('Z').unwrap_or(s);
    NaiveDateTime::parse_from_str(trimmed, "%Y%m%d%H%M%S%.f")
        .map(|t| t.and_utc())
        .map_err(|_| TimestampError::Invalid(format!("the token's genTime {s:?} is not a UTC time")))
}

/// One timestamp request, kept so that its reply can be checked against it.
#[derive(Debug, Clone)]
pub struct Request {
    pub der: Vec<u8>,
    digest: [u8; 32],
    nonce: [u8; 16],
}

impl Request {
    /// A request for `data`'s SHA-256 with a fresh random nonce.
    pub fn new(data: &[u8]) -> Result<Self, TimestampError> {
        let digest: [u8; 32] = Sha256::digest(data).into();
        let mut nonce = [0u8; 16];
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| TimestampError::Invalid(e.to_string()))?;
        // A positive INTEGER whatever the random bits.
        nonce[0] &= 0x7f;
        nonce[0] |= 0x01;
        let mut out = std::ptr::null_mut();
        let mut len = 0;
        let mut err = [0 as c_char; ERR_CAP];
        // SAFETY: every pointer is valid for its length for the duration of the call.
        let rc = unsafe {
            portti_ts_request(
                digest.as_ptr(),
                digest.len(),
                nonce.as_ptr(),
                nonce.len(),
                &mut out,
                &mut len,
                err.as_mut_ptr(),
                ERR_CAP,
            )
        };
        if rc != 0 {
            return Err(TimestampError::Invalid(text(&err)));
        }
        Ok(Self {
            der: take(out, len),
            digest,
            nonce,
        })
    }
}

/// A verified token: DER (a CMS ContentInfo), and when the TSA says it made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub der: Vec<u8>,
    pub gen_time: DateTime<Utc>,
}

/// The certificates a TSA's signature must chain to (its own, or its CA), PEM.
#[derive(Debug, Clone)]
pub struct Trust {
    pem: Vec<u8>,
}

impl Trust {
    pub fn from_pem(pem: &[u8]) -> Result<Self, TimestampError> {
        openssl::x509::X509::stack_from_pem(pem)
            .ok()
            .filter(|certs| !certs.is_empty())
            .ok_or_else(|| TimestampError::Invalid("the TSA trust file holds no PEM certificate".into()))?;
        Ok(Self { pem: pem.to_vec() })
    }

    /// Accepts a reply only if granted and for exactly this request.
    pub fn verify_reply(&self, reply: &[u8], request: &Request) -> Result<Token, TimestampError> {
        let mut token = std::ptr::null_mut();
        let mut token_len = 0;
        let mut time = [0 as c_char; 64];
        let mut err = [0 as c_char; ERR_CAP];
        // SAFETY: every pointer is valid for its length for the duration of the call.
        let rc = unsafe {
            portti_ts_verify_reply(
                reply.as_ptr(),
                reply.len(),
                request.digest.as_ptr(),
                request.digest.len(),
                request.nonce.as_ptr(),
                request.nonce.len(),
                self.pem.as_ptr().cast(),
                self.pem.len(),
                &mut token,
                &mut token_len,
                time.as_mut_ptr(),
                time.len(),
                err.as_mut_ptr(),
                ERR_CAP,
            )
        };
        if rc != 0 {
            return Err(TimestampError::Invalid(text(&err)));
        }
        let der = take(token, token_len);
        Ok(Token {
            der,
            gen_time: parse_gen_time(&text(&time))?,
        })
    }

    /// Verifies a stored token over `data`; returns its genTime.
    pub fn verify_token(&self, token: &[u8], data: &[u8]) -> Result<DateTime<Utc>, TimestampError> {
        let digest: [u8; 32] = Sha256::digest(data).into();
        let mut time = [0 as c_char; 64];
        let mut err = [0 as c_char; ERR_CAP];
        // SAFETY: every pointer is valid for its length for the duration of the call.
        let rc = unsafe {
            portti_ts_verify_token(
                token.as_ptr(),
                token.len(),
                digest.as_ptr(),
                digest.len(),
                self.pem.as_ptr().cast(),
                self.pem.len(),
                time.as_mut_ptr(),
                time.len(),
                err.as_mut_ptr(),
                ERR_CAP,
            )
        };
        if rc != 0 {
            return Err(TimestampError::Invalid(text(&err)));
        }
        parse_gen_time(&text(&time))
    }
}

/// A TSA reached over HTTP (RFC 3161 §3.4).
#[derive(Debug, Clone)]
pub struct TsaClient {
    url: String,
    trust: Trust,
    http: reqwest::Client,
}

impl TsaClient {
    pub fn new(url: &str, trust: Trust, timeout: Duration) -> Result<Self, TimestampError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| TimestampError::Transport(e.to_string()))?;
        Ok(Self {
            url: url.to_string(),
            trust,
            http,
        })
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Asks the TSA to timestamp `data` and verifies its answer.
    pub async fn stamp(&self, data: &[u8]) -> Result<Token, TimestampError> {
        let request = Request::new(data)?;
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, QUERY_CONTENT_TYPE)
            .body(request.der.clone())
            .send()
            .await
            .map_err(|e| TimestampError::Transport(portti_adapter_core::describe_transport_error(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(TimestampError::Status(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if content_type.split(';').next().map(str::trim) != Some(REPLY_CONTENT_TYPE) {
            return Err(TimestampError::ContentType(content_type));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| TimestampError::Transport(portti_adapter_core::describe_transport_error(&e)))?;
        self.trust.verify_reply(&body, &request)
    }
}

/// Whether `der` is a DER TimeStampReq.
pub fn is_request(der: &[u8]) -> bool {
    // SAFETY: der is valid for its length.
    unsafe { portti_ts_is_request(der.as_ptr(), der.len()) == 1 }
}

/// A TSA's reply to a request, signed with its key and certificate (the certificate must carry
/// the critical timeStamping extended key usage). `wrong_imprint` stamps other data (a fault).
pub fn respond(
    request: &[u8],
    key_pem: &[u8],
    cert_pem: &[u8],
    serial: i64,
    wrong_imprint: bool,
) -> Result<Vec<u8>, TimestampError> {
    let mut out = std::ptr::null_mut();
    let mut len = 0;
    let mut err = [0 as c_char; ERR_CAP];
    // SAFETY: every pointer is valid for its length for the duration of the call.
    let rc = unsafe {
        portti_ts_respond(
            request.as_ptr(),
            request.len(),
            key_pem.as_ptr().cast(),
            key_pem.len(),
            cert_pem.as_ptr().cast(),
            cert_pem.len(),
            serial,
            c_int::from(wrong_imprint),
            &mut out,
            &mut len,
            err.as_mut_ptr(),
            ERR_CAP,
        )
    };
    if rc != 0 {
        return Err(TimestampError::Invalid(text(&err)));
    }
    Ok(take(out, len))
}

/// A new self-signed TSA identity (P-256 key, PEM; certificate with the critical
/// timeStamping extended key usage, PEM), for simulators and tests.
pub fn generate_identity(common_name: &str) -> Result<(Vec<u8>, Vec<u8>), openssl::error::ErrorStack> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};
    use openssl::x509::{X509Builder, X509NameBuilder};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
    let mut cert = X509Builder::new()?;
    cert.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    cert.set_serial_number(&serial)?;
    cert.set_subject_name(&name)?;
    cert.set_issuer_name(&name)?;
    cert.set_pubkey(&key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3650)?);
    cert.set_not_before(&from)?;
    cert.set_not_after(&until)?;
    cert.append_extension(BasicConstraints::new().critical().build()?)?;
    cert.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .non_repudiation()
            .build()?,
    )?;
    cert.append_extension(ExtendedKeyUsage::new().critical().time_stamping().build()?)?;
    let ski = SubjectKeyIdentifier::new().build(&cert.x509v3_context(None, None))?;
    cert.append_extension(ski)?;
    cert.sign(&key, MessageDigest::sha256())?;
    Ok((key.private_key_to_pem_pkcs8()?, cert.build().to_pem()?))
}

#[cfg(test)]
mod tests;
