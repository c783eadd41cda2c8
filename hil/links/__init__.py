"""Links to a target: byte transports, the serial console and its expect, SSH."""
