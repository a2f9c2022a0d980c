/*
 * test_signature.c - plugin signatures (plugin/signature.c) and the loader's policy
 * (tbr_plugin_verify, tbr_plugin_open under require and warn), against the probe test plugin
 * copied into a scratch directory: a good signature; the library's bytes changed; the
 * signature file changed (its metadata line, its key line, its signature); a key not in the
 * trust store; no signature file; a malformed file; a signature over other metadata than the
 * library declares; and what each policy makes of an unsigned library.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugin/loader.h"
#include "plugin/signature.h"

typedef struct scratch {
    char dir[256], trust[300], other_trust[300], lib[320], sig[330], key[320], other_key[320];
} scratch;

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *copy = strdup(buf);
    assert_non_null(copy);
    return copy;
}

static void spill(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A scratch dir with the probe library, a key pair "dev" trusted in trust/, and a key pair
 * "other" trusted only in other_trust/. */
static int setup(void **state) {
    scratch *s = calloc(1, sizeof *s);
    char err[512];
    strcpy(s->dir, "/tmp/tb-sig-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->trust, sizeof s->trust, "%s/trust", s->dir);
    snprintf(s->other_trust, sizeof s->other_trust, "%s/other-trust", s->dir);
    snprintf(s->lib, sizeof s->lib, "%s/probe.so", s->dir);
    snprintf(s->sig, sizeof s->sig, "%s/probe.so.sig", s->dir);
    run("cp %s/probe.so %s && mkdir %s %s", TB_TEST_PLUGIN_DIR, s->lib, s->trust, s->other_trust);
    char base[300];
    snprintf(base, sizeof base, "%s/dev", s->dir);
    assert_int_equal(tbr_signature_keygen(base, "the dev key", err, sizeof err), TB_OK);
    snprintf(s->key, sizeof s->key, "%s.key", base);
    run("cp %s.pub %s/", base, s->trust);
    snprintf(base, sizeof base, "%s/other", s->dir);
    assert_int_equal(tbr_signature_keygen(base, "", err, sizeof err), TB_OK);
    snprintf(s->other_key, sizeof s->other_key, "%s.key", base);
    run("cp %s.pub %s/", base, s->other_trust);
    *state = s;
    return 0;
}

static int teardown(void **state) {
    scratch *s = *state;
    run("rm -rf %s", s->dir);
    free(s);
    tbr_signature_set_policy(TBR_SIG_OFF, NULL);
    return 0;
}

/* Signs the scratch library with key and metadata (NULL: what it declares). */
static void sign_lib(scratch *s, const char *key, const char *metadata) {
    char err[512];
    tbr_plugin *p = NULL;
    tbr_signature_set_policy(TBR_SIG_OFF, NULL);
    assert_int_equal(tbr_plugin_open(s->lib, &p, err, sizeof err), TB_OK);
    char *meta = tbr_signature_metadata(p);
    assert_non_null(meta);
    tbr_plugin_close(p);
    char *bytes;
    FILE *f = fopen(s->lib, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    bytes = malloc((size_t)len);
    assert_int_equal(fread(bytes, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    assert_int_equal(tbr_signature_sign(bytes, (size_t)len, metadata ? metadata : meta, key, s->sig, err, sizeof err), TB_OK);
    free(bytes);
    free(meta);
}

/* tbr_plugin_verify's status; its message in err. */
static int verify(scratch *s, const char *trust, char *err, size_t n) {
    char who[300] = "";
    err[0] = '\0';
    return tbr_plugin_verify(s->lib, trust, who, sizeof who, err, n);
}

static void expect_refusal(scratch *s, const char *trust, const char *want) {
    char err[4096];
    assert_int_not_equal(verify(s, trust, err, sizeof err), TB_OK);
    if (!strstr(err, want)) fail_msg("wanted \"%s\" in: %s", want, err);
    if (!strstr(err, s->lib)) fail_msg("the message does not name the library: %s", err);
}

static void test_good_signature(void **state) {
    scratch *s = *state;
    char who[300], err[4096];
    sign_lib(s, s->key, NULL);
    assert_int_equal(tbr_plugin_verify(s->lib, s->trust, who, sizeof who, err, sizeof err), TB_OK);
    assert_non_null(strstr(who, "(the dev key)"));
    char *text = slurp(s->sig);
    assert_non_null(strstr(text, "temblor-plugin-signature 1\nkey: "));
    assert_non_null(strstr(text, "\"name\":\"probe\""));
    free(text);
}

static void test_library_changed(void **state) {
    scratch *s = *state;
    sign_lib(s, s->key, NULL);
    /* one byte of the library, far from its start */
    int fd = open(s->lib, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "\x5a", 1, 4000), 1);
    close(fd);
    expect_refusal(s, s->trust, "the library's bytes are not those signed");
    run("cp %s/probe.so %s", TB_TEST_PLUGIN_DIR, s->lib);
}

static void test_signature_file_changed(void **state) {
    scratch *s = *state;
    sign_lib(s, s->key, NULL);
    char *text = slurp(s->sig);
    /* the metadata line: the permissions declared, say */
    char *edited = strdup(text);
    char *name = strstr(edited, "\"name\":\"probe\"");
    assert_non_null(name);
    memcpy(name, "\"name\":\"prob3\"", 14);
    spill(s->sig, edited);
    expect_refusal(s, s->trust, "the signature does not verify");
    /* the signature itself */
    strcpy(edited, text);
    char *sig = strstr(edited, "signature: ");
    sig[12] = sig[12] == 'A' ? 'B' : 'A';
    spill(s->sig, edited);
    expect_refusal(s, s->trust, "the signature does not verify");
    /* a line missing */
    strcpy(edited, text);
    char *meta = strstr(edited, "metadata: ");
    memmove(meta, strstr(meta, "\nsignature") + 1, strlen(strstr(meta, "\nsignature")));
    spill(s->sig, edited);
    expect_refusal(s, s->trust, "expected the lines key, blake2b-256 and metadata");
    /* not a signature file at all */
    spill(s->sig, "hello\n");
    expect_refusal(s, s->trust, "line 1: expected \"temblor-plugin-signature 1\"");
    free(edited);
    free(text);
}

static void test_untrusted_key(void **state) {
    scratch *s = *state;
    sign_lib(s, s->other_key, NULL);
    expect_refusal(s, s->trust, "which is not in the trust store");
    char who[300], err[4096];
    assert_int_equal(tbr_plugin_verify(s->lib, s->other_trust, who, sizeof who, err, sizeof err), TB_OK);
    expect_refusal(s, "/nonexistent/trust", "the trust store /nonexistent/trust cannot be read");
}

static void test_no_signature(void **state) {
    scratch *s = *state;
    unlink(s->sig);
    expect_refusal(s, s->trust, "no signature file (looked for");
}

static void test_other_metadata_signed(void **state) {
    scratch *s = *state;
    /* the right bytes, with a signer's mistake: metadata that is not what the library declares */
    sign_lib(s, s->key, "{\"name\":\"probe\",\"permissions\":[]}");
    expect_refusal(s, s->trust, "its declared metadata is not what was signed");
}

static void test_policies(void **state) {
    scratch *s = *state;
    char err[4096];
    tbr_plugin *p = NULL;
    unlink(s->sig);
    tbr_signature_set_policy(TBR_SIG_REQUIRE, s->trust);
    assert_int_not_equal(tbr_plugin_open(s->lib, &p, err, sizeof err), TB_OK);
    assert_null(p);
    assert_non_null(strstr(err, "refused by the signature policy (require): no signature file"));
    tbr_signature_set_policy(TBR_SIG_WARN, s->trust);
    assert_int_equal(tbr_plugin_open(s->lib, &p, err, sizeof err), TB_OK);
    tbr_plugin_close(p);
    sign_lib(s, s->key, NULL);
    tbr_signature_set_policy(TBR_SIG_REQUIRE, s->trust);
    assert_int_equal(tbr_plugin_open(s->lib, &p, err, sizeof err), TB_OK);
    assert_true(p->copy_fd >= 0); /* the bytes checked are the bytes mapped: a private copy */
    tbr_plugin_close(p);
    tbr_signature_set_policy(TBR_SIG_OFF, NULL);
    tbr_sig_policy pol;
    assert_true(tbr_signature_parse_policy("warn", &pol) && pol == TBR_SIG_WARN);
    assert_false(tbr_signature_parse_policy("sometimes", &pol));
}

static void test_keys(void **state) {
    scratch *s = *state;
    char err[512], base[300];
    struct stat st;
    assert_int_equal(stat(s->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* an existing secret key is never overwritten */
    snprintf(base, sizeof base, "%s/dev", s->dir);
    assert_int_not_equal(tbr_signature_keygen(base, "again", err, sizeof err), TB_OK);
    assert_non_null(strstr(err, "File exists"));
    /* a public key is not a secret key */
    char pub[320];
    snprintf(pub, sizeof pub, "%s/dev.pub", s->dir);
    assert_int_not_equal(tbr_signature_sign("x", 1, "{}", pub, s->sig, err, sizeof err), TB_OK);
    assert_non_null(strstr(err, "not a temblor secret key"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_library_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signature_file_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_metadata_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
