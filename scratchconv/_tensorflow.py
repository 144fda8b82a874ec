"""Import TensorFlow and Keras without their start-up noise; real warnings and errors still show.

Every place in scratchconv, reference/ and tutorials/ that needs TensorFlow or Keras goes
through ``import_tensorflow()`` / ``import_keras()`` (tests/test_quiet_tensorflow.py checks it).

What TensorFlow 2.21 prints, measured on a CPU-only machine (no CUDA driver), and what stops it:

1. ``import tensorflow`` loads its shared libraries, whose static initialisers log before absl
   logging is initialised -- twice: when ``tensorflow.python.platform._pywrap_cpu_feature_guard``
   loads, and again later in the import (near the profiler's ``_pywrap`` modules)::

       WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
       I0000 ... port.cc:153] oneDNN custom operations are on. You may see slightly different ...
       I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.

   No setting prevents these: TF_CPP_MIN_LOG_LEVEL=3, TF_ENABLE_ONEDNN_OPTS=1 (oneDNN stays on;
   =0 would change the numerics and speed, so it is never touched), CUDA_VISIBLE_DEVICES=-1 or
   empty, GLOG_minloglevel, GLOG_stderrthreshold, ABSL_MIN_LOG_LEVEL, TF_CPP_MAX_VLOG_LEVEL and
   GRPC_VERBOSITY all leave them. They can only be filtered out.
2. Also during the import, after absl starts: ``I0000 ... cpu_feature_guard.cc] This TensorFlow
   binary is optimized ...`` plus a "To enable the following instructions ..." line. An INFO line:
   TF_CPP_MIN_LOG_LEVEL >= 1 prevents it (also filtered, for a user who sets 0).
3. ``import keras`` (after TensorFlow) prints nothing more.
4. The first device initialisation (``tf.config.list_physical_devices()``, or else the first op)
   prints ``E0000 ... cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call
   to cuInit: UNKNOWN ERROR (303)`` (CUDA_VISIBLE_DEVICES=-1 does not prevent it). An ERROR line:
   only TF_CPP_MIN_LOG_LEVEL=3 prevents it, and that would hide every real error too, so it is
   filtered instead (only for "no driver" / "no device", the expected failures; any other cuInit
   failure is a real problem and still shows).

So ``TF_CPP_MIN_LOG_LEVEL`` defaults to 1 (the user's environment wins), which prevents item 2
and TensorFlow's later C++ INFO lines but keeps its WARNING and ERROR lines (a Keras training
prints none: measured at level 0 for fit/evaluate/predict on arrays and on a tf.data.Dataset,
at level 1 for both reference trainings). And across the import and the first device listing, file descriptor 2
(C++ and Python alike write there) goes to a temporary file, whose lines are then written to
the real stderr except those matching ``STARTUP_NOISE``. Everything else -- Python warnings,
TensorFlow's real errors, a traceback -- still shows, only after the import instead of during
it. ``SCRATCHCONV_SHOW_TF_STARTUP=1`` turns the filter off (to see everything TensorFlow says).
"""

import contextlib
import os
import re
import sys
import tempfile

# Known start-up noise, one regex per kind of line (searched for in each line).
STARTUP_NOISE = re.compile("|".join([
    # absl's banner before its logging is initialised (printed once per TensorFlow library)
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    # TensorFlow's notice that oneDNN is on (it stays on: TF_ENABLE_ONEDNN_OPTS is not touched)
    r"oneDNN custom operations are on",
    # the CPU-only wheel looking for a CUDA runtime
    r"Could not find cuda drivers on your machine, GPU will not be used",
    # cuInit without a driver (303) or with no visible device (e.g. CUDA_VISIBLE_DEVICES=-1)
    r"failed call to cuInit: .*(UNKNOWN ERROR \(303\)|CUDA_ERROR_NO_DEVICE|no CUDA-capable device)",
    # the two lines of the CPU-instructions notice (an INFO line; shown at TF_CPP_MIN_LOG_LEVEL=0)
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags",
    # GPU builds (TF 2.15-2.17): CUDA plugins registered twice, and no TensorRT installed
    r"Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory for plugin",
    r"computation_placer\.cc:\d+\] computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
]))

ENV_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "1"}  # set only where the user has not set them
SHOW_ALL = "SCRATCHCONV_SHOW_TF_STARTUP"  # =1: no filtering

_started = False  # TensorFlow imported and its devices listed through here, in this process


def drop_startup_noise(text):
    """``text`` without its lines that match ``STARTUP_NOISE`` (the other lines kept, in order)."""
    return "".join(line for line in text.splitlines(keepends=True) if not STARTUP_NOISE.search(line))


def _write_stderr(text):
    if not text:
        return
    if sys.stderr is not None:
        sys.stderr.write(text)
        sys.stderr.flush()
    else:  # no Python-level stderr (e.g. pythonw): the file descriptor itself
        os.write(2, text.encode("utf-8", "replace"))


@contextlib.contextmanager
def filtered_stderr():
    """Send file descriptor 2 to a temporary file; afterwards write it to stderr minus the noise.

    The whole process's fd 2 is redirected, so another thread's stderr in that time is delayed,
    not lost. The captured lines are written back even when the body raises.
    """
    if os.environ.get(SHOW_ALL) == "1":
        yield
        return
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved_fd = os.dup(2)
    except OSError:  # no file descriptor 2 at all: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            captured.seek(0)
            _write_stderr(drop_startup_noise(captured.read().decode("utf-8", "replace")))


def _set_env_defaults():
    for name, value in ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)


def import_tensorflow():
    """``import tensorflow`` and list its devices, quietly (see the module's docstring).

    Raises ImportError when TensorFlow is not installed, like the import itself.
    """
    global _started
    _set_env_defaults()
    if _started:
        import tensorflow as tf

        return tf
    with filtered_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the first device initialisation (cuInit) happens here
    _started = True
    return tf


def import_keras():
    """``import keras`` (TensorFlow first, through ``import_tensorflow``), quietly."""
    import_tensorflow()
    if "keras" in sys.modules:
        import keras

        return keras
    with filtered_stderr():
        import keras
    return keras
