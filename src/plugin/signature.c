/*
 * signature.c - plugin signatures (see signature.h for the files and the policy). Everything
 * cryptographic is libsodium's: Ed25519 (crypto_sign_*), BLAKE2b (crypto_generichash), base64
 * and hex. A signature covers the text of its file up to the "signature:" line: the key that
 * made it, the hash of the library's bytes, and the metadata line; so neither the library nor
 * its declared permissions can change without the signature failing.
 */
#define _GNU_SOURCE
#include "plugin/signature.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/log.h"
#include "value/arena.h"
#include "value/json.h"

#define HEADER "temblor-plugin-signature 1"
#define SECRET_TAG "temblor-ed25519-secret"
#define PUBLIC_TAG "temblor-ed25519-public"
#define KEY_ID_HEX 17 /* 8 bytes of the key's hash in hex, NUL included */
#define TEXT_MAX (64u * 1024u)

static tbr_sig_policy policy;
static const char *trust_dir;

bool tbr_signature_parse_policy(const char *text, tbr_sig_policy *out) {
    static const char *const names[] = {"off", "warn", "require"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, names[i])) {
            *out = (tbr_sig_policy)i;
            return true;
        }
    return false;
}

const char *tbr_signature_policy_name(tbr_sig_policy p) {
    return p == TBR_SIG_REQUIRE ? "require" : p == TBR_SIG_WARN ? "warn" : "off";
}

void tbr_signature_set_policy(tbr_sig_policy p, const char *dir) {
    policy = p;
    trust_dir = dir;
}

tbr_sig_policy tbr_signature_policy(void) { return policy; }

const char *tbr_signature_trust_dir(void) {
    if (trust_dir) return trust_dir;
    const char *env = getenv("TEMBLOR_TRUST");
    return env && *env ? env : TBR_TRUST_DIR_DEFAULT;
}

/* ---- small helpers ----------------------------------------------------------------------- */

static bool sodium_ready(void) { return sodium_init() >= 0; }

static void key_id_of(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char out[KEY_ID_HEX]) {
    unsigned char h[32];
    crypto_generichash(h, sizeof h, pk, crypto_sign_PUBLICKEYBYTES, NULL, 0);
    sodium_bin2hex(out, KEY_ID_HEX, h, 8);
}

/* A text file of at most TEXT_MAX bytes, NUL-terminated (malloc'd), or NULL with the reason. */
static char *read_text(const char *path, char *err, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tbr_fail_into(err, n, TB_EIO, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(TEXT_MAX + 1);
    size_t len = buf ? fread(buf, 1, TEXT_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || len > TEXT_MAX) {
        free(buf);
        tbr_fail_into(err, n, TB_EINVAL, "%s: %s", path, buf ? "too large for a key or signature file" : "out of memory");
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Decodes the base64 word after "TAG " on line into exactly len bytes; *rest points past it. */
static bool decode_tagged(const char *line, const char *tag, unsigned char *out, size_t len, const char **rest) {
    size_t tl = strlen(tag), bin_len = 0;
    const char *end = NULL;
    if (strncmp(line, tag, tl) || line[tl] != ' ') return false;
    const char *b64 = line + tl + 1;
    size_t b64_len = strcspn(b64, " \n");
    if (sodium_base642bin(out, len, b64, b64_len, NULL, &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != len || end != b64 + b64_len)
        return false;
    if (rest) *rest = b64 + b64_len;
    return true;
}

static int write_file(const char *path, const char *text, mode_t mode, bool exclusive, char *err, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC), mode);
    if (fd < 0) return tbr_fail_into(err, n, TB_EIO, "cannot write %s: %s", path, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t put = write(fd, text + off, len - off);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) {
            int e = errno;
            close(fd);
            return tbr_fail_into(err, n, TB_EIO, "cannot write %s: %s", path, strerror(e));
        }
        off += (size_t)put;
    }
    if (close(fd) != 0) return tbr_fail_into(err, n, TB_EIO, "cannot write %s: %s", path, strerror(errno));
    return TB_OK;
}

/* ---- keys --------------------------------------------------------------------------------- */

int tbr_signature_keygen(const char *base, const char *comment, char *err, size_t n) {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL)];
    char path[4096], text[512];
    if (!sodium_ready()) return tbr_fail_into(err, n, TB_ERROR, "libsodium could not be initialised");
    if (comment && strpbrk(comment, "\n\r")) return tbr_fail_into(err, n, TB_EINVAL, "a key's comment is one line");
    crypto_sign_keypair(pk, sk);
    snprintf(path, sizeof path, "%s.key", base);
    sodium_bin2base64(b64, sizeof b64, sk, sizeof sk, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, SECRET_TAG " %s\n", b64);
    sodium_memzero(sk, sizeof sk);
    int rc = write_file(path, text, 0600, true, err, n);
    sodium_memzero(text, sizeof text);
    sodium_memzero(b64, sizeof b64);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s.pub", base);
    sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, PUBLIC_TAG " %s %s\n", b64, comment && *comment ? comment : "");
    return write_file(path, text, 0644, false, err, n);
}

/* The trusted key whose id is id, from the *.pub files of dir: TB_OK with pk and its comment. */
static int find_trusted(const char *dir, const char *id, unsigned char pk[crypto_sign_PUBLICKEYBYTES], char *comment,
                        size_t comment_n, char *err, size_t n) {
    DIR *d = opendir(dir);
    if (!d)
        return tbr_fail_into(err, n, TB_EINVAL, "signed by key %s, and the trust store %s cannot be read: %s", id, dir,
                    strerror(errno));
    struct dirent *de;
    int rc = tbr_fail_into(err, n, TB_EINVAL, "signed by key %s, which is not in the trust store %s", id, dir);
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".pub")) continue;
        char path[4096], why[256];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        char *text = read_text(path, why, sizeof why);
        const char *rest;
        unsigned char cand[crypto_sign_PUBLICKEYBYTES];
        char cid[KEY_ID_HEX];
        bool ok = text && decode_tagged(text, PUBLIC_TAG, cand, sizeof cand, &rest);
        if (ok) key_id_of(cand, cid);
        if (ok && !strcmp(cid, id)) {
            memcpy(pk, cand, sizeof cand);
            while (*rest == ' ') rest++;
            snprintf(comment, comment_n, "%.*s", (int)strcspn(rest, "\n"), rest);
            free(text);
            rc = TB_OK;
            break;
        }
        free(text);
    }
    closedir(d);
    return rc;
}

/* ---- metadata ----------------------------------------------------------------------------- */

static bool put(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (!slot) return false;
    *slot = v;
    return true;
}

static tb_value text_value(tb_arena *a, const char *s) {
    if (!s) return tb_null();
    size_t len = strlen(s);
    const char *copy = tb_arena_dup(a, s, len);
    return copy ? tb_string(copy, len) : tb_null();
}

char *tbr_signature_metadata(const tbr_plugin *p) {
    tb_arena *a = tbr_arena_new(0);
    if (!a) return NULL;
    char abi[32];
    snprintf(abi, sizeof abi, "%u.%u", (unsigned)p->desc.abi_major, (unsigned)p->desc.abi_minor);
    tb_value meta = tb_object(), comps = tb_array(), perms = tb_array();
    bool ok = put(a, &meta, "name", text_value(a, p->desc.name)) && put(a, &meta, "version", text_value(a, p->desc.version)) &&
              put(a, &meta, "abi", text_value(a, abi)) &&
              put(a, &meta, "unload_safe", tb_bool(p->desc.flags & TB_PLUGIN_UNLOAD_SAFE));
    for (uint32_t i = 0; ok && i < p->component_count; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s/%s", tbr_kind_name(p->components[i].desc.kind), p->components[i].desc.name);
        tb_value *slot = tb_array_push(a, &comps);
        ok = slot && (*slot = text_value(a, name), slot->type == TB_STRING);
    }
    for (uint32_t i = 0; ok && i < p->permission_count; i++) {
        const tb_permission *pm = &p->permissions[i];
        tb_value *slot = tb_array_push(a, &perms);
        if (!slot) {
            ok = false;
            break;
        }
        *slot = tb_object();
        ok = put(a, slot, "kind", text_value(a, tbr_permission_name(pm->kind))) && put(a, slot, "target", text_value(a, pm->target)) &&
             put(a, slot, "option", text_value(a, pm->option));
    }
    ok = ok && put(a, &meta, "components", comps) && put(a, &meta, "permissions", perms);
    tb_buf buf;
    tb_buf_init(&buf, a);
    char *out = NULL;
    if (ok && tbr_json_write(&meta, &buf) == TB_OK && (out = malloc(buf.len + 1))) {
        memcpy(out, buf.data, buf.len);
        out[buf.len] = '\0';
    }
    tbr_arena_free(a);
    return out;
}

/* ---- signing and checking ------------------------------------------------------------------ */

static void hash_hex(const void *bytes, size_t len, char out[65]) {
    unsigned char h[32];
    crypto_generichash(h, sizeof h, bytes, len, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof h);
}

int tbr_signature_sign(const void *bytes, size_t len, const char *metadata, const char *key_path,
                       const char *sig_path, char *err, size_t n) {
    unsigned char sk[crypto_sign_SECRETKEYBYTES], pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
    if (!sodium_ready()) return tbr_fail_into(err, n, TB_ERROR, "libsodium could not be initialised");
    if (strchr(metadata, '\n')) return tbr_fail_into(err, n, TB_EINVAL, "the metadata must be one line");
    char *key = read_text(key_path, err, n);
    if (!key) return TB_EIO;
    bool ok = decode_tagged(key, SECRET_TAG, sk, sizeof sk, NULL);
    sodium_memzero(key, strlen(key));
    free(key);
    if (!ok) return tbr_fail_into(err, n, TB_EINVAL, "%s: not a temblor secret key (\"" SECRET_TAG " BASE64\")", key_path);
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    char id[KEY_ID_HEX], hash[65];
    key_id_of(pk, id);
    hash_hex(bytes, len, hash);
    size_t cap = strlen(metadata) + 512;
    char *text = malloc(cap);
    if (!text) {
        sodium_memzero(sk, sizeof sk);
        return tbr_fail_into(err, n, TB_ENOMEM, "out of memory");
    }
    int used = snprintf(text, cap, HEADER "\nkey: %s\nblake2b-256: %s\nmetadata: %s\n", id, hash, metadata);
    crypto_sign_detached(sig, NULL, (const unsigned char *)text, (unsigned long long)used, sk);
    sodium_memzero(sk, sizeof sk);
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text + used, cap - (size_t)used, "signature: %s\n", b64);
    int rc = write_file(sig_path, text, 0644, false, err, n);
    free(text);
    return rc;
}

/* The value of "NAME: value" at *p, which must be the next line; advances *p past it. */
static bool field(char **p, const char *name, char **value) {
    size_t nl = strlen(name);
    if (strncmp(*p, name, nl) || (*p)[nl] != ':' || (*p)[nl + 1] != ' ') return false;
    char *v = *p + nl + 2, *end = strchr(v, '\n');
    if (!end) return false;
    *end = '\0';
    *value = v;
    *p = end + 1;
    return true;
}

int tbr_signature_verify(const void *bytes, size_t len, const char *sig_path, const char *dir, char **signed_meta,
                         char *who, size_t who_n, char *err, size_t n) {
    *signed_meta = NULL;
    if (!sodium_ready()) return tbr_fail_into(err, n, TB_ERROR, "libsodium could not be initialised");
    if (access(sig_path, F_OK) != 0) return tbr_fail_into(err, n, TB_EINVAL, "no signature file (looked for %s)", sig_path);
    char why[512];
    char *text = read_text(sig_path, why, sizeof why);
    if (!text) return tbr_fail_into(err, n, TB_EINVAL, "%s", why);
    unsigned char sig[crypto_sign_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
    char comment[256] = "", got[65];
    char *p = text, *id = NULL, *hash = NULL, *meta = NULL, *sig64 = NULL;
    size_t sig_len = 0;
    int rc = TB_OK;
    /* what is signed: every byte before the signature line, exactly as in the file */
    char *sig_line = strstr(text, "\nsignature: ");
    size_t signed_len = sig_line ? (size_t)(sig_line - text) + 1 : 0;
    bool verified = false;
    if (strncmp(p, HEADER "\n", sizeof HEADER)) {
        rc = tbr_fail_into(err, n, TB_EINVAL, "%s: line 1: expected \"" HEADER "\"", sig_path);
        goto out;
    }
    p += sizeof HEADER;
    if (!field(&p, "key", &id) || !field(&p, "blake2b-256", &hash) || !field(&p, "metadata", &meta) ||
        (size_t)(p - text) != signed_len) {
        rc = tbr_fail_into(err, n, TB_EINVAL, "%s: expected the lines key, blake2b-256 and metadata after the header",
                  sig_path);
        goto out;
    }
    if (!field(&p, "signature", &sig64) || *p) {
        rc = tbr_fail_into(err, n, TB_EINVAL, "%s: expected one last line \"signature: BASE64\"", sig_path);
        goto out;
    }
    if (sodium_base642bin(sig, sizeof sig, sig64, strlen(sig64), NULL, &sig_len, NULL, sodium_base64_VARIANT_ORIGINAL) ||
        sig_len != sizeof sig) {
        rc = tbr_fail_into(err, n, TB_EINVAL, "%s: the signature line is not base64 of %u bytes", sig_path,
                  (unsigned)crypto_sign_BYTES);
        goto out;
    }
    if ((rc = find_trusted(dir, id, pk, comment, sizeof comment, err, n)) != TB_OK) goto out;
    {
        /* field() cut the lines it read into strings: verify a copy of them as they were */
        char *orig = malloc(signed_len);
        if (!orig) {
            rc = tbr_fail_into(err, n, TB_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(orig, text, signed_len);
        for (size_t i = 0; i < signed_len; i++)
            if (!orig[i]) orig[i] = '\n';
        verified = crypto_sign_verify_detached(sig, (const unsigned char *)orig, signed_len, pk) == 0;
        free(orig);
    }
    if (!verified) {
        rc = tbr_fail_into(err, n, TB_EINVAL, "the signature does not verify with key %s: %s was altered", id, sig_path);
        goto out;
    }
    hash_hex(bytes, len, got);
    if (strcmp(got, hash)) {
        rc = tbr_fail_into(err, n, TB_EINVAL, "the library's bytes are not those signed (blake2b-256 %s signed, %s found)",
                  hash, got);
        goto out;
    }
    if (!(*signed_meta = strdup(meta))) {
        rc = tbr_fail_into(err, n, TB_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(who, who_n, "%s%s%s%s", id, comment[0] ? " (" : "", comment, comment[0] ? ")" : "");
out:
    free(text);
    return rc;
}
