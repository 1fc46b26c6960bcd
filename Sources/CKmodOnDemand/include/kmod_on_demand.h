// The CLI's libkmod: the libkmod functions the core calls, defined here to load
// libkmod.so.2 with dlopen on first use. Most commands never touch kernel modules,
// and linking libkmod (with its libcrypto, libzstd and liblzma) costs every run of
// the CLI about 0.8 ms at start-up. The boot binary links libkmod directly.
#ifndef EARLYBIND_KMOD_ON_DEMAND_H
#define EARLYBIND_KMOD_ON_DEMAND_H
#endif
