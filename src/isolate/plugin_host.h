/*
 * plugin_host.h - the entry of `temblor plugin-host`, the process that runs one isolated
 * instance (plugin_host.c, docs/isolation.md). Only the runtime starts it.
 */
#ifndef TBR_ISOLATE_PLUGIN_HOST_H
#define TBR_ISOLATE_PLUGIN_HOST_H

/* argv: "plugin-host", "--channel", the channel's descriptors (tbr_chan_fds_format). Returns
 * the process's exit code (proto.h, TBR_HOST_EXIT_*). */
int tbr_plugin_host_main(int argc, char **argv);

#endif
