"""Helpers shared by this repository's own test suite (never shipped with hil).

One import style everywhere: ``from tests.support.<module> import ...``.
conftest.py files hold fixtures only; what they and the tests share lives here:

- ``paths``: the repository's folders (REPO, TARGET_VDEVS, FIXTURES, ...)
- ``qvmsim``: running qvmsim (QvmRun, QvmProc, run/start helpers), parsed with ``hil.qvm.log``
- ``hil``: the HIL suite's guest addresses and base VM
- ``sshd``: a loopback dropbear SSH server
- ``timing``: timing assertions on qvm's own timestamps that hold on a loaded host (``on_time``)
- ``ports``: loopback ports without a bind-then-close race (``unused_port``, ``listening_port``)
- ``keys``: throwaway SSH keys and an unreachable board definition
- ``procs``: this host's processes by command line
- ``junit``: the JUnit schema and a validity assertion
- ``cli``: the ``hil`` command line in a child process (``hil``), a child's environment (``child_env``)
- ``inner``: an inner pytest session in a child process, under this repository's configuration
- ``qcc_standin.py``: an executable stand-in for QNX's qcc (run by path, see ``paths.QCC_STANDIN``)
"""
