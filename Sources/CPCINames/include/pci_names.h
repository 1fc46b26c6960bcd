// Names of PCI vendors, devices and classes from the system's pci.ids (and udev's
// hwdb), through libpci, the library lspci uses, so earlybind names things as
// lspci does. libpci's lookup is variadic and its handlers are variadic
// callbacks, so this small C layer stands between it and Swift.
#ifndef EARLYBIND_PCI_NAMES_H
#define EARLYBIND_PCI_NAMES_H

struct eb_pci_names;

/// Opens the name database; NULL only when out of memory. No PCI access is set up,
/// so this works in containers without /sys/bus/pci.
struct eb_pci_names *eb_pci_names_open(void);
void eb_pci_names_close(struct eb_pci_names *names);

/// Each writes a NUL-terminated name into buf and returns 1, or returns 0 when the
/// database does not know the ID.
int eb_pci_vendor_name(struct eb_pci_names *names, unsigned vendor, char *buf, int size);
int eb_pci_device_name(struct eb_pci_names *names, unsigned vendor, unsigned device, char *buf, int size);
/// `class_id` is the 16-bit class and subclass, e.g. 0x0300.
int eb_pci_class_name(struct eb_pci_names *names, unsigned class_id, char *buf, int size);

#endif
