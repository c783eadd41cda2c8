# qvmsim's compiler and linker flags: the one place for them.
# Read by the Makefile (include flags.mk) and by hil/sdk.py (the host build,
# also the one the QEMU image carries as /usr/bin/qvm), which understands
# only what is here: comments and `NAME = words` lines, no make syntax.
# Changing a line rebuilds the cached qvm (the source hash covers this file).

# Language and warnings: always; hidden visibility: qvm exports only the
# functions the public headers declare (they push visibility default).
QVMSIM_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fvisibility=hidden
# Optimisation and debug info: the default of the Makefile's CFLAGS.
QVMSIM_OPTFLAGS = -O2 -g
QVMSIM_LDFLAGS = -rdynamic -ldl -lpthread
