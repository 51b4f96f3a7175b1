/*
 * Thin C layer between Rust and libxmlsec1 / libxml2.
 *
 * Why C and not Rust FFI over the structs: xmlSecDSigCtx and friends change layout with the
 * defines that `pkg-config --cflags xmlsec1-openssl` carries (XMLSEC_NO_SIZE_T, ...). This file
 * is compiled with exactly those defines, so every struct field access here is right by
 * construction; Rust only ever sees opaque pointers and plain ints.
 *
 * Nothing here keeps state between calls except: the one-time library initialisation, the
 * process-wide xmlsec error callback (which writes into a thread-local buffer), the removal
 * of xmlsec's IO callbacks (so no Reference can ever read a file or a URL), and libxml2's
 * no-network external entity loader (so no schema include can reach the network).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlenc.h>
#include <xmlsec/templates.h>
#include <xmlsec/keyinfo.h>
#include <xmlsec/transforms.h>
#include <xmlsec/errors.h>
#include <xmlsec/io.h>
#include <xmlsec/keys.h>
#include <xmlsec/list.h>
#include <xmlsec/openssl/app.h>
#include <xmlsec/openssl/crypto.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#ifndef XMLSEC_CRYPTO_OPENSSL
#error "compile with the cflags of pkg-config xmlsec1-openssl (XMLSEC_CRYPTO_OPENSSL missing)"
#endif

/* Outcomes of portti_verify. */
#define PORTTI_VALID 0
#define PORTTI_DIGEST_MISMATCH 1
#define PORTTI_SIGNATURE_MISMATCH 2
#define PORTTI_ERROR (-1)

/* ---------------------------------------------------------------- errors */

#define PORTTI_ERR_CAP 2048
static _Thread_local char err_buf[PORTTI_ERR_CAP];
static _Thread_local size_t err_len;

static void err_append(const char *s) {
    size_t n;
    if (s == NULL || s[0] == '\0') {
        return;
    }
    if (err_len > 0) {
        if (err_len + 3 >= PORTTI_ERR_CAP) {
            return;
        }
        err_buf[err_len++] = ';';
        err_buf[err_len++] = ' ';
    }
    n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) {
        n--;
    }
    if (n > PORTTI_ERR_CAP - 1 - err_len) {
        n = PORTTI_ERR_CAP - 1 - err_len;
    }
    memcpy(err_buf + err_len, s, n);
    err_len += n;
    err_buf[err_len] = '\0';
}

void portti_err_reset(void) {
    err_len = 0;
    err_buf[0] = '\0';
}

const char *portti_err_get(void) {
    return err_buf;
}

static void xmlsec_error_cb(const char *file, int line, const char *func, const char *errorObject,
                            const char *errorSubject, int reason, const char *msg) {
    const char *reason_msg = NULL;
    char tmp[512];
    xmlSecSize i;
    (void)file;
    (void)line;
    (void)errorObject;
    for (i = 0; i < XMLSEC_ERRORS_MAX_NUMBER && xmlSecErrorsGetMsg(i) != NULL; ++i) {
        if (xmlSecErrorsGetCode(i) == reason) {
            reason_msg = xmlSecErrorsGetMsg(i);
            break;
        }
    }
    snprintf(tmp, sizeof(tmp), "%s: %s%s%s%s%s", func != NULL ? func : "xmlsec",
             errorSubject != NULL ? errorSubject : "", errorSubject != NULL ? ": " : "",
             reason_msg != NULL ? reason_msg : "error", msg != NULL ? " - " : "",
             msg != NULL ? msg : "");
    err_append(tmp);
}

static void parse_error_cb(void *ctx, xmlErrorPtr err) {
    char tmp[512];
    (void)ctx;
    if (err == NULL) {
        return;
    }
    snprintf(tmp, sizeof(tmp), "line %d: %s", err->line,
             err->message != NULL ? err->message : "parse error");
    err_append(tmp);
}

/* ---------------------------------------------------------------- init */

/* Called exactly once (Rust guards it with a OnceLock). */
int portti_init(void) {
    xmlInitParser();
    if (xmlSecInit() < 0) {
        return -1;
    }
    if (xmlSecCheckVersion() != 1) {
        return -2;
    }
    /* No Reference may read from files, HTTP or FTP: drop every IO callback. */
    xmlSecIOCleanupCallbacks();
    /* No libxml2 load in this process may go to the network either: external entities, DTDs
     * and, above all, the files an XML Schema includes or imports (the schema parser reads them
     * with options of its own, so XML_PARSE_NONET cannot be passed to it). libxml2's own loader
     * refuses http:// and ftp:// and reads local files only. */
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
    if (xmlSecOpenSSLAppInit(NULL) < 0) {
        return -3;
    }
    if (xmlSecOpenSSLInit() < 0) {
        return -4;
    }
    /* Last: the init calls above install the default (stderr-printing) callback. */
    xmlSecErrorsSetCallback(xmlsec_error_cb);
    return 0;
}

/* ---------------------------------------------------------------- documents */

/* Parses without network, without entity substitution, without DTD loading or default
 * attributes. Returns NULL (with the reason in the error buffer) on any well-formedness or
 * namespace error. */
xmlDocPtr portti_parse(const unsigned char *buf, size_t len) {
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    int options = XML_PARSE_NONET;

    if (len > (size_t)INT_MAX) {
        err_append("input too large");
        return NULL;
    }
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        err_append("out of memory");
        return NULL;
    }
    if (ctxt->sax != NULL) {
        ctxt->sax->serror = parse_error_cb;
    }
    doc = xmlCtxtReadMemory(ctxt, (const char *)buf, (int)len, NULL, NULL, options);
    if (doc != NULL && (!ctxt->wellFormed || !ctxt->nsWellFormed)) {
        if (!ctxt->nsWellFormed) {
            err_append("namespace error");
        }
        xmlFreeDoc(doc);
        doc = NULL;
    }
    if (doc == NULL && err_len == 0) {
        err_append("not well-formed");
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

void portti_doc_free(xmlDocPtr doc) {
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
}

int portti_doc_has_dtd(xmlDocPtr doc) {
    xmlNodePtr cur;
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        return 1;
    }
    for (cur = doc->children; cur != NULL; cur = cur->next) {
        if (cur->type == XML_DTD_NODE || cur->type == XML_ENTITY_DECL) {
            return 1;
        }
    }
    return 0;
}

/* Serialises the (signed) document; the caller frees *out with portti_free. */
int portti_dump(xmlDocPtr doc, unsigned char **out, size_t *out_len) {
    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpMemory(doc, &mem, &size);
    if (mem == NULL || size < 0) {
        if (mem != NULL) {
            xmlFree(mem);
        }
        err_append("serialisation failed");
        return -1;
    }
    *out = mem;
    *out_len = (size_t)size;
    return 0;
}

void portti_free(void *p) {
    if (p != NULL) {
        xmlFree(p);
    }
}

/* ---------------------------------------------------------------- tree access */

xmlNodePtr portti_root(xmlDocPtr doc) {
    return xmlDocGetRootElement(doc);
}

static xmlNodePtr next_element(xmlNodePtr cur) {
    while (cur != NULL && cur->type != XML_ELEMENT_NODE) {
        cur = cur->next;
    }
    return cur;
}

xmlNodePtr portti_first_child_element(xmlNodePtr node) {
    return next_element(node->children);
}

xmlNodePtr portti_next_sibling_element(xmlNodePtr node) {
    return next_element(node->next);
}

/* The parent element, or NULL when the parent is the document. */
xmlNodePtr portti_parent_element(xmlNodePtr node) {
    xmlNodePtr p = node->parent;
    return (p != NULL && p->type == XML_ELEMENT_NODE) ? p : NULL;
}

const char *portti_local_name(xmlNodePtr node) {
    return (const char *)node->name;
}

const char *portti_ns_href(xmlNodePtr node) {
    return (node->ns != NULL) ? (const char *)node->ns->href : NULL;
}

/* Attribute value (ns NULL = unqualified attribute), or NULL. Free with portti_free. */
char *portti_attr(xmlNodePtr node, const char *name, const char *ns) {
    if (ns == NULL) {
        return (char *)xmlGetNoNsProp(node, (const xmlChar *)name);
    }
    return (char *)xmlGetNsProp(node, (const xmlChar *)name, (const xmlChar *)ns);
}

/* Text content of the subtree. Free with portti_free. */
char *portti_text(xmlNodePtr node) {
    return (char *)xmlNodeGetContent(node);
}

/* Makes the unqualified attribute `name` of `node` an ID of `doc`.
 * 0 registered (or already this very attribute), 1 attribute missing, 2 the value is already the
 * ID of another attribute (duplicate), -1 failure. */
int portti_register_id(xmlDocPtr doc, xmlNodePtr node, const char *name) {
    xmlAttrPtr attr;
    xmlAttrPtr existing;
    xmlChar *value;
    int rc;

    attr = xmlHasNsProp(node, (const xmlChar *)name, NULL);
    if (attr == NULL || attr->type != XML_ATTRIBUTE_NODE) {
        return 1;
    }
    value = xmlNodeListGetString(doc, attr->children, 1);
    if (value == NULL) {
        return 1;
    }
    existing = xmlGetID(doc, value);
    if (existing == attr) {
        rc = 0;
    } else if (existing != NULL) {
        rc = 2;
    } else {
        rc = (xmlAddID(NULL, doc, value, attr) != NULL) ? 0 : -1;
    }
    xmlFree(value);
    return rc;
}

/* ---------------------------------------------------------------- keys */

/* Never prompt on a terminal for a passphrase: encrypted keys simply fail to load. */
static int no_password_cb(char *buf, int size, int rwflag, void *u) {
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int fits_xmlsec_size(size_t len) {
    return (size_t)(xmlSecSize)len == len;
}

/* 2 an RSA private key, 1 an RSA public key, 0 anything else. */
static int xmlsec_key_rsa_kind(xmlSecKeyPtr key) {
    xmlSecKeyDataPtr value = xmlSecKeyGetValue(key);
    if (value == NULL || !xmlSecKeyDataCheckId(value, xmlSecOpenSSLKeyDataRsaId)) {
        return 0;
    }
    return (xmlSecKeyDataGetType(value) & xmlSecKeyDataTypePrivate) != 0 ? 2 : 1;
}

/* Parsed key material: what libxmlsec1's own loaders made of a PEM (the EVP_PKEY of the key
 * value and the certificates of its X509 data), each object held by one reference of ours.
 * Immutable once made, so any number of threads may use one at the same time: the OpenSSL
 * objects are only read (signing, decrypting, serialising a certificate are read-only uses of
 * a fully constructed EVP_PKEY or X509, as in a TLS server sharing its key and chain between
 * connections) and their reference counts are atomic. No libxmlsec1 object is shared: every
 * operation makes its own xmlSecKey with portti_key_instance and its context owns and destroys
 * it. Made once per distinct PEM by the Rust side (see src/keys.rs), never decoded again. */
struct portti_key {
    EVP_PKEY *pkey;
    X509 *key_cert;         /* the X509 data's key certificate, if the loader set one */
    STACK_OF(X509) *certs;  /* the X509 data's certificates; NULL when the key has no X509 data */
    int rsa_kind;           /* xmlsec_key_rsa_kind of the loaded key */
};
typedef struct portti_key portti_key;

void portti_key_free(portti_key *k) {
    if (k == NULL) {
        return;
    }
    EVP_PKEY_free(k->pkey);
    X509_free(k->key_cert);
    sk_X509_pop_free(k->certs, X509_free);
    OPENSSL_free(k);
}

int portti_key_rsa_kind(const portti_key *k) {
    return k->rsa_kind;
}

/* A new xmlSecKey with the same content as the key `k` was taken from: its own key value and
 * X509 data holding new references to the shared EVP_PKEY and certificates. Nothing is
 * decoded. NULL on failure. The caller owns the result (a context destroys it). */
static xmlSecKeyPtr portti_key_instance(const portti_key *k) {
    xmlSecKeyPtr key;
    xmlSecKeyDataPtr value, x509;
    int i;

    key = xmlSecKeyCreate();
    if (key == NULL) {
        return NULL;
    }
    if (EVP_PKEY_up_ref(k->pkey) != 1) {
        goto fail;
    }
    value = xmlSecOpenSSLEvpKeyAdopt(k->pkey);
    if (value == NULL) {
        EVP_PKEY_free(k->pkey);
        goto fail;
    }
    if (xmlSecKeySetValue(key, value) < 0) {
        xmlSecKeyDataDestroy(value);
        goto fail;
    }
    if (k->certs == NULL) {
        return key;
    }
    x509 = xmlSecKeyEnsureData(key, xmlSecOpenSSLKeyDataX509Id);
    if (x509 == NULL) {
        goto fail;
    }
    if (k->key_cert != NULL) {
        if (X509_up_ref(k->key_cert) != 1) {
            goto fail;
        }
        if (xmlSecOpenSSLKeyDataX509AdoptKeyCert(x509, k->key_cert) < 0) {
            X509_free(k->key_cert);
            goto fail;
        }
    }
    for (i = 0; i < sk_X509_num(k->certs); ++i) {
        X509 *c = sk_X509_value(k->certs, i);
        if (X509_up_ref(c) != 1) {
            goto fail;
        }
        if (xmlSecOpenSSLKeyDataX509AdoptCert(x509, c) < 0) {
            X509_free(c);
            goto fail;
        }
    }
    return key;
fail:
    err_append("the key could not be instantiated");
    xmlSecKeyDestroy(key);
    return NULL;
}

/* Takes over `loaded` (a key fresh from a libxmlsec1 loader): keeps references to its
 * EVP_PKEY and certificates, destroys it. NULL (with the reason in the error buffer) when
 * it holds anything portti_key_instance could not rebuild. */
static portti_key *portti_key_from_loaded(xmlSecKeyPtr loaded) {
    portti_key *k = NULL;
    xmlSecKeyDataPtr value, data;
    xmlSecSize i, n;
    EVP_PKEY *pkey;
    xmlSecKeyPtr check = NULL;

    if (loaded == NULL) {
        return NULL;
    }
    value = xmlSecKeyGetValue(loaded);
    /* Every asymmetric key value of the OpenSSL engine is an EVP key (anything else fails
     * libxmlsec1's own type check here and yields NULL). */
    if (value == NULL || (pkey = xmlSecOpenSSLEvpKeyDataGetEvp(value)) == NULL) {
        err_append("unsupported key value");
        goto done;
    }
    if (loaded->name != NULL) {
        err_append("unexpected key name");
        goto done;
    }
    k = OPENSSL_zalloc(sizeof(*k));
    if (k == NULL || EVP_PKEY_up_ref(pkey) != 1) {
        OPENSSL_free(k);
        k = NULL;
        err_append("out of memory");
        goto done;
    }
    k->pkey = pkey;
    k->rsa_kind = xmlsec_key_rsa_kind(loaded);
    n = (loaded->dataList != NULL) ? xmlSecPtrListGetSize(loaded->dataList) : 0;
    for (i = 0; i < n; ++i) {
        xmlSecSize j, m;
        X509 *kc;
        data = (xmlSecKeyDataPtr)xmlSecPtrListGetItem(loaded->dataList, i);
        if (data == NULL) {
            continue;
        }
        if (!xmlSecKeyDataCheckId(data, xmlSecOpenSSLKeyDataX509Id) || k->certs != NULL ||
            xmlSecOpenSSLKeyDataX509GetCrlsSize(data) != 0) {
            err_append("unexpected key data");
            goto fail;
        }
        k->certs = sk_X509_new_null();
        if (k->certs == NULL) {
            goto fail;
        }
        kc = xmlSecOpenSSLKeyDataX509GetKeyCert(data);
        if (kc != NULL) {
            if (X509_up_ref(kc) != 1) {
                goto fail;
            }
            k->key_cert = kc;
        }
        m = xmlSecOpenSSLKeyDataX509GetCertsSize(data);
        for (j = 0; j < m; ++j) {
            X509 *c = xmlSecOpenSSLKeyDataX509GetCert(data, j);
            if (c == NULL || X509_up_ref(c) != 1) {
                goto fail;
            }
            if (sk_X509_push(k->certs, c) <= 0) {
                X509_free(c);
                goto fail;
            }
        }
    }
    /* Fail now, not on first use, if the key cannot be rebuilt. */
    check = portti_key_instance(k);
    if (check == NULL || xmlsec_key_rsa_kind(check) != k->rsa_kind) {
        goto fail;
    }
    goto done;
fail:
    portti_key_free(k);
    k = NULL;
done:
    if (check != NULL) {
        xmlSecKeyDestroy(check);
    }
    xmlSecKeyDestroy(loaded);
    return k;
}

/* Private key (PEM) plus its certificate (PEM, goes into KeyInfo/X509Data when the template
 * asks for it). Free with portti_key_free. */
portti_key *portti_load_private_key(const unsigned char *key, size_t key_len,
                                    const unsigned char *cert, size_t cert_len) {
    xmlSecKeyPtr k;
    if (!fits_xmlsec_size(key_len) || !fits_xmlsec_size(cert_len)) {
        err_append("key or certificate too large");
        return NULL;
    }
    k = xmlSecOpenSSLAppKeyLoadMemory(key, (xmlSecSize)key_len, xmlSecKeyDataFormatPem, NULL,
                                      (void *)no_password_cb, NULL);
    if (k == NULL) {
        return NULL;
    }
    if (xmlSecOpenSSLAppKeyCertLoadMemory(k, cert, (xmlSecSize)cert_len, xmlSecKeyDataFormatPem) <
        0) {
        xmlSecKeyDestroy(k);
        return NULL;
    }
    return portti_key_from_loaded(k);
}

/* Public key taken from one PEM certificate (which goes into KeyInfo/X509Data when asked for).
 * Free with portti_key_free. */
portti_key *portti_load_cert_key(const unsigned char *cert, size_t cert_len) {
    if (!fits_xmlsec_size(cert_len)) {
        err_append("certificate too large");
        return NULL;
    }
    return portti_key_from_loaded(xmlSecOpenSSLAppKeyLoadMemory(
        cert, (xmlSecSize)cert_len, xmlSecKeyDataFormatCertPem, NULL, (void *)no_password_cb, NULL));
}

/* A private key (PEM) alone, for decryption. Free with portti_key_free. */
portti_key *portti_load_private_key_only(const unsigned char *key, size_t key_len) {
    if (!fits_xmlsec_size(key_len)) {
        err_append("key too large");
        return NULL;
    }
    return portti_key_from_loaded(xmlSecOpenSSLAppKeyLoadMemory(
        key, (xmlSecSize)key_len, xmlSecKeyDataFormatPem, NULL, (void *)no_password_cb, NULL));
}

/* 0 the certificate belongs to the private key, 1 it does not, -1 either does not parse. */
int portti_check_key_cert(const unsigned char *key, size_t key_len, const unsigned char *cert,
                          size_t cert_len) {
    BIO *kb = NULL, *cb = NULL;
    EVP_PKEY *pkey = NULL;
    X509 *x509 = NULL;
    int rc = -1;

    if (key_len > (size_t)INT_MAX || cert_len > (size_t)INT_MAX) {
        return -1;
    }
    kb = BIO_new_mem_buf(key, (int)key_len);
    cb = BIO_new_mem_buf(cert, (int)cert_len);
    if (kb == NULL || cb == NULL) {
        goto done;
    }
    pkey = PEM_read_bio_PrivateKey(kb, NULL, no_password_cb, NULL);
    x509 = PEM_read_bio_X509(cb, NULL, no_password_cb, NULL);
    if (pkey == NULL || x509 == NULL) {
        goto done;
    }
    rc = (X509_check_private_key(x509, pkey) == 1) ? 0 : 1;
done:
    X509_free(x509);
    EVP_PKEY_free(pkey);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

/* ---------------------------------------------------------------- signatures */

/* The only algorithms libxmlsec1 may instantiate: a second fence behind the Rust-side checks. */
static int restrict_ctx(xmlSecDSigCtxPtr ctx, xmlSecPtrListPtr ref_transforms) {
    ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
    ctx->transformCtx.enabledUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;

    if (xmlSecPtrListAdd(&ctx->transformCtx.enabledTransforms, (void *)xmlSecTransformInclC14NId) < 0 ||
        xmlSecPtrListAdd(&ctx->transformCtx.enabledTransforms, (void *)xmlSecTransformExclC14NId) < 0 ||
        xmlSecPtrListAdd(&ctx->transformCtx.enabledTransforms,
                         (void *)xmlSecOpenSSLTransformRsaSha256Id) < 0 ||
        xmlSecPtrListAdd(&ctx->transformCtx.enabledTransforms,
                         (void *)xmlSecOpenSSLTransformEcdsaSha256Id) < 0) {
        return -1;
    }
    if (xmlSecPtrListAdd(ref_transforms, (void *)xmlSecTransformEnvelopedId) < 0 ||
        xmlSecPtrListAdd(ref_transforms, (void *)xmlSecTransformExclC14NId) < 0 ||
        xmlSecPtrListAdd(ref_transforms, (void *)xmlSecOpenSSLTransformSha256Id) < 0) {
        return -1;
    }
    ctx->enabledReferenceTransforms = ref_transforms;
    return 0;
}

/* Signs the template `sig` in place with an instance of `key`. 0 ok, -1 failure. */
int portti_sign(xmlNodePtr sig, const portti_key *key) {
    xmlSecPtrList ref_transforms;
    xmlSecDSigCtxPtr ctx;
    int ret = -1;

    if (xmlSecPtrListInitialize(&ref_transforms, xmlSecTransformIdListId) < 0) {
        return -1;
    }
    ctx = xmlSecDSigCtxCreate(NULL);
    if (ctx == NULL) {
        xmlSecPtrListFinalize(&ref_transforms);
        return -1;
    }
    if (restrict_ctx(ctx, &ref_transforms) < 0) {
        goto done;
    }
    ctx->signKey = portti_key_instance(key);
    if (ctx->signKey == NULL) {
        goto done;
    }
    if (xmlSecDSigCtxSign(ctx, sig) < 0) {
        goto done;
    }
    ret = 0;
done:
    ctx->enabledReferenceTransforms = NULL;
    xmlSecDSigCtxDestroy(ctx); /* also destroys ctx->signKey */
    xmlSecPtrListFinalize(&ref_transforms);
    return ret;
}

/* Verifies `sig` with exactly `key` (KeyInfo is never consulted: the key is preset and there is
 * no keys manager). Returns PORTTI_VALID, PORTTI_DIGEST_MISMATCH, PORTTI_SIGNATURE_MISMATCH or
 * PORTTI_ERROR. */
int portti_verify(xmlNodePtr sig, const portti_key *key) {
    xmlSecPtrList ref_transforms;
    xmlSecDSigCtxPtr ctx;
    xmlSecSize i, n;
    int ret = PORTTI_ERROR;

    if (xmlSecPtrListInitialize(&ref_transforms, xmlSecTransformIdListId) < 0) {
        return PORTTI_ERROR;
    }
    ctx = xmlSecDSigCtxCreate(NULL);
    if (ctx == NULL) {
        xmlSecPtrListFinalize(&ref_transforms);
        return PORTTI_ERROR;
    }
    if (restrict_ctx(ctx, &ref_transforms) < 0) {
        goto done;
    }
    ctx->signKey = portti_key_instance(key);
    if (ctx->signKey == NULL) {
        goto done;
    }
    if (xmlSecDSigCtxVerify(ctx, sig) < 0) {
        goto done;
    }
    if (ctx->status == xmlSecDSigStatusSucceeded) {
        ret = PORTTI_VALID;
        goto done;
    }
    ret = PORTTI_SIGNATURE_MISMATCH;
    n = xmlSecPtrListGetSize(&ctx->signedInfoReferences);
    for (i = 0; i < n; ++i) {
        xmlSecDSigReferenceCtxPtr ref =
            (xmlSecDSigReferenceCtxPtr)xmlSecPtrListGetItem(&ctx->signedInfoReferences, i);
        if (ref != NULL && ref->status != xmlSecDSigStatusSucceeded) {
            ret = PORTTI_DIGEST_MISMATCH;
            break;
        }
    }
done:
    ctx->enabledReferenceTransforms = NULL;
    xmlSecDSigCtxDestroy(ctx);
    xmlSecPtrListFinalize(&ref_transforms);
    return ret;
}

/* ---------------------------------------------------------------- encryption */

/* Data algorithms, as numbered by the Rust side (DataAlgorithm::code). */
#define PORTTI_AES128_GCM 1
#define PORTTI_AES256_GCM 2
#define PORTTI_AES128_CBC 3
#define PORTTI_AES256_CBC 4

/* Key transports (KeyTransport::code). */
#define PORTTI_RSA_OAEP_MGF1P 1

#define PORTTI_MAX_SESSION_KEY 32

static xmlSecTransformId data_transform(int alg, size_t *key_len) {
    switch (alg) {
    case PORTTI_AES128_GCM:
        *key_len = 16;
        return xmlSecOpenSSLTransformAes128GcmId;
    case PORTTI_AES256_GCM:
        *key_len = 32;
        return xmlSecOpenSSLTransformAes256GcmId;
    case PORTTI_AES128_CBC:
        *key_len = 16;
        return xmlSecOpenSSLTransformAes128CbcId;
    case PORTTI_AES256_CBC:
        *key_len = 32;
        return xmlSecOpenSSLTransformAes256CbcId;
    default:
        *key_len = 0;
        return xmlSecTransformIdUnknown;
    }
}

/* The fences on every encryption context: exactly one cipher transform, no URI of any kind
 * (CipherReference), no keys manager (so KeyInfo can never produce a key: the key is always
 * preset by us), no RetrievalMethod or nested EncryptedKey levels. */
static xmlSecEncCtxPtr restricted_enc_ctx(xmlSecTransformId only, xmlEncCtxMode mode) {
    xmlSecEncCtxPtr ctx = xmlSecEncCtxCreate(NULL);
    if (ctx == NULL) {
        return NULL;
    }
    ctx->mode = mode;
    ctx->transformCtx.enabledUris = xmlSecTransformUriTypeNone;
    ctx->keyInfoReadCtx.maxRetrievalMethodLevel = 0;
    ctx->keyInfoReadCtx.maxEncryptedKeyLevel = 0;
    ctx->keyInfoReadCtx.flags |= XMLSEC_KEYINFO_FLAGS_STOP_ON_UNKNOWN_CHILD;
    ctx->keyInfoWriteCtx.maxRetrievalMethodLevel = 0;
    ctx->keyInfoWriteCtx.maxEncryptedKeyLevel = 0;
    /* Reading KeyInfo would only ever be attempted without a preset key; allow nothing that
     * could find one there. (An empty list would mean "all", hence the one inert entry:
     * EncryptedKey with a nesting level of 0 always fails.) */
    if (xmlSecPtrListAdd(&ctx->keyInfoReadCtx.enabledKeyData, (void *)xmlSecKeyDataEncryptedKeyId) <
            0 ||
        xmlSecPtrListAdd(&ctx->transformCtx.enabledTransforms, (void *)only) < 0) {
        xmlSecEncCtxDestroy(ctx);
        return NULL;
    }
    return ctx;
}

/* Declares on `node` every namespace in scope, so that the element serialised for encryption
 * stands alone (libxml2 serialises a subtree without inherited declarations). Exclusive and
 * inclusive C14N output of the element are unchanged by this, so signatures stay valid. */
static int declare_inscope_ns(xmlNodePtr node) {
    xmlNsPtr *list = xmlGetNsList(node->doc, node);
    xmlNsPtr *cur;
    int ret = 0;
    if (list == NULL) {
        return 0;
    }
    for (cur = list; *cur != NULL; ++cur) {
        xmlNsPtr have = NULL;
        xmlNsPtr d;
        for (d = node->nsDef; d != NULL; d = d->next) {
            if (xmlStrEqual(d->prefix, (*cur)->prefix)) {
                have = d;
                break;
            }
        }
        if (have == NULL && xmlNewNs(node, (*cur)->href, (*cur)->prefix) == NULL) {
            ret = -1;
            break;
        }
    }
    xmlFree(list);
    return ret;
}

static int set_prefix(xmlNsPtr ns, const char *prefix) {
    xmlChar *p = xmlStrdup((const xmlChar *)prefix);
    if (p == NULL) {
        return -1;
    }
    if (ns->prefix != NULL) {
        xmlFree((xmlChar *)ns->prefix);
    }
    ns->prefix = p;
    return 0;
}

/* libxmlsec1's templates use default namespaces and indent with newlines; SAML messages use
 * xenc: and ds: prefixes and no indentation. Renames the default declarations of the two
 * namespaces in the subtree and drops whitespace-only text nodes. Called after every template
 * step, so that the next step finds the prefixed declaration in scope and reuses it
 * (xmlSecAddChild declares a namespace again only when none is in scope). */
static int tidy_enc_subtree(xmlNodePtr top) {
    xmlNodePtr cur = top;
    while (cur != NULL) {
        if (cur->type == XML_ELEMENT_NODE) {
            xmlNsPtr ns;
            xmlNodePtr child = cur->children;
            for (ns = cur->nsDef; ns != NULL; ns = ns->next) {
                if (ns->prefix == NULL && xmlStrEqual(ns->href, xmlSecEncNs)) {
                    if (set_prefix(ns, "xenc") < 0) {
                        return -1;
                    }
                } else if (ns->prefix == NULL && xmlStrEqual(ns->href, xmlSecDSigNs)) {
                    if (set_prefix(ns, "ds") < 0) {
                        return -1;
                    }
                }
            }
            while (child != NULL) {
                xmlNodePtr next = child->next;
                if (child->type == XML_TEXT_NODE && xmlIsBlankNode(child)) {
                    xmlUnlinkNode(child);
                    xmlFreeNode(child);
                }
                child = next;
            }
            if (cur->children != NULL) {
                cur = cur->children;
                continue;
            }
        }
        /* Depth-first without recursion: next sibling, or the next sibling of an ancestor. */
        while (cur != top && cur->next == NULL) {
            cur = cur->parent;
        }
        cur = (cur == top) ? NULL : cur->next;
    }
    return 0;
}

/* Replaces `node` by an EncryptedData (Type=Element, algorithm `data_alg`, a fresh random
 * session key) whose KeyInfo holds one EncryptedKey: the session key wrapped with RSA-OAEP
 * (MGF1/SHA-1, DigestMethod SHA-1) for `recipient` (a public RSA key from a certificate, which
 * goes into the EncryptedKey's KeyInfo/X509Data). 0 ok, -1 failure. */
int portti_encrypt(xmlNodePtr node, const portti_key *recipient, int data_alg, int key_transport) {
    unsigned char session[PORTTI_MAX_SESSION_KEY];
    size_t key_len = 0;
    xmlSecTransformId data_id = data_transform(data_alg, &key_len);
    xmlSecEncCtxPtr dctx = NULL, kctx = NULL;
    xmlNodePtr tmpl = NULL, key_info, enc_key, method, digest, ki2, x509;
    int ret = -1;

    if (data_id == xmlSecTransformIdUnknown || key_transport != PORTTI_RSA_OAEP_MGF1P ||
        node == NULL || node->doc == NULL || portti_key_rsa_kind(recipient) == 0) {
        err_append("unsupported encryption parameters");
        return -1;
    }
    if (RAND_bytes(session, (int)key_len) != 1) {
        err_append("no random session key");
        return -1;
    }
    if (declare_inscope_ns(node) < 0) {
        goto done;
    }

    tmpl = xmlSecTmplEncDataCreate(node->doc, data_id, NULL, xmlSecTypeEncElement, NULL, NULL);
    if (tmpl == NULL || xmlSecTmplEncDataEnsureCipherValue(tmpl) == NULL ||
        tidy_enc_subtree(tmpl) < 0) {
        goto done;
    }
    dctx = restricted_enc_ctx(data_id, xmlEncCtxModeEncryptedData);
    if (dctx == NULL) {
        goto done;
    }
    dctx->encKey = xmlSecKeyReadMemory(xmlSecOpenSSLKeyDataAesId, session, (xmlSecSize)key_len);
    if (dctx->encKey == NULL) {
        goto done;
    }
    if (xmlSecEncCtxXmlEncrypt(dctx, tmpl, node) < 0) {
        goto done;
    }
    /* `tmpl` is now in the document in place of `node` (which libxmlsec1 freed). */

    key_info = xmlSecTmplEncDataEnsureKeyInfo(tmpl, NULL);
    if (key_info == NULL || tidy_enc_subtree(key_info) < 0) {
        goto done_in_doc;
    }
    enc_key = xmlSecTmplKeyInfoAddEncryptedKey(key_info,
                                                                 xmlSecOpenSSLTransformRsaOaepId,
                                                                 NULL, NULL, NULL);
    if (enc_key == NULL || xmlSecTmplEncDataEnsureCipherValue(enc_key) == NULL) {
        goto done_in_doc;
    }
    method = xmlSecTmplEncDataGetEncMethodNode(enc_key);
    digest = method != NULL ? xmlSecAddChild(method, xmlSecNodeDigestMethod, xmlSecDSigNs) : NULL;
    if (digest == NULL || xmlSetProp(digest, xmlSecAttrAlgorithm, xmlSecHrefSha1) == NULL) {
        goto done_in_doc;
    }
    ki2 = xmlSecTmplEncDataEnsureKeyInfo(enc_key, NULL);
    x509 = ki2 != NULL ? xmlSecTmplKeyInfoAddX509Data(ki2) : NULL;
    if (x509 == NULL || xmlSecTmplX509DataAddCertificate(x509) == NULL) {
        goto done_in_doc;
    }

    kctx = restricted_enc_ctx(xmlSecOpenSSLTransformRsaOaepId, xmlEncCtxModeEncryptedKey);
    if (kctx == NULL ||
        xmlSecPtrListAdd(&kctx->keyInfoWriteCtx.enabledKeyData, (void *)xmlSecOpenSSLKeyDataX509Id) <
            0) {
        goto done_in_doc;
    }
    kctx->encKey = portti_key_instance(recipient);
    if (kctx->encKey == NULL) {
        goto done_in_doc;
    }
    if (xmlSecEncCtxBinaryEncrypt(kctx, enc_key, session, (xmlSecSize)key_len) < 0) {
        goto done_in_doc;
    }
    if (tidy_enc_subtree(tmpl) < 0) {
        goto done_in_doc;
    }
    ret = 0;
    tmpl = NULL;
done_in_doc:
    /* On failure past this point the document holds a half-made EncryptedData; the caller
     * discards the whole document. */
    tmpl = NULL;
done:
    if (tmpl != NULL && tmpl->parent == NULL) {
        xmlFreeNode(tmpl);
    }
    if (kctx != NULL) {
        xmlSecEncCtxDestroy(kctx);
    }
    if (dctx != NULL) {
        xmlSecEncCtxDestroy(dctx);
    }
    OPENSSL_cleanse(session, sizeof(session));
    return ret;
}

/* 1 when `parent` holds exactly one element child and otherwise only whitespace text, comments
 * and processing instructions; 0 otherwise. */
static int one_element_child(xmlNodePtr parent) {
    xmlNodePtr cur;
    int elements = 0;
    for (cur = parent->children; cur != NULL; cur = cur->next) {
        switch (cur->type) {
        case XML_ELEMENT_NODE:
            elements++;
            break;
        case XML_TEXT_NODE:
            if (!xmlIsBlankNode(cur)) {
                return 0;
            }
            break;
        case XML_COMMENT_NODE:
        case XML_PI_NODE:
            break;
        default:
            return 0;
        }
    }
    return elements == 1;
}

/* Decrypts `enc_data` (an EncryptedData, Type=Element, whose algorithm the Rust side checked to
 * be `data_alg`) in place with the session key that `enc_key` (its one EncryptedKey, RSA-OAEP
 * MGF1P, checked too) wraps for `priv`. Every failure is the same -1 and nothing about it is
 * reported: a failed key unwrap goes on with a random session key, so that whether the RSA
 * step, the padding/tag or the XML of the plaintext failed is not told apart by the result.
 * On success `enc_data` has been replaced by exactly one element. 0 ok, -1 failure. */
int portti_decrypt(xmlNodePtr enc_data, xmlNodePtr enc_key, const portti_key *priv,
                   int data_alg) {
    unsigned char session[PORTTI_MAX_SESSION_KEY];
    size_t key_len = 0;
    xmlSecTransformId data_id = data_transform(data_alg, &key_len);
    xmlSecEncCtxPtr kctx = NULL, dctx = NULL;
    xmlSecBufferPtr unwrapped;
    xmlNodePtr parent;
    xmlStructuredErrorFunc saved_handler;
    void *saved_ctx;
    int failed = 0;
    int rc;
    int ret = -1;

    if (data_id == xmlSecTransformIdUnknown || enc_data == NULL || enc_key == NULL ||
        enc_data->parent == NULL || enc_data->parent->type != XML_ELEMENT_NODE ||
        portti_key_rsa_kind(priv) != 2) {
        return -1;
    }
    parent = enc_data->parent;
    if (RAND_bytes(session, (int)key_len) != 1) {
        return -1;
    }

    kctx = restricted_enc_ctx(xmlSecOpenSSLTransformRsaOaepId, xmlEncCtxModeEncryptedKey);
    if (kctx == NULL) {
        goto done;
    }
    kctx->encKey = portti_key_instance(priv);
    if (kctx->encKey == NULL) {
        goto done;
    }
    unwrapped = xmlSecEncCtxDecryptToBuffer(kctx, enc_key);
    if (unwrapped != NULL && xmlSecBufferGetSize(unwrapped) == key_len) {
        memcpy(session, xmlSecBufferGetData(unwrapped), key_len);
    } else {
        failed = 1; /* keep the random key and carry on */
    }

    dctx = restricted_enc_ctx(data_id, xmlEncCtxModeEncryptedData);
    if (dctx == NULL) {
        goto done;
    }
    dctx->encKey = xmlSecKeyReadMemory(xmlSecOpenSSLKeyDataAesId, session, (xmlSecSize)key_len);
    if (dctx->encKey == NULL) {
        goto done;
    }
    /* libxmlsec1 parses the plaintext with xmlParseInNodeContext, whose errors go to libxml2's
     * per-thread handlers (stderr by default): keep them in our buffer for this call. */
    saved_handler = xmlStructuredError;
    saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(NULL, parse_error_cb);
    rc = xmlSecEncCtxDecrypt(dctx, enc_data);
    xmlSetStructuredErrorFunc(saved_ctx, saved_handler);
    if (rc < 0 || !dctx->resultReplaced) {
        goto done;
    }
    /* enc_data is freed now. */
    if (!failed && one_element_child(parent)) {
        ret = 0;
    }
done:
    if (dctx != NULL) {
        xmlSecEncCtxDestroy(dctx);
    }
    if (kctx != NULL) {
        xmlSecEncCtxDestroy(kctx);
    }
    OPENSSL_cleanse(session, sizeof(session));
    return ret;
}

/* ---------------------------------------------------------------- XML Schema */

/* Compiles the XML Schema at `path` (its includes and imports are read relative to it, from
 * local files only: see the entity loader set in portti_init). Every message goes to this
 * thread's error buffer, none to stderr. NULL on failure. Free with portti_schema_free. */
xmlSchemaPtr portti_schema_load(const char *path) {
    xmlSchemaParserCtxtPtr pctxt;
    xmlSchemaPtr schema = NULL;
    xmlStructuredErrorFunc saved_handler;
    void *saved_ctx;

    pctxt = xmlSchemaNewParserCtxt(path);
    if (pctxt == NULL) {
        err_append("out of memory");
        return NULL;
    }
    xmlSchemaSetParserStructuredErrors(pctxt, parse_error_cb, NULL);
    /* The schema documents are parsed by parser contexts the schema parser makes itself; their
     * errors go to libxml2's per-thread handler. */
    saved_handler = xmlStructuredError;
    saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(NULL, parse_error_cb);
    schema = xmlSchemaParse(pctxt);
    xmlSetStructuredErrorFunc(saved_ctx, saved_handler);
    xmlSchemaFreeParserCtxt(pctxt);
    if (schema == NULL && err_len == 0) {
        err_append("the schema could not be compiled");
    }
    return schema;
}

void portti_schema_free(xmlSchemaPtr schema) {
    if (schema != NULL) {
        xmlSchemaFree(schema);
    }
}

/* Receives each validation message: line (0 when unknown) and the text (never NULL). */
typedef void (*portti_schema_sink)(void *user, int line, const char *msg);

struct schema_sink {
    portti_schema_sink sink;
    void *user;
};

static void schema_error_cb(void *ctx, xmlErrorPtr err) {
    struct schema_sink *s = (struct schema_sink *)ctx;
    if (err == NULL || s == NULL || err->level == XML_ERR_WARNING) {
        return;
    }
    s->sink(s->user, err->line, err->message != NULL ? err->message : "invalid");
}

/* Validates `doc` against `schema` with a fresh validation context: no options (nothing is
 * added to the tree, xsi:schemaLocation hints are ignored as a schema is given). 0 valid, >0
 * invalid (the messages went to `sink`), -1 internal error. */
int portti_schema_validate(xmlSchemaPtr schema, xmlDocPtr doc, portti_schema_sink sink,
                           void *user) {
    xmlSchemaValidCtxtPtr vctxt;
    struct schema_sink s;
    int rc;

    if (schema == NULL || doc == NULL || sink == NULL) {
        return -1;
    }
    vctxt = xmlSchemaNewValidCtxt(schema);
    if (vctxt == NULL) {
        err_append("out of memory");
        return -1;
    }
    s.sink = sink;
    s.user = user;
    xmlSchemaSetValidStructuredErrors(vctxt, schema_error_cb, &s);
    rc = xmlSchemaValidateDoc(vctxt, doc);
    xmlSchemaFreeValidCtxt(vctxt);
    return rc;
}
