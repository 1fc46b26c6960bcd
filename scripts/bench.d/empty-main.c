/* The floor for earlybind-boot's process start: a C program that links libkmod
   (built with --no-as-needed, so libkmod and the libcrypto it pulls in are loaded,
   as for earlybind-boot) and returns at once. */
#include <libkmod.h>

int main(void) {
    void *(*volatile keep)(void) = (void *(*)(void))kmod_new;
    return keep == 0;
}
