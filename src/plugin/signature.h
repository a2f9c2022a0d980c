/*
 * signature.h - plugin signatures: Ed25519 keys (libsodium), a signature file beside each
 * library covering its bytes and its declared metadata, a trust store of public keys, and the
 * policy the loader applies (require, warn, off).
 *
 * Files, all text, one item per line:
 *   NAME.key        "temblor-ed25519-secret BASE64(64 bytes)"            (mode 0600)
 *   NAME.pub        "temblor-ed25519-public BASE64(32 bytes) COMMENT"
 *   LIB.so.sig      "temblor-plugin-signature 1"
 *                   "key: KEY_ID"                   16 hex digits: BLAKE2b-256 of the public key
 *                   "blake2b-256: HEX"              of the library's bytes
 *                   "metadata: JSON"                its name, version, ABI, flags, components and
 *                                                   permissions, one line (tbr_signature_metadata)
 *                   "signature: BASE64"             Ed25519 over every byte before this line
 * A trust store is a directory; every *.pub file in it is a trusted key.
 *
 * Ownership: strings returned through char ** are malloc'd; the caller frees them. Thread
 * contract: any thread; the policy is set once by the command line before any plugin loads
 * and only read afterwards.
 */
#ifndef TBR_PLUGIN_SIGNATURE_H
#define TBR_PLUGIN_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>

#include "plugin/plugin.h"

typedef enum tbr_sig_policy {
    TBR_SIG_OFF = 0, /* signatures are not looked at */
    TBR_SIG_WARN,    /* a missing or bad signature is logged; the plugin loads */
    TBR_SIG_REQUIRE  /* a missing or bad signature refuses the plugin */
} tbr_sig_policy;

/* The default trust store when none is given: $TEMBLOR_TRUST, else this directory. */
#define TBR_TRUST_DIR_DEFAULT "/etc/temblor/trusted-keys"

/* "require", "warn" or "off"; false for anything else. */
bool tbr_signature_parse_policy(const char *text, tbr_sig_policy *out);
const char *tbr_signature_policy_name(tbr_sig_policy policy);

/* The process's loading policy and trust store (NULL: the default). Set before loading. */
void tbr_signature_set_policy(tbr_sig_policy policy, const char *trust_dir);
tbr_sig_policy tbr_signature_policy(void);
const char *tbr_signature_trust_dir(void);

/* Writes a new key pair to BASE.key (0600, refused if it exists) and BASE.pub with comment.
 * TB_OK, or an error with the reason in err. */
int tbr_signature_keygen(const char *base, const char *comment, char *err, size_t n);

/* The metadata a signature covers, for plugin p: one line of JSON (malloc'd), or NULL when out
 * of memory. */
char *tbr_signature_metadata(const tbr_plugin *p);

/* Signs bytes (the library's) and metadata with the secret key in key_path, writing the
 * signature file sig_path. TB_OK, or an error with the reason in err. */
int tbr_signature_sign(const void *bytes, size_t len, const char *metadata, const char *key_path,
                       const char *sig_path, char *err, size_t n);

/* Checks the signature file sig_path against bytes, with the keys of trust_dir. TB_OK: it is
 * valid and made by a trusted key, *signed_meta holds the metadata it covers and who
 * "KEY_ID (COMMENT)". Else an error with the reason in err, phrased to follow "signature: ". */
int tbr_signature_verify(const void *bytes, size_t len, const char *sig_path, const char *trust_dir,
                         char **signed_meta, char *who, size_t who_n, char *err, size_t n);

#endif
