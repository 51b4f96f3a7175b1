//! Compiles csrc/shim.c against OpenSSL's libcrypto (its TS API has no Rust binding).

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.c");
    let probe = |metadata: bool| {
        pkg_config::Config::new()
            .atleast_version("3.0")
            .cargo_metadata(metadata)
            .probe("libcrypto")
            .unwrap_or_else(|e| {
                panic!("OpenSSL's libcrypto was not found through pkg-config: {e}\nOn Debian/Ubuntu: apt-get install -y pkg-config libssl-dev")
            })
    };
    let lib = probe(false);
    let mut build = cc::Build::new();
    build.file("csrc/shim.c").flag_if_supported("-std=gnu11").warnings(true);
    for path in &lib.include_paths {
        build.include(path);
    }
    build.compile("portti_timestamp_shim");
    // Link flags after the static shim so that the linker resolves the shim's references.
    probe(true);
}
