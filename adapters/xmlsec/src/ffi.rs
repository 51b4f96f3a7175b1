//! Declarations of csrc/shim.c. Rust sees only opaque pointers and plain integers; every
//! libxml2/libxmlsec1 struct is read in C, compiled with pkg-config's defines.

use std::ffi::{c_char, c_int, c_void};
use std::marker::{PhantomData, PhantomPinned};

macro_rules! opaque {
    ($name:ident) => {
        #[repr(C)]
        pub(crate) struct $name {
            _private: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    };
}

opaque!(XmlDoc);
opaque!(XmlNode);
// csrc/shim.c `portti_key`: parsed key material, immutable, shared by threads (src/keys.rs).
opaque!(PorttiKey);
opaque!(XmlSchema);

/// Receives one schema validation message: user pointer, line (0 unknown), NUL-terminated text.
pub(crate) type SchemaSink = unsafe extern "C" fn(user: *mut c_void, line: c_int, msg: *const c_char);

pub(crate) const VALID: c_int = 0;
pub(crate) const DIGEST_MISMATCH: c_int = 1;
pub(crate) const SIGNATURE_MISMATCH: c_int = 2;

extern "C" {
    pub(crate) fn portti_init() -> c_int;
    pub(crate) fn portti_err_reset();
    pub(crate) fn portti_err_get() -> *const c_char;

    pub(crate) fn portti_parse(buf: *const u8, len: usize) -> *mut XmlDoc;
    pub(crate) fn portti_doc_free(doc: *mut XmlDoc);
    pub(crate) fn portti_doc_has_dtd(doc: *mut XmlDoc) -> c_int;
    pub(crate) fn portti_dump(doc: *mut XmlDoc, out: *mut *mut u8, out_len: *mut usize) -> c_int;
    pub(crate) fn portti_free(p: *mut c_void);

    pub(crate) fn portti_root(doc: *mut XmlDoc) -> *mut XmlNode;
    pub(crate) fn portti_first_child_element(node: *mut XmlNode) -> *mut XmlNode;
    pub(crate) fn portti_next_sibling_element(node: *mut XmlNode) -> *mut XmlNode;
    pub(crate) fn portti_parent_element(node: *mut XmlNode) -> *mut XmlNode;
    pub(crate) fn portti_local_name(node: *mut XmlNode) -> *const c_char;
    pub(crate) fn portti_ns_href(node: *mut XmlNode) -> *const c_char;
    pub(crate) fn portti_attr(node: *mut XmlNode, name: *const c_char, ns: *const c_char) -> *mut c_char;
    pub(crate) fn portti_text(node: *mut XmlNode) -> *mut c_char;
    pub(crate) fn portti_register_id(doc: *mut XmlDoc, node: *mut XmlNode, name: *const c_char) -> c_int;

    pub(crate) fn portti_load_private_key(
        key: *const u8,
        key_len: usize,
        cert: *const u8,
        cert_len: usize,
    ) -> *mut PorttiKey;
    pub(crate) fn portti_load_cert_key(cert: *const u8, cert_len: usize) -> *mut PorttiKey;
    pub(crate) fn portti_load_private_key_only(key: *const u8, key_len: usize) -> *mut PorttiKey;
    pub(crate) fn portti_key_free(key: *mut PorttiKey);
    pub(crate) fn portti_key_rsa_kind(key: *const PorttiKey) -> c_int;
    pub(crate) fn portti_check_key_cert(key: *const u8, key_len: usize, cert: *const u8, cert_len: usize) -> c_int;

    pub(crate) fn portti_encrypt(
        node: *mut XmlNode,
        recipient: *const PorttiKey,
        data_alg: c_int,
        key_transport: c_int,
    ) -> c_int;
    pub(crate) fn portti_decrypt(
        enc_data: *mut XmlNode,
        enc_key: *mut XmlNode,
        private_key: *const PorttiKey,
        data_alg: c_int,
    ) -> c_int;

    pub(crate) fn portti_sign(sig: *mut XmlNode, key: *const PorttiKey) -> c_int;
    pub(crate) fn portti_verify(sig: *mut XmlNode, key: *const PorttiKey) -> c_int;

    pub(crate) fn portti_schema_load(path: *const c_char) -> *mut XmlSchema;
    pub(crate) fn portti_schema_free(schema: *mut XmlSchema);
    pub(crate) fn portti_schema_validate(
        schema: *mut XmlSchema,
        doc: *mut XmlDoc,
        sink: SchemaSink,
        user: *mut c_void,
    ) -> c_int;
}
