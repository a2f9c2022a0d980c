/*
 * fuzz_script.c - libFuzzer target for the three languages: any bytes, read as a
 * tremor-script, a trickle query and a troy deployment, must either compile or be refused
 * with a diagnostic; a compiled script or query must run on a sample event without a crash,
 * a leak or undefined behaviour (the sanitizers watch).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lang/deploy.h"
#include "lang/query.h"
#include "lang/script.h"
#include "value/arena.h"
#include "value/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tbr_source *src = tbr_source_from_string("fuzz.tremor", (const char *)data, size);
    if (!src) return 0;
    tbr_diags diags;
    tbr_diags_init(&diags, src);
    tbr_script *s = tbr_script_compile(src, &diags);
    if (!s) {
        /* every refusal renders: exercise the caret code on arbitrary spans */
        char buf[4096];
        for (size_t i = 0; i < diags.count; i++) tbr_diag_render(src, &diags.items[i], buf, sizeof buf);
    } else {
        static const char sample[] = "{\"a\":1,\"b\":\"text\",\"c\":[1,2,{\"d\":null}],\"e\":1.5}";
        tb_arena *arena = tbr_arena_new(0);
        tbr_script_instance inst;
        if (arena && tbr_script_instance_init(&inst, s, 1) == TB_OK) {
            for (int round = 0; round < 2; round++) {
                tb_value event, meta = tb_object();
                char err[128];
                if (tbr_json_parse(arena, sample, sizeof sample - 1, &event, err, sizeof err) == TB_OK) {
                    tbr_script_result r;
                    tbr_script_run(&inst, arena, &event, &meta, &r);
                }
                tbr_arena_reset(arena);
            }
            tbr_script_instance_fini(&inst);
        }
        tbr_arena_free(arena);
        tbr_script_free(s);
    }
    tbr_diags_free(&diags);

    /* the same bytes as a query: compile, and run a few events through it */
    tbr_diags_init(&diags, src);
    tbr_query *q = tbr_query_compile(src, NULL, &diags);
    if (q) {
        char err[256];
        tbr_pipeline *pl = tbr_pipeline_new(q, NULL, err, sizeof err);
        tb_arena *arena = tbr_arena_new(0);
        if (pl && arena) {
            tbr_pipeline_out out = {0};
            for (int i = 0; i < 4; i++) {
                tb_event ev = {0};
                char jerr[64];
                if (tbr_json_parse(arena, "{\"a\":1,\"b\":[1,2]}", 17, &ev.data, jerr, sizeof jerr) != TB_OK) break;
                ev.meta = tb_object();
                ev.ingest_ns = (uint64_t)i * 1000000000u;
                tbr_pipeline_push(pl, "in", &ev, arena, &out);
                tbr_pipeline_tick(pl, ev.ingest_ns, arena, &out);
                out.count = 0;
                tbr_arena_reset(arena);
            }
            tbr_pipeline_out_free(&out);
        }
        tbr_arena_free(arena);
        tbr_pipeline_free(pl);
        tbr_query_free(q);
    }
    tbr_diags_free(&diags);

    /* and as a deployment */
    tbr_diags_init(&diags, src);
    tbr_deployment_free(tbr_deployment_compile(src, NULL, &diags));
    tbr_diags_free(&diags);
    tbr_source_free(src);
    return 0;
}
