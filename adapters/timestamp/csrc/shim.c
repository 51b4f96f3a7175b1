/* RFC 3161 through OpenSSL's own TS implementation: requests, verification of replies and
 * stored tokens (the gateway), and replies (the TSA simulator). Every function builds and frees
 * its own objects; errors are written into the caller's buffer. */

#include <openssl/ts.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/bio.h>
#include <string.h>

static void set_err(char *err, size_t cap, const char *what) {
    if (err == NULL || cap == 0) return;
    size_t used = 0;
    err[0] = '\0';
    if (what != NULL) {
        snprintf(err, cap, "%s", what);
        used = strlen(err);
    }
    unsigned long code;
    const char *data = NULL;
    int flags = 0;
    while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (used + 3 >= cap) continue;
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        snprintf(err + used, cap - used, ": %s%s%s", buf,
                 (data != NULL && (flags & ERR_TXT_STRING)) ? " " : "",
                 (data != NULL && (flags & ERR_TXT_STRING)) ? data : "");
        used = strlen(err);
    }
}

void portti_ts_free(void *p) { OPENSSL_free(p); }

static TS_REQ *make_request(const unsigned char *digest, size_t digest_len, const unsigned char *nonce,
                            size_t nonce_len) {
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *imprint = TS_MSG_IMPRINT_new();
    X509_ALGOR *algo = X509_ALGOR_new();
    BIGNUM *bn = BN_bin2bn(nonce, (int)nonce_len, NULL);
    ASN1_INTEGER *asn_nonce = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = req != NULL && imprint != NULL && algo != NULL && asn_nonce != NULL
             && TS_REQ_set_version(req, 1)
             && X509_ALGOR_set0(algo, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL)
             && TS_MSG_IMPRINT_set_algo(imprint, algo)
             && TS_MSG_IMPRINT_set_msg(imprint, (unsigned char *)digest, (int)digest_len)
             && TS_REQ_set_msg_imprint(req, imprint)
             && TS_REQ_set_nonce(req, asn_nonce)
             && TS_REQ_set_cert_req(req, 1);
    TS_MSG_IMPRINT_free(imprint);
    X509_ALGOR_free(algo);
    ASN1_INTEGER_free(asn_nonce);
    BN_free(bn);
    if (!ok) {
        TS_REQ_free(req);
        return NULL;
    }
    return req;
}

/* A DER TimeStampReq: SHA-256 imprint, the nonce, certReq true. */
int portti_ts_request(const unsigned char *digest, size_t digest_len, const unsigned char *nonce, size_t nonce_len,
                      unsigned char **out, size_t *out_len, char *err, size_t err_cap) {
    ERR_clear_error();
    TS_REQ *req = make_request(digest, digest_len, nonce, nonce_len);
    if (req == NULL) {
        set_err(err, err_cap, "building the timestamp request failed");
        return -1;
    }
    unsigned char *der = NULL;
    int len = i2d_TS_REQ(req, &der);
    TS_REQ_free(req);
    if (len <= 0) {
        set_err(err, err_cap, "encoding the timestamp request failed");
        return -1;
    }
    *out = der;
    *out_len = (size_t)len;
    return 0;
}

static X509_STORE *trust_store(const char *pem, size_t pem_len) {
    X509_STORE *store = X509_STORE_new();
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    int added = 0;
    if (store == NULL || bio == NULL) goto fail;
    X509 *cert;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!X509_STORE_add_cert(store, cert)) {
            X509_free(cert);
            goto fail;
        }
        X509_free(cert);
        added++;
    }
    ERR_clear_error(); /* the end of the PEM stream */
    if (added == 0) goto fail;
    BIO_free(bio);
    return store;
fail:
    BIO_free(bio);
    X509_STORE_free(store);
    return NULL;
}

static int gen_time(TS_TST_INFO *info, char *out, size_t cap) {
    const ASN1_GENERALIZEDTIME *t = info != NULL ? TS_TST_INFO_get_time(info) : NULL;
    if (t == NULL) return -1;
    int len = ASN1_STRING_length(t);
    if (len <= 0 || (size_t)len >= cap) return -1;
    memcpy(out, ASN1_STRING_get0_data(t), (size_t)len);
    out[len] = '\0';
    return 0;
}

/* Verifies a TimeStampResp for the request made of (digest, nonce): status granted, version,
 * imprint, nonce, and a signature by a certificate that chains to `trust_pem` with the
 * timeStamping purpose. Hands back the token (DER ContentInfo) and its genTime text. */
int portti_ts_verify_reply(const unsigned char *reply, size_t reply_len, const unsigned char *digest,
                           size_t digest_len, const unsigned char *nonce, size_t nonce_len, const char *trust_pem,
                           size_t trust_len, unsigned char **token, size_t *token_len, char *time_out,
                           size_t time_cap, char *err, size_t err_cap) {
    ERR_clear_error();
    int rc = -1;
    const unsigned char *p = reply;
    TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)reply_len);
    TS_REQ *req = NULL;
    TS_VERIFY_CTX *ctx = NULL;
    X509_STORE *store = NULL;
    if (resp == NULL || p != reply + reply_len) {
        set_err(err, err_cap, "the reply is not a DER TimeStampResp");
        goto done;
    }
    req = make_request(digest, digest_len, nonce, nonce_len);
    store = trust_store(trust_pem, trust_len);
    if (req == NULL || store == NULL) {
        set_err(err, err_cap, "the TSA certificate could not be read");
        goto done;
    }
    ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL);
    if (ctx == NULL) {
        set_err(err, err_cap, "verification context");
        goto done;
    }
    TS_VERIFY_CTX_add_flags(ctx, TS_VFY_SIGNATURE);
    TS_VERIFY_CTX_set_store(ctx, store);
    store = NULL;
    if (TS_RESP_verify_response(ctx, resp) != 1) {
        set_err(err, err_cap, "the timestamp reply does not verify");
        goto done;
    }
    if (gen_time(TS_RESP_get_tst_info(resp), time_out, time_cap) != 0) {
        set_err(err, err_cap, "the token has no usable genTime");
        goto done;
    }
    unsigned char *der = NULL;
    int len = i2d_PKCS7(TS_RESP_get_token(resp), &der);
    if (len <= 0) {
        set_err(err, err_cap, "encoding the token failed");
        goto done;
    }
    *token = der;
    *token_len = (size_t)len;
    rc = 0;
done:
    TS_VERIFY_CTX_free(ctx);
    X509_STORE_free(store);
    TS_REQ_free(req);
    TS_RESP_free(resp);
    return rc;
}

/* Verifies a stored token (DER ContentInfo) over the SHA-256 `digest`. */
int portti_ts_verify_token(const unsigned char *token, size_t token_len, const unsigned char *digest, size_t digest_len,
                           const char *trust_pem, size_t trust_len, char *time_out, size_t time_cap, char *err,
                           size_t err_cap) {
    ERR_clear_error();
    int rc = -1;
    const unsigned char *p = token;
    PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)token_len);
    TS_VERIFY_CTX *ctx = NULL;
    X509_STORE *store = NULL;
    TS_TST_INFO *info = NULL;
    if (p7 == NULL || p != token + token_len) {
        set_err(err, err_cap, "the token is not a DER timestamp token");
        goto done;
    }
    store = trust_store(trust_pem, trust_len);
    ctx = TS_VERIFY_CTX_new();
    unsigned char *imprint = OPENSSL_malloc(digest_len);
    if (store == NULL || ctx == NULL || imprint == NULL) {
        OPENSSL_free(imprint);
        set_err(err, err_cap, "the TSA certificate could not be read");
        goto done;
    }
    memcpy(imprint, digest, digest_len);
    TS_VERIFY_CTX_set_imprint(ctx, imprint, (long)digest_len);
    TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_IMPRINT);
    TS_VERIFY_CTX_set_store(ctx, store);
    store = NULL;
    if (TS_RESP_verify_token(ctx, p7) != 1) {
        set_err(err, err_cap, "the timestamp token does not verify");
        goto done;
    }
    info = PKCS7_to_TS_TST_INFO(p7);
    if (gen_time(info, time_out, time_cap) != 0) {
        set_err(err, err_cap, "the token has no usable genTime");
        goto done;
    }
    rc = 0;
done:
    TS_TST_INFO_free(info);
    TS_VERIFY_CTX_free(ctx);
    X509_STORE_free(store);
    PKCS7_free(p7);
    return rc;
}

static ASN1_INTEGER *serial_cb(TS_RESP_CTX *ctx, void *data) {
    (void)ctx;
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    if (serial != NULL && !ASN1_INTEGER_set_int64(serial, *(long long *)data)) {
        ASN1_INTEGER_free(serial);
        return NULL;
    }
    return serial;
}

/* The simulator's side: a granted (or, for a bad request, rejected) TimeStampResp signed with
 * `key_pem` / `cert_pem`. `wrong_imprint` stamps a different imprint than asked (a fault). */
int portti_ts_respond(const unsigned char *request, size_t request_len, const char *key_pem, size_t key_len,
                      const char *cert_pem, size_t cert_len, long long serial, int wrong_imprint, unsigned char **out,
                      size_t *out_len, char *err, size_t err_cap) {
    ERR_clear_error();
    int rc = -1;
    BIO *kb = BIO_new_mem_buf(key_pem, (int)key_len);
    BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
    EVP_PKEY *key = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    X509 *cert = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    TS_RESP_CTX *ctx = TS_RESP_CTX_new();
    ASN1_OBJECT *policy = OBJ_txt2obj("1.3.6.1.4.1.55555.1.1", 1);
    BIO *in = NULL;
    TS_RESP *resp = NULL;
    if (key == NULL || cert == NULL || ctx == NULL || policy == NULL) {
        set_err(err, err_cap, "the TSA key or certificate could not be read");
        goto done;
    }
    if (!TS_RESP_CTX_set_signer_cert(ctx, cert) || !TS_RESP_CTX_set_signer_key(ctx, key)
        || !TS_RESP_CTX_set_def_policy(ctx, policy) || !TS_RESP_CTX_add_md(ctx, EVP_sha256())
        || !TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) || !TS_RESP_CTX_set_accuracy(ctx, 1, 0, 0)) {
        set_err(err, err_cap, "the TSA signer could not be set up");
        goto done;
    }
    TS_RESP_CTX_set_serial_cb(ctx, serial_cb, &serial);
    if (wrong_imprint) {
        const unsigned char *p = request;
        TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)request_len);
        if (req != NULL) {
            ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg(TS_REQ_get_msg_imprint(req));
            if (msg != NULL && ASN1_STRING_length(msg) > 0) {
                unsigned char *d = (unsigned char *)ASN1_STRING_get0_data(msg);
                d[0] ^= 0xff;
            }
            in = BIO_new(BIO_s_mem());
            if (in != NULL) i2d_TS_REQ_bio(in, req);
            TS_REQ_free(req);
        }
    }
    if (in == NULL) in = BIO_new_mem_buf(request, (int)request_len);
    resp = in != NULL ? TS_RESP_create_response(ctx, in) : NULL;
    if (resp == NULL) {
        set_err(err, err_cap, "the reply could not be made");
        goto done;
    }
    unsigned char *der = NULL;
    int len = i2d_TS_RESP(resp, &der);
    if (len <= 0) {
        set_err(err, err_cap, "encoding the reply failed");
        goto done;
    }
    *out = der;
    *out_len = (size_t)len;
    rc = 0;
done:
    TS_RESP_free(resp);
    BIO_free(in);
    ASN1_OBJECT_free(policy);
    TS_RESP_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

/* Whether a DER blob is a TimeStampReq (the simulator refuses anything else). */
int portti_ts_is_request(const unsigned char *der, size_t len) {
    const unsigned char *p = der;
    TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)len);
    int ok = req != NULL && p == der + len;
    TS_REQ_free(req);
    ERR_clear_error();
    return ok;
}
