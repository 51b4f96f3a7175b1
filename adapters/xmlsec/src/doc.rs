//! Owning wrappers over the C objects: every one is freed on every path by `Drop`.

use std::ffi::{c_char, c_void, CStr, CString};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

use crate::ffi;
use crate::XmlSecError;

/// Initialises libxml2, libxmlsec1 and its OpenSSL engine once per process, and clears this
/// thread's error buffer for the call that follows.
pub(crate) fn init() -> Result<(), XmlSecError> {
    static INIT: OnceLock<i32> = OnceLock::new();
    // SAFETY: portti_init has no preconditions; the OnceLock runs it exactly once.
    let rc = *INIT.get_or_init(|| unsafe { ffi::portti_init() });
    // SAFETY: touches only this thread's buffer.
    unsafe { ffi::portti_err_reset() };
    if rc == 0 {
        Ok(())
    } else {
        Err(XmlSecError::Init(rc))
    }
}

/// What libxml2/libxmlsec1 reported on this thread since the last `init()`.
pub(crate) fn last_error() -> String {
    // SAFETY: the shim returns a NUL-terminated thread-local buffer.
    let s = unsafe { CStr::from_ptr(ffi::portti_err_get()) };
    let s = s.to_string_lossy().into_owned();
    if s.is_empty() {
        "no details".to_owned()
    } else {
        s
    }
}

/// Takes ownership of a libxml2-allocated string.
fn take_xml_string(p: *mut c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: p is a NUL-terminated string allocated by libxml2, freed right after copying.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    unsafe { ffi::portti_free(p.cast::<c_void>()) };
    Some(s)
}

fn cstr_to_str<'a>(p: *const c_char) -> Option<&'a CStr> {
    // SAFETY: callers pass names owned by a live tree node (see `Node`).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) })
}

pub(crate) struct Doc {
    ptr: NonNull<ffi::XmlDoc>,
}

impl Drop for Doc {
    fn drop(&mut self) {
        // SAFETY: we own the document; nodes borrowed from it cannot outlive `self`.
        unsafe { ffi::portti_doc_free(self.ptr.as_ptr()) }
    }
}

impl Doc {
    /// Parses with no network access, no entity substitution and no DTD loading, and refuses any
    /// DOCTYPE at all: signed data never needs one and DTDs only add ways to smuggle IDs,
    /// default attributes and entities.
    pub(crate) fn parse(xml: &[u8]) -> Result<Doc, XmlSecError> {
        if xml.is_empty() {
            return Err(XmlSecError::NotWellFormed("empty document".into()));
        }
        if xml.len() > i32::MAX as usize {
            return Err(XmlSecError::TooLarge(xml.len()));
        }
        // SAFETY: buffer and length describe a live slice; the shim copies what it needs.
        let p = unsafe { ffi::portti_parse(xml.as_ptr(), xml.len()) };
        let doc = NonNull::new(p)
            .map(|ptr| Doc { ptr })
            .ok_or_else(|| XmlSecError::NotWellFormed(last_error()))?;
        // SAFETY: doc is live.
        if unsafe { ffi::portti_doc_has_dtd(doc.ptr.as_ptr()) } != 0 {
            return Err(XmlSecError::DoctypeRefused);
        }
        Ok(doc)
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::XmlDoc {
        self.ptr.as_ptr()
    }

    pub(crate) fn root(&self) -> Option<Node<'_>> {
        // SAFETY: doc is live.
        Node::new(unsafe { ffi::portti_root(self.ptr.as_ptr()) })
    }

    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, XmlSecError> {
        let mut out: *mut u8 = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: doc is live; on success `out` is a libxml2 buffer of `len` bytes we free below.
        let rc = unsafe { ffi::portti_dump(self.ptr.as_ptr(), &mut out, &mut len) };
        if rc != 0 || out.is_null() {
            return Err(XmlSecError::Library(last_error()));
        }
        let bytes = unsafe { std::slice::from_raw_parts(out, len) }.to_vec();
        unsafe { ffi::portti_free(out.cast::<c_void>()) };
        Ok(bytes)
    }

    /// Makes `node`'s unqualified attribute `name` an XML ID, so that `#value` references
    /// resolve to this node.
    pub(crate) fn register_id(&self, node: Node<'_>, name: &str) -> Result<(), XmlSecError> {
        let c_name = CString::new(name).map_err(|_| XmlSecError::InvalidPolicy("NUL in attribute name".into()))?;
        // SAFETY: doc and node are live and node belongs to doc.
        let rc = unsafe { ffi::portti_register_id(self.ptr.as_ptr(), node.ptr.as_ptr(), c_name.as_ptr()) };
        match rc {
            0 => Ok(()),
            1 => Err(XmlSecError::MissingId {
                element: node.local_name(),
                attribute: name.to_owned(),
            }),
            2 => Err(XmlSecError::DuplicateId(node.attr(name).unwrap_or_default())),
            _ => Err(XmlSecError::Library(last_error())),
        }
    }
}

/// An element of a live `Doc`. Only read through the shim; the lifetime ties it to the document.
#[derive(Clone, Copy)]
pub(crate) struct Node<'d> {
    ptr: NonNull<ffi::XmlNode>,
    _doc: PhantomData<&'d Doc>,
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<'d> Node<'d> {
    fn new(p: *mut ffi::XmlNode) -> Option<Node<'d>> {
        NonNull::new(p).map(|ptr| Node { ptr, _doc: PhantomData })
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::XmlNode {
        self.ptr.as_ptr()
    }

    pub(crate) fn local_name(&self) -> String {
        // SAFETY: node is live; the name is owned by it.
        cstr_to_str(unsafe { ffi::portti_local_name(self.ptr.as_ptr()) })
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub(crate) fn namespace(&self) -> Option<String> {
        // SAFETY: node is live; the namespace is owned by the tree.
        cstr_to_str(unsafe { ffi::portti_ns_href(self.ptr.as_ptr()) }).map(|s| s.to_string_lossy().into_owned())
    }

    /// Compares without allocating: this runs for every element of a document. An empty `ns`
    /// means "no namespace".
    pub(crate) fn is(&self, ns: &str, local: &str) -> bool {
        // SAFETY: node is live; strings are owned by the tree.
        let name = cstr_to_str(unsafe { ffi::portti_local_name(self.ptr.as_ptr()) });
        let href = cstr_to_str(unsafe { ffi::portti_ns_href(self.ptr.as_ptr()) });
        name.is_some_and(|n| n.to_bytes() == local.as_bytes())
            && match href {
                Some(h) => h.to_bytes() == ns.as_bytes(),
                None => ns.is_empty(),
            }
    }

    pub(crate) fn first_child(&self) -> Option<Node<'d>> {
        // SAFETY: node is live.
        Node::new(unsafe { ffi::portti_first_child_element(self.ptr.as_ptr()) })
    }

    pub(crate) fn next_sibling(&self) -> Option<Node<'d>> {
        // SAFETY: node is live.
        Node::new(unsafe { ffi::portti_next_sibling_element(self.ptr.as_ptr()) })
    }

    pub(crate) fn parent(&self) -> Option<Node<'d>> {
        // SAFETY: node is live.
        Node::new(unsafe { ffi::portti_parent_element(self.ptr.as_ptr()) })
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = Node<'d>> {
        std::iter::successors(self.first_child(), |n| n.next_sibling())
    }

    /// This element and all element descendants in document order, without recursion so that
    /// deep hostile nesting cannot exhaust the stack.
    pub(crate) fn descendants_or_self(&self) -> Vec<Node<'d>> {
        let root = *self;
        let mut out = vec![root];
        let mut cur = root;
        loop {
            if let Some(child) = cur.first_child() {
                cur = child;
            } else {
                loop {
                    if cur == root {
                        return out;
                    }
                    if let Some(next) = cur.next_sibling() {
                        cur = next;
                        break;
                    }
                    match cur.parent() {
                        Some(p) => cur = p,
                        None => return out,
                    }
                }
            }
            out.push(cur);
        }
    }

    /// Unqualified attribute.
    pub(crate) fn attr(&self, name: &str) -> Option<String> {
        let c_name = CString::new(name).ok()?;
        // SAFETY: node is live; the result is libxml2-allocated and taken over.
        take_xml_string(unsafe { ffi::portti_attr(self.ptr.as_ptr(), c_name.as_ptr(), ptr::null()) })
    }

    pub(crate) fn attr_ns(&self, name: &CStr, ns: &CStr) -> Option<String> {
        // SAFETY: as above.
        take_xml_string(unsafe { ffi::portti_attr(self.ptr.as_ptr(), name.as_ptr(), ns.as_ptr()) })
    }

    pub(crate) fn text(&self) -> String {
        // SAFETY: as above.
        take_xml_string(unsafe { ffi::portti_text(self.ptr.as_ptr()) }).unwrap_or_default()
    }
}
