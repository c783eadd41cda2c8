"""The fault matrix (issue 11): every fault scenario and its required outcome, in one place.

Each row names the test that provokes the fault for real; the rows whose test lives elsewhere (a unit
test, qvmsim's own tests) are listed here rather than run twice, so ``make test`` stays lean.  The test
below fails when a row's test is renamed or removed, so the matrix cannot silently go stale.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO

#: scenario -> (outcome required, the test that checks it)
MATRIX: dict[str, tuple[str, str]] = {
    "SIGTERM/SIGINT at boot, deploy, run, start, teardown (pytest and hil nightly, process group)": (
        "interrupted: exit non-zero (nightly 128+signal), no retry, no further test, complete report, no process left",
        "tests/faults/test_cancellation.py::test_cancelled_run_stops_with_complete_report",
    ),
    "SIGTERM to hil alone": (
        "passed on to pytest, same interrupted outcome",
        "tests/faults/test_cancellation.py::test_sigterm_to_hil_alone_reaches_pytest",
    ),
    "SIGTERM inside hil_qvm.start on the qemu target": (
        "interrupted, VM not pulled from under the test, no retry, pytest exit 2, no QEMU left",
        "tests/faults/test_qemu_faults.py::test_sigterm_inside_start_on_qemu_ends_the_run",
    ),
    "qvm missing on the target": (
        "SetupError naming [qvm] command",
        "tests/faults/test_qemu_faults.py::test_missing_qvm_is_a_setup_error",
    ),
    "QEMU killed under a running qvm": (
        "InfrastructureError 'QEMU of target ... died'",
        "tests/faults/test_qemu_faults.py::test_killed_qemu_is_reported_as_qemu_dying",
    ),
    "SSH server killed mid-test (program running, server stays down)": (
        "InfrastructureError for the wait and the next command, naming the board",
        "tests/faults/test_link_faults.py::test_ssh_server_killed_mid_test_is_an_infrastructure_error",
    ),
    "SSH connection dropped while a command runs": (
        "ConnectionDropped (InfrastructureError), the command not re-run; the next command reconnects",
        "tests/unit/test_ssh.py::test_a_drop_while_running_is_reported_not_retried",
    ),
    "SSH server resets the connection during the banner": (
        "one-line InfrastructureError, nothing from paramiko on stderr",
        "tests/unit/test_reliability_inputs.py::test_ssh_server_resetting_during_the_banner_is_one_line",
    ),
    "lease lost (holder stopped past its expiry, another run took the board)": (
        "the holder's next operation is an InfrastructureError naming the new holder; nothing more runs",
        "tests/faults/test_link_faults.py::test_lease_lost_while_stopped_refuses_every_further_operation",
    ),
    "console dropped, reconnect on (the default)": (
        "reconnects; the gap is noted in the console log; expect goes on",
        "tests/unit/test_console.py::test_reconnect_over_a_real_socket",
    ),
    "console dropped, reconnect off": (
        "a waiting expect ends with InfrastructureError",
        "tests/unit/test_console.py::test_no_reconnect_ends_expect_with_infrastructure_error",
    ),
    "target disk full": (
        "'no space left on device' with df, no partial file, free space checked before deploying",
        "tests/unit/test_deploy.py::test_full_disk_is_reported_as_such_and_checked_before_deploying",
    ),
    "PID reuse (a stale run's recorded qvm pid now belongs to a stranger)": (
        "the stranger is spared (start time and command line must match)",
        "tests/unit/test_deploy.py::test_stale_cleanup_spares_a_process_that_reused_the_recorded_pid",
    ),
    "stale qvm of a dead run": (
        "killed, its folder removed",
        "tests/unit/test_deploy.py::test_stale_qvm_of_a_dead_run_is_killed_and_its_folder_removed",
    ),
    "vdev hangs in set-up, qvm sent SIGTERM": (
        "qvmsim cut off 1 s after the signal: ERROR line naming vdev and control, exit 6",
        "tests/qvmsim/test_bounded_end.py::test_sigterm_while_a_vdev_hangs_in_set_up_ends_qvm",
    ),
    "vdev hangs in TERMINATE (after the power button / a fatal error)": (
        "qvmsim cut off 5 s after teardown began (at once on a further SIGTERM); a fatal status is kept",
        "tests/qvmsim/test_bounded_end.py::test_hang_in_terminate_after_the_power_button_is_cut_off",
    ),
    "another local user and QEMU's QMP / serial console (issue 22.1, 22.3)": (
        "unix sockets in a 0700 folder of the owner: nobody gets no QMP and no console shell, no abstract socket",
        "tests/vm/test_private_channels.py::test_another_local_user_gets_no_qmp_and_no_console_shell",
    ),
    "a QMP or console socket served by another user in its place (issue 22.1)": (
        "refused on its peer credentials (InfrastructureError naming the uid)",
        "tests/vm/test_private_channels.py::test_a_socket_served_by_another_user_is_refused",
    ),
    "local target's default workdir (issue 22.2)": (
        "this user's private folder <tmp>/qnx-hil-<uid>/work (0700): nobody cannot enter or replace a deployment",
        "tests/unit/test_workdir_private.py::test_local_default_workdir_is_this_users_private_folder",
    ),
    "a workdir another local user made first (issue 22.2)": (
        "SetupError naming it before anything is made in it; no stale clean-up there",
        "tests/unit/test_workdir_private.py::test_a_workdir_another_user_made_first_is_a_setup_error",
    ),
    "a workdir writable by others, a symlink, or in an open parent (issue 22.2)": (
        "SetupError naming the workdir and the definition, one line",
        "tests/unit/test_workdir_private.py::test_a_workdir_others_can_write_is_a_setup_error",
    ),
    "a forged qvm.pid (another user's file or process, or not its folder's qvm) (issue 22.2)": (
        "nothing killed; the stale folder removed",
        "tests/unit/test_workdir_private.py::test_a_forged_qvm_pid_never_gets_a_process_killed",
    ),
    "sweep option names from the target with '../' (issue 22.4)": (
        "report paths are safe names inside -o OUT; nothing outside deleted or written",
        "tests/sweep/test_sweep.py::test_option_names_from_the_target_never_leave_the_report_folder",
    ),
    "a 100 KB qvm configuration on qemu (issue 22.10)": (
        "runs: copied into the deployment folder, never on the SSH command line",
        "tests/faults/test_qemu_faults.py::test_a_configuration_of_any_size_runs_on_qemu",
    ),
    "100 MB of qvm output per stream (and from qvm -V) (issue 22.11)": (
        "pytest peak RSS under 400 MB; all of it in the artifact files; junit.xml < 2 MB, report.html < 20 MB",
        "tests/faults/test_bounded_output.py::test_100_mb_per_stream_keeps_pytest_under_400_mb",
    ),
    "stop() right after start() on local (issue 22.6)": (
        "the power button 10 of 10: start() returns once qvm's guest started",
        "tests/faults/test_start_ready.py::test_stop_right_after_start_is_the_power_button_on_local",
    ),
    "stop() right after start() on qemu (issue 22.6)": (
        "the power button 10 of 10",
        "tests/faults/test_qemu_faults.py::test_stop_right_after_start_is_the_power_button_on_qemu",
    ),
    "SIGTERM while hil_qvm.start waits for qvm (a vdev hangs in set-up) (issue 22.5)": (
        "interrupted (exit 2), no qvm left",
        "tests/faults/test_start_ready.py::test_sigterm_while_start_waits_for_a_ready_qvm_leaves_no_qvm",
    ),
    "a deployment folder removed under a running qvm (issue 22.5)": (
        "its recorded qvm killed first: qvm.pid outlives the process",
        "tests/faults/test_start_ready.py::test_a_deployment_removed_under_a_running_qvm_ends_it",
    ),
    "guest.store / guest.load: sent or done (issue 22.6)": (
        "store() returns once sent, store(done=True) once done; load() once done, load(done=False) once sent",
        "tests/hil/test_guest_controls.py::test_store_sent_or_done",
    ),
    "escape sequences, C1 controls and bidi overrides from the guest or a board (issue 22.12)": (
        "removed or shown escaped on the terminal, in summary.txt and in junit.xml",
        "tests/faults/test_terminal_text.py::test_escape_sequences_from_the_target_are_neutralised",
    ),
    "two 'hil target up' at once (issue 22.5)": (
        "serialised: one VM, both report it; its console refused to nobody",
        "tests/vm/test_target_up_exits.py::test_two_target_ups_at_once_start_one_vm_whose_console_is_its_owners",
    ),
    "SIGTERM during 'hil target up' (issue 22.5)": (
        "exit 143, no QEMU left, no state.json",
        "tests/vm/test_target_up_exits.py::test_sigterm_during_target_up_leaves_no_qemu_and_no_state",
    ),
    "a snapshot save SIGKILLed half way; a snapshot patched after its save (issue 22.5, 22.14)": (
        "the .part file removed by the next save; the patched one not restored (SHA-256 in its record)",
        "tests/vm/test_target_up_exits.py::test_an_unfinished_snapshot_save_is_cleaned_up",
    ),
    "a client holding the shared VM's console; its sshd dead (issue 22.8, 22.9)": (
        "a session boots a private VM, saying why; 'hil target status' exit 3 naming the problem",
        "tests/vm/test_target_up_exits.py::test_a_held_console_or_a_dead_sshd_is_said_not_failed",
    ),
    "SIGTERM to 'hil vdev sweep' (issue 22.5)": (
        "exit 143, no qvm left, the partial table written (INTERRUPTED, cases done)",
        "tests/sweep/test_sweep.py::test_sigterm_to_a_sweep_stops_its_qvm_and_keeps_the_table",
    ),
    'hil vdev sweep --timeout -5|nan|inf, --jobs 0|-1|100000, --base "loc \'x" (issue 22.14)': (
        "a one-line error, exit 2, nothing made",
        "tests/sweep/test_sweep.py::test_bad_sweep_options_are_one_line_errors_before_anything_runs",
    ),
    "[qvm] workdir relative or with a newline (issue 22.14)": (
        "a definition error naming qvm.workdir and the file",
        "tests/unit/test_bad_inputs_22.py::test_a_workdir_that_is_not_an_absolute_line_is_a_definition_error",
    ),
    "--hil-coverage-dir=/proc/x (issue 22.14)": (
        "a usage error before the run, no traceback",
        "tests/unit/test_bad_inputs_22.py::test_an_unwritable_coverage_dir_is_refused_before_the_run",
    ),
    "sweep.accept or a snapshot record that is a FIFO (issue 22.14)": (
        "refused at once, no hang",
        "tests/unit/test_bad_inputs_22.py::test_sweep_accept_and_snapshot_records_are_bounded_inputs",
    ),
    "disk full writing state.json (issue 22.14)": (
        "SetupError naming the file; nothing half-written",
        "tests/unit/test_bad_inputs_22.py::test_a_full_disk_writing_the_target_state_is_a_setup_error",
    ),
    "a vdev crashing on large in-range numbers or one past its declared range (issue 22.15)": (
        "found: int31/int63 and above-range findings; range ends must run",
        "tests/sweep/test_sweep.py::test_large_numbers_and_declared_range_ends_find_what_small_faults_miss",
    ),
    "missing qvm on local while driving a started session (issue 22.8)": (
        "SetupError naming [qvm] command at start, not a BrokenPipeError failure",
        "tests/faults/test_start_ready.py::test_a_missing_qvm_on_local_is_a_setup_error_at_start",
    ),
    "hil nightly with two targets (xdist) cancelled by SIGTERM (issue 22.7)": (
        "exit 143; every started test in junit.xml once, as an error in its target's suite",
        "tests/faults/test_nightly_xdist.py::test_a_cancelled_two_target_nightly_reports_every_started_test_once",
    ),
    "an xdist worker SIGKILLed under a test (issue 22.7)": (
        "the test appears once, in its target's suite",
        "tests/faults/test_nightly_xdist.py::test_a_sigkilled_workers_test_appears_once",
    ),
    "a lease held by a dead (SIGKILLed) run of this host (issue 22.14)": (
        "taken over at once, not after its expiry",
        "tests/unit/test_lease.py::test_a_lease_of_a_dead_run_of_this_host_is_taken_over_at_once",
    ),
    "a labgrid reservation of a run SIGKILLed while queued (issue 22.14)": (
        "cancelled by the next run of this host at once: it takes the place within its wait",
        "tests/labgrid/test_labgrid_lab.py::test_a_killed_runs_queued_reservation_is_cancelled_by_the_next_run",
    ),
    "a 10 MB target fact (qvm -V) or label (issue 22.11)": (
        "each suite property cut to 2 KB, terminal-safe",
        "tests/unit/test_bad_inputs_22.py::test_suite_properties_are_cut_to_a_few_kb",
    ),
    "hostile virtio driver: descriptor loops, indices outside the queue, buffers outside guest RAM": (
        "vio/vq refuse them with an ERROR line naming the vdev; the vdev gives the chain back empty; qvm runs on",
        "tests/hil/test_virtio.py::test_virtio_bad_descriptor_chains_do_not_crash",
    ),
    "HTML report: history junit.xml with time='1,5' or 'nan' (or cut short), a lone surrogate in a session event": (
        "the run's outcome unchanged (a passing night exits 0); bad entries skipped and named on the terminal and "
        "in the report; the text shown with U+FFFD; no temporary file left (issue 22, item 13)",
        "tests/cli/test_html_robust.py::test_bad_history_and_a_lone_surrogate_leave_a_passing_night_passing",
    ),
    "a report writer fails (disk full, a folder where its file goes; JUnit, summary, HTML, JSON lines or another)": (
        "said on stderr (hil: LABEL not written (PATH): ...), the other reports still written, the tests' outcome "
        "and exit status unchanged (issue 26)",
        "tests/unit/test_writers.py::test_a_failing_writer_is_said_and_the_others_still_write",
    ),
    "hil init DIR with a sub-folder or .gitignore that is a symbolic link out of DIR (issue 22.14)": (
        "refused, one line naming the link, exit 2; nothing written in DIR or where the link points",
        "tests/cli/test_init.py::test_init_never_follows_a_link_out_of_the_folder",
    ),
    "hil init failing part way (.gitignore a FIFO, disk full) (issue 22.14)": (
        "one line, exit 2, no hang; every file and folder it made removed: DIR as it was",
        "tests/cli/test_init.py::test_a_failed_init_leaves_the_folder_as_it_was",
    ),
    "hil init on a disk that fills (issue 22.14)": (
        "'No space left on device', the new DIR and the parents init made removed; a retry works",
        "tests/cli/test_init.py::test_init_out_of_space_leaves_nothing_behind",
    ),
    "--hil-junit PATH (space form, PATH existing outside the project) (issue 22.14)": (
        "the project's rootdir and pytest.ini as with --hil-junit=PATH, run after run; a usage error (exit 4) "
        "naming the '=' form when pytest already applied another file's addopts",
        "tests/unit/test_bad_inputs_22.py::test_hil_junit_as_a_separate_word_keeps_the_rootdir",
    ),
    "SIGTERM inside hil_qvm.start the moment qvm was launched (issue 22.5)": (
        "interrupted (exit 2), the qvm stopped by the fixture's teardown, not orphaned with its qvm.pid removed",
        "tests/faults/test_start_ready.py::test_sigterm_the_moment_start_launched_qvm_leaves_no_qvm",
    ),
    "SIGTERM to 'hil target up' while it saves the snapshot (issue 22.5)": (
        "exit 143, no QEMU left, no state.json, no .part file (QEMU's writer may make it after the save's unlink)",
        "tests/vm/test_target_up_exits.py::test_sigterm_during_the_snapshot_save_of_target_up_leaves_no_qemu",
    ),
    "hil nightly (two targets) cancelled the moment its pytest starts (issue 22.7)": (
        "exit 143; the junit.xml it names exists and is valid (no test, saying it was cancelled); nothing left",
        "tests/faults/test_nightly_xdist.py::test_a_nightly_cancelled_as_pytest_starts_still_leaves_a_junit_report",
    ),
    "hil nightly: both workers SIGKILLed at once (the OOM killer), replacements collecting in either order": (
        "each target's tests still run on the replacements, each reported once; never xdist's KeyError",
        "tests/unit/test_target_scheduler.py::test_two_workers_killed_at_once_every_test_still_runs",
    ),
    "a command's stdout and stderr read late (a loaded host, a slow on_output consumer)": (
        "handed on in the order they arrived, interleaved, never grouped by stream",
        "tests/unit/test_ssh.py::test_on_output_keeps_arrival_order_when_the_consumer_falls_behind",
    ),
    "a file sent over a serial console loses a character on the way (a loaded guest's UART)": (
        "sent again (up to 3 times), not reported as a file the target cannot write",
        "tests/unit/test_console_shell.py::test_a_chunk_spoiled_on_the_way_is_sent_again",
    ),
}


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("scenario", list(MATRIX))
def test_every_row_names_an_existing_test(scenario: str) -> None:
    outcome, node = MATRIX[scenario]
    file, name = node.split("::")
    path = REPO / file
    assert path.is_file(), f"{scenario}: {file} is missing"
    assert name.startswith("test_") and name in _functions(path), f"{scenario}: {node} is missing"
    assert outcome
