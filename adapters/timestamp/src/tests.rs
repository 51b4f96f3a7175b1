use super::*;

fn tsa() -> (Vec<u8>, Vec<u8>) {
    generate_identity("Portti test TSA").unwrap()
}

#[test]
fn a_reply_verifies_for_its_request_and_the_token_later() {
    let (key, cert) = tsa();
    let trust = Trust::from_pem(&cert).unwrap();
    let request = Request::new(b"checkpoint").unwrap();
    assert!(is_request(&request.der));
    let reply = respond(&request.der, &key, &cert, 7, false).unwrap();
    let token = trust.verify_reply(&reply, &request).unwrap();
    assert!((Utc::now() - token.gen_time).num_seconds().abs() < 60);
    assert_eq!(trust.verify_token(&token.der, b"checkpoint").unwrap(), token.gen_time);
    let err = trust.verify_token(&token.der, b"other data").unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
}

#[test]
fn a_reply_for_another_request_or_imprint_is_refused() {
    let (key, cert) = tsa();
    let trust = Trust::from_pem(&cert).unwrap();
    let request = Request::new(b"checkpoint").unwrap();
    let other = Request::new(b"checkpoint").unwrap();
    let reply = respond(&other.der, &key, &cert, 1, false).unwrap();
    // Same data, other nonce.
    assert!(trust.verify_reply(&reply, &request).is_err());
    let wrong = respond(&request.der, &key, &cert, 2, true).unwrap();
    let err = trust.verify_reply(&wrong, &request).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
}

#[test]
fn a_token_of_another_tsa_is_refused() {
    let (key, cert) = tsa();
    let (_, other_cert) = tsa();
    let request = Request::new(b"checkpoint").unwrap();
    let reply = respond(&request.der, &key, &cert, 3, false).unwrap();
    let token = Trust::from_pem(&cert).unwrap().verify_reply(&reply, &request).unwrap();
    let other = Trust::from_pem(&other_cert).unwrap();
    assert!(other.verify_reply(&reply, &request).is_err());
    assert!(other.verify_token(&token.der, b"checkpoint").is_err());
}

#[test]
fn garbage_is_neither_a_request_nor_a_reply() {
    let (_, cert) = tsa();
    let request = Request::new(b"x").unwrap();
    assert!(!is_request(b"not der"));
    assert!(!is_request(&request.der[..request.der.len() - 1]));
    let trust = Trust::from_pem(&cert).unwrap();
    let err = trust.verify_reply(b"\x30\x03\x02\x01\x00", &request).unwrap_err();
    assert!(err.to_string().contains("not a DER"), "{err}");
    assert!(trust.verify_token(b"junk", b"x").is_err());
    assert!(Trust::from_pem(b"no pem here").is_err());
}

#[test]
fn the_openssl_command_verifies_a_token() {
    let (key, cert) = tsa();
    let trust = Trust::from_pem(&cert).unwrap();
    let request = Request::new(b"checkpoint bytes").unwrap();
    let reply = respond(&request.der, &key, &cert, 9, false).unwrap();
    let token = trust.verify_reply(&reply, &request).unwrap();
    let dir = std::env::temp_dir().join(format!("portti-ts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token.der"), &token.der).unwrap();
    std::fs::write(dir.join("data"), b"checkpoint bytes").unwrap();
    std::fs::write(dir.join("tsa.pem"), &cert).unwrap();
    let verify = |data: &str| {
        std::process::Command::new("openssl")
            .args([
                "ts",
                "-verify",
                "-token_in",
                "-in",
                "token.der",
                "-data",
                data,
                "-CAfile",
                "tsa.pem",
            ])
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = verify("data");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("other"), b"checkpoint bytez").unwrap();
    assert!(!verify("other").status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
