"""The fault tests' runs are of the probe family, whose scoring the tests steer."""

import pytest

from tests.live_runs import PROBE_FAMILIES


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(PROBE_FAMILIES)
    return settings
