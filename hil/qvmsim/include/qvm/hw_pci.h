/*
 * qvm/hw_pci.h - PCI class codes for vio_description.pci_class.
 *
 * Our own text.  QNX's vio_description page (7.x, 8.0) says pci_class is
 * "the class and subclass value for the device (see qvm/hw_pci.h)" and the
 * public QNX 8.0 virtio-gpu vdev writes
 * `PCI_CLASS_DISPLAY | PCI_SUBCLASS_DISPLAY_OTHER`.  The encoding (class in
 * bits 16-23, subclass in bits 8-15, as in the PCI class-code register) and
 * the other names are [inferred]; the numbers are the PCI SIG's class codes.
 * qvmsim has no PCI bus (BEHAVIOUR.md, "virtio"): the value is kept, not used.
 */
#ifndef QVM_HW_PCI_H
#define QVM_HW_PCI_H

#define PCI_CLASS_STORAGE           0x010000u
#define PCI_CLASS_NETWORK           0x020000u
#define PCI_CLASS_DISPLAY           0x030000u
#define PCI_CLASS_MULTIMEDIA        0x040000u
#define PCI_CLASS_COMMUNICATIONS    0x070000u
#define PCI_CLASS_SYSTEM            0x080000u
#define PCI_CLASS_INPUT             0x090000u
#define PCI_CLASS_SERIAL            0x0c0000u
#define PCI_CLASS_OTHER             0xff0000u

#define PCI_SUBCLASS_STORAGE_OTHER        0x008000u
#define PCI_SUBCLASS_NETWORK_OTHER        0x008000u
#define PCI_SUBCLASS_DISPLAY_OTHER        0x008000u
#define PCI_SUBCLASS_MULTIMEDIA_OTHER     0x008000u
#define PCI_SUBCLASS_COMMUNICATIONS_OTHER 0x008000u
#define PCI_SUBCLASS_SYSTEM_OTHER         0x008000u
#define PCI_SUBCLASS_INPUT_OTHER          0x008000u

#endif /* QVM_HW_PCI_H */
