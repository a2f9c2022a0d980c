/*
 * chain.h - the byte-level half of a connector: preprocessors and the decoding codec on the
 * source side, the encoding codec and postprocessors on the sink side.
 *
 * Processors keep state per stream (a partial line of one connection must not be glued to
 * another's), so a chain set creates one chain of processor instances per stream, when the
 * stream's first event comes, and finishes it (flushing what it buffers) when an event
 * flagged TB_EF_STREAM_END ends the stream, or when the source ends. The codec is one
 * instance for the connector.
 *
 * On the sink side only the connector's own streams (events its source half produced: a
 * server answering on a connection) have chains of their own, freed when the connector says
 * the stream is over (tbr_chain_end_stream); events from any other source share the chain of
 * stream 0, since a sink has no connection of theirs to keep apart (a file is one stream).
 *
 * Ownership: a chain set owns its instances. Thread contract: the connector stage's thread
 * (created on the control thread).
 */
#ifndef TBR_ENGINE_CHAIN_H
#define TBR_ENGINE_CHAIN_H

#include <stdbool.h>
#include <temblor/temblor.h>

#include "engine/connector.h"
#include "engine/stream_map.h"
#include "plugin/instance.h"

typedef enum tbr_chain_dir { TBR_CHAIN_DECODE, TBR_CHAIN_ENCODE } tbr_chain_dir;

typedef struct tbr_chain {
    uint32_t stream;
    tbr_instance **procs;
} tbr_chain;

typedef struct tbr_chain_set {
    tbr_registry *reg;
    const char *label;            /* borrowed: must live as long as the set (the stage's name) */
    struct tbr_loop *loop;
    tbr_component_ref *procs;     /* borrowed from the stage, which a swap updates */
    uint32_t nprocs;
    tbr_chain_dir dir;
    tbr_component_ref *codec_ref; /* borrowed; NULL: no codec */
    tbr_instance *codec;          /* NULL: values pass as they are */
    tbr_chain *chains;
    uint32_t nchains, cap;
    uint32_t last;                /* index of the chain used last: most batches are one stream */
    tbr_stream_map index;         /* stream -> index in chains */
    uint32_t own_source;          /* sink side: the connector's source id (0: every event is
                                     keyed by its stream) */
} tbr_chain_set;

/* Creates the codec instance (codec->component NULL: none); processor instances come per
 * stream later, labelled label (kept: it must outlive the set). TB_OK, or an error with one
 * line in err. */
int tbr_chain_set_init(tbr_chain_set *s, tbr_registry *reg, const char *label, struct tbr_loop *loop,
                       tbr_component_ref *procs, uint32_t nprocs, tbr_component_ref *codec, tbr_chain_dir dir,
                       char *err, size_t err_size);
void tbr_chain_set_fini(tbr_chain_set *s);

/* Source side: runs b's TB_EF_RAW events through their streams' preprocessors, then decodes
 * them; b's events are replaced by the result (in b->arena). Events a processor or the codec
 * cannot handle are marked failed (tb_event_fail) and kept. With finish_all, every stream's
 * buffered bytes are flushed and its chain ended (the source ended). TB_OK or TB_ENOMEM. */
int tbr_chain_decode(tbr_chain_set *s, tb_batch *b, bool finish_all);
/* tbr_chain_decode in two halves: submit runs the processors and, when the codec runs in a
 * plugin host that can take the batch now, sends it there (*submitted); complete, later, takes
 * the host's reply into b, or decodes b then (not submitted). Between the two the caller may
 * pull and submit the next batch: the host decodes while the runtime works (isolate/proxy.h).
 * Batches are completed in the order they were submitted, and before any other call of the
 * chain's codec: a batch not submitted only after those before it. */
int tbr_chain_decode_submit(tbr_chain_set *s, tb_batch *b, bool finish_all, bool *submitted);
int tbr_chain_decode_complete(tbr_chain_set *s, tb_batch *b, bool submitted);

/* Sink side: encodes b's events, then runs them through their stream's postprocessors.
 * Failures as for decode. TB_OK or TB_ENOMEM. */
int tbr_chain_encode(tbr_chain_set *s, tb_batch *b);

/* tbr_chain_encode in two halves, as decode: submit sends b to its codec's plugin host (when
 * the codec runs in one: *submitted), or does nothing; complete takes the reply (or encodes b
 * now, when it was not submitted) and runs the postprocessors. */
int tbr_chain_encode_submit(tbr_chain_set *s, tb_batch *b, bool *submitted);
int tbr_chain_encode_complete(tbr_chain_set *s, tb_batch *b, bool submitted);

/* Sink side, at stop: appends to b what every stream's postprocessors still buffer, and ends
 * the streams. TB_OK or TB_ENOMEM. */
int tbr_chain_flush(tbr_chain_set *s, tb_batch *b);

/* Sink side: frees stream's postprocessors without finishing them (the connector said nothing
 * more can be written to it); nothing when it has none. A later event of stream starts it
 * again. */
void tbr_chain_end_stream(tbr_chain_set *s, uint32_t stream);
/* Sink side: the same for every stream (the connector reconnected: its streams are gone). */
void tbr_chain_end_every_stream(tbr_chain_set *s);

/* Moves every instance of a component of plugin from to the same component of plugin to (a
 * reload), at a batch boundary: the codec is replaced; each stream's processors are replaced
 * with what the old instance still buffers handed over. On the decode side that is its
 * finish output fed to the new instance (a partial line stays a partial line); on the encode
 * side the finish output goes on downstream and is appended to out (a compressor ends its
 * stream). The references in procs and codec_ref are updated. TB_OK, or an error with one
 * line in err (the instances not yet moved stay on the old build). */
int tbr_chain_set_swap(tbr_chain_set *s, const tbr_plugin *from, const tbr_plugin *to, tb_batch *out, char *err,
                       size_t err_size);

/* Whether any reference of the set names a component of plugin p. */
bool tbr_chain_set_uses(const tbr_chain_set *s, const tbr_plugin *p);

#endif
