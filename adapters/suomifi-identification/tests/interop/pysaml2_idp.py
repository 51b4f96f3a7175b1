#!/usr/bin/env python3
"""An independent IdP for Portti's SAML SP interop test (tests/interop.rs): pysaml2's IdP
`Server`, configured programmatically, makes a signed and encrypted authn Response the way
Suomi.fi's IdP does.

Writes into --out-dir: `saml_response.b64` (the SAMLResponse form field, Base64),
`idp_metadata.xml` (the IdP metadata pysaml2 generates for this configuration) and
`data_encryption.txt` (the EncryptedData algorithm URI used); prints pysaml2's version.
Exit status 3 when pysaml2 is not installed.

The SP is known to pysaml2 through its metadata (--sp-metadata, what Portti's `sp_metadata`
writes); the encryption certificate is passed explicitly (`encrypt_cert_assertion`).

Algorithms. pysaml2 7.x signs with whatever `signing_algorithm` / `digest_algorithm` says
(rsa-sha256 / sha256 here) and wraps the session key with rsa-oaep-mgf1p, but the data cipher
of an encrypted assertion is not configurable: `Entity._encrypt_assertion` calls
`pre_encryption_part()` without `msg_enc` (default tripledes-cbc) and
`SecurityContext.encrypt_assertion()` without `key_type` (default "des-192"). Suomi.fi uses AES
(and Portti refuses 3DES), so `--data-encryption` (default aes256-gcm) replaces exactly those two
defaults; `--data-encryption pysaml2-default` leaves pysaml2 untouched (3DES).
"""

import argparse
import base64
import functools
import os
import sys

try:
    import saml2
    from saml2 import BINDING_HTTP_REDIRECT, saml
    from saml2 import entity as saml2_entity
    from saml2.config import IdPConfig
    from saml2.metadata import create_metadata_string
    from saml2.server import Server
    from saml2.sigver import pre_encryption_part
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
except ImportError as e:  # pragma: no cover - reported by the Rust test
    print(f"pysaml2 is not installed ({e}); pip install pysaml2", file=sys.stderr)
    sys.exit(3)

NAME_FORMAT_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"

# Suomi.fi's attribute names (uri NameFormat) with their FriendlyNames, as a pysaml2
# attribute map module (pysaml2 loads every module of `attribute_map_dir`).
ATTRIBUTE_MAP = '''
MAP = {
    "identifier": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    "fro": {
        "urn:oid:1.2.246.21": "nationalIdentificationNumber",
        "urn:oid:2.5.4.42": "givenName",
        "urn:oid:2.5.4.4": "sn",
        "urn:oid:2.5.4.3": "cn",
        "urn:oid:1.2.246.517.2002.2.18": "KotikuntaKuntanumero",
    },
    "to": {
        "nationalIdentificationNumber": "urn:oid:1.2.246.21",
        "givenName": "urn:oid:2.5.4.42",
        "sn": "urn:oid:2.5.4.4",
        "cn": "urn:oid:2.5.4.3",
        "KotikuntaKuntanumero": "urn:oid:1.2.246.517.2002.2.18",
    },
}
'''

# EncryptedData algorithm URI -> xmlsec1 --session-key.
DATA_ENCRYPTION = {
    "aes256-gcm": ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256"),
    "aes128-gcm": ("http://www.w3.org/2009/xmlenc11#aes128-gcm", "aes-128"),
    "aes256-cbc": ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", "aes-256"),
    "aes128-cbc": ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128"),
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--idp-key", required=True, help="IdP signing key (PEM)")
    p.add_argument("--idp-cert", required=True, help="IdP signing certificate (PEM)")
    p.add_argument("--idp-entity-id", required=True)
    p.add_argument("--sp-encryption-cert", required=True, help="the SP's encryption certificate (PEM)")
    p.add_argument("--sp-entity-id", required=True)
    p.add_argument("--sp-metadata", required=True, help="the SP's metadata (XML file)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--acs-url", required=True)
    p.add_argument("--in-response-to", required=True)
    p.add_argument("--name-id", required=True)
    p.add_argument("--loa", default="http://ftn.ficora.fi/2017/loa3")
    p.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="OID=VALUE",
        help="an attribute by its uri Name, e.g. urn:oid:1.2.246.21=210281-9988 (repeatable)",
    )
    p.add_argument(
        "--data-encryption",
        choices=sorted(DATA_ENCRYPTION) + ["pysaml2-default"],
        default="aes256-gcm",
    )
    p.add_argument("--xmlsec1", default=None, help="path of the xmlsec1 binary (default: from PATH)")
    args = p.parse_args()

    map_dir = os.path.join(args.out_dir, "attributemaps")
    os.makedirs(map_dir, exist_ok=True)
    with open(os.path.join(map_dir, "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(map_dir, "suomifi.py"), "w") as f:
        f.write(ATTRIBUTE_MAP)

    sso = args.idp_entity_id.rstrip("/") + "/profile/SAML2/Redirect/SSO"
    slo = args.idp_entity_id.rstrip("/") + "/profile/SAML2/Redirect/SLO"
    config = {
        "entityid": args.idp_entity_id,
        "key_file": args.idp_key,
        "cert_file": args.idp_cert,
        "attribute_map_dir": map_dir,
        "metadata": {"local": [args.sp_metadata]},
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [(sso, BINDING_HTTP_REDIRECT)],
                    "single_logout_service": [(slo, BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [NAMEID_TRANSIENT],
                "sign_assertion": True,
                "sign_response": False,
                "encrypt_assertion": True,
                "encrypted_advice_attributes": False,
                "want_authn_requests_signed": True,
                "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
            }
        },
    }
    if args.xmlsec1:
        config["xmlsec_binary"] = args.xmlsec1
    idp_config = IdPConfig()
    idp_config.load(config)
    server = Server(config=idp_config)

    if args.data_encryption != "pysaml2-default":
        data_uri, session_key = DATA_ENCRYPTION[args.data_encryption]
        # The two hard-wired 3DES defaults (see the module docstring); the key transport stays
        # pysaml2's rsa-oaep-mgf1p.
        saml2_entity.pre_encryption_part = functools.partial(pre_encryption_part, msg_enc=data_uri)
        server.sec.encrypt_assertion = functools.partial(server.sec.encrypt_assertion, key_type=session_key)
    else:
        data_uri = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"

    with open(args.sp_encryption_cert) as f:
        sp_encryption_cert = f.read()

    # The FriendlyNames of ATTRIBUTE_MAP; pysaml2 maps them back to the uri Names.
    to_friendly = {oid: friendly for friendly, oid in _map_to().items()}
    identity = {}
    for a in args.attribute:
        oid, _, value = a.partition("=")
        if oid not in to_friendly:
            p.error(f"unknown attribute {oid}")
        identity[to_friendly[oid]] = [value]

    name_id = saml.NameID(
        format=NAMEID_TRANSIENT,
        name_qualifier=args.idp_entity_id,
        sp_name_qualifier=args.sp_entity_id,
        text=args.name_id,
    )
    response = server.create_authn_response(
        identity,
        in_response_to=args.in_response_to,
        destination=args.acs_url,
        sp_entity_id=args.sp_entity_id,
        name_id=name_id,
        authn={"class_ref": args.loa, "authn_auth": args.idp_entity_id},
        sign_response=False,
        sign_assertion=True,
        encrypt_assertion=True,
        encrypted_advice_attributes=False,
        encrypt_cert_assertion=sp_encryption_cert,
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    xml = str(response)
    if isinstance(response, list) or "EncryptedAssertion" not in xml:
        print(f"pysaml2 did not make an encrypted assertion:\n{xml}", file=sys.stderr)
        sys.exit(1)

    metadata = create_metadata_string(None, config=idp_config, valid=24 * 365)
    if isinstance(metadata, str):
        metadata = metadata.encode("utf-8")
    outputs = {
        "saml_response.b64": base64.b64encode(xml.encode("utf-8")),
        "idp_metadata.xml": metadata,
        "data_encryption.txt": data_uri.encode("ascii"),
    }
    for name, content in outputs.items():
        with open(os.path.join(args.out_dir, name), "wb") as f:
            f.write(content)
    print(f"pysaml2 {getattr(saml2, '__version__', 'unknown')}")


def _map_to():
    scope = {}
    exec(ATTRIBUTE_MAP, scope)
    return scope["MAP"]["to"]


if __name__ == "__main__":
    main()
