/*
 * loader.h - opens a plugin library and checks it before anything else of it runs.
 *
 * Thread contract: any thread; dlopen serialises internally and nothing here is shared.
 * Ownership: on success the caller owns the returned plugin (and its library handle) and
 * releases both with tbr_plugin_close.
 */
#ifndef TBR_PLUGIN_LOADER_H
#define TBR_PLUGIN_LOADER_H

#include <stddef.h>

#include "plugin/plugin.h"
#include "plugin/signature.h"

/* Loads the library at path with RTLD_NOW | RTLD_LOCAL and checks its descriptor. On
 * refusal returns a negative status and writes one line "PATH: what is wrong" into err. */
int tbr_plugin_open(const char *path, tbr_plugin **out, char *err, size_t err_size);

/* Loads a private copy of the library at path: its bytes are copied into a memfd that is
 * opened in its place, so the dynamic linker maps it afresh even when a library of that path
 * (the build being replaced, or one kept mapped after an unload) is mapped already. Messages
 * and the plugin's path name path. As tbr_plugin_open otherwise. */
int tbr_plugin_open_copy(const char *path, tbr_plugin **out, char *err, size_t err_size);

/* Under the signature policy (plugin/signature.h) other than off, tbr_plugin_open loads a
 * private copy too, and both check the copy's bytes against the signature file beside path
 * before the library is mapped, then its declared metadata against what was signed. */

/* Checks the library at path as the policy require does, with the keys of trust_dir: TB_OK
 * and who signed it in who, or the reason in err ("PATH: ..."). The library is loaded (so its
 * metadata can be compared) only once its signature is good, and closed again. */
int tbr_plugin_verify(const char *path, const char *trust_dir, char *who, size_t who_n, char *err, size_t err_size);

/* tbr_plugin_open_copy in two halves, for a plugin host that must read the library and its
 * signature before it confines itself, and map it only after (docs/isolation.md). The first
 * copies the library at path into a memfd and checks the copy under policy pol with the keys
 * of trust: TB_OK and *out (path is borrowed, not copied), or the refusal in err. The second
 * maps the copy and compares the declared metadata with what was signed; it consumes *copy,
 * whatever it returns. discard releases a copy that will not be opened. */
typedef struct tbr_plugin_copy {
    int fd;
    char *signed_meta;
    const char *path;
} tbr_plugin_copy;
int tbr_plugin_copy_checked(const char *path, tbr_sig_policy pol, const char *trust, tbr_plugin_copy *out, char *who,
                            size_t who_n, char *err, size_t err_size);
int tbr_plugin_open_checked(tbr_plugin_copy *copy, tbr_plugin **out, char *err, size_t err_size);
void tbr_plugin_copy_discard(tbr_plugin_copy *copy);

/* Builds a plugin from an entry function linked into the binary (a static plugin). */
int tbr_plugin_open_static(tb_plugin_entry_fn entry, tbr_plugin **out, char *err,
                           size_t err_size);

/* Frees the plugin and unmaps its library when the plugin declares itself unload-safe (a
 * library that does not stays mapped: see DESIGN rule 12). */
void tbr_plugin_close(tbr_plugin *p);

#endif
