/* isolation.c - the `isolation` and `grant` settings of an instance, and each plugin's defaults
 * for them (isolation.h). */
#include "isolate/isolation.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "isolate/channel.h"
#include "value/arena.h"

static const char *const grant_kinds[] = {"fs-read", "fs-write", "net-connect", "net-listen", "process"};
enum { FS_READ, FS_WRITE, NET_CONNECT, NET_LISTEN, PROCESS, NKINDS };

/* --- per-plugin defaults ------------------------------------------------------------------ */

typedef struct plugin_default {
    char name[128];
    bool process;
    tb_value grant; /* object in defaults_arena, or null */
} plugin_default;

static plugin_default *defaults;
static size_t ndefaults;
static tb_arena *defaults_arena;
static _Atomic int sandbox_mode = TBR_SANDBOX_REQUIRE;

static plugin_default *default_of(const char *plugin, bool add) {
    for (size_t i = 0; i < ndefaults; i++)
        if (!strcmp(defaults[i].name, plugin)) return &defaults[i];
    if (!add || strlen(plugin) >= sizeof defaults->name) return NULL;
    plugin_default *n = realloc(defaults, (ndefaults + 1) * sizeof *n);
    if (!n) return NULL;
    defaults = n;
    plugin_default *d = &defaults[ndefaults++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", plugin);
    return d;
}

int tbr_isolation_default_isolate(const char *plugin) {
    plugin_default *d = default_of(plugin, true);
    if (!d) return TB_ENOMEM;
    d->process = true;
    return TB_OK;
}

bool tbr_isolation_default_process(const char *plugin) {
    const plugin_default *d = plugin ? default_of(plugin, false) : NULL;
    return d && d->process;
}

int tbr_isolation_default_grant(const char *spec, char *err, size_t n) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec)
        return tbr_fail_into(err, n, TB_EINVAL, "--grant %s: expected PLUGIN=KIND[:TARGET]", spec);
    char plugin[128];
    snprintf(plugin, sizeof plugin, "%.*s", (int)(eq - spec), spec);
    const char *kind = eq + 1, *colon = strchr(kind, ':');
    size_t klen = colon ? (size_t)(colon - kind) : strlen(kind);
    int k = -1;
    for (int i = 0; i < NKINDS; i++)
        if (strlen(grant_kinds[i]) == klen && !memcmp(grant_kinds[i], kind, klen)) k = i;
    if (k < 0)
        return tbr_fail_into(err, n, TB_EINVAL, "--grant %s: unknown kind '%.*s' (fs-read, fs-write, net-connect, "
                                               "net-listen or process)", spec, (int)klen, kind);
    if (k != PROCESS && (!colon || !colon[1]))
        return tbr_fail_into(err, n, TB_EINVAL, "--grant %s: %s needs a target (%s)", spec, grant_kinds[k],
                                       k <= FS_WRITE ? "a path" : "host:port");
    if (!defaults_arena && !(defaults_arena = tbr_arena_new(0))) return TB_ENOMEM;
    plugin_default *d = default_of(plugin, true);
    if (!d) return TB_ENOMEM;
    if (d->grant.type != TB_OBJECT) d->grant = tb_object();
    const char *key = grant_kinds[k];
    tb_value *slot = tb_object_set(defaults_arena, &d->grant, key, strlen(key));
    if (!slot) return TB_ENOMEM;
    if (k == PROCESS) {
        *slot = tb_bool(true);
        return TB_OK;
    }
    if (slot->type != TB_ARRAY) *slot = tb_array();
    const char *target = colon + 1;
    char *copy = tb_arena_dup(defaults_arena, target, strlen(target));
    tb_value *item = copy ? tb_array_push(defaults_arena, slot) : NULL;
    if (!item) return TB_ENOMEM;
    *item = tb_string(copy, strlen(target));
    return TB_OK;
}

void tbr_isolation_defaults_clear(void) {
    free(defaults);
    defaults = NULL;
    ndefaults = 0;
    tbr_arena_free(defaults_arena);
    defaults_arena = NULL;
}

void tbr_isolation_set_sandbox_mode(tbr_sandbox_mode mode) { atomic_store(&sandbox_mode, (int)mode); }
tbr_sandbox_mode tbr_isolation_sandbox_mode(void) { return (tbr_sandbox_mode)atomic_load(&sandbox_mode); }

static _Atomic uint32_t call_budget_ms = 5000;
static _Atomic int host_signatures = -1; /* -1: the runtime's */

#define ISOLATE_SPIN_US 2000u

uint32_t tbr_isolation_spin_us(void) {
    const char *env = getenv("TEMBLOR_ISOLATE_SPIN_US");
    if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (!*end && v <= 100000) return (uint32_t)v;
    }
    /* a reply that comes while the waiter still spins costs no wake-up, and a wake-up of an
     * idle core costs tens of microseconds on a VM: measured on 2 cores, an isolated operator
     * (a round trip per event) ran at 17,000 events/s blocking at once and 310,000 spinning
     * 200 us, and an isolated json codec at 590,000 spinning 200 us and 710,000 spinning 1 ms
     * or more (a busy flow then never sleeps). The spin yields its core to any thread ready to
     * run, so the peer it waits for is not starved where threads outnumber cores, and it is cut
     * to a sixteenth after a spin in vain (channel.c), so an idle flow does not burn a core */
    return ISOLATE_SPIN_US;
}

void tbr_isolation_set_call_budget_ms(uint32_t ms) { atomic_store(&call_budget_ms, ms ? ms : 5000); }
uint32_t tbr_isolation_call_budget_ms(void) { return atomic_load(&call_budget_ms); }
void tbr_isolation_set_signatures(tbr_sig_policy policy) { atomic_store(&host_signatures, (int)policy); }
tbr_sig_policy tbr_isolation_signatures(void) {
    int p = atomic_load(&host_signatures);
    return p < 0 ? tbr_signature_policy() : (tbr_sig_policy)p;
}

/* --- an instance's settings --------------------------------------------------------------- */

bool tbr_isolation_is_setting(const char *key, size_t len) {
    return (len == 9 && !memcmp(key, "isolation", 9)) || (len == 5 && !memcmp(key, "grant", 5));
}

int tbr_isolation_from_config(const tb_value *config, const char *plugin, tbr_isolation *out, char *err, size_t n) {
    const plugin_default *d = plugin ? default_of(plugin, false) : NULL;
    *out = (tbr_isolation){.process = d && d->process, .grant = d ? d->grant : tb_null()};
    if (!config || config->type != TB_OBJECT) return TB_OK;
    const tb_value *iso = tb_object_getz(config, "isolation");
    if (iso) {
        if (tb_value_str_eq(iso, "process")) out->process = true;
        else if (tb_value_str_eq(iso, "none")) out->process = false;
        else return tbr_fail_into(err, n, TB_EINVAL, "isolation must be \"process\" or \"none\"");
    }
    const tb_value *grant = tb_object_getz(config, "grant");
    if (grant) {
        if (grant->type != TB_OBJECT)
            return tbr_fail_into(err, n, TB_EINVAL, "grant must be a record of fs-read, fs-write, net-connect, "
                                                   "net-listen and process");
        out->grant = *grant;
        out->grant_given = true;
    }
    return TB_OK;
}

/* The port of "host:port", "port" or "*": 0 for any. false when it is none of these. */
static bool port_of(const tb_value *v, uint16_t *port) {
    int64_t i;
    if (tb_value_as_i64(v, &i)) {
        if (i < 1 || i > 65535) return false;
        *port = (uint16_t)i;
        return true;
    }
    size_t len;
    const char *s = tb_value_str(v, &len);
    if (!s || !len) return false;
    const char *p = s + len;
    while (p > s && p[-1] != ':') p--;
    size_t plen = (size_t)(s + len - p);
    if (plen == 1 && *p == '*') {
        *port = 0;
        return true;
    }
    unsigned long val = 0;
    if (!plen || plen > 5) return false;
    for (size_t k = 0; k < plen; k++) {
        if (p[k] < '0' || p[k] > '9') return false;
        val = val * 10 + (unsigned long)(p[k] - '0');
    }
    if (val < 1 || val > 65535) return false;
    *port = (uint16_t)val;
    return true;
}

/* The ports of a net-connect or net-listen list: NULL (any) when one of them is "*". */
static int ports_of(const tb_value *list, const char *kind, tb_arena *a, const uint16_t **out, size_t *count,
                    char *err, size_t n) {
    uint16_t *ports = tb_arena_alloc(a, (list->len + 1) * sizeof *ports, 2);
    if (!ports) return TB_ENOMEM;
    size_t k = 0;
    bool any = false;
    for (uint32_t i = 0; i < list->len; i++) {
        uint16_t port;
        if (!port_of(&list->as.items[i], &port))
            return tbr_fail_into(err, n, TB_EINVAL, "grant %s: item %u is not \"host:port\", a port or \"*\"", kind, i);
        if (!port) any = true;
        else ports[k++] = port;
    }
    *out = any ? NULL : ports;
    *count = any ? 0 : k;
    return TB_OK;
}

static int paths_of(const tb_value *list, const char *kind, tb_arena *a, const char *const **out, size_t *count,
                    char *err, size_t n) {
    const char **paths = tb_arena_alloc(a, (list->len + 1) * sizeof *paths, 8);
    if (!paths) return TB_ENOMEM;
    for (uint32_t i = 0; i < list->len; i++) {
        size_t len;
        const char *s = tb_value_str(&list->as.items[i], &len);
        if (!s || !len || s[0] != '/' || memchr(s, '\0', len))
            return tbr_fail_into(err, n, TB_EINVAL, "grant %s: item %u is not an absolute path", kind, i);
        if (!(paths[i] = tb_arena_dup(a, s, len + 1))) return TB_ENOMEM;
        ((char *)paths[i])[len] = '\0';
    }
    *out = paths;
    *count = list->len;
    return TB_OK;
}

int tbr_isolation_grants(const tb_value *grant, tb_arena *a, tbr_sandbox_grants *g, char *err, size_t n) {
    memset(g, 0, sizeof *g);
    if (!grant || grant->type == TB_NULL) return TB_OK;
    if (grant->type != TB_OBJECT) return tbr_fail_into(err, n, TB_EINVAL, "grant must be a record");
    for (uint32_t m = 0; m < grant->len; m++) {
        const tb_member *mem = &grant->as.members[m];
        int k = -1;
        for (int i = 0; i < NKINDS; i++)
            if (strlen(grant_kinds[i]) == mem->key_len && !memcmp(grant_kinds[i], mem->key, mem->key_len)) k = i;
        if (k < 0)
            return tbr_fail_into(err, n, TB_EINVAL, "grant: unknown permission '%.*s' (fs-read, fs-write, net-connect, "
                                                   "net-listen or process)", (int)mem->key_len, mem->key);
        for (uint32_t e = 0; e < m; e++)
            if (grant->as.members[e].key_len == mem->key_len && !memcmp(grant->as.members[e].key, mem->key, mem->key_len))
                return tbr_fail_into(err, n, TB_EINVAL, "grant: %s is given twice (give one list)", grant_kinds[k]);
        const tb_value *v = &mem->value;
        if (k == PROCESS) {
            if (v->type != TB_BOOL) return tbr_fail_into(err, n, TB_EINVAL, "grant process must be true or false");
            g->processes = v->as.b;
            continue;
        }
        if (v->type != TB_ARRAY) return tbr_fail_into(err, n, TB_EINVAL, "grant %s must be a list", grant_kinds[k]);
        int rc = TB_OK;
        switch (k) {
        case FS_READ: rc = paths_of(v, grant_kinds[k], a, &g->read_paths, &g->nread, err, n); break;
        case FS_WRITE: rc = paths_of(v, grant_kinds[k], a, &g->write_paths, &g->nwrite, err, n); break;
        case NET_CONNECT:
            g->net = g->net || v->len > 0;
            rc = ports_of(v, grant_kinds[k], a, &g->tcp_connect, &g->ntcp_connect, err, n);
            break;
        case NET_LISTEN:
            g->net = g->net || v->len > 0;
            rc = ports_of(v, grant_kinds[k], a, &g->tcp_bind, &g->ntcp_bind, err, n);
            break;
        }
        if (rc) return rc;
    }
    /* sockets granted for one direction only: the other direction's ports are none, not any */
    static const uint16_t none[1];
    if (g->net && !tb_object_getz(grant, "net-connect")) g->tcp_connect = none, g->ntcp_connect = 0;
    if (g->net && !tb_object_getz(grant, "net-listen")) g->tcp_bind = none, g->ntcp_bind = 0;
    return TB_OK;
}
