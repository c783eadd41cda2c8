"""Running qvm on a target: the running side of the qvm model (``hil.qvm``).

``runner.py`` starts qvm in a deployment folder and collects its run into a
``QvmResult`` (``QvmRunner``, ``QvmSession``); ``guest.py`` drives the guest of a
running qvm; ``gates.py`` adds the quality gates (coverage, sanitizers);
``slog2.py`` collects slog2 on QNX targets; ``sweep.py`` is the
configuration-fault sweep, ``fuzz.py`` the coverage-guided fuzzer,
``coverage.py`` the session's coverage report, ``check.py`` ``hil qvm check``
(qvmsim's ``--check``) and ``symbols.py`` names crash frames with addr2line.
"""
