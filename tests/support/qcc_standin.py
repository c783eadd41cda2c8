#!/usr/bin/env python3
"""A stand-in for QNX's ``qcc`` driver, for testing hil.targets.toolchain's qcc path.

It checks the command line the way a QNX build needs it (``-V<variant>``
first, ``-shared -fPIC``, QNX_HOST/QNX_TARGET set, qvmsim's own headers NOT
on the include path), records what it got in $QCC_STANDIN_LOG (JSON lines),
then compiles for real with the host gcc against the headers under
``$QNX_TARGET/usr/include`` (where the test puts the "QNX" headers) in
portable mode (``-DQVMSIM_PORTABLE``): only the names QNX documents exist,
as on a real SDP, so a vdev using a qvmsim-only name fails here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

VARIANTS = {"gcc_ntoaarch64le", "gcc_ntox86_64"}


def fail(message: str) -> None:
    print(f"qcc-standin: error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        print("qcc stand-in 8.0 (qnx-hil tests; not QNX)")
        return
    log = os.environ.get("QCC_STANDIN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(
                json.dumps(
                    {"argv": args, "QNX_HOST": os.environ.get("QNX_HOST"), "QNX_TARGET": os.environ.get("QNX_TARGET")}
                )
                + "\n"
            )
    host, target = os.environ.get("QNX_HOST"), os.environ.get("QNX_TARGET")
    if not host or not target:
        fail("QNX_HOST and QNX_TARGET must be set")
    if not args or not args[0].startswith("-V"):
        fail("the first argument must be -V<variant>")
    variant = args[0][2:]
    if variant not in VARIANTS:
        fail(f"unknown variant '{variant}' (known: {', '.join(sorted(VARIANTS))})")
    for flag in ("-shared", "-fPIC"):
        if flag not in args:
            fail(f"missing {flag}")
    if any(a.startswith("-I") and a.rstrip("/").endswith(os.path.join("qvmsim", "include")) for a in args):
        fail("qvmsim's include folder must not be used: QNX headers come from QNX_TARGET")
    if "-o" not in args or args.index("-o") + 1 >= len(args):
        fail("missing -o OUTPUT")
    sources = [a for a in args if a.endswith(".c")]
    if not sources or not all(os.path.isfile(s) for s in sources):
        fail(f"bad sources {sources}")
    proc = subprocess.run(["gcc", *args[1:], "-DQVMSIM_PORTABLE", f"-I{target}/usr/include"])
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
