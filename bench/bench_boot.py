#!/usr/bin/env python3
"""Boot benchmark of the public QEMU target: medians over N boots, cold and restored.

For each cold boot: QEMU start -> ready marker on the serial console, QEMU start ->
SSH banner on the forwarded port, then an SSH login (paramiko, pinned host key,
the image's client key) and a ``true`` round trip.  For each snapshot restore
(``hil.vm.snapshot``; the first run saves the snapshot if there is none): QEMU
start -> SSH banner, then the same login and round trip.

    .venv/bin/python bench/bench_boot.py [-n 5] [--mode cold|restore|both] [--nic virtio_net|e1000]
                                          [--initrd gzip|none] [--json] [--target qemu|qemu-arm64]

``--target NAME``: the image and QEMU options of that qemu-kind definition (e.g. the aarch64
``qemu-arm64``), instead of the default x86_64 spec with ``--nic``/``--initrd``.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import paramiko

from hil.core.deadline import Deadline
from hil.vm.image import Image, ImageSpec, build_image
from hil.vm.qemu import QemuMachine, QemuOptions


def read_marker(machine: QemuMachine, marker: bytes, timeout: float) -> None:
    """Connect to the serial console (this starts the guest) and read until ``marker``."""
    buf = b""
    with machine.connect_console(timeout) as sock:
        end = time.monotonic() + timeout
        while marker not in buf:
            sock.settimeout(max(0.01, end - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("console closed before the ready marker")
            buf += data


def ssh_round_trip(image: Image, port: int) -> tuple[float, float]:
    """(login seconds, ``true`` round-trip seconds) with paramiko and the pinned host key."""
    client = paramiko.SSHClient()
    key_type, key_b64 = image.host_key_pub.split()[:2]
    client.get_host_keys().add(f"[127.0.0.1]:{port}", key_type, paramiko.Ed25519Key(data=base64.b64decode(key_b64)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    t0 = time.monotonic()
    client.connect(
        "127.0.0.1",
        port=port,
        username=image.user,
        key_filename=str(image.client_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    t1 = time.monotonic()
    _, stdout, _ = client.exec_command("true")
    status = stdout.channel.recv_exit_status()
    t2 = time.monotonic()
    client.close()
    if status != 0:
        raise RuntimeError(f"`true` exited with {status}")
    return t1 - t0, t2 - t1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5, help="number of boots (default 5)")
    parser.add_argument(
        "--nic", default=ImageSpec.nic_module, help=f"NIC driver module of the image (default {ImageSpec.nic_module})"
    )
    parser.add_argument("--initrd", choices=("gzip", "none"), default="gzip", help="initramfs compression")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--mode", choices=("cold", "restore", "both"), default="both", help="what to measure")
    parser.add_argument("--target", help="a qemu-kind target definition's image and options (e.g. qemu-arm64)")
    args = parser.parse_args(argv)

    options = QemuOptions(accel="tcg")
    if args.target:
        import dataclasses

        from hil.targets.definition import resolve
        from hil.targets.qemu import public_image, qemu_options

        (definition,) = resolve(args.target)
        image = public_image(definition, log=lambda m: print(m, file=sys.stderr))
        options = dataclasses.replace(qemu_options(definition), accel="tcg")
        args.nic, args.initrd = f"{definition.name}: {definition.arch}", definition.qemu.initrd_compression
    else:
        image = build_image(
            ImageSpec(nic_module=args.nic, initrd_compression=args.initrd), log=lambda m: print(m, file=sys.stderr)
        )
    rows: list[dict[str, float]] = []
    restores: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="hil-bench-boot-") as tmp:
        for i in range(args.n if args.mode != "restore" else 0):
            machine = QemuMachine(image, options, run_dir=Path(tmp, str(i)))
            t0 = time.monotonic()
            machine.start()
            try:
                read_marker(machine, image.ready_marker.encode(), 60)
                t_marker = time.monotonic() - t0
                machine.wait_ready(Deadline.after(60), console_reader=lambda pattern, timeout: None)
                t_ssh = time.monotonic() - t0
                login, rtt = ssh_round_trip(image, machine.ssh_port)
            finally:
                machine.stop()
            rows.append({"marker": t_marker, "ssh": t_ssh, "login": login, "true": rtt})
            print(
                f"boot {i + 1}/{args.n}: ready marker {t_marker:.2f} s, SSH banner {t_ssh:.2f} s, "
                f"login {login * 1000:.0f} ms, `true` {rtt * 1000:.0f} ms",
                file=sys.stderr,
            )
        if args.mode != "cold":
            first = QemuMachine(image, options, run_dir=Path(tmp, "first"), snapshot=True)
            first.start()  # restores, or boots cold and saves the snapshot
            first.wait_ready(Deadline.after(120))
            first.stop()
        for i in range(args.n if args.mode != "cold" else 0):
            machine = QemuMachine(image, options, run_dir=Path(tmp, f"r{i}"), snapshot=True)
            t0 = time.monotonic()
            machine.start()
            try:
                machine.wait_ready(Deadline.after(60))
                t_ssh = time.monotonic() - t0
                if not machine.restored:
                    raise RuntimeError("the snapshot was not restored")
                login, rtt = ssh_round_trip(image, machine.ssh_port)
            finally:
                machine.stop()
            restores.append({"ssh": t_ssh, "login": login, "true": rtt})
            print(
                f"restore {i + 1}/{args.n}: SSH banner {t_ssh:.3f} s, login {login * 1000:.0f} ms, "
                f"`true` {rtt * 1000:.0f} ms",
                file=sys.stderr,
            )
    med = {key: statistics.median(row[key] for row in rows) for key in rows[0]} if rows else {}
    rmed = {key: statistics.median(row[key] for row in restores) for key in restores[0]} if restores else {}
    if args.json:
        print(
            json.dumps(
                {
                    "boots": args.n,
                    "nic": args.nic,
                    "initrd": args.initrd,
                    "median": med,
                    "runs": rows,
                    "restore_median": rmed,
                    "restores": restores,
                },
                indent=2,
            )
        )
        return 0
    if med:
        print(f"QEMU target ({args.nic}, initrd {args.initrd}, TCG), median of {args.n} cold boots:")
        print(f"  boot to ready marker   {med['marker']:6.2f} s")
        print(f"  boot to SSH banner     {med['ssh']:6.2f} s   (aim: 1.5 s)")
        print(f"  SSH login (paramiko)   {med['login'] * 1000:6.0f} ms")
        print(f"  SSH `true` round trip  {med['true'] * 1000:6.0f} ms")
    if rmed:
        print(f"QEMU target ({args.nic}, initrd {args.initrd}, TCG), median of {args.n} snapshot restores:")
        print(f"  restore to SSH banner  {rmed['ssh']:6.3f} s   (aim: 0.5 s)")
        print(f"  SSH login (paramiko)   {rmed['login'] * 1000:6.0f} ms")
        print(f"  SSH `true` round trip  {rmed['true'] * 1000:6.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
