"""Test-wide settings: quiet TensorFlow and the hypothesis profiles.

Profiles (choose with the environment variable HYPOTHESIS_PROFILE, default 'ci'):

- ``ci``:       300 examples per property, derandomized (the same examples on every run,
                so a CI failure reproduces locally with the same command), no deadline
                (the first call of a Numba kernel compiles it; Keras eager calls vary).
- ``dev``:      30 examples per property, random: a quick run while editing.
- ``thorough``: 3000 examples per property, random, for a long run before a release:
                ``HYPOTHESIS_PROFILE=thorough pytest tests/test_kernels_*.py``.

Every profile prints the failing example and a ``@reproduce_failure`` blob on failure.
A property with an explicit ``@settings(max_examples=...)`` keeps the profile's other
settings; see the test files for which properties are capped and why.
"""

import os

# Must be set before TensorFlow is imported anywhere (test modules import it at the top).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Numba's OpenMP threads sleep instead of spinning between parallel regions. The tests make
# thousands of small kernel calls; on a busy machine (more runnable processes than cores)
# spinning threads made each call of a parallel kernel cost 20-50 ms instead of ~0.15 ms.
# The kernels still run on NUMBA_NUM_THREADS threads, so races would still show.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from hypothesis import HealthCheck, settings  # noqa: E402

_COMMON = dict(
    deadline=None,
    print_blob=True,
    # Cases are built from a few drawn integers plus a seed, then filtered with assume() where
    # TensorFlow cannot compute a configuration; Keras calls take milliseconds.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

settings.register_profile("ci", max_examples=300, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=30, **_COMMON)
settings.register_profile("thorough", max_examples=3000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
