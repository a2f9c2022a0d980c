/* clone.c - deep copy of a value into an arena. */
#include "value/clone.h"

int tbr_value_clone(tb_arena *arena, const tb_value *src, tb_value *dst) {
    *dst = *src;
    /* exact-size storage below, whatever the source had; a string's content is the same */
    dst->flags = src->flags & TB_VF_NO_ESCAPE;
    switch (src->type) {
    case TB_STRING:
    case TB_BYTES: {
        const char *copy = tb_arena_dup(arena, src->as.s, src->len);
        if (!copy) return TB_ENOMEM;
        dst->as.s = copy;
        return TB_OK;
    }
    case TB_ARRAY: {
        if (!src->len) {
            dst->as.items = NULL;
            return TB_OK;
        }
        tb_value *items = tb_arena_alloc(arena, (size_t)src->len * sizeof *items, 8);
        if (!items) return TB_ENOMEM;
        for (uint32_t i = 0; i < src->len; i++)
            if (tbr_value_clone(arena, &src->as.items[i], &items[i])) return TB_ENOMEM;
        dst->as.items = items;
        return TB_OK;
    }
    case TB_OBJECT: {
        if (!src->len) {
            dst->as.members = NULL;
            return TB_OK;
        }
        tb_member *members = tb_arena_alloc(arena, (size_t)src->len * sizeof *members, 8);
        if (!members) return TB_ENOMEM;
        for (uint32_t i = 0; i < src->len; i++) {
            const tb_member *m = &src->as.members[i];
            const char *key = tb_arena_dup(arena, m->key, m->key_len);
            if (!key) return TB_ENOMEM;
            members[i].key = key;
            members[i].key_len = m->key_len;
            members[i].reserved = m->reserved & TB_VF_NO_ESCAPE; /* the key is the same */
            if (tbr_value_clone(arena, &m->value, &members[i].value)) return TB_ENOMEM;
        }
        dst->as.members = members;
        return TB_OK;
    }
    default: return TB_OK;
    }
}
