/*
 * options.h - checks a component's configuration against the options it declares.
 *
 * Thread contract: reentrant; any thread. Ownership: the effective configuration is built
 * in the caller's arena: configured values are copied into it; defaults point into the
 * plugin's own copies, so it must not outlive the plugin.
 */
#ifndef TBR_PLUGIN_OPTIONS_H
#define TBR_PLUGIN_OPTIONS_H

#include <stddef.h>

#include "plugin/plugin.h"

/* Builds the effective configuration of component c from config (an object, or NULL for
 * none): each set option type-checked (integers widen to float; non-negative int and uint
 * convert into each other), unknown options refused, required ones demanded, defaults
 * filled in declaration order. Returns TB_OK, TB_EINVAL with one line in err naming the
 * option, what was expected and what was found, or TB_ENOMEM. */
int tbr_options_apply(const tbr_component *c, const tb_value *config, tb_arena *arena,
                      tb_value *out, char *err, size_t err_size);

/* Converts v to option type (TB_OPT_*) into *out: integers widen to float, non-negative int
 * and uint convert into each other. Returns false when v is not of that type. */
bool tbr_option_coerce(uint32_t type, const tb_value *v, tb_value *out);

/* The type of a value as the messages name it ("string", "int", ...). */
const char *tbr_value_type_name(uint32_t type);

#endif
