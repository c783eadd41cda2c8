"""Guest controls that say what they do: a blocking test-side wait vs a queued guest-side sleep,
kicking a named watchdog, and expectations on the guest console that show it."""

from __future__ import annotations

import pytest

from hil import Exit
from tests.support.hil import TRACE_LOC, WDOG_LOC, DeployedVdev, QvmRunner, vm

pytestmark = pytest.mark.hil


def test_wait_blocks_and_script_sleep_is_queued(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC, verbose=True), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.guest.store(TRACE_LOC, 4, 1)
        # the wait starts once the guest has made the store (on a slow target, e.g. aarch64 under TCG,
        # the first command can take longer to arrive than the next: the bound holds from here)
        session.wait_log(r"^store offset 0x0 size 4 value 0x1$", timeout=10)
        session.guest.wait(0.3)  # the test waits: the next store is sent 0.3 s later
        session.guest.store(TRACE_LOC, 4, 2)
        session.guest.script_sleep(0.3)  # returns at once; the guest pauses before the next one
        session.guest.store(TRACE_LOC, 4, 3)
        session.guest.store(TRACE_LOC, 4, 4)  # (a second one, sent while the guest still pauses)
        session.wait_log(r"^store offset 0x0 size 4 value 0x4$", timeout=10)
        run = session.stop()
    stores = [line for line in run.log.by_source("trace") if line.message.startswith("store offset")]
    assert len(stores) >= 4, run.explain()
    times = [line.time for line in stores[:4]]
    assert None not in times, run.explain()
    seconds = [t for t in times if t is not None]  # all of them (asserted above), as floats
    # lower bounds only, on qvm's own clock (each pause lasts at least what was asked)
    assert seconds[1] - seconds[0] >= 0.3, run.log.text
    assert seconds[2] - seconds[1] >= 0.3, run.log.text


def test_kick_every_names_its_watchdog(hil_qvm: QvmRunner, wdog: DeployedVdev) -> None:
    # an instance name without "wdog": only kick_every(vdev=...) finds it
    with hil_qvm.start(vm().vdev(wdog, name="dog", loc=WDOG_LOC, timeout=300), timeout=20) as session:
        session.guest.kick_every(0.05, vdev="dog")
        session.guest.wait(0.8)  # more than two timeouts: a starved watchdog would have bitten
        assert session.running(), session.log.text
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    run.assert_no_log(r"watchdog expired|no watchdog vdev")


def test_assert_stdout_shows_the_console(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(trace, loc=TRACE_LOC), timeout=20, stdin=["print hello there", "shutdown"])
    run.assert_reason(Exit.NORMAL)
    assert run.assert_stdout(r"hello (\w+)")[1] == "there"
    with pytest.raises(AssertionError) as failed:
        run.assert_stdout(r"goodbye")
    assert "hello there" in str(failed.value) and "/goodbye/" in str(failed.value)
    assert "QvmResult(" not in repr(run) and "NORMAL" in repr(run)


def test_the_duplicate_names_warn_and_still_work(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    """One name per thing: ``guest.sleep`` (use ``guest.wait``), ``session.expect_stdout`` (use
    ``wait_stdout``) and ``run.expect_stdout`` (use ``assert_stdout``) still work, with a
    DeprecationWarning naming the replacement, pointing at the caller's line."""
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.guest.send("print hello there")
        with pytest.warns(DeprecationWarning, match=r"use session\.wait_stdout\(") as seen:
            assert session.expect_stdout(r"hello (\w+)", timeout=10)[1] == "there"
        assert seen[0].filename == __file__
        with pytest.warns(DeprecationWarning, match=r"use guest\.wait\(seconds\)") as seen:
            session.guest.sleep(0.01)
        assert seen[0].filename == __file__
        run = session.stop()
    with pytest.warns(DeprecationWarning, match=r"use run\.assert_stdout\(pattern\)") as seen:
        assert run.expect_stdout(r"hello (\w+)")[1] == "there"
    assert seen[0].filename == __file__


def test_store_sent_or_done(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    """Issue 22.6: ``store()`` returns once the store is sent; ``store(done=True)`` once the guest has done
    it (the vdev saw it); ``load()`` returns its value once done, ``load(done=False)`` once sent."""
    import time

    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC, verbose=True), timeout=30) as session:
        session.guest.script_sleep(2.0)  # the guest pauses: what is sent now is done 2 s from now
        sent = time.monotonic()
        session.guest.store(TRACE_LOC, 4, 5)
        returned_sent = time.monotonic() - sent
        session.guest.store(TRACE_LOC, 4, 6, done=True)
        returned_done = time.monotonic() - sent
        # done: the vdev has seen both stores by now (its log lines may still be on their way)
        session.wait_log(r"^store offset 0x0 size 4 value 0x6$", timeout=10)
        assert returned_done >= 2.0 > returned_sent, (returned_sent, returned_done)
        assert session.guest.load(TRACE_LOC, 4, done=False) is None
        assert isinstance(session.guest.load(TRACE_LOC, 4), int)
        run = session.stop()
    stores = [line.message for line in run.log.by_source("trace") if line.message.startswith("store offset")]
    assert stores[:2] == ["store offset 0x0 size 4 value 0x5", "store offset 0x0 size 4 value 0x6"], run.explain()
