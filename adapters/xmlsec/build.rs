//! Compiles csrc/shim.c against libxmlsec1 and its OpenSSL engine.
//!
//! The defines from `pkg-config --cflags xmlsec1-openssl` (XMLSEC_NO_SIZE_T,
//! XMLSEC_CRYPTO_OPENSSL, ...) change libxmlsec1's struct layouts, so the shim, which is the only
//! code touching those structs, is compiled with exactly those defines.

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.c");
    let probe = |metadata: bool| {
        pkg_config::Config::new()
            .atleast_version("1.2.30")
            .cargo_metadata(metadata)
            .probe("xmlsec1-openssl")
            .unwrap_or_else(|e| {
                panic!(
                    "libxmlsec1 with its OpenSSL engine was not found through pkg-config: {e}\n\
                     On Debian/Ubuntu: apt-get install -y pkg-config libxmlsec1-dev libxml2-dev libssl-dev"
                )
            })
    };
    let lib = probe(false);
    let mut build = cc::Build::new();
    build.file("csrc/shim.c").flag_if_supported("-std=gnu11").warnings(true);
    for path in &lib.include_paths {
        build.include(path);
    }
    for (name, value) in &lib.defines {
        build.define(name, value.as_deref());
    }
    build.compile("portti_xmlsec_shim");
    // Link flags after the static shim so that the linker resolves the shim's references.
    probe(true);
}
