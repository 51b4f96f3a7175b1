//! W3C XML Schema (XSD 1.0) validation through libxml2's xmlschemas.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Mutex;

use crate::doc::{init, last_error, Doc};
use crate::{ffi, XmlSecError};

/// At most this many messages are kept per validation (the rest are only counted).
pub const MAX_SCHEMA_MESSAGES: usize = 5;
/// Each kept message is cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 240;

/// A compiled XML Schema, loaded once and used for any number of validations.
///
/// Loading reads the schema file and the files it includes or imports (relative to it) from
/// the local file system only: libxml2's no-network entity loader is installed process-wide
/// (see the crate docs), so an `http://` or `ftp://` schemaLocation fails instead of being
/// fetched. The schema files are trusted configuration, not input.
///
/// Threads: libxml2 documents thread safety for parsing different documents, not for several
/// validation contexts sharing one compiled `xmlSchema`. Validation does not appear to write to
/// the compiled schema, but that is not a documented guarantee, so validations against one
/// `Schema` are serialised by a mutex (parsing the instance happens outside the lock, and each
/// validation has its own `xmlSchemaValidCtxt`). A CDA document validates in about a
/// millisecond; compile one `Schema` per thread if that ever becomes the bottleneck.
pub struct Schema {
    ptr: NonNull<ffi::XmlSchema>,
    /// Held for the whole of every validation, see the type docs.
    lock: Mutex<()>,
    path: PathBuf,
}

// SAFETY: the compiled schema is plain heap memory from libxml2's (thread-safe) allocator,
// with no thread affinity; it is only read through `validate`, which holds `lock`, and freed
// in `Drop`, which has exclusive access.
unsafe impl Send for Schema {}
// SAFETY: as above: every use through `&Schema` is serialised by `lock`.
unsafe impl Sync for Schema {}

impl Drop for Schema {
    fn drop(&mut self) {
        // SAFETY: we own the schema and no validation can be running (`&mut self`).
        unsafe { ffi::portti_schema_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema").field("path", &self.path).finish()
    }
}

impl Schema {
    /// Compiles the schema at `path` (the file with the top-level `xs:schema`, e.g. CDA.xsd).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Schema, XmlSecError> {
        let path = path.as_ref();
        init()?;
        let text = path
            .to_str()
            .ok_or_else(|| XmlSecError::Schema(format!("{}: path is not UTF-8", path.display())))?;
        let c_path = CString::new(text).map_err(|_| XmlSecError::Schema("NUL in schema path".into()))?;
        // SAFETY: c_path is a live NUL-terminated string for the call.
        let p = unsafe { ffi::portti_schema_load(c_path.as_ptr()) };
        let ptr = NonNull::new(p)
            .ok_or_else(|| XmlSecError::Schema(format!("{}: {}", path.display(), shorten(&last_error()))))?;
        Ok(Schema {
            ptr,
            lock: Mutex::new(()),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Parses `xml` with the crate's hostile-input rules (no DOCTYPE, no entities, no network)
    /// and validates it. `xsi:schemaLocation` in the document is ignored: only this schema
    /// counts.
    pub fn validate(&self, xml: &[u8]) -> Result<(), SchemaErrors> {
        init().map_err(|e| SchemaErrors::single(SchemaErrorKind::Internal, None, e.to_string()))?;
        let doc = Doc::parse(xml).map_err(|e| {
            let kind = match e {
                XmlSecError::TooLarge(_) | XmlSecError::DoctypeRefused | XmlSecError::NotWellFormed(_) => {
                    SchemaErrorKind::NotWellFormed
                }
                _ => SchemaErrorKind::Internal,
            };
            SchemaErrors::single(kind, None, e.to_string())
        })?;
        let mut sink = Sink::default();
        let rc = {
            let _guard = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // SAFETY: schema and doc are live for the call; `sink` outlives it and is only
            // touched by `collect` during the call, on this thread.
            unsafe {
                ffi::portti_schema_validate(
                    self.ptr.as_ptr(),
                    doc.as_ptr(),
                    collect,
                    (&mut sink as *mut Sink).cast::<c_void>(),
                )
            }
        };
        match rc {
            0 => Ok(()),
            rc if rc > 0 => {
                if sink.messages.is_empty() {
                    sink.messages.push(SchemaMessage {
                        line: None,
                        message: "the document is not valid".into(),
                    });
                    sink.total = 1;
                }
                Err(SchemaErrors {
                    kind: SchemaErrorKind::Invalid,
                    messages: sink.messages,
                    total: sink.total,
                })
            }
            _ => Err(SchemaErrors::single(
                SchemaErrorKind::Internal,
                None,
                format!("validation failed: {}", last_error()),
            )),
        }
    }
}

#[derive(Default)]
struct Sink {
    messages: Vec<SchemaMessage>,
    total: usize,
}

/// Called by the shim for every validation error, on the validating thread.
unsafe extern "C" fn collect(user: *mut c_void, line: c_int, msg: *const c_char) {
    if user.is_null() {
        return;
    }
    // SAFETY: `user` is the `Sink` that `validate` passed for this very call.
    let sink = unsafe { &mut *user.cast::<Sink>() };
    sink.total += 1;
    if sink.messages.len() >= MAX_SCHEMA_MESSAGES || msg.is_null() {
        return;
    }
    // SAFETY: libxml2 passes a NUL-terminated message that lives for the callback.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    sink.messages.push(SchemaMessage {
        line: u32::try_from(line).ok().filter(|l| *l > 0),
        message: shorten(&text),
    });
}

/// One line, trimmed, at most [`MAX_MESSAGE_CHARS`] characters.
fn shorten(s: &str) -> String {
    let one_line: String = s.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= MAX_MESSAGE_CHARS {
        return one_line;
    }
    let mut out: String = one_line.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    out.push('…');
    out
}

/// What kind of failure a [`SchemaErrors`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaErrorKind {
    /// Not parseable under the crate's rules (not well-formed, a DOCTYPE, too large).
    NotWellFormed,
    /// Well-formed but not valid against the schema.
    Invalid,
    /// libxml2 failed (out of memory, ...): says nothing about the document.
    Internal,
}

/// One message as libxml2 phrased it (element names, sometimes the offending value), shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaMessage {
    /// 1-based line in the validated document, when libxml2 knows it.
    pub line: Option<u32>,
    pub message: String,
}

impl fmt::Display for SchemaMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a document did not validate: the first [`MAX_SCHEMA_MESSAGES`] messages, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaErrors {
    pub kind: SchemaErrorKind,
    pub messages: Vec<SchemaMessage>,
    /// All messages libxml2 reported, including those not kept.
    pub total: usize,
}

impl SchemaErrors {
    fn single(kind: SchemaErrorKind, line: Option<u32>, message: String) -> Self {
        SchemaErrors {
            kind,
            messages: vec![SchemaMessage {
                line,
                message: shorten(&message),
            }],
            total: 1,
        }
    }

    /// The first message (the crate always reports at least one).
    pub fn first(&self) -> Option<&SchemaMessage> {
        self.messages.first()
    }
}

impl fmt::Display for SchemaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.messages.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{m}")?;
        }
        if self.total > self.messages.len() {
            write!(f, " (and {} more)", self.total - self.messages.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for SchemaErrors {}
