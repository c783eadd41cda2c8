"""The ``hil`` command's exit statuses, the same for every subcommand (``nightly`` and ``demo`` included).

0 success; 1 the thing under test failed (``nightly``: a test failed); 2 bad
input (usage, definition, configuration, compile error, no test selected);
3 infrastructure failure (target unreachable, QEMU died, SSH dropped).
"""

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INFRA = 0, 1, 2, 3
