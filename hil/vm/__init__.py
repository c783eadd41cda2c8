"""The QEMU machines of the public targets: their images, command lines, processes and snapshots."""
