#include "kmod_on_demand.h"

#include <dlfcn.h>
#include <errno.h>
#include <libkmod.h>
#include <stddef.h>

static void *symbol(const char *name) {
    static void *library;
    if (!library) library = dlopen("libkmod.so.2", RTLD_NOW | RTLD_LOCAL);
    return library ? dlsym(library, name) : NULL;
}

// Each stub resolves its libkmod function once; without libkmod it returns what
// libkmod returns on failure, which the core already handles.
#define FORWARD(type, name, params, args, failure)                      \
    type name params {                                                   \
        static __typeof__(&name) real;                                   \
        if (!real) real = (__typeof__(&name))symbol(#name);              \
        return real ? real args : failure;                               \
    }

FORWARD(struct kmod_ctx *, kmod_new, (const char *dirname, const char *const *config_paths),
        (dirname, config_paths), NULL)
FORWARD(struct kmod_ctx *, kmod_unref, (struct kmod_ctx *ctx), (ctx), NULL)
FORWARD(struct kmod_list *, kmod_list_next, (const struct kmod_list *list, const struct kmod_list *curr),
        (list, curr), NULL)
FORWARD(struct kmod_module *, kmod_module_get_module, (const struct kmod_list *entry), (entry), NULL)
FORWARD(const char *, kmod_module_get_name, (const struct kmod_module *mod), (mod), NULL)
FORWARD(const char *, kmod_module_get_path, (const struct kmod_module *mod), (mod), NULL)
FORWARD(int, kmod_module_get_initstate, (const struct kmod_module *mod), (mod), -ENOSYS)
FORWARD(int, kmod_module_new_from_lookup, (struct kmod_ctx *ctx, const char *given_alias, struct kmod_list **list),
        (ctx, given_alias, list), -ENOSYS)
FORWARD(int, kmod_module_probe_insert_module,
        (struct kmod_module *mod, unsigned int flags, const char *extra_options,
         int (*run_install)(struct kmod_module *m, const char *cmdline, void *data), const void *data,
         void (*print_action)(struct kmod_module *m, bool install, const char *options)),
        (mod, flags, extra_options, run_install, data, print_action), -ENOSYS)
FORWARD(struct kmod_module *, kmod_module_unref, (struct kmod_module *mod), (mod), NULL)
FORWARD(int, kmod_module_unref_list, (struct kmod_list *list), (list), -ENOSYS)
