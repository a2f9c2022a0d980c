/* cmd_plugin.c - `temblor plugin list`, `inspect` (output built as a tb_value once and printed
 * as text or JSON, so both views say the same), and `keygen`, `sign` and `verify`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "plugin/loader.h"
#include "plugin/registry.h"
#include "plugin/signature.h"
#include "value/arena.h"
#include "value/json.h"

static void plugin_usage(FILE *out) {
    fputs("usage: temblor plugin list [--json] [--plugin-dir DIR]...\n"
          "       temblor plugin inspect NAME|FILE [--json] [--plugin-dir DIR]...\n"
          "\n"
          "Against a running runtime (temblor run --admin SOCKET; see docs/admin.md):\n"
          "       temblor plugin list --admin SOCKET [--json]\n"
          "       temblor plugin load FILE --admin SOCKET\n"
          "       temblor plugin unload NAME [--drain] --admin SOCKET\n"
          "       temblor plugin reload NAME [FILE] --admin SOCKET\n"
          "SOCKET may also come from TEMBLOR_ADMIN.\n"
          "\n"
          "Signatures (docs/pdk.md, Signatures):\n"
          "       temblor plugin keygen NAME [--comment TEXT]   writes NAME.key (secret) and NAME.pub\n"
          "       temblor plugin sign --key NAME.key FILE...    writes FILE.sig beside each library\n"
          "       temblor plugin verify [--trust DIR] FILE...   checks each against the trusted keys\n"
          "Loading under a policy: --signatures require|warn|off (or TEMBLOR_SIGNATURES) with\n"
          "--trust DIR (or TEMBLOR_TRUST; default " TBR_TRUST_DIR_DEFAULT ").\n",
          out);
}

static void set(tb_arena *a, tb_value *obj, const char *key, tb_value v) {
    tb_value *slot = tb_object_append(a, obj, key, strlen(key));
    if (slot) *slot = v;
}

static tb_value kinds_value(tb_arena *a, const tbr_plugin *p) {
    tb_value arr = tb_array();
    for (uint32_t k = TB_KIND_CONNECTOR; k <= TB_KIND_OPERATOR; k++) {
        if (!(tbr_plugin_kinds(p) & (1u << k))) continue;
        tb_value *slot = tb_array_push(a, &arr);
        if (slot) *slot = tb_stringz(tbr_kind_name(k));
    }
    return arr;
}

static tb_value abi_value(tb_arena *a, const tbr_plugin *p) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%u.%u", p->desc.abi_major, p->desc.abi_minor);
    return tb_string(tb_arena_dup(a, buf, (size_t)n), (size_t)n);
}

static tb_value plugin_summary(tb_arena *a, const tbr_plugin *p) {
    tb_value o = tb_object();
    set(a, &o, "name", tb_stringz(p->desc.name));
    set(a, &o, "version", tb_stringz(p->desc.version));
    set(a, &o, "abi", abi_value(a, p));
    set(a, &o, "kinds", kinds_value(a, p));
    tb_value comps = tb_array();
    for (uint32_t i = 0; i < p->component_count; i++) {
        tb_value c = tb_object();
        set(a, &c, "kind", tb_stringz(tbr_kind_name(p->components[i].desc.kind)));
        set(a, &c, "name", tb_stringz(p->components[i].desc.name));
        tb_value *slot = tb_array_push(a, &comps);
        if (slot) *slot = c;
    }
    set(a, &o, "components", comps);
    set(a, &o, "path", tb_stringz(p->path));
    set(a, &o, "status", tb_stringz("loaded"));
    return o;
}

static tb_value option_value(tb_arena *a, const tbr_component *c, uint32_t i) {
    const tb_option *opt = &c->options[i];
    tb_value o = tb_object();
    set(a, &o, "name", tb_stringz(opt->name));
    set(a, &o, "type", tb_stringz(tbr_option_type_name(opt->type)));
    set(a, &o, "required", tb_bool(opt->flags & TB_OPT_REQUIRED));
    if (c->has_default[i]) set(a, &o, "default", c->defaults[i]);
    set(a, &o, "doc", tb_stringz(opt->doc));
    return o;
}

static tb_value plugin_details(tb_arena *a, const tbr_plugin *p) {
    tb_value o = plugin_summary(a, p);
    set(a, &o, "description", tb_stringz(p->desc.description));
    set(a, &o, "unload_safe", tb_bool(p->desc.flags & TB_PLUGIN_UNLOAD_SAFE));
    tb_value comps = tb_array();
    for (uint32_t i = 0; i < p->component_count; i++) {
        const tbr_component *c = &p->components[i];
        tb_value co = tb_object();
        set(a, &co, "kind", tb_stringz(tbr_kind_name(c->desc.kind)));
        set(a, &co, "name", tb_stringz(c->desc.name));
        set(a, &co, "description", tb_stringz(c->desc.description));
        tb_value opts = tb_array();
        for (uint32_t k = 0; k < c->desc.option_count; k++) {
            tb_value *slot = tb_array_push(a, &opts);
            if (slot) *slot = option_value(a, c, k);
        }
        set(a, &co, "options", opts);
        tb_value *slot = tb_array_push(a, &comps);
        if (slot) *slot = co;
    }
    *tb_object_getz(&o, "components") = comps;
    tb_value perms = tb_array();
    for (uint32_t i = 0; i < p->permission_count; i++) {
        const tb_permission *pm = &p->permissions[i];
        tb_value po = tb_object();
        set(a, &po, "kind", tb_stringz(tbr_permission_name(pm->kind)));
        if (pm->target) set(a, &po, "target", tb_stringz(pm->target));
        if (pm->option) set(a, &po, "option", tb_stringz(pm->option));
        set(a, &po, "reason", tb_stringz(pm->reason));
        tb_value *slot = tb_array_push(a, &perms);
        if (slot) *slot = po;
    }
    set(a, &o, "permissions", perms);
    return o;
}

static void print_kinds(const tbr_plugin *p, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < p->component_count && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s %s", i ? ", " : "",
                                 tbr_kind_name(p->components[i].desc.kind),
                                 p->components[i].desc.name);
}

static int list(tbr_registry *reg, const tbr_cli_opts *opts) {
    if (opts->json) {
        tb_arena *a = tbr_arena_new(0);
        if (!a) return TBR_EXIT_FAILURE;
        tb_value arr = tb_array();
        tbr_plugin *p;
        for (size_t i = 0; (p = tbr_registry_plugin_at(reg, i)); i++) {
            tb_value *slot = tb_array_push(a, &arr);
            if (slot) *slot = plugin_summary(a, p);
        }
        const tbr_refusal *r;
        for (size_t i = 0; (r = tbr_registry_refusal_at(reg, i)); i++) {
            tb_value o = tb_object();
            set(a, &o, "path", tb_stringz(r->path));
            set(a, &o, "status", tb_stringz("refused"));
            set(a, &o, "reason", tb_stringz(r->reason));
            tb_value *slot = tb_array_push(a, &arr);
            if (slot) *slot = o;
        }
        tbr_json_print(stdout, &arr, 2);
        putchar('\n');
        tbr_arena_free(a);
        return TBR_EXIT_OK;
    }
    tbr_plugin *p;
    size_t loaded = 0;
    int name_width = (int)strlen("PLUGIN"); /* the column fits the longest name */
    for (size_t i = 0; (p = tbr_registry_plugin_at(reg, i)); i++)
        if ((int)strlen(p->desc.name) > name_width) name_width = (int)strlen(p->desc.name);
    printf("%-*s %-9s %-5s %-34s %s\n", name_width, "PLUGIN", "VERSION", "ABI", "PROVIDES",
           "PATH");
    for (size_t i = 0; (p = tbr_registry_plugin_at(reg, i)); i++, loaded++) {
        char kinds[256], abi[16];
        print_kinds(p, kinds, sizeof kinds);
        snprintf(abi, sizeof abi, "%u.%u", p->desc.abi_major, p->desc.abi_minor);
        printf("%-*s %-9s %-5s %-34s %s\n", name_width, p->desc.name, p->desc.version, abi,
               kinds, p->path);
    }
    const tbr_refusal *r;
    size_t refused = 0;
    for (size_t i = 0; (r = tbr_registry_refusal_at(reg, i)); i++, refused++)
        printf("%s%s\n", i ? "  " : "\nrefused:\n  ", r->reason);
    printf("\n%zu loaded, %zu refused\n", loaded, refused);
    return TBR_EXIT_OK;
}

static void print_details(const tbr_plugin *p) {
    printf("plugin       %s %s\n", p->desc.name, p->desc.version);
    printf("description  %s\n", p->desc.description);
    printf("abi          %u.%u\n", p->desc.abi_major, p->desc.abi_minor);
    printf("path         %s\n", p->path);
    printf("unload-safe  %s\n", (p->desc.flags & TB_PLUGIN_UNLOAD_SAFE) ? "yes" : "no");
    if (p->isolated_only)
        printf("isolated     always: from an isolated plugin path, described by a confined plugin host and never\n"
               "             mapped by the runtime (docs/isolation.md)\n");
    printf("permissions  %s\n", p->permission_count ? "" : "none");
    for (uint32_t i = 0; i < p->permission_count; i++) {
        const tb_permission *pm = &p->permissions[i];
        printf("  %-12s %s%s%s  %s\n", tbr_permission_name(pm->kind),
               pm->target ? pm->target : "", pm->option ? "from option " : "",
               pm->option ? pm->option : "", pm->reason);
    }
    for (uint32_t i = 0; i < p->component_count; i++) {
        const tbr_component *c = &p->components[i];
        printf("\n%s %s: %s\n", tbr_kind_name(c->desc.kind), c->desc.name, c->desc.description);
        if (!c->desc.option_count) {
            printf("  no options\n");
            continue;
        }
        printf("  %-18s %-7s %-16s %s\n", "OPTION", "TYPE", "DEFAULT", "DESCRIPTION");
        for (uint32_t k = 0; k < c->desc.option_count; k++) {
            const tb_option *o = &c->options[k];
            char def[64];
            if (o->flags & TB_OPT_REQUIRED) {
                snprintf(def, sizeof def, "(required)");
            } else if (!c->has_default[k]) {
                snprintf(def, sizeof def, "(none)");
            } else {
                /* the default as JSON, so a string shows its quotes and escapes */
                tb_arena *a = tbr_arena_new(1024);
                tb_buf buf;
                if (a) {
                    tb_buf_init(&buf, a);
                    if (tbr_json_write(&c->defaults[k], &buf) == TB_OK)
                        snprintf(def, sizeof def, "%.*s", (int)buf.len, (const char *)buf.data);
                    tbr_arena_free(a);
                }
            }
            printf("  %-18s %-7s %-16s %s\n", o->name, tbr_option_type_name(o->type), def, o->doc);
        }
    }
}

static int inspect(tbr_registry *reg, const char *what, const tbr_cli_opts *opts) {
    tbr_plugin *p = NULL;
    char err[1024];
    bool is_file = strchr(what, '/') || (strlen(what) > 3 && !strcmp(what + strlen(what) - 3, ".so"));
    if (is_file) {
        if (tbr_registry_load_file(reg, what, &p, err, sizeof err) != TB_OK) {
            fprintf(stderr, "temblor: %s\n", err);
            return TBR_EXIT_FAILURE;
        }
    } else {
        tbr_cli_load_plugins(reg, opts);
        p = tbr_registry_find_plugin(reg, what);
        if (!p) {
            fprintf(stderr, "temblor: no plugin named '%s' (see temblor plugin list)\n", what);
            return TBR_EXIT_FAILURE;
        }
    }
    if (opts->json) {
        tb_arena *a = tbr_arena_new(0);
        if (!a) return TBR_EXIT_FAILURE;
        tb_value v = plugin_details(a, p);
        tbr_json_print(stdout, &v, 2);
        putchar('\n');
        tbr_arena_free(a);
    } else {
        print_details(p);
    }
    return TBR_EXIT_OK;
}

/* Reads the whole file at path (malloc'd into *out); false with the reason printed. */
static bool read_all(const char *path, unsigned char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = f ? malloc(cap) : NULL;
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        unsigned char *more = realloc(buf, cap *= 2);
        if (!more) free(buf);
        buf = more;
    }
    if (f && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    if (f) fclose(f);
    if (!buf) {
        fprintf(stderr, "temblor: cannot read %s: %s\n", path, f ? "read error or out of memory" : strerror(errno));
        return false;
    }
    *out = buf;
    *len = n;
    return true;
}

/* Signs each library: its bytes and the metadata it declares (it is loaded to read them). */
static int sign(int argc, char **argv, const tbr_cli_opts *opts) {
    if (!opts->key) {
        fprintf(stderr, "temblor: plugin sign needs --key FILE.key (make one with temblor plugin keygen)\n");
        return TBR_EXIT_USAGE;
    }
    int rc = TBR_EXIT_OK;
    for (int i = 2; i < argc; i++) {
        char err[1024], sig_path[4096];
        tbr_plugin *p = NULL;
        unsigned char *bytes = NULL;
        size_t len = 0;
        char *meta = NULL;
        snprintf(sig_path, sizeof sig_path, "%s.sig", argv[i]);
        if (tbr_plugin_open(argv[i], &p, err, sizeof err) != TB_OK) {
            fprintf(stderr, "temblor: %s\n", err);
            rc = TBR_EXIT_FAILURE;
        } else if (!(meta = tbr_signature_metadata(p)) || !read_all(argv[i], &bytes, &len)) {
            if (!meta) fprintf(stderr, "temblor: out of memory\n");
            rc = TBR_EXIT_FAILURE;
        } else if (tbr_signature_sign(bytes, len, meta, opts->key, sig_path, err, sizeof err) != TB_OK) {
            fprintf(stderr, "temblor: %s: %s\n", argv[i], err);
            rc = TBR_EXIT_FAILURE;
        } else {
            printf("%s: signed (%s)\n", argv[i], sig_path);
        }
        free(bytes);
        free(meta);
        tbr_plugin_close(p);
    }
    return rc;
}

static int verify(int argc, char **argv, const tbr_cli_opts *opts) {
    const char *trust = opts->trust ? opts->trust : tbr_signature_trust_dir();
    int rc = TBR_EXIT_OK;
    for (int i = 2; i < argc; i++) {
        char who[300], err[4096];
        if (tbr_plugin_verify(argv[i], trust, who, sizeof who, err, sizeof err) == TB_OK) {
            printf("%s: good signature by %s\n", argv[i], who);
        } else {
            fprintf(stderr, "temblor: %s\n", err);
            rc = TBR_EXIT_FAILURE;
        }
    }
    return rc;
}

static int keygen(const char *base, const tbr_cli_opts *opts) {
    char err[1024];
    if (tbr_signature_keygen(base, opts->comment, err, sizeof err) != TB_OK) {
        fprintf(stderr, "temblor: %s\n", err);
        return TBR_EXIT_FAILURE;
    }
    printf("wrote %s.key (secret: keep it) and %s.pub (put it in the trust stores)\n", base, base);
    return TBR_EXIT_OK;
}

int tbr_cmd_plugin(int argc, char **argv) {
    tbr_cli_opts opts;
    argc = tbr_cli_parse_common(argc, argv, &opts);
    if (argc < 0) {
        plugin_usage(stderr);
        return TBR_EXIT_USAGE;
    }
    if (opts.help) {
        plugin_usage(stdout);
        return TBR_EXIT_OK;
    }
    if (argc < 2) {
        plugin_usage(stderr);
        return TBR_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "load") || !strcmp(argv[1], "unload") || !strcmp(argv[1], "reload") ||
        (!strcmp(argv[1], "list") && opts.admin))
        return tbr_cmd_plugin_admin(argc, argv, &opts);
    if (!strcmp(argv[1], "keygen") && argc == 3) return keygen(argv[2], &opts);
    if (!strcmp(argv[1], "sign") && argc >= 3) return sign(argc, argv, &opts);
    if (!strcmp(argv[1], "verify") && argc >= 3) return verify(argc, argv, &opts);
    tbr_registry *reg = tbr_registry_new();
    if (!reg) return TBR_EXIT_FAILURE;
    tbr_registry_set_log_refusals(reg, false); /* both commands print them */
    int rc;
    if (strcmp(argv[1], "list") == 0 && argc == 2) {
        tbr_cli_load_plugins(reg, &opts);
        rc = list(reg, &opts);
    } else if (strcmp(argv[1], "inspect") == 0 && argc == 3) {
        rc = inspect(reg, argv[2], &opts);
    } else {
        plugin_usage(stderr);
        rc = TBR_EXIT_USAGE;
    }
    tbr_registry_free(reg);
    return rc;
}
