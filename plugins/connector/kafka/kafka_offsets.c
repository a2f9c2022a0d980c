/*
 * kafka_offsets.c - kafka_consumer's partitions: what was emitted and not yet settled, what
 * may be committed, and the rebalances that hand partitions in and out.
 *
 * Per partition, the offsets emitted and not yet settled are kept in order (kc_flight). An
 * acknowledgement settles its offset; the position that may be committed is the lowest
 * unsettled offset (or, with none, the offset after the last one emitted), so an event that
 * is not acknowledged holds the commits of its partition back, however many later ones are.
 * That position is stored (rd_kafka_offsets_store) as soon as it moves, and librdkafka's
 * automatic commit sends only stored positions: every commit_interval_ms, and as it
 * unassigns revoked partitions. A fail drops the in-flight offsets from the failed pull on
 * and seeks the partition back: the messages come again, in order (at least once; later
 * events that were already delivered come twice).
 *
 * The runtime answers for a pull's events with one ticket, listing the ids that reached the
 * end of the source's chain. A preprocessor may swallow an event (an empty message under
 * `separate`) or carry its bytes on under a later id, so that id never comes back. So an
 * answer applies to everything the pulls it names emitted, in every partition: an ack
 * settles all of it, a fail replays each partition from the first offset those pulls took
 * from it. A pull whose every event was swallowed gets no answer at all and holds its
 * partitions back: tbp_kafka_check_stuck warns about a partition held back for a minute.
 *
 * Event ids are KC_ID(key, offset): a partition gets a new key at every assignment, and on a
 * revocation its state is dropped, so acknowledgements of events from before are recognised
 * by their key and commit nothing (the partition's new owner starts from the last commit).
 *
 * Ownership: partition state (topic copies, flight arrays) is host memory, freed when the
 * partition is revoked or the instance stops. Thread contract: the instance's thread;
 * tbp_kafka_rebalance is called by librdkafka inside rd_kafka_consumer_poll on that thread.
 */
#define _GNU_SOURCE
#include "kafka.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#define NONE UINT32_MAX
#define HOLD_MAX 4096u /* messages kept while paused, at most (pausing stops the fetch anyway) */
#define STUCK_NS (60ull * 1000000000u)

kc_part *tbp_kafka_part_of(kc_consumer *c, const rd_kafka_topic_t *rkt, int32_t partition) {
    for (uint32_t i = 0; i < c->nparts; i++) {
        kc_part *p = &c->parts[i];
        if (p->partition != partition) continue;
        if (p->rkt == rkt || strcmp(p->topic, rd_kafka_topic_name(rkt)) == 0) {
            p->rkt = rkt;
            return p;
        }
    }
    return NULL;
}

static kc_part *part_by_key(kc_consumer *c, uint32_t key) {
    for (uint32_t i = 0; i < c->nparts; i++)
        if (c->parts[i].key == key) return &c->parts[i];
    return NULL;
}

static kc_part *part_by_name(kc_consumer *c, const char *topic, int32_t partition) {
    for (uint32_t i = 0; i < c->nparts; i++)
        if (c->parts[i].partition == partition && strcmp(c->parts[i].topic, topic) == 0) return &c->parts[i];
    return NULL;
}

bool tbp_kafka_part_emit(kc_consumer *c, kc_part *p, int64_t offset, uint64_t pull) {
    p->next = offset + 1;
    p->streamed = true;
    if (!c->transactional) return true;
    if (p->head + p->count == p->cap) {
        if (p->head > 0) {
            /* settled entries went from the front: slide the rest down */
            memmove(p->flight, p->flight + p->head, p->count * sizeof *p->flight);
            p->head = 0;
        }
        if (p->count == p->cap) {
            uint32_t ncap = p->cap ? p->cap * 2 : 256;
            kc_flight *n = c->host->realloc(c->ctx, p->flight, ncap * sizeof *n);
            if (!n) return false;
            p->flight = n;
            p->cap = ncap;
        }
    }
    p->flight[p->head + p->count++] = (kc_flight){offset, pull, false};
    return true;
}

/* The index of offset among p's in-flight entries, or NONE. */
static uint32_t find_flight(const kc_part *p, int64_t offset) {
    uint32_t lo = p->head, hi = p->head + p->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->flight[mid].offset < offset) lo = mid + 1;
        else hi = mid;
    }
    return lo < p->head + p->count && p->flight[lo].offset == offset ? lo : NONE;
}

/* The first of p's in-flight entries emitted by pull number pull or a later one. */
static uint32_t first_of_pull(const kc_part *p, uint64_t pull) {
    uint32_t lo = p->head, hi = p->head + p->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->flight[mid].pull < pull) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Settles (ok) or replays (a fail) what pull number pull emitted from p. */
static void answer_pull(kc_part *p, uint64_t pull, bool ok) {
    uint32_t i = first_of_pull(p, pull), end = p->head + p->count;
    if (i == end || p->flight[i].pull != pull) return;
    p->touched = true;
    if (!ok) {
        /* forget it and everything after it, to be fetched again from there */
        p->next = p->flight[i].offset;
        p->count = i - p->head;
        p->seek = true;
        return;
    }
    for (; i < end && p->flight[i].pull == pull; i++) p->flight[i].settled = true;
}

static void log_list_errors(kc_consumer *c, const char *what, const rd_kafka_topic_partition_list_t *list) {
    for (int i = 0; i < list->cnt; i++)
        /* _IN_PROGRESS: an asynchronous seek under way, as asked */
        if (list->elems[i].err && list->elems[i].err != RD_KAFKA_RESP_ERR__IN_PROGRESS)
            tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot %s %s[%" PRId32 "] at %" PRId64 ": %s", what,
                   list->elems[i].topic, list->elems[i].partition, list->elems[i].offset,
                   rd_kafka_err2str(list->elems[i].err));
}

/* For every touched partition: drops the settled front, stores the position that may now be
 * committed, and seeks back where a fail asked to. */
static void apply_touched(kc_consumer *c) {
    rd_kafka_topic_partition_list_t *store = NULL, *seek = NULL;
    for (uint32_t i = 0; i < c->nparts; i++) {
        kc_part *p = &c->parts[i];
        if (!p->touched) continue;
        p->touched = false;
        while (p->count && p->flight[p->head].settled) {
            p->head++;
            p->count--;
        }
        if (!p->count) p->head = 0;
        int64_t pos = p->count ? p->flight[p->head].offset : p->next;
        if (pos >= 0 && pos > p->stored) {
            if (!store) store = rd_kafka_topic_partition_list_new(4);
            if (store) {
                rd_kafka_topic_partition_list_add(store, p->topic, p->partition)->offset = pos;
                p->stored = pos;
            }
        }
        if (p->seek) {
            if (!seek) seek = rd_kafka_topic_partition_list_new(4);
            if (seek) {
                rd_kafka_topic_partition_list_add(seek, p->topic, p->partition)->offset = p->next;
                p->seek = false;
            }
        }
    }
    if (store) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, store);
        if (err) tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot store offsets: %s", rd_kafka_err2str(err));
        log_list_errors(c, "store the offset of", store);
        if (c->commit_each && (err = rd_kafka_commit(c->rk, NULL, 1)) != RD_KAFKA_RESP_ERR_NO_ERROR &&
            err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot commit: %s", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(store);
    }
    if (seek) {
        /* timeout 0: asynchronous; librdkafka drops what it fetched past the offset */
        rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, seek, 0);
        if (error) {
            tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot seek back to replay: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
        log_list_errors(c, "seek", seek);
        for (int i = 0; i < seek->cnt; i++)
            tb_log(c->host, c->ctx, TB_LOG_INFO, "replaying %s[%" PRId32 "] from offset %" PRId64, seek->elems[i].topic,
                   seek->elems[i].partition, seek->elems[i].offset);
        rd_kafka_topic_partition_list_destroy(seek);
    }
}

#define MAX_PULLS 16 /* pulls named in one answer: one, as the runtime makes tickets */

static void settle(kc_consumer *c, const uint64_t *ids, uint32_t count, bool ok) {
    uint64_t pulls[MAX_PULLS];
    uint32_t npulls = 0, key = 0;
    kc_part *p = NULL;
    if (!c->transactional || !c->rk) return; /* performance mode; or after stop: nothing to commit */
    if (!ok && !c->retry_failed) {
        tb_log(c->host, c->ctx, TB_LOG_DEBUG, "%u events failed: not replayed (retry_failed_events is false)", count);
        ok = true;
    }
    /* which pulls the ids came from */
    for (uint32_t k = 0; k < count; k++) {
        uint32_t id_key = (uint32_t)(ids[k] >> KC_OFFSET_BITS), i, n;
        if (!p || id_key != key) {
            key = id_key;
            p = part_by_key(c, key);
        }
        if (!p) continue; /* revoked since, or a stream end: nothing to commit */
        if ((i = find_flight(p, (int64_t)(ids[k] & KC_OFFSET_MASK))) == NONE) continue; /* answered, or replayed */
        uint64_t pull = p->flight[i].pull;
        for (n = 0; n < npulls && pulls[n] != pull; n++) {
        }
        if (n < npulls) continue;
        if (npulls < MAX_PULLS) pulls[npulls++] = pull;
        else answer_pull(p, pull, ok); /* more than a ticket holds: its own partition only */
    }
    for (uint32_t n = 0; n < npulls; n++)
        for (uint32_t i = 0; i < c->nparts; i++) answer_pull(&c->parts[i], pulls[n], ok);
    apply_touched(c);
}

void TB_CALL tbp_kafka_ack(void *instance, const uint64_t *ids, uint32_t count) {
    settle(instance, ids, count, true);
}

void TB_CALL tbp_kafka_fail(void *instance, const uint64_t *ids, uint32_t count) {
    settle(instance, ids, count, false);
}

void tbp_kafka_check_stuck(kc_consumer *c, uint64_t now_ns) {
    for (uint32_t i = 0; i < c->nparts; i++) {
        kc_part *p = &c->parts[i];
        /* held back: the oldest unsettled, a later one settled */
        bool held = p->count && !p->flight[p->head].settled && p->flight[p->head + p->count - 1].settled;
        if (!held) {
            p->stuck_since = 0;
            continue;
        }
        if (!p->stuck_since || p->stuck_offset != p->flight[p->head].offset) {
            p->stuck_offset = p->flight[p->head].offset;
            p->stuck_since = now_ns;
            p->stuck_warned = false;
        } else if (!p->stuck_warned && now_ns - p->stuck_since > STUCK_NS) {
            p->stuck_warned = true;
            tb_log(c->host, c->ctx, TB_LOG_WARN,
                   "%s[%" PRId32 "]: offset %" PRId64 " has had no answer for a minute while later ones were "
                   "acknowledged; its partition commits nothing past it (did a preprocessor swallow the message?)",
                   p->topic, p->partition, p->stuck_offset);
        }
    }
}

/* ---- the assignment ------------------------------------------------------------------- */

static kc_part *part_add(kc_consumer *c, const char *topic, int32_t partition) {
    if (c->nparts == c->parts_cap) {
        uint32_t ncap = c->parts_cap ? c->parts_cap * 2 : 8;
        kc_part *n = c->host->realloc(c->ctx, c->parts, ncap * sizeof *n);
        if (!n) return NULL;
        c->parts = n;
        c->parts_cap = ncap;
    }
    kc_part *p = &c->parts[c->nparts];
    memset(p, 0, sizeof *p);
    if (!(p->topic = tbp_kafka_strdup(c->host, c->ctx, topic, strlen(topic)))) return NULL;
    p->partition = partition;
    p->key = c->next_key;
    c->next_key = c->next_key + 1 < KC_KEY_LIMIT ? c->next_key + 1 : 1;
    p->next = -1;
    p->stored = -1;
    c->nparts++;
    return p;
}

/* Forgets p (moving the last partition into its place); its stream ends at the next pull. */
static void part_remove(kc_consumer *c, kc_part *p) {
    if (p->streamed) {
        if (c->nended == c->ended_cap) {
            uint32_t ncap = c->ended_cap ? c->ended_cap * 2 : 8;
            uint32_t *n = c->host->realloc(c->ctx, c->ended, ncap * sizeof *n);
            if (n) {
                c->ended = n;
                c->ended_cap = ncap;
            }
        }
        /* without room the stream's processors are only freed when the source ends */
        if (c->nended < c->ended_cap) c->ended[c->nended++] = p->key;
    }
    c->host->free(c->ctx, p->topic);
    c->host->free(c->ctx, p->flight);
    *p = c->parts[--c->nparts];
}

void tbp_kafka_drop_all(kc_consumer *c) {
    while (c->nparts) part_remove(c, &c->parts[c->nparts - 1]);
}

/* Keeps a message for the next pull; false when out of memory. */
static bool hold(kc_consumer *c, rd_kafka_message_t *m) {
    if (c->nheld == c->held_cap) {
        uint32_t ncap = c->held_cap ? c->held_cap * 2 : 16;
        rd_kafka_message_t **n = c->host->realloc(c->ctx, c->held, ncap * sizeof *n);
        if (!n) return false;
        c->held = n;
        c->held_cap = ncap;
    }
    c->held[c->nheld++] = m;
    return true;
}

void tbp_kafka_serve(kc_consumer *c) {
    rd_kafka_message_t *m;
    /* paused partitions fetch nothing: what comes are rebalances, errors and commit results
     * (served inside the poll), or a message fetched just before the pause */
    while (c->rk && c->nheld < HOLD_MAX && (m = rd_kafka_consumer_poll(c->rk, 0)))
        if (!hold(c, m)) {
            rd_kafka_message_destroy(m); /* it is fetched again after a restart */
            break;
        }
}

static void log_partitions(kc_consumer *c, const char *what, const rd_kafka_topic_partition_list_t *list) {
    char text[512];
    size_t at = 0;
    text[0] = '\0';
    if (!list->cnt) return; /* the cooperative protocol's empty steps */
    for (int i = 0; i < list->cnt && at < sizeof text - 1; i++) {
        int n = snprintf(text + at, sizeof text - at, "%s%s[%" PRId32 "]", i ? ", " : "", list->elems[i].topic,
                         list->elems[i].partition);
        if (n < 0) break;
        at += (size_t)n;
    }
    tb_log(c->host, c->ctx, TB_LOG_INFO, "%s %d partition%s: %s", what, list->cnt, list->cnt == 1 ? "" : "s", text);
}

static void assign(kc_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, bool coop) {
    rd_kafka_topic_partition_list_t *taken = rd_kafka_topic_partition_list_new(list->cnt);
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!taken) {
        tb_log(c->host, c->ctx, TB_LOG_ERROR, "out of memory taking an assignment: consuming nothing of it");
        return;
    }
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        /* a partition we still hold (cooperative protocol) keeps its state */
        if (!part_by_name(c, tp->topic, tp->partition) && !part_add(c, tp->topic, tp->partition)) {
            /* unassigned rather than read untracked: its messages stay for a later owner */
            tb_log(c->host, c->ctx, TB_LOG_ERROR, "out of memory: not consuming %s[%" PRId32 "]", tp->topic,
                   tp->partition);
            continue;
        }
        rd_kafka_topic_partition_list_add(taken, tp->topic, tp->partition)->offset = tp->offset;
    }
    if (coop) error = rd_kafka_incremental_assign(rk, taken);
    else err = rd_kafka_assign(rk, taken);
    if (error) {
        tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot take the assignment: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot take the assignment: %s", rd_kafka_err2str(err));
    }
    /* the runtime paused the source: new partitions start paused too */
    if (c->paused && taken->cnt) rd_kafka_pause_partitions(rk, taken);
    log_partitions(c, "assigned", taken);
    rd_kafka_topic_partition_list_destroy(taken);
}

/* Commits the positions stored for the partitions being revoked, synchronously, before they
 * go: the next owner starts where this one's acknowledgements got to. A group still settling
 * its rebalance may refuse the commit (REBALANCE_IN_PROGRESS): it is tried again, a few times,
 * 100 ms apart. If it never lands, the next owner reads again from the last commit (at least
 * once: duplicates, nothing lost). The instance's thread, inside librdkafka's rebalance
 * callback. */
static void commit_revoked(kc_consumer *c, rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *list) {
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(list->cnt);
    if (!offsets) return;
    for (int i = 0; i < list->cnt; i++) {
        kc_part *p = part_by_name(c, list->elems[i].topic, list->elems[i].partition);
        if (p && p->stored >= 0)
            rd_kafka_topic_partition_list_add(offsets, p->topic, p->partition)->offset = p->stored;
    }
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__NO_OFFSET;
    for (int attempt = 0; offsets->cnt && attempt < 5; attempt++) {
        err = rd_kafka_commit(rk, offsets, 0);
        if (err != RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS) break;
        struct timespec pause = {0, 100000000};
        nanosleep(&pause, NULL);
    }
    if (offsets->cnt && err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        tb_log(c->host, c->ctx, TB_LOG_WARN,
               "cannot commit the revoked partitions' positions: %s (their next owner reads again from the last commit)",
               rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(offsets);
}

static void revoke(kc_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list, bool coop) {
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    bool lost = rd_kafka_assignment_lost(rk);
    /* what was acknowledged is stored already (apply_touched, at every ack) and committed
     * here, unless the partitions were lost (the group went on without us). What comes later
     * for them commits nothing: their state goes. */
    if (!lost) commit_revoked(c, rk, list);
    for (int i = 0; i < list->cnt; i++) {
        kc_part *p = part_by_name(c, list->elems[i].topic, list->elems[i].partition);
        if (p) part_remove(c, p);
    }
    if (coop) error = rd_kafka_incremental_unassign(rk, list);
    else err = rd_kafka_assign(rk, NULL);
    if (error) {
        tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot give up the assignment: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        tb_log(c->host, c->ctx, TB_LOG_WARN, "cannot give up the assignment: %s", rd_kafka_err2str(err));
    }
    log_partitions(c, lost ? "lost" : "revoked", list);
}

void tbp_kafka_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *partitions, void *opaque) {
    kc_consumer *c = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign(c, rk, partitions, coop);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        revoke(c, rk, partitions, coop);
    } else {
        tb_log(c->host, c->ctx, TB_LOG_WARN, "rebalance failed: %s", rd_kafka_err2str(err));
        tbp_kafka_drop_all(c);
        rd_kafka_assign(rk, NULL);
    }
}
