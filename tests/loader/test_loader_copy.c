/*
 * test_loader_copy.c - private copies of plugin libraries and replacing a plugin in the
 * registry, the primitives behind plugin reload: tbr_plugin_open_copy,
 * tbr_registry_load_copy, tbr_registry_admit_replacement, tbr_registry_set_status,
 * tbr_registry_status and tbr_registry_remove, against the real test plugins.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugin/loader.h"
#include "plugin/registry.h"

#define PLUGIN_DIR TB_TEST_PLUGIN_DIR

/* What the probe's extension "temblor.test.probe/1" points at: a static of its library. */
typedef struct probe_counters {
    uint32_t struct_size;
    int init_calls;
    int deinit_calls;
    int timer_fires;
} probe_counters;

static void plugin_path(char *out, size_t n, const char *file) {
    snprintf(out, n, "%s/%s", PLUGIN_DIR, file);
}

/* The probe's counters, in the mapping of the library p was loaded from. */
static const probe_counters *counters_of(const tbr_plugin *p) {
    assert_non_null(p->desc.get_extension);
    const probe_counters *c = p->desc.get_extension(NULL, "temblor.test.probe/1");
    assert_non_null(c);
    assert_int_equal(c->struct_size, sizeof(probe_counters));
    return c;
}

/* How many file descriptors this process has open. */
static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static tbr_registry *quiet_registry(void) {
    tbr_registry *reg = tbr_registry_new();
    assert_non_null(reg);
    tbr_registry_set_log_refusals(reg, false);
    return reg;
}

/* ---------------------------------------------------------------------------------------
 * tbr_plugin_open_copy
 * ------------------------------------------------------------------------------------- */

static void copies_are_distinct_mappings(void **s) {
    (void)s;
    char path[512], err[1024] = "";
    plugin_path(path, sizeof path, "probe.so");
    tbr_plugin *p1 = NULL, *p2 = NULL, *plain = NULL;
    assert_int_equal(tbr_plugin_open_copy(path, &p1, err, sizeof err), TB_OK);
    assert_int_equal(tbr_plugin_open_copy(path, &p2, err, sizeof err), TB_OK);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p1->handle);
    assert_non_null(p2->handle);
    assert_ptr_not_equal(p1->handle, p2->handle);
    assert_true(p1->copy_fd >= 0);
    assert_true(p2->copy_fd >= 0);
    assert_int_not_equal(p1->copy_fd, p2->copy_fd);
    assert_true(fd_open(p1->copy_fd));
    assert_true(fd_open(p2->copy_fd));

    /* the plugin names the file, not the memfd it was opened through */
    assert_string_equal(p1->path, path);
    assert_string_equal(p2->path, path);
    assert_string_equal(p1->desc.name, "probe");
    assert_int_equal(p1->status, TBR_PLUGIN_ACTIVE);
    assert_int_equal(p1->component_count, 1);

    /* each copy has its own code and data: the statics and the vtables differ */
    assert_ptr_not_equal(counters_of(p1), counters_of(p2));
    assert_true(p1->components[0].vt.codec.decode != p2->components[0].vt.codec.decode);

    /* and the ordinary open of the same file is a third mapping, without a memfd */
    assert_int_equal(tbr_plugin_open(path, &plain, err, sizeof err), TB_OK);
    assert_int_equal(plain->copy_fd, -1);
    assert_ptr_not_equal(plain->handle, p1->handle);
    assert_ptr_not_equal(plain->handle, p2->handle);
    assert_ptr_not_equal(counters_of(plain), counters_of(p1));
    assert_ptr_not_equal(counters_of(plain), counters_of(p2));

    /* the probe is unload-safe: closing a copy closes its memfd too */
    int fd1 = p1->copy_fd, fd2 = p2->copy_fd;
    tbr_plugin_close(p1);
    assert_false(fd_open(fd1));
    assert_true(fd_open(fd2));
    counters_of(p2); /* p2's mapping is untouched */
    tbr_plugin_close(p2);
    assert_false(fd_open(fd2));
    tbr_plugin_close(plain);
}

static void copy_again_after_close(void **s) {
    (void)s;
    char path[512], err[1024] = "";
    plugin_path(path, sizeof path, "probe.so");
    int before = open_fds();
    for (int i = 0; i < 5; i++) {
        tbr_plugin *p = NULL;
        assert_int_equal(tbr_plugin_open_copy(path, &p, err, sizeof err), TB_OK);
        assert_non_null(p);
        assert_true(p->copy_fd >= 0);
        assert_string_equal(p->desc.name, "probe");
        counters_of(p);
        tbr_plugin_close(p);
    }
    assert_int_equal(open_fds(), before);
}

static void copy_of_missing_file(void **s) {
    (void)s;
    char path[512], prefix[600], err[1024] = "";
    plugin_path(path, sizeof path, "does_not_exist.so");
    snprintf(prefix, sizeof prefix, "%s: ", path);
    int before = open_fds();
    tbr_plugin *p = (tbr_plugin *)1;
    int rc = tbr_plugin_open_copy(path, &p, err, sizeof err);
    assert_int_equal(rc, TB_EINVAL);
    assert_null(p);
    assert_true(starts_with(err, prefix));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_int_equal(open_fds(), before);
}

static void copy_of_refused_libraries(void **s) {
    (void)s;
    char path[512], expected[1024], err[1024] = "";
    int before = open_fds();

    plugin_path(path, sizeof path, "abi_major.so");
    snprintf(expected, sizeof expected,
             "%s: ABI major mismatch: built for ABI 2.0, this runtime provides ABI %d.%d", path,
             TB_ABI_MAJOR, TB_ABI_MINOR);
    tbr_plugin *p = (tbr_plugin *)1;
    assert_int_equal(tbr_plugin_open_copy(path, &p, err, sizeof err), TB_EINVAL);
    assert_null(p);
    assert_string_equal(err, expected); /* the file's path, not /proc/self/fd/N */

    /* the copied bytes are checked as the file's would be */
    plugin_path(path, sizeof path, "not_a_library.so");
    snprintf(expected, sizeof expected, "%s: not a loadable library: not an ELF file", path);
    p = (tbr_plugin *)1;
    assert_int_equal(tbr_plugin_open_copy(path, &p, err, sizeof err), TB_EINVAL);
    assert_null(p);
    assert_string_equal(err, expected);

    plugin_path(path, sizeof path, "no_entry.so");
    snprintf(expected, sizeof expected,
             "%s: no entry symbol 'tb_plugin_entry': not a temblor plugin", path);
    p = (tbr_plugin *)1;
    assert_int_equal(tbr_plugin_open_copy(path, &p, err, sizeof err), TB_EINVAL);
    assert_null(p);
    assert_string_equal(err, expected);

    /* a directory: the copy cannot be read */
    p = (tbr_plugin *)1;
    assert_int_equal(tbr_plugin_open_copy(PLUGIN_DIR, &p, err, sizeof err), TB_EINVAL);
    assert_null(p);
    snprintf(expected, sizeof expected, "%s: ", PLUGIN_DIR);
    assert_true(starts_with(err, expected));

    /* no refusal leaves its memfd behind */
    assert_int_equal(open_fds(), before);
}

/* ---------------------------------------------------------------------------------------
 * Replacement in the registry
 * ------------------------------------------------------------------------------------- */

static void replacement_takes_over(void **s) {
    (void)s;
    char path[512], err[1024] = "";
    plugin_path(path, sizeof path, "probe.so");
    tbr_registry *reg = quiet_registry();
    tbr_plugin *old = NULL, *p = NULL;
    assert_int_equal(tbr_registry_load_file(reg, path, &old, err, sizeof err), TB_OK);
    assert_non_null(old);
    assert_int_equal(tbr_registry_status(reg, old), TBR_PLUGIN_ACTIVE);
    const tbr_component *old_codec = tbr_registry_find(reg, TB_KIND_CODEC, "probe");
    assert_non_null(old_codec);
    assert_ptr_equal(old_codec->plugin, old);

    assert_int_equal(tbr_plugin_open_copy(path, &p, err, sizeof err), TB_OK);
    assert_ptr_not_equal(p->handle, old->handle);
    assert_int_equal(tbr_registry_admit_replacement(reg, p, old, err, sizeof err), TB_OK);

    assert_int_equal(tbr_registry_status(reg, old), TBR_PLUGIN_RETIRING);
    assert_int_equal(tbr_registry_status(reg, p), TBR_PLUGIN_ACTIVE);
    assert_ptr_equal(tbr_registry_find_plugin(reg, "probe"), p);
    const tbr_component *c = tbr_registry_find(reg, TB_KIND_CODEC, "probe");
    assert_non_null(c);
    assert_ptr_equal(c, &p->components[0]);
    assert_ptr_equal(c->plugin, p);
    assert_true(c->vt.codec.decode != old_codec->vt.codec.decode);

    /* iteration sees both, the retiring one first */
    assert_ptr_equal(tbr_registry_plugin_at(reg, 0), old);
    assert_ptr_equal(tbr_registry_plugin_at(reg, 1), p);
    assert_null(tbr_registry_plugin_at(reg, 2));
    assert_null(tbr_registry_refusal_at(reg, 0));

    /* a second replacement of the same old plugin meets the active new one */
    tbr_plugin *again = NULL;
    assert_int_equal(tbr_plugin_open_copy(path, &again, err, sizeof err), TB_OK);
    err[0] = '\0';
    assert_int_equal(tbr_registry_admit_replacement(reg, again, old, err, sizeof err), TB_EINVAL);
    assert_non_null(strstr(err, "duplicate plugin name 'probe'"));
    assert_null(tbr_registry_plugin_at(reg, 2));
    assert_ptr_equal(tbr_registry_find_plugin(reg, "probe"), p);

    /* statuses as the reload sets them */
    tbr_registry_set_status(reg, old, TBR_PLUGIN_RETIRED);
    assert_int_equal(tbr_registry_status(reg, old), TBR_PLUGIN_RETIRED);
    assert_int_equal(tbr_registry_status(reg, p), TBR_PLUGIN_ACTIVE);
    assert_ptr_equal(tbr_registry_find_plugin(reg, "probe"), p);

    /* removing the retired one leaves only the new one */
    assert_int_equal(tbr_plugin_refs(reg, old), 0);
    tbr_registry_remove(reg, old);
    assert_ptr_equal(tbr_registry_plugin_at(reg, 0), p);
    assert_null(tbr_registry_plugin_at(reg, 1));
    assert_ptr_equal(tbr_registry_find_plugin(reg, "probe"), p);
    assert_ptr_equal(tbr_registry_find(reg, TB_KIND_CODEC, "probe"), &p->components[0]);
    counters_of(p); /* the copy's mapping outlives the original's */

    /* a further copy of an active name is a duplicate */
    tbr_plugin *dup = (tbr_plugin *)1;
    err[0] = '\0';
    assert_int_equal(tbr_registry_load_copy(reg, path, &dup, err, sizeof err), TB_EINVAL);
    assert_null(dup);
    assert_true(starts_with(err, path));
    assert_non_null(strstr(err, "duplicate plugin name 'probe'"));
    assert_ptr_equal(tbr_registry_plugin_at(reg, 0), p);
    assert_null(tbr_registry_plugin_at(reg, 1));
    tbr_registry_free(reg);
}

static void replacement_with_other_name_refused(void **s) {
    (void)s;
    char path[512], old_path[512], prefix[600], err[1024] = "";
    plugin_path(old_path, sizeof old_path, "probe.so");
    plugin_path(path, sizeof path, "probe_old.so");
    tbr_registry *reg = quiet_registry();
    tbr_plugin *old = NULL, *q = NULL;
    assert_int_equal(tbr_registry_load_file(reg, old_path, &old, err, sizeof err), TB_OK);
    assert_int_equal(tbr_plugin_open_copy(path, &q, err, sizeof err), TB_OK);
    assert_string_equal(q->desc.name, "probe_old");
    int before = open_fds();
    int q_fd = q->copy_fd;

    assert_int_equal(tbr_registry_admit_replacement(reg, q, old, err, sizeof err), TB_EINVAL);
    snprintf(prefix, sizeof prefix, "%s: ", path);
    assert_true(starts_with(err, prefix));
    assert_non_null(strstr(err, "provides plugin"));
    assert_non_null(strstr(err, "'probe_old'"));
    /* q was closed (its memfd with it); old is untouched */
    assert_false(fd_open(q_fd));
    assert_int_equal(open_fds(), before - 1);
    assert_int_equal(tbr_registry_status(reg, old), TBR_PLUGIN_ACTIVE);
    assert_ptr_equal(tbr_registry_find_plugin(reg, "probe"), old);
    assert_null(tbr_registry_find_plugin(reg, "probe_old"));
    assert_null(tbr_registry_find(reg, TB_KIND_CODEC, "probe_old"));
    assert_ptr_equal(tbr_registry_plugin_at(reg, 0), old);
    assert_null(tbr_registry_plugin_at(reg, 1));
    tbr_registry_free(reg);
}

static void load_copy_and_duplicates(void **s) {
    (void)s;
    char path[512], err[1024] = "", expected[2048];
    plugin_path(path, sizeof path, "probe.so");
    tbr_registry *reg = quiet_registry();
    tbr_plugin *a = NULL;
    assert_int_equal(tbr_registry_load_copy(reg, path, &a, err, sizeof err), TB_OK);
    assert_non_null(a);
    assert_true(a->copy_fd >= 0);
    assert_string_equal(a->path, path);
    assert_ptr_equal(tbr_registry_find_plugin(reg, "probe"), a);

    /* a second copy while the first is active: refused, recorded, and a stays */
    tbr_plugin *b = (tbr_plugin *)1;
    int before = open_fds();
    assert_int_equal(tbr_registry_load_copy(reg, path, &b, err, sizeof err), TB_EINVAL);
    assert_null(b);
    snprintf(expected, sizeof expected,
             "%s: duplicate plugin name 'probe': already loaded from %s; keeping that one", path,
             path);
    assert_string_equal(err, expected);
    assert_int_equal(open_fds(), before); /* the refused copy's memfd is closed */
    const tbr_refusal *r = tbr_registry_refusal_at(reg, 0);
    assert_non_null(r);
    assert_string_equal(r->path, path);
    assert_string_equal(r->reason, expected);
    assert_ptr_equal(tbr_registry_plugin_at(reg, 0), a);
    assert_null(tbr_registry_plugin_at(reg, 1));

    /* the ordinary load is refused the same way */
    assert_int_equal(tbr_registry_load_file(reg, path, NULL, err, sizeof err), TB_EINVAL);
    assert_string_equal(err, expected);

    /* a missing file is a refusal with the path first */
    char missing[512];
    plugin_path(missing, sizeof missing, "does_not_exist.so");
    b = (tbr_plugin *)1;
    assert_int_equal(tbr_registry_load_copy(reg, missing, &b, err, sizeof err), TB_EINVAL);
    assert_null(b);
    assert_true(starts_with(err, missing));
    r = tbr_registry_refusal_at(reg, 2);
    assert_non_null(r);
    assert_string_equal(r->path, missing);
    assert_string_equal(r->reason, err);

    /* once a is no longer active, its name is free for a new copy */
    tbr_registry_set_status(reg, a, TBR_PLUGIN_RETIRING);
    assert_null(tbr_registry_find_plugin(reg, "probe"));
    assert_null(tbr_registry_find(reg, TB_KIND_CODEC, "probe"));
    b = NULL;
    assert_int_equal(tbr_registry_load_copy(reg, path, &b, err, sizeof err), TB_OK);
    assert_non_null(b);
    assert_ptr_not_equal(b->handle, a->handle);
    assert_ptr_equal(tbr_registry_find_plugin(reg, "probe"), b);
    tbr_registry_remove(reg, a);
    assert_ptr_equal(tbr_registry_plugin_at(reg, 0), b);
    assert_null(tbr_registry_plugin_at(reg, 1));
    tbr_registry_free(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copies_are_distinct_mappings),
        cmocka_unit_test(copy_again_after_close),
        cmocka_unit_test(copy_of_missing_file),
        cmocka_unit_test(copy_of_refused_libraries),
        cmocka_unit_test(replacement_takes_over),
        cmocka_unit_test(replacement_with_other_name_refused),
        cmocka_unit_test(load_copy_and_duplicates),
    };
    return cmocka_run_group_tests_name("loader_copy", tests, NULL, NULL);
}
