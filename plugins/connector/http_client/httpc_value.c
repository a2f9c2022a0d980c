/*
 * httpc_value.c - self-contained copies of a value: an event's $correlation is copied out of
 * its batch when a request is made (the batch is gone by the time the response comes), and
 * copied again into the arena of the batch that carries the response.
 *
 * A copy is one block: the root tb_value first, then every array, object, key, string and
 * bytes it reaches, each 8-aligned. Ownership: the caller allocates and frees the block (host
 * memory or an arena). Thread contract: any thread; pure functions.
 */
#include "httpc.h"

static size_t up8(size_t n) { return (n + 7u) & ~(size_t)7u; }

static size_t inner_size(const tb_value *v) {
    size_t n = 0;
    switch (v->type) {
    case TB_STRING:
    case TB_BYTES: return up8(v->len);
    case TB_ARRAY:
        n = up8((size_t)v->len * sizeof(tb_value));
        for (uint32_t i = 0; i < v->len; i++) n += inner_size(&v->as.items[i]);
        return n;
    case TB_OBJECT:
        n = up8((size_t)v->len * sizeof(tb_member));
        for (uint32_t i = 0; i < v->len; i++) n += up8(v->as.members[i].key_len) + inner_size(&v->as.members[i].value);
        return n;
    default: return 0;
    }
}

size_t tbp_httpc_value_size(const tb_value *v) { return up8(sizeof(tb_value)) + inner_size(v); }

/* Copies what v points to at *cur (advancing it) and fixes dst's pointers. */
static void copy_inner(const tb_value *v, tb_value *dst, uint8_t **cur) {
    *dst = *v;
    dst->flags &= (uint8_t)~TB_VF_CAP_POW2; /* exactly len slots now */
    switch (v->type) {
    case TB_STRING:
    case TB_BYTES: {
        uint8_t *p = *cur;
        if (v->len) memcpy(p, v->as.bytes, v->len);
        *cur += up8(v->len);
        if (v->type == TB_STRING) dst->as.s = (const char *)p;
        else dst->as.bytes = p;
        return;
    }
    case TB_ARRAY: {
        tb_value *items = (tb_value *)(void *)*cur;
        *cur += up8((size_t)v->len * sizeof(tb_value));
        for (uint32_t i = 0; i < v->len; i++) copy_inner(&v->as.items[i], &items[i], cur);
        dst->as.items = items;
        return;
    }
    case TB_OBJECT: {
        tb_member *ms = (tb_member *)(void *)*cur;
        *cur += up8((size_t)v->len * sizeof(tb_member));
        for (uint32_t i = 0; i < v->len; i++) {
            const tb_member *m = &v->as.members[i];
            char *key = (char *)*cur;
            if (m->key_len) memcpy(key, m->key, m->key_len);
            *cur += up8(m->key_len);
            ms[i].key = key;
            ms[i].key_len = m->key_len;
            ms[i].reserved = m->reserved;
            copy_inner(&m->value, &ms[i].value, cur);
        }
        dst->as.members = ms;
        return;
    }
    default: return;
    }
}

void tbp_httpc_value_copy(const tb_value *v, void *block) {
    uint8_t *cur = (uint8_t *)block + up8(sizeof(tb_value));
    copy_inner(v, (tb_value *)block, &cur);
}
