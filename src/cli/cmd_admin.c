/* cmd_admin.c - the client of a running runtime's admin socket: `temblor plugin
 * load|unload|reload|list --admin SOCKET` and `temblor flow deploy|undeploy|list|status`. One
 * JSON request per line goes out, one response comes back; it is printed for people, or as
 * it came with --json. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "value/arena.h"
#include "value/json.h"

static const char *socket_of(const tbr_cli_opts *o) {
    const char *s = o->admin ? o->admin : getenv("TEMBLOR_ADMIN");
    return s && *s ? s : NULL;
}

/* Appends s to buf as a JSON string. */
static void json_str(tb_buf *buf, const char *s) {
    tb_value v = tb_stringz(s);
    tbr_json_write(&v, buf);
}

/* Sends request (one line) to the socket and reads the response line into *resp (malloc'd).
 * Returns 0, or prints why not and returns TBR_EXIT_FAILURE. */
static int exchange(const char *sock, const char *request, size_t len, char **resp) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof sa.sun_path) {
        fprintf(stderr, "temblor: admin socket path too long: %s\n", sock);
        return TBR_EXIT_FAILURE;
    }
    strcpy(sa.sun_path, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        fprintf(stderr, "temblor: cannot reach the runtime at %s: %s (is `temblor run --admin %s` running?)\n", sock,
                strerror(errno), sock);
        if (fd >= 0) close(fd);
        return TBR_EXIT_FAILURE;
    }
    for (size_t off = 0; off < len;) {
        ssize_t put = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) {
            fprintf(stderr, "temblor: %s: %s\n", sock, strerror(errno));
            close(fd);
            return TBR_EXIT_FAILURE;
        }
        off += (size_t)put;
    }
    size_t cap = 8192, got = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (got + 1 == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) break;
            buf = grown;
        }
        ssize_t n = recv(fd, buf + got, cap - got - 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (memchr(buf + got - (size_t)n, '\n', (size_t)n)) break;
    }
    close(fd);
    if (!buf || !got) {
        fprintf(stderr, "temblor: the runtime at %s closed the connection without an answer\n", sock);
        free(buf);
        return TBR_EXIT_FAILURE;
    }
    buf[got] = 0;
    *resp = buf;
    return 0;
}

static const tb_value *field(const tb_value *o, const char *k) { return o && o->type == TB_OBJECT ? tb_object_getz(o, k) : NULL; }

static void print_value(const tb_value *v) {
    if (!v) return;
    if (v->type == TB_STRING) {
        printf("%.*s", (int)v->len, v->as.s);
        return;
    }
    tb_arena *a = tbr_arena_new(0);
    tb_buf b;
    tb_buf_init(&b, a);
    if (a && tbr_json_write(v, &b) == TB_OK) printf("%.*s", (int)b.len, (const char *)b.data);
    tbr_arena_free(a);
}

static double number(const tb_value *v) {
    double d = 0;
    return v && tb_value_as_f64(v, &d) ? d : 0;
}

static void print_plugins(const tb_value *list) {
    printf("%-14s %-10s %-5s %-9s %-9s %s\n", "NAME", "VERSION", "ABI", "STATUS", "INSTANCES", "PATH");
    for (uint32_t i = 0; list && list->type == TB_ARRAY && i < list->len; i++) {
        const tb_value *p = &list->as.items[i];
        const tb_value *st = field(p, "status"), *safe = field(p, "unload_safe");
        printf("%-14.*s %-10.*s %-5.*s %-9.*s %-9.0f %.*s%s\n", (int)field(p, "name")->len, field(p, "name")->as.s,
               (int)field(p, "version")->len, field(p, "version")->as.s, (int)field(p, "abi")->len, field(p, "abi")->as.s,
               (int)st->len, st->as.s, number(field(p, "instances")), (int)field(p, "path")->len, field(p, "path")->as.s,
               tb_value_str_eq(st, "retired") && safe && !safe->as.b ? "  (library kept mapped: not unload-safe)" : "");
    }
}

static void print_flows(const tb_value *list, bool metrics) {
    for (uint32_t i = 0; list && list->type == TB_ARRAY && i < list->len; i++) {
        const tb_value *f = &list->as.items[i];
        printf("%.*s  (%.*s, %.0f stages, %.0f batches in flight)\n", (int)field(f, "name")->len, field(f, "name")->as.s,
               (int)field(f, "file")->len, field(f, "file")->as.s, number(field(f, "stages")), number(field(f, "in_flight")));
        const tb_value *m = metrics ? field(f, "metrics") : NULL;
        for (uint32_t k = 0; m && m->type == TB_ARRAY && k < m->len; k++) {
            const tb_value *r = &m->as.items[k], *tags = field(r, "tags"), *fs = field(r, "fields");
            if (!tb_value_str_eq(field(r, "measurement"), "stage")) continue;
            const tb_value *stage = field(tags, "stage");
            printf("  %-32.*s in %-10.0f out %-10.0f errors %-6.0f dropped %-6.0f queue %.0f\n", (int)stage->len, stage->as.s,
                   number(field(fs, "events_in")), number(field(fs, "events_out")), number(field(fs, "errors")),
                   number(field(fs, "dropped")), number(field(fs, "queue_depth")));
        }
    }
}

/* Prints a successful response of cmd for people. */
static void print_human(const char *cmd, const tb_value *r) {
    if (!strcmp(cmd, "plugin.list")) {
        print_plugins(field(r, "plugins"));
    } else if (!strcmp(cmd, "plugin.load")) {
        const tb_value *p = field(r, "plugin");
        printf("loaded ");
        print_value(field(p, "name"));
        printf(" ");
        print_value(field(p, "version"));
        printf(" (");
        const tb_value *c = field(p, "components");
        for (uint32_t i = 0; c && c->type == TB_ARRAY && i < c->len; i++) {
            if (i) printf(", ");
            print_value(&c->as.items[i]);
        }
        printf(")\n");
    } else if (!strcmp(cmd, "plugin.unload")) {
        const tb_value *d = field(r, "drained");
        printf("unloaded; library ");
        print_value(field(r, "library"));
        if (d && d->type == TB_ARRAY && d->len) {
            printf("; drained and undeployed: ");
            for (uint32_t i = 0; i < d->len; i++) {
                if (i) printf(", ");
                print_value(&d->as.items[i]);
            }
        }
        printf("\n");
    } else if (!strcmp(cmd, "plugin.reload")) {
        printf("reloaded ");
        print_value(field(r, "from"));
        printf(" -> ");
        print_value(field(r, "to"));
        printf(": %.0f stage%s moved in %.1f ms (a stage moved no event for at most %.2f ms)\n", number(field(r, "stages")),
               number(field(r, "stages")) == 1 ? "" : "s", number(field(r, "took_ms")), number(field(r, "max_held_ms")));
    } else if (!strcmp(cmd, "flow.deploy")) {
        printf("deployed ");
        const tb_value *f = field(r, "flows");
        for (uint32_t i = 0; f && f->type == TB_ARRAY && i < f->len; i++) {
            if (i) printf(", ");
            print_value(&f->as.items[i]);
        }
        printf("\n");
    } else if (!strcmp(cmd, "flow.undeploy")) {
        printf("undeployed (drained in %.1f ms)\n", number(field(r, "drained_ms")));
    } else if (!strcmp(cmd, "flow.list") || !strcmp(cmd, "flow.status")) {
        print_flows(field(r, "flows"), !strcmp(cmd, "flow.status"));
    }
}

/* Sends the request built in req, prints the answer; the exit code. */
static int send_request(const tbr_cli_opts *o, const char *cmd, tb_buf *req) {
    const char *sock = socket_of(o);
    if (!sock) {
        fprintf(stderr, "temblor: name the running runtime's admin socket with --admin SOCKET (or TEMBLOR_ADMIN)\n");
        return TBR_EXIT_USAGE;
    }
    tb_buf_append(req, "}\n", 2);
    char *resp = NULL;
    int rc = exchange(sock, (const char *)req->data, req->len, &resp);
    if (rc) return rc;
    tb_arena *a = tbr_arena_new(0);
    tb_value v;
    char perr[128];
    if (!a || tbr_json_parse(a, resp, strlen(resp), &v, perr, sizeof perr) != TB_OK || v.type != TB_OBJECT) {
        fprintf(stderr, "temblor: the runtime answered something that is not JSON: %s", resp);
        rc = TBR_EXIT_FAILURE;
    } else {
        const tb_value *ok = field(&v, "ok");
        bool good = ok && ok->type == TB_BOOL && ok->as.b;
        if (o->json) fputs(resp, stdout);
        else if (good) print_human(cmd, &v);
        if (!good) {
            const tb_value *e = field(&v, "error");
            fprintf(stderr, "temblor: %.*s\n", e && e->type == TB_STRING ? (int)e->len : 6, e && e->type == TB_STRING ? e->as.s : "failed");
        }
        rc = good ? TBR_EXIT_OK : TBR_EXIT_FAILURE;
    }
    tbr_arena_free(a);
    free(resp);
    return rc;
}

/* Starts {"cmd":CMD in buf. */
static void begin(tb_buf *buf, const char *cmd) {
    tb_buf_append(buf, "{\"cmd\":", 7);
    json_str(buf, cmd);
}

static void add(tb_buf *buf, const char *key, const char *value) {
    tb_buf_append(buf, ",", 1);
    json_str(buf, key);
    tb_buf_append(buf, ":", 1);
    json_str(buf, value);
}

/* A path made absolute: the runtime may run in another directory. */
static const char *absolute(const char *path, char *buf) {
    return realpath(path, buf) ? buf : path;
}

int tbr_cmd_plugin_admin(int argc, char **argv, const tbr_cli_opts *o) {
    tb_arena *a = tbr_arena_new(0);
    tb_buf req;
    tb_buf_init(&req, a);
    char abs[PATH_MAX];
    const char *verb = argv[1], *cmd = NULL;
    if (!strcmp(verb, "list") && argc == 2) {
        begin(&req, cmd = "plugin.list");
    } else if (!strcmp(verb, "load") && argc == 3) {
        begin(&req, cmd = "plugin.load");
        add(&req, "path", absolute(argv[2], abs));
    } else if (!strcmp(verb, "unload") && argc == 3) {
        begin(&req, cmd = "plugin.unload");
        add(&req, "name", argv[2]);
        if (o->drain) tb_buf_append(&req, ",\"drain\":true", 13);
    } else if (!strcmp(verb, "reload") && (argc == 3 || argc == 4)) {
        begin(&req, cmd = "plugin.reload");
        add(&req, "name", argv[2]);
        if (argc == 4) add(&req, "path", absolute(argv[3], abs));
    }
    int rc;
    if (!cmd) {
        fprintf(stderr, "usage: temblor plugin load FILE | unload NAME [--drain] | reload NAME [FILE] | list  --admin SOCKET\n");
        rc = TBR_EXIT_USAGE;
    } else {
        rc = send_request(o, cmd, &req);
    }
    tbr_arena_free(a);
    return rc;
}

static void flow_usage(FILE *out) {
    fputs("usage: temblor flow deploy FILE.troy --admin SOCKET\n"
          "       temblor flow undeploy NAME --admin SOCKET\n"
          "       temblor flow list --admin SOCKET [--json]\n"
          "       temblor flow status [NAME] --admin SOCKET [--json]\n"
          "\n"
          "Deploys and undeploys flows in a running runtime (temblor run --admin SOCKET): an undeploy\n"
          "drains the flow first (its sources stop, what is in flight reaches its sinks). SOCKET may\n"
          "also come from TEMBLOR_ADMIN. See docs/admin.md.\n",
          out);
}

int tbr_cmd_flow(int argc, char **argv) {
    tbr_cli_opts o;
    argc = tbr_cli_parse_common(argc, argv, &o);
    if (argc < 0 || o.help || argc < 2) {
        flow_usage(o.help ? stdout : stderr);
        return o.help ? TBR_EXIT_OK : TBR_EXIT_USAGE;
    }
    tb_arena *a = tbr_arena_new(0);
    tb_buf req;
    tb_buf_init(&req, a);
    char abs[PATH_MAX];
    const char *verb = argv[1], *cmd = NULL;
    if (!strcmp(verb, "deploy") && argc == 3) {
        begin(&req, cmd = "flow.deploy");
        add(&req, "path", absolute(argv[2], abs));
    } else if (!strcmp(verb, "undeploy") && argc == 3) {
        begin(&req, cmd = "flow.undeploy");
        add(&req, "name", argv[2]);
    } else if (!strcmp(verb, "list") && argc == 2) {
        begin(&req, cmd = "flow.list");
    } else if (!strcmp(verb, "status") && (argc == 2 || argc == 3)) {
        begin(&req, cmd = "flow.status");
        if (argc == 3) add(&req, "name", argv[2]);
    }
    int rc;
    if (!cmd) {
        flow_usage(stderr);
        rc = TBR_EXIT_USAGE;
    } else {
        rc = send_request(&o, cmd, &req);
    }
    tbr_arena_free(a);
    return rc;
}
