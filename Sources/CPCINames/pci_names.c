#include "pci_names.h"

#include <pci/pci.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

// A missing or unreadable pci.ids only means numeric output: stay quiet.
static void quiet(char *msg, ...) { (void)msg; }

static void __attribute__((noreturn)) fatal(char *msg, ...) {
    va_list args;
    va_start(args, msg);
    fputs("earlybind: libpci: ", stderr);
    vfprintf(stderr, msg, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

struct eb_pci_names *eb_pci_names_open(void) {
    struct pci_access *access = pci_alloc();
    if (!access) return NULL;
    access->error = fatal;
    access->warning = quiet;
    access->debug = quiet;
    return (struct eb_pci_names *)access;
}

void eb_pci_names_close(struct eb_pci_names *names) {
    if (names) pci_cleanup((struct pci_access *)names);
}

static int found(const char *result) { return result != NULL; }

int eb_pci_vendor_name(struct eb_pci_names *names, unsigned vendor, char *buf, int size) {
    return found(pci_lookup_name((struct pci_access *)names, buf, size,
                                 PCI_LOOKUP_VENDOR | PCI_LOOKUP_NO_NUMBERS, vendor));
}

int eb_pci_device_name(struct eb_pci_names *names, unsigned vendor, unsigned device, char *buf, int size) {
    return found(pci_lookup_name((struct pci_access *)names, buf, size,
                                 PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS, vendor, device));
}

int eb_pci_class_name(struct eb_pci_names *names, unsigned class_id, char *buf, int size) {
    return found(pci_lookup_name((struct pci_access *)names, buf, size,
                                 PCI_LOOKUP_CLASS | PCI_LOOKUP_NO_NUMBERS, class_id));
}
