#!/usr/bin/env bash
# Makes Portti's DEMO certificates with the openssl CLI. DEMO MATERIAL ONLY: the private keys
# are published in this repository, so nothing made here may ever be trusted outside tests
# and the sandbox. Production certificates come from DVV (server) and the organisation's CA.
#
#   demo-ca.pem / .key                  the demo certificate authority
#   gateway.pem / .key                  Portti's inbound HTTPS server certificate (localhost, 127.0.0.1)
#   ohjaus-853.pem / .key               client: the guidance operations system of Turku (853)
#   yhteyskeskus-529.pem / .key         client: the contact centre acting for Naantali (529)
#   portti-outbound.pem / .key / .p12   Portti's own client certificate for outbound mutual TLS
#   simulator.pem / .key                server certificate of the national-service simulators
#   untrusted-ca.pem, untrusted-client.pem / .key   a CA nobody trusts, for negative tests
#   kanta-signing-853.pem / .key       RSA system-signature certificate for Kanta documents (Turku, 853)
#   kanta-signing-529.pem / .key       RSA system-signature certificate for Kanta documents (Naantali, 529)
#
# `./make-certs.sh --kanta-signing` makes only the Kanta system-signature files that are missing,
# signed by the existing demo CA, and touches nothing else.
set -euo pipefail
cd "$(dirname "$0")"
DAYS=7300
ORG="/C=FI/O=Portti DEMO - NOT FOR PRODUCTION"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

ca() { # name cn
  key "$1"
  openssl req -x509 -new -key "$1.key" -sha256 -days "$DAYS" -subj "$ORG/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.pem"
}

leaf() { # name cn ca usage [san]
  local name=$1 cn=$2 ca=$3 usage=$4 san=${5:-}
  key "$name"
  openssl req -new -key "$name.key" -subj "$ORG/CN=$cn" -out "$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -sha256 \
    -days "$DAYS" -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

# --- Kanta system signatures -------------------------------------------------------------------
# An XML-DSig system signature (rsa-sha256) of the organisation's documents needs an RSA key; the
# certificate goes into ds:KeyInfo and is what the archive checks the signature against.
signing_leaf() { # name cn ca
  local name=$1 cn=$2 ca=$3
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key" 2>/dev/null
  openssl req -new -key "$name.key" -subj "$ORG/CN=$cn" -out "$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,nonRepudiation"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -sha256 \
    -days "$DAYS" -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

kanta_signing() { # all | missing
  local org name
  for org in 853 529; do
    name="kanta-signing-$org"
    if [ "$1" = missing ] && [ -s "$name.pem" ] && [ -s "$name.key" ]; then continue; fi
    signing_leaf "$name" "kanta-signing-$org" demo-ca
    chmod 644 "$name.key"
  done
}

if [ "${1:-}" = "--kanta-signing" ]; then
  kanta_signing missing
  rm -f ./*.srl
  echo "Kanta system-signature certificates present in $(pwd)"
  exit 0
fi
# -----------------------------------------------------------------------------------------------

ca demo-ca "Portti DEMO CA"
leaf gateway "localhost" demo-ca serverAuth "DNS:localhost,IP:127.0.0.1"
leaf ohjaus-853 "ohjaus-853" demo-ca clientAuth
leaf yhteyskeskus-529 "yhteyskeskus-529" demo-ca clientAuth
leaf portti-outbound "portti-outbound" demo-ca clientAuth
leaf simulator "localhost" demo-ca serverAuth "DNS:localhost,IP:127.0.0.1"
openssl pkcs12 -export -in portti-outbound.pem -inkey portti-outbound.key -certfile demo-ca.pem \
  -name portti-outbound -passout pass:demo -out portti-outbound.p12
ca untrusted-ca "Untrusted DEMO CA"
leaf untrusted-client "ohjaus-853" untrusted-ca clientAuth
kanta_signing all
rm -f ./*.srl
chmod 644 ./*.key
echo "demo certificates written to $(pwd)"
