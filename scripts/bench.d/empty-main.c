/* The floor for earlybind-boot's process start: a C program that links libkmod
   (and so loads it and libcrypto) and returns at once. */
#include <libkmod.h>

int main(void) {
    /* Referenced so the linker keeps libkmod, as earlybind-boot needs it. */
    return kmod_get_dirname == 0;
}
