//! Key material, decoded once per distinct PEM.
//!
//! Decoding a PEM private key or certificate through OpenSSL 3 (its OSSL_DECODER machinery)
//! costs several times one RSA-2048 signature. Every [`Key`] therefore comes from a
//! process-wide cache keyed by the SHA-256 of the PEM bytes (and of which loader they went
//! through): the first call with a given key and certificate decodes them with libxmlsec1's own
//! loaders, exactly as before, and later calls reuse the result.
//!
//! What is shared and what is not: a cached entry is a `portti_key` (csrc/shim.c), an
//! immutable holder of the decoded `EVP_PKEY` and `X509` objects. No libxmlsec1 object is ever
//! shared: every signature, verification, encryption or decryption context gets its own new
//! `xmlSecKey`, made from the shared objects by taking references (`EVP_PKEY_up_ref`,
//! `X509_up_ref`) and destroyed with the context. OpenSSL objects are safe to read from many
//! threads at once once fully constructed; the reference counts are atomic.
//!
//! The cache holds at most [`CAPACITY`] entries and evicts the oldest first. An entry that is
//! evicted (or a [`crate::VerifyPolicy`] that is dropped) frees its objects as soon as no call
//! still uses them (`Arc`). Failures are not cached: a bad PEM is decoded, and refused, on every
//! call.
//!
//! Threads: the map is behind a `Mutex`, held only for the lookup and the insertion (a
//! comparison of a few 32-byte digests, microseconds against the ~0.3 ms of an RSA-2048
//! private-key operation) and never while decoding: two threads missing the same entry at once
//! both decode it and the first to insert wins.

use std::collections::{BTreeMap, VecDeque};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

use crate::doc::last_error;
use crate::{ffi, XmlSecError};

/// Most distinct keys kept decoded at once.
pub(crate) const CAPACITY: usize = 64;

/// The owner of one `portti_key`: freed when the last [`Key`] using it goes.
struct Parsed {
    ptr: NonNull<ffi::PorttiKey>,
}

// SAFETY: a `portti_key` is immutable once made and has no thread affinity; the shim only reads
// it (and takes references to the OpenSSL objects it holds, which is atomic) while building a
// per-call xmlSecKey, see the module docs and csrc/shim.c. It is freed only in `Drop`, when no
// other user is left.
unsafe impl Send for Parsed {}
// SAFETY: as above: every use through `&Parsed` is a read.
unsafe impl Sync for Parsed {}

impl Drop for Parsed {
    fn drop(&mut self) {
        // SAFETY: we own it and, `Arc` being the only way to reach it, nobody else uses it.
        unsafe { ffi::portti_key_free(self.ptr.as_ptr()) }
    }
}

/// Decoded key material: cheap to clone, safe to use from many threads at once. Each operation
/// in the shim makes its own xmlSecKey from it.
#[derive(Clone)]
pub(crate) struct Key {
    parsed: Arc<Parsed>,
}

/// Which loader made the entry: part of the cache key, so that the same bytes loaded two ways
/// (a certificate as a certificate, or a PEM as a private key) are two entries.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    PrivateWithCert = 1,
    Cert = 2,
    PrivateOnly = 3,
}

type Fingerprint = [u8; 32];

fn fingerprint(kind: Kind, parts: &[&[u8]]) -> Fingerprint {
    let mut h = Sha256::new();
    h.update([kind as u8]);
    for part in parts {
        // Length-prefixed, so that no two splits of the same bytes collide.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

struct Cache {
    entries: BTreeMap<Fingerprint, Key>,
    /// Insertion order, oldest first.
    order: VecDeque<Fingerprint>,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    entries: BTreeMap::new(),
    order: VecDeque::new(),
});

fn cache() -> MutexGuard<'static, Cache> {
    // Every update leaves the map and the order consistent before anything can panic, so a
    // poisoned lock still guards a usable cache.
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The cached key for these bytes, or `load()`'s, which is then cached if it succeeded.
fn cached(kind: Kind, parts: &[&[u8]], load: impl FnOnce() -> Result<Key, XmlSecError>) -> Result<Key, XmlSecError> {
    let id = fingerprint(kind, parts);
    if let Some(key) = cache().entries.get(&id) {
        return Ok(key.clone());
    }
    // Decode without the lock: other keys stay available meanwhile.
    let key = load()?;
    let evicted = {
        let mut c = cache();
        if let Some(existing) = c.entries.get(&id) {
            // Another thread decoded the same bytes first; ours is dropped.
            return Ok(existing.clone());
        }
        let evicted = if c.order.len() >= CAPACITY {
            c.order.pop_front().and_then(|old| c.entries.remove(&old))
        } else {
            None
        };
        c.order.push_back(id);
        c.entries.insert(id, key.clone());
        evicted
    };
    // Freed (if no call still uses it) outside the lock.
    drop(evicted);
    Ok(key)
}

/// How many keys the cache holds (tests).
#[cfg(test)]
pub(crate) fn cached_count() -> usize {
    let c = cache();
    debug_assert_eq!(c.entries.len(), c.order.len());
    c.entries.len()
}

impl Key {
    fn from_raw(p: *mut ffi::PorttiKey) -> Option<Key> {
        NonNull::new(p).map(|ptr| Key {
            parsed: Arc::new(Parsed { ptr }),
        })
    }

    /// The private key plus its certificate. Encrypted keys are refused rather than prompting.
    pub(crate) fn private(key_pem: &[u8], cert_pem: &[u8]) -> Result<Key, XmlSecError> {
        cached(Kind::PrivateWithCert, &[key_pem, cert_pem], || {
            // SAFETY: slices are live for the call.
            match unsafe {
                ffi::portti_check_key_cert(key_pem.as_ptr(), key_pem.len(), cert_pem.as_ptr(), cert_pem.len())
            } {
                0 => {}
                1 => {
                    return Err(XmlSecError::InvalidKey(
                        "the certificate does not belong to the private key".into(),
                    ))
                }
                _ => {
                    return Err(XmlSecError::InvalidKey(
                        "private key or certificate is not readable PEM (encrypted keys are not supported)".into(),
                    ))
                }
            }
            // SAFETY: slices are live for the call.
            let p = unsafe {
                ffi::portti_load_private_key(key_pem.as_ptr(), key_pem.len(), cert_pem.as_ptr(), cert_pem.len())
            };
            Key::from_raw(p).ok_or_else(|| XmlSecError::InvalidKey(last_error()))
        })
    }

    /// The public key of one PEM certificate (and the certificate, for KeyInfo).
    pub(crate) fn from_cert(cert_pem: &[u8]) -> Result<Key, XmlSecError> {
        cached(Kind::Cert, &[cert_pem], || {
            // SAFETY: slice is live for the call.
            let p = unsafe { ffi::portti_load_cert_key(cert_pem.as_ptr(), cert_pem.len()) };
            Key::from_raw(p).ok_or_else(|| XmlSecError::InvalidKey(last_error()))
        })
    }

    /// An RSA private key alone (for decryption). Encrypted keys are refused rather than
    /// prompting; public keys and other key types are refused.
    pub(crate) fn rsa_private(key_pem: &[u8]) -> Result<Key, XmlSecError> {
        let key = cached(Kind::PrivateOnly, &[key_pem], || {
            // SAFETY: slice is live for the call.
            let p = unsafe { ffi::portti_load_private_key_only(key_pem.as_ptr(), key_pem.len()) };
            Key::from_raw(p).ok_or_else(|| {
                XmlSecError::InvalidKey(format!(
                    "private key is not readable PEM (encrypted keys are not supported): {}",
                    last_error()
                ))
            })
        })?;
        match key.rsa_kind() {
            RsaKind::Private => Ok(key),
            RsaKind::Public => Err(XmlSecError::InvalidKey(
                "a public key where the private key was expected".into(),
            )),
            RsaKind::NotRsa => Err(XmlSecError::InvalidKey("not an RSA key".into())),
        }
    }

    pub(crate) fn rsa_kind(&self) -> RsaKind {
        // SAFETY: the key is live (we hold a reference) and only read.
        match unsafe { ffi::portti_key_rsa_kind(self.as_ptr()) } {
            2 => RsaKind::Private,
            1 => RsaKind::Public,
            _ => RsaKind::NotRsa,
        }
    }

    /// For the shim, which only reads it; valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *const ffi::PorttiKey {
        self.parsed.ptr.as_ptr()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsaKind {
    Private,
    Public,
    NotRsa,
}
