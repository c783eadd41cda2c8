"""qnx-hil: hardware-in-the-loop tests for QNX Hypervisor vdevs."""

__version__ = "0.1.0"
