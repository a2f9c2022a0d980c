/*
 * generic.h - the components of the `generic` operator plugin, one per file, gathered by
 * generic.c into the plugin's descriptor.
 *
 * Thread contract: as every operator: create/destroy on the control thread, every other
 * callback of one instance on one thread at a time.
 */
#ifndef TBOP_GENERIC_H
#define TBOP_GENERIC_H

#include <temblor/temblor.h>

/* Output ports shared by the generic operators: event.port indexes this list. */
enum { GENERIC_PORT_OUT = 0, GENERIC_PORT_ERR = 1 };

extern const tb_component tbop_generic_batch;   /* generic::batch */
extern const tb_component tbop_generic_counter; /* generic::counter */

#endif
