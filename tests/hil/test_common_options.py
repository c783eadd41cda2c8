"""A vdev written the way QNX's samples are (its ``v_block`` defaults set at
``VDEV_CTRL_OPTIONS_START``) gets the configured ``loc`` on every target: qvm applies the
common options after OPTIONS_START.  ``regfile`` sets a default address there, ``trace``
sets ``QSL_NO_LOCATION``."""

from __future__ import annotations

import pytest

from hil import Exit
from tests.support.hil import TRACE_LOC, DeployedVdev, QvmRunner, VdevBuilder, vm

pytestmark = pytest.mark.hil

LOC_A, LOC_B = 0x1C300000, 0x1C310000


@pytest.fixture
def regfile(hil_vdev: VdevBuilder) -> DeployedVdev:
    """The register-file vdev that sets a default address at OPTIONS_START."""
    return hil_vdev("tests/hil/vdevs/regfile")


def test_loc_beats_the_default_address_and_two_instances_run_side_by_side(
    hil_qvm: QvmRunner, regfile: DeployedVdev, trace: DeployedVdev
) -> None:
    config = (
        vm()
        .vdev(regfile, name="rega", loc=LOC_A, ident=0x100)
        .vdev(regfile, name="regb", loc=LOC_B, ident=0x200)
        .vdev(trace, loc=TRACE_LOC)
    )
    with hil_qvm.start(config, timeout=30) as session:
        guest = session.guest
        guest.store(LOC_A + 4, 4, 1)
        guest.store(LOC_B + 4, 4, 2)
        guest.store(TRACE_LOC, 4, 0x55)
        assert guest.load(LOC_A + 4, 4) == 0x101
        assert guest.load(LOC_B + 4, 4) == 0x202
        assert guest.load(TRACE_LOC, 4) == 0x55  # QSL_NO_LOCATION at OPTIONS_START, then the loc
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    run.log.expect(rf"^region {LOC_A:#x},0x40$", source="rega")
    run.log.expect(rf"^region {LOC_B:#x},0x40$", source="regb")
    run.log.expect_none(r"no address after VDEV_CTRL_ASSIGN")
