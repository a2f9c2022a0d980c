/* loader.c - dlopen, the ELF sanity check and the entry symbol; the descriptor itself is
 * checked in descriptor.c. */
#define _GNU_SOURCE
#include "plugin/loader.h"

#include <limits.h>

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "plugin/signature.h"

#if UINTPTR_MAX == UINT64_MAX
#define HOST_ELF_CLASS ELFCLASS64
#else
#define HOST_ELF_CLASS ELFCLASS32
#endif

/* Says why path is not a shared library this process could map, or returns NULL. Done
 * before dlopen so the message is plainer than the dynamic linker's. */
static const char *not_a_library(const char *path, char *why, size_t n) {
    struct stat st;
    if (stat(path, &st) != 0) return snprintf(why, n, "%s", strerror(errno)), why;
    if (!S_ISREG(st.st_mode)) return "not a regular file";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return snprintf(why, n, "%s", strerror(errno)), why;
    unsigned char ident[EI_NIDENT + 2 * sizeof(uint16_t)];
    ssize_t got = read(fd, ident, sizeof ident);
    close(fd);
    if (got < (ssize_t)sizeof ident) return "not an ELF file (too short)";
    if (memcmp(ident, ELFMAG, SELFMAG) != 0) return "not an ELF file";
    if (ident[EI_CLASS] != HOST_ELF_CLASS)
        return HOST_ELF_CLASS == ELFCLASS64 ? "a 32-bit ELF file, this runtime is 64-bit"
                                            : "a 64-bit ELF file, this runtime is 32-bit";
    uint16_t type;
    memcpy(&type, ident + EI_NIDENT, sizeof type);
    if (type != ET_DYN) return "an ELF file but not a shared library";
    return NULL;
}

static void prefix_error(char *err, size_t n, const char *path, const char *msg) {
    if (err && n) snprintf(err, n, "%s: %s", path, msg);
}

/* Opens the library at open_path; messages and the plugin name display_path. */
static int open_as(const char *open_path, const char *path, tbr_plugin **out, char *err, size_t n) {
    char why[512];
    *out = NULL;
    const char *bad = not_a_library(open_path, why, sizeof why);
    if (bad) {
        char msg[600];
        snprintf(msg, sizeof msg, "not a loadable library: %s", bad);
        prefix_error(err, n, path, msg);
        return TB_EINVAL;
    }
    /* a bare file name is a file here, not a name for the dynamic linker to search for */
    char local[PATH_MAX];
    if (!strchr(open_path, '/') && snprintf(local, sizeof local, "./%s", open_path) < (int)sizeof local)
        open_path = local;
    /* RTLD_NOW: an unresolved symbol refuses the library here, not at the first call;
     * RTLD_LOCAL: one plugin's symbols never satisfy another's. */
    dlerror();
    void *handle = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *dl = dlerror();
        snprintf(why, sizeof why, "cannot load: %s", dl ? dl : "unknown dlopen error");
        prefix_error(err, n, path, why);
        return TB_EINVAL;
    }
    dlerror();
    void *sym = dlsym(handle, TB_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        prefix_error(err, n, path,
                     "no entry symbol '" TB_PLUGIN_ENTRY_SYMBOL "': not a temblor plugin");
        dlclose(handle);
        return TB_EINVAL;
    }
    tb_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object to function pointer, as POSIX allows */
    const tb_plugin_descriptor *d = entry();
    if (!d) {
        prefix_error(err, n, path, TB_PLUGIN_ENTRY_SYMBOL " returned NULL");
        dlclose(handle);
        return TB_EINVAL;
    }
    tbr_plugin *p;
    int rc = tbr_plugin_from_descriptor(d, path, &p, why, sizeof why);
    if (rc) {
        prefix_error(err, n, path, why);
        /* no init ran and no instance exists, so nothing of the library is in use */
        dlclose(handle);
        return rc;
    }
    p->handle = handle;
    *out = p;
    return TB_OK;
}

int tbr_plugin_open(const char *path, tbr_plugin **out, char *err, size_t n) {
    /* with signatures, the bytes checked must be the bytes mapped: a private copy is both */
    if (tbr_signature_policy() != TBR_SIG_OFF) return tbr_plugin_open_copy(path, out, err, n);
    return open_as(path, path, out, err, n);
}

/* Copies the file at path into a new memfd; its fd, or -1 with the reason in why. */
static int copy_to_memfd(const char *path, char *why, size_t n) {
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0) {
        snprintf(why, n, "%s", strerror(errno));
        return -1;
    }
    const char *base = strrchr(path, '/');
    int fd = memfd_create(base ? base + 1 : path, MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(why, n, "cannot make a private copy: %s", strerror(errno));
        close(src);
        return -1;
    }
    char buf[64 * 1024];
    for (;;) {
        ssize_t got = read(src, buf, sizeof buf);
        if (got == 0) break;
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            snprintf(why, n, "reading: %s", strerror(errno));
            goto fail;
        }
        for (ssize_t off = 0; off < got;) {
            ssize_t put = write(fd, buf + off, (size_t)(got - off));
            if (put < 0 && errno == EINTR) continue;
            if (put < 0) {
                snprintf(why, n, "cannot make a private copy: %s", strerror(errno));
                goto fail;
            }
            off += put;
        }
    }
    close(src);
    return fd;
fail:
    close(src);
    close(fd);
    return -1;
}

/* Closes a copy's memfd once its library is unmapped. dlclose does not always unmap (a
 * library marked nodelete, or one a C++ runtime pins): then the fd stays open for good, or
 * its number, reused, would make the dynamic linker hand back this library by name. */
static void close_copy(int fd) {
    char fd_path[64];
    snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
    void *still = dlopen(fd_path, RTLD_NOW | RTLD_NOLOAD);
    if (still) {
        dlclose(still); /* the reference RTLD_NOLOAD took */
        return;
    }
    close(fd);
}

/* The signature check of the copy in fd of the library at path, under policy pol with the
 * keys of trust: TB_OK to go on (*signed_meta, when not NULL, is what the signature covers, to
 * compare once loaded; who says who signed it), or a refusal in err. */
static int check_signature(int fd, const char *path, tbr_sig_policy pol, const char *trust, char **signed_meta,
                           char *who, size_t who_n, char *err, size_t n) {
    char why[768], sig_path[PATH_MAX + 8], msg[900];
    struct stat st;
    *signed_meta = NULL;
    if (pol == TBR_SIG_OFF) return TB_OK;
    snprintf(sig_path, sizeof sig_path, "%s.sig", path);
    int rc;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) != 0 || (st.st_size > 0 && (map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)) {
        snprintf(why, sizeof why, "cannot read the copy to check it: %s", strerror(errno));
        rc = TB_EIO;
    } else {
        rc = tbr_signature_verify(map == MAP_FAILED ? "" : map, (size_t)st.st_size, sig_path, trust, signed_meta, who,
                                  who_n, why, sizeof why);
        if (map != MAP_FAILED) munmap(map, (size_t)st.st_size);
    }
    if (rc == TB_OK) return TB_OK;
    if (pol == TBR_SIG_WARN) {
        tbr_log(TB_LOG_WARN, NULL, "%s: signature: %s (loaded anyway: the signature policy is warn)", path, why);
        return TB_OK;
    }
    snprintf(msg, sizeof msg, "refused by the signature policy (require): %s", why);
    prefix_error(err, n, path, msg);
    return rc == TB_ENOMEM ? TB_ENOMEM : TB_EINVAL;
}

int tbr_plugin_copy_checked(const char *path, tbr_sig_policy pol, const char *trust, tbr_plugin_copy *out, char *who,
                            size_t who_n, char *err, size_t n) {
    char why[512];
    out->fd = -1;
    out->signed_meta = NULL;
    out->path = path;
    int fd = copy_to_memfd(path, why, sizeof why);
    if (fd < 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "not a loadable library: %s", why);
        prefix_error(err, n, path, msg);
        return TB_EINVAL;
    }
    int rc = check_signature(fd, path, pol, trust, &out->signed_meta, who, who_n, err, n);
    if (rc) {
        close(fd);
        return rc;
    }
    out->fd = fd;
    return TB_OK;
}

void tbr_plugin_copy_discard(tbr_plugin_copy *copy) {
    if (copy->fd >= 0) close(copy->fd);
    free(copy->signed_meta);
    copy->fd = -1;
    copy->signed_meta = NULL;
}

int tbr_plugin_open_checked(tbr_plugin_copy *copy, tbr_plugin **out, char *err, size_t n) {
    /* the fd stays open while the library is mapped: its /proc name is then unique among
     * the libraries mapped, and the dynamic linker never hands back another copy's mapping */
    char fd_path[64];
    const char *path = copy->path;
    char *signed_meta = copy->signed_meta;
    int fd = copy->fd;
    copy->fd = -1;
    copy->signed_meta = NULL;
    snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
    int rc = open_as(fd_path, path, out, err, n);
    if (rc) {
        free(signed_meta);
        close_copy(fd);
        return rc;
    }
    (*out)->copy_fd = fd;
    if (signed_meta) {
        /* the signed bytes declare what was signed, unless the signer signed a mistake */
        char *found = tbr_signature_metadata(*out);
        if (!found || strcmp(found, signed_meta)) {
            char msg[4096];
            snprintf(msg, sizeof msg, "refused by the signature policy: its declared metadata is not what was signed "
                                      "(signed %s, found %s)", signed_meta, found ? found : "(out of memory)");
            prefix_error(err, n, path, msg);
            tbr_plugin_close(*out);
            *out = NULL;
            rc = TB_EINVAL;
        }
        free(found);
        free(signed_meta);
    }
    return rc;
}

/* Opens a private copy of the library at path, its signature checked under pol first. */
static int open_copy_as(const char *path, tbr_sig_policy pol, const char *trust, tbr_plugin **out, char *who,
                        size_t who_n, char *err, size_t n) {
    tbr_plugin_copy copy;
    *out = NULL;
    int rc = tbr_plugin_copy_checked(path, pol, trust, &copy, who, who_n, err, n);
    return rc ? rc : tbr_plugin_open_checked(&copy, out, err, n);
}

int tbr_plugin_open_copy(const char *path, tbr_plugin **out, char *err, size_t n) {
    char who[300];
    return open_copy_as(path, tbr_signature_policy(), tbr_signature_trust_dir(), out, who, sizeof who, err, n);
}

int tbr_plugin_verify(const char *path, const char *trust_dir, char *who, size_t who_n, char *err, size_t n) {
    tbr_plugin *p = NULL;
    int rc = open_copy_as(path, TBR_SIG_REQUIRE, trust_dir, &p, who, who_n, err, n);
    tbr_plugin_close(p);
    return rc;
}

int tbr_plugin_open_static(tb_plugin_entry_fn entry, tbr_plugin **out, char *err, size_t n) {
    char why[512];
    const tb_plugin_descriptor *d = entry();
    *out = NULL;
    if (!d) {
        prefix_error(err, n, "(static)", TB_PLUGIN_ENTRY_SYMBOL " returned NULL");
        return TB_EINVAL;
    }
    int rc = tbr_plugin_from_descriptor(d, "(static)", out, why, sizeof why);
    if (rc) prefix_error(err, n, "(static)", why);
    return rc;
}

void tbr_plugin_close(tbr_plugin *p) {
    if (!p) return;
    void *handle = p->handle;
    bool unload = (p->desc.flags & TB_PLUGIN_UNLOAD_SAFE) != 0;
    int fd = p->copy_fd;
    tbr_plugin_free(p);
    if (handle && unload) dlclose(handle);
    /* a copy that stays mapped keeps its fd: its name must stay unique */
    if (fd >= 0 && (!handle || unload)) close_copy(fd);
}
