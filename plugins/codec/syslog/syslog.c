/*
 * syslog.c - the `syslog` codec: RFC 5424 and RFC 3164 (BSD) messages to Tremor 0.13's
 * syslog record and back.
 *
 * Decode (Tremor semantics, syslog_loose "either" variant): "<PRI>VERSION " starts an
 * RFC 5424 message (timestamp, hostname, appname, procid, msgid, structured data, msg; "-"
 * fields are left out); anything else is read as RFC 3164: optional <PRI>, optional
 * "Mmm dd hh:mm:ss" timestamp (year: the current UTC one, the previous one for a December
 * message read in January; UTC), hostname, "app[pid]:" tag, msg. A message that fits
 * neither shape is an RFC 3164 record whose msg is the whole text. The record holds, in
 * this order and only when present: hostname, severity, facility (names), timestamp
 * (nanoseconds since the epoch), protocol ("RFC5424"/"RFC3164"), protocol_version,
 * appname, msgid, structured_data ({id: [{name: value}, ...]}), procid (a string), msg.
 * Only input that is not UTF-8 fails: "syslog codec: invalid UTF-8 at byte N".
 * Encode (Tremor's): protocol "RFC5424" (with protocol_version) or absent (version 1) gives
 * "<PRI>V TS HOST APP PROCID MSGID SD MSG" with "-" for what is missing and an RFC 3339 UTC
 * timestamp; "RFC3164" gives "<PRI>Mmm dd hh:mm:ss HOST APP[PROCID]: MSG". Invalid records
 * fail with "syslog codec: <reason>" (Tremor's reasons).
 *
 * Ownership: stateless (no instance memory); every value and output byte
 * belongs to the batch arena; decoded strings point into the input bytes.
 * Thread contract: create/destroy on the control thread; decode/encode of one instance on
 * one thread at a time. No global mutable state.
 */
#include <temblor/temblor.h>

#include <stdlib.h>
#include <time.h>

static const char *const severities[8] = {"emerg",   "alert",  "crit", "err",
                                          "warning", "notice", "info", "debug"};
static const char *const facilities[24] = {
    "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",  "ntp",    "audit",  "alert",  "clockd",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

static size_t utf8_bad(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        size_t l;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) l = 2;
        else if (c >= 0xE0 && c <= 0xEF) l = 3;
        else if (c >= 0xF0 && c <= 0xF4) l = 4;
        else return i;
        if (n - i < l) return i;
        for (size_t k = 1; k < l; k++)
            if ((p[i + k] & 0xC0) != 0x80) return i;
        if ((c == 0xE0 && p[i + 1] < 0xA0) || (c == 0xED && p[i + 1] > 0x9F) ||
            (c == 0xF0 && p[i + 1] < 0x90) || (c == 0xF4 && p[i + 1] > 0x8F))
            return i;
        i += l;
    }
    return n;
}

typedef struct rec {
    const char *host, *app, *procid, *msgid, *msg;
    size_t host_n, app_n, procid_n, msgid_n, msg_n;
    int pri;            /* -1: none */
    int version;        /* 0: RFC 3164 */
    bool has_ts;
    int64_t ts;
    const char *sd;     /* RFC 5424 structured data text, validated */
    size_t sd_n;
} rec;

static bool num(const char *s, size_t n, size_t *i, size_t digits, int *out) {
    int v = 0;
    if (n - *i < digits) return false;
    for (size_t k = 0; k < digits; k++) {
        char c = s[*i + k];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *i += digits;
    *out = v;
    return true;
}

static bool parse_pri(const char *s, size_t n, size_t *i, int *pri) {
    size_t j = *i + 1;
    int v = 0, d = 0;
    if (*i >= n || s[*i] != '<') return false;
    while (j < n && s[j] >= '0' && s[j] <= '9' && d < 3) v = v * 10 + (s[j++] - '0'), d++;
    if (!d || j >= n || s[j] != '>' || v > 191) return false;
    *pri = v;
    *i = j + 1;
    return true;
}

/* A space-free token up to the next space; false if none or it is followed by the end. */
static bool token(const char *s, size_t n, size_t *i, const char **t, size_t *tn) {
    size_t j = *i;
    while (j < n && s[j] != ' ') j++;
    if (j == *i || j >= n) return false;
    *t = s + *i;
    *tn = j - *i;
    *i = j + 1;
    return true;
}

static bool parse_5424_ts(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t frac = 0;
    if (!num(s, n, &i, 4, &y) || i >= n || s[i++] != '-' || !num(s, n, &i, 2, &mo) || i >= n ||
        s[i++] != '-' || !num(s, n, &i, 2, &d) || i >= n || s[i++] != 'T' ||
        !num(s, n, &i, 2, &h) || i >= n || s[i++] != ':' || !num(s, n, &i, 2, &mi) || i >= n ||
        s[i++] != ':' || !num(s, n, &i, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    if (i < n && s[i] == '.') {
        int64_t scale = 100000000;
        size_t k = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (scale) frac += (s[i] - '0') * scale, scale /= 10;
            i++;
        }
        if (i == k) return false;
    }
    if (i >= n) return false;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int sign = s[i++] == '-' ? -1 : 1;
        if (!num(s, n, &i, 2, &oh) || i >= n || s[i++] != ':' || !num(s, n, &i, 2, &om))
            return false;
        oh *= sign;
        om *= sign;
    } else {
        return false;
    }
    if (i != n) return false;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   sec - (oh * 3600 + om * 60);
    *out = secs * 1000000000 + frac;
    return true;
}

/* Validates the structured data at s[*i..]: "-" or one or more [id name="value"...]. */
static bool parse_sd(const char *s, size_t n, size_t *i, const char **sd, size_t *sd_n) {
    size_t j = *i;
    if (j < n && s[j] == '-') {
        *sd = NULL;
        *i = j + 1;
        return true;
    }
    if (j >= n || s[j] != '[') return false;
    while (j < n && s[j] == '[') {
        j++;
        size_t k = j;
        while (j < n && s[j] != ' ' && s[j] != ']' && s[j] != '=' && s[j] != '"') j++;
        if (j == k) return false;
        while (j < n && s[j] == ' ') {
            j++;
            k = j;
            while (j < n && s[j] != '=' && s[j] != ' ' && s[j] != ']' && s[j] != '"') j++;
            if (j == k || j + 1 >= n || s[j] != '=' || s[j + 1] != '"') return false;
            j += 2;
            while (j < n && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
            if (j >= n) return false;
            j++;
        }
        if (j >= n || s[j] != ']') return false;
        j++;
    }
    *sd = s + *i;
    *sd_n = j - *i;
    *i = j;
    return true;
}

static bool parse_5424(const char *s, size_t n, rec *r) {
    size_t i = 0;
    int v = 0, dv = 0;
    const char *t;
    size_t tn;
    if (!parse_pri(s, n, &i, &r->pri)) return false;
    while (i < n && s[i] >= '0' && s[i] <= '9' && dv < 3) v = v * 10 + (s[i++] - '0'), dv++;
    if (!dv || v == 0 || i >= n || s[i++] != ' ') return false;
    r->version = v;
    if (!token(s, n, &i, &t, &tn)) return false;
    if (!(tn == 1 && t[0] == '-')) {
        if (!parse_5424_ts(t, tn, &r->ts)) return false;
        r->has_ts = true;
    }
    const char **f[4] = {&r->host, &r->app, &r->procid, &r->msgid};
    size_t *fn[4] = {&r->host_n, &r->app_n, &r->procid_n, &r->msgid_n};
    for (int k = 0; k < 4; k++) {
        if (!token(s, n, &i, &t, &tn)) return false;
        if (!(tn == 1 && t[0] == '-')) *f[k] = t, *fn[k] = tn;
    }
    if (!parse_sd(s, n, &i, &r->sd, &r->sd_n)) return false;
    if (i < n) {
        if (s[i] != ' ') return false;
        i++;
    }
    r->msg = s + i;
    r->msg_n = n - i;
    return true;
}

static int current_year(int msg_month) {
    time_t now = time(NULL);
    int64_t y;
    unsigned m, d;
    civil_from_days((int64_t)now / 86400, &y, &m, &d);
    return (int)(m == 1 && msg_month == 12 ? y - 1 : y);
}

static void parse_3164(const char *s, size_t n, rec *r) {
    size_t i = 0;
    r->version = 0;
    r->pri = -1;
    if (!parse_pri(s, n, &i, &r->pri)) r->pri = -1;
    /* Mmm dd hh:mm:ss (day space-padded) */
    if (n - i >= 16) {
        int mo = -1, d = 0, h, mi, sec;
        for (int k = 0; k < 12; k++)
            if (memcmp(s + i, months[k], 3) == 0) mo = k + 1;
        size_t j = i + 4;
        if (mo > 0 && s[i + 3] == ' ') {
            if (s[j] == ' ') j++, d = 0;
            bool ok = true;
            int dd = 0, nd = 0;
            while (j < n && s[j] >= '0' && s[j] <= '9' && nd < 2) dd = dd * 10 + (s[j++] - '0'), nd++;
            d = dd;
            ok = nd > 0 && j < n && s[j++] == ' ' && num(s, n, &j, 2, &h) && j < n &&
                 s[j++] == ':' && num(s, n, &j, 2, &mi) && j < n && s[j++] == ':' &&
                 num(s, n, &j, 2, &sec) && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec <= 60;
            if (ok && (j == n || s[j] == ' ')) {
                int y = current_year(mo);
                r->ts = (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
                         mi * 60 + sec) * 1000000000;
                r->has_ts = true;
                i = j < n ? j + 1 : j;
            }
        }
    }
    if (r->has_ts) {
        /* hostname, then "app[pid]:" or "app:" */
        size_t j = i, save = i;
        while (j < n && s[j] != ' ' && s[j] != ':' && s[j] != '[') j++;
        if (j < n && j > i && s[j] == ' ') {
            r->host = s + i;
            r->host_n = j - i;
            i = j + 1;
        }
        j = i;
        while (j < n && s[j] != ' ' && s[j] != ':' && s[j] != '[') j++;
        if (j > i && j < n && (s[j] == ':' || s[j] == '[')) {
            size_t a = i, an = j - i;
            const char *pid = NULL;
            size_t pn = 0;
            bool ok = true;
            if (s[j] == '[') {
                size_t k = j + 1;
                while (k < n && s[k] != ']' && s[k] != ' ') k++;
                ok = k + 1 < n && s[k] == ']' && s[k + 1] == ':' && k > j + 1;
                pid = s + j + 1;
                pn = k - j - 1;
                j = k + 1;
            }
            if (ok) {
                r->app = s + a;
                r->app_n = an;
                r->procid = pid;
                r->procid_n = pn;
                i = j + 1;
                if (i < n && s[i] == ' ') i++;
            }
        }
        (void)save;
    }
    r->msg = s + i;
    r->msg_n = n - i;
}

#define PUT(key, val)                                                         \
    do {                                                                      \
        tb_value *slot_ = tb_object_append(a, out, key, sizeof key - 1);      \
        if (!slot_) return TB_ENOMEM;                                         \
        *slot_ = (val);                                                       \
    } while (0)

static int build_sd(tb_arena *a, const char *s, size_t n, tb_value *out) {
    size_t j = 0;
    *out = tb_object();
    while (j < n && s[j] == '[') {
        size_t k = ++j;
        while (s[j] != ' ' && s[j] != ']') j++;
        tb_value *params = tb_object_append(a, out, s + k, j - k);
        if (!params) return TB_ENOMEM;
        *params = tb_array();
        while (s[j] == ' ') {
            k = ++j;
            while (s[j] != '=') j++;
            size_t name = k, name_n = j - k;
            j += 2;
            k = j;
            while (s[j] != '"') j += s[j] == '\\' ? 2 : 1;
            tb_value *p = tb_array_push(a, params);
            if (!p) return TB_ENOMEM;
            *p = tb_object();
            tb_value *v = tb_object_append(a, p, s + name, name_n);
            if (!v) return TB_ENOMEM;
            *v = tb_string(s + k, j - k);
            j++;
        }
        j++;
    }
    return TB_OK;
}

static int build(tb_arena *a, const rec *r, tb_value *out) {
    *out = tb_object();
    if (r->host) PUT("hostname", tb_string(r->host, r->host_n));
    if (r->pri >= 0) {
        PUT("severity", tb_stringz(severities[r->pri & 7]));
        PUT("facility", tb_stringz(facilities[r->pri >> 3]));
    }
    if (r->has_ts) PUT("timestamp", tb_i64(r->ts));
    PUT("protocol", tb_stringz(r->version ? "RFC5424" : "RFC3164"));
    if (r->version) PUT("protocol_version", tb_i64(r->version));
    if (r->app) PUT("appname", tb_string(r->app, r->app_n));
    if (r->msgid) PUT("msgid", tb_string(r->msgid, r->msgid_n));
    if (r->sd) {
        tb_value sd;
        if (build_sd(a, r->sd, r->sd_n, &sd)) return TB_ENOMEM;
        PUT("structured_data", sd);
    }
    if (r->procid) PUT("procid", tb_string(r->procid, r->procid_n));
    if (r->msg_n) PUT("msg", tb_string(r->msg, r->msg_n));
    return TB_OK;
}

static int TB_CALL decode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        rec r;
        tb_value v;
        if (!(e->flags & TB_EF_RAW)) continue;
        e->flags &= (uint16_t)~TB_EF_RAW;
        if (e->data.type != TB_BYTES) {
            if (!tb_event_fail(batch, e, "syslog codec: raw event data is not bytes"))
                return TB_ENOMEM;
            continue;
        }
        const char *s = (const char *)e->data.as.bytes;
        size_t n = e->data.len;
        size_t bad = utf8_bad(e->data.as.bytes, n);
        if (bad < n) {
            if (!tb_event_failf(batch, e, "syslog codec: invalid UTF-8 at byte %zu", bad))
                return TB_ENOMEM;
            continue;
        }
        memset(&r, 0, sizeof r);
        if (!n || !parse_5424(s, n, &r)) {
            memset(&r, 0, sizeof r);
            parse_3164(n ? s : "", n, &r);
        }
        if (build(batch->arena, &r, &v)) return TB_ENOMEM;
        e->data = v;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

static int name_index(const tb_value *v, const char *const *names, int count) {
    for (int k = 0; k < count; k++)
        if (tb_value_str_eq(v, names[k])) return k;
    return -1;
}

static bool put(tb_buf *b, const char *s, size_t n) { return tb_buf_append(b, s, n); }
static bool putz(tb_buf *b, const char *s) { return put(b, s, strlen(s)); }

static const tb_value *get_str(const tb_value *d, const char *k) {
    const tb_value *v = tb_object_getz(d, k);
    return v && v->type == TB_STRING ? v : NULL;
}

static bool put_field(tb_buf *b, const tb_value *d, const char *k) {
    const tb_value *v = get_str(d, k);
    return v ? put(b, v->as.s, v->len) : putz(b, "-");
}

/* Returns NULL or the reason. */
static const char *put_sd(tb_buf *b, const tb_value *sd, bool *oom) {
    if (sd->type != TB_OBJECT) return "Invalid structured data: structured data not an object";
    for (uint32_t i = 0; i < sd->len; i++) {
        const tb_member *el = &sd->as.members[i];
        if (!putz(b, "[") || !put(b, el->key, el->key_len)) return *oom = true, "";
        if (el->value.type != TB_ARRAY)
            return "Invalid structured data: params not an array of objects";
        for (uint32_t j = 0; j < el->value.len; j++) {
            const tb_value *kv = &el->value.as.items[j];
            if (kv->type != TB_OBJECT)
                return "Invalid structured data: param's key value pair not an object";
            for (uint32_t k = 0; k < kv->len; k++) {
                const tb_member *m = &kv->as.members[k];
                if (m->value.type != TB_STRING)
                    return "Invalid structured data: param's key value pair not an object";
                if (!putz(b, " ") || !put(b, m->key, m->key_len) || !putz(b, "=\"") ||
                    !put(b, m->value.as.s, m->value.len) || !putz(b, "\""))
                    return *oom = true, "";
            }
        }
        if (!putz(b, "]")) return *oom = true, "";
    }
    return NULL;
}

static bool get_i64(const tb_value *d, const char *k, int64_t *out) {
    const tb_value *v = tb_object_getz(d, k);
    if (!v) return false;
    if (v->type == TB_I64) return *out = v->as.i, true;
    if (v->type == TB_U64 && v->as.u <= (uint64_t)INT64_MAX) return *out = (int64_t)v->as.u, true;
    return false;
}

/* Writes one record; returns NULL or the reason (with *oom for out of memory). */
static const char *encode_rec(tb_buf *b, const tb_value *d, bool *oom) {
    char tmp[96];
    const tb_value *proto = get_str(d, "protocol");
    const tb_value *pv = tb_object_getz(d, "protocol_version");
    int64_t version = 1;
    bool has_pv = false;
    if (pv && ((pv->type == TB_I64 && pv->as.i >= 0 && pv->as.i <= UINT32_MAX) ||
               (pv->type == TB_U64 && pv->as.u <= UINT32_MAX)))
        has_pv = true, version = pv->type == TB_I64 ? pv->as.i : (int64_t)pv->as.u;
    bool rfc3164 = false;
    if (proto && tb_value_str_eq(proto, "RFC3164")) rfc3164 = true;
    else if (proto && tb_value_str_eq(proto, "RFC5424")) {
        if (!has_pv) return "Missing protocol version";
    } else if (proto) return "Invalid protocol type";
    else if (has_pv) return "Missing protocol type";
    if (d->type != TB_OBJECT) return "facility missing";
    const tb_value *f = get_str(d, "facility"), *s = get_str(d, "severity");
    int pri = 13;
    if (!rfc3164 && !f) return "facility missing";
    if (!rfc3164 && !s) return "severity missing";
    if (f && s) {
        int fi = name_index(f, facilities, 24), si = name_index(s, severities, 8);
        if (fi < 0) return "invalid facility";
        if (si < 0) return "invalid severity";
        pri = fi * 8 + si;
    }
    int64_t ts;
    bool has_ts = get_i64(d, "timestamp", &ts);
    if (rfc3164 && !has_ts) ts = (int64_t)time(NULL) * 1000000000, has_ts = true;
    int64_t secs = 0, nanos = 0, y = 0;
    unsigned mo = 0, day = 0;
    if (has_ts) {
        secs = ts / 1000000000;
        nanos = ts % 1000000000;
        if (nanos < 0) nanos += 1000000000, secs--;
        int64_t days = secs / 86400, rem = secs % 86400;
        if (rem < 0) rem += 86400, days--;
        civil_from_days(days, &y, &mo, &day);
        secs = rem;
    }
    int h = (int)(secs / 3600), mi = (int)(secs / 60 % 60), sc = (int)(secs % 60);
    if (rfc3164) {
        snprintf(tmp, sizeof tmp, "<%d>%s %2u %02d:%02d:%02d ", pri, months[mo - 1], day, h, mi, sc);
        if (!putz(b, tmp) || !put_field(b, d, "hostname") || !putz(b, " ")) return *oom = true, "";
        const tb_value *app = get_str(d, "appname"), *pid = get_str(d, "procid");
        if (app) {
            if (!put(b, app->as.s, app->len)) return *oom = true, "";
            if (pid && (!putz(b, "[") || !put(b, pid->as.s, pid->len) || !putz(b, "]")))
                return *oom = true, "";
        }
        if (!putz(b, ":")) return *oom = true, "";
    } else {
        snprintf(tmp, sizeof tmp, "<%d>%lld ", pri, (long long)version);
        if (!putz(b, tmp)) return *oom = true, "";
        if (has_ts) {
            int l = snprintf(tmp, sizeof tmp, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, mo,
                             day, h, mi, sc);
            if (nanos % 1000000 == 0 && nanos)
                l += snprintf(tmp + l, sizeof tmp - (size_t)l, ".%03lld", (long long)(nanos / 1000000));
            else if (nanos % 1000 == 0 && nanos)
                l += snprintf(tmp + l, sizeof tmp - (size_t)l, ".%06lld", (long long)(nanos / 1000));
            else if (nanos)
                l += snprintf(tmp + l, sizeof tmp - (size_t)l, ".%09lld", (long long)nanos);
            snprintf(tmp + l, sizeof tmp - (size_t)l, "+00:00");
            if (!putz(b, tmp)) return *oom = true, "";
        } else if (!putz(b, "-")) {
            return *oom = true, "";
        }
        static const char *const keys[4] = {"hostname", "appname", "procid", "msgid"};
        for (int k = 0; k < 4; k++)
            if (!putz(b, " ") || !put_field(b, d, keys[k])) return *oom = true, "";
        if (!putz(b, " ")) return *oom = true, "";
    }
    const tb_value *sd = tb_object_getz(d, "structured_data");
    if (sd) {
        if (rfc3164 && !putz(b, " ")) return *oom = true, "";
        const char *why = put_sd(b, sd, oom);
        if (why) return why;
    } else if (!rfc3164 && !putz(b, "-")) {
        return *oom = true, "";
    }
    const tb_value *msg = get_str(d, "msg");
    if (msg && (!putz(b, " ") || !put(b, msg->as.s, msg->len))) return *oom = true, "";
    return NULL;
}

static int TB_CALL encode(void *instance, tb_batch *batch) {
    (void)instance;
    for (uint32_t ei = 0; ei < batch->count; ei++) {
        tb_event *e = &batch->events[ei];
        tb_buf buf;
        bool oom = false;
        if (e->flags & TB_EF_RAW) continue;
        tb_buf_init(&buf, batch->arena);
        const char *why = encode_rec(&buf, &e->data, &oom);
        if (oom) return TB_ENOMEM;
        if (why) {
            if (!tb_event_failf(batch, e, "syslog codec: %s", why)) return TB_ENOMEM;
            continue;
        }
        e->data = tb_bytes(buf.data, buf.len);
        e->flags |= TB_EF_RAW;
    }
    return TB_OK;
}

/* ---------------------------------------------------------------------------------------
 * Instances and the descriptor
 * ------------------------------------------------------------------------------------- */

static const tb_codec_vtable vtable = {
    .struct_size = sizeof(tb_codec_vtable),
    .create = tb_stateless_create,
    .destroy = tb_stateless_destroy,
    .decode = decode,
    .encode = encode,
};

static const tb_component component = {
    .struct_size = sizeof(tb_component),
    .kind = TB_KIND_CODEC,
    .name = "syslog",
    .description = "syslog (RFC 5424 and RFC 3164), Tremor's record shape",
    .vtable = &vtable,
};

static const tb_component *const components[] = {&component};

static const tb_plugin_descriptor descriptor = {
    TB_DESCRIPTOR_HEAD,
    .flags = TB_PLUGIN_UNLOAD_SAFE,
    .name = "syslog",
    .version = "0.1.0",
    .description = "The syslog codec",
    .components = components,
    .component_count = 1,
};

TB_PLUGIN_ENTRY(syslog) { return &descriptor; }
