"""Learning-rate schedules: Keras 3's ``keras.optimizers.schedules``, same names, arguments and formulas.

An optimizer whose ``learning_rate`` is a schedule uses ``schedule(optimizer.iterations)``, the
step count *before* this step's increment (the first step uses schedule(0)), as Keras does.

Keras computes every schedule in float32 whatever the model's dtype (``convert_to_tensor`` of
a Python float is a float32 tensor), and the optimizer then casts the result to the weight's
dtype; so do these, operation for operation, in ``np.float32``:

    ExponentialDecay        lr0 * rate^(step / decay_steps)              (staircase: floor of the exponent)
    InverseTimeDecay        lr0 / (1 + rate * step / decay_steps)        (staircase: floor(step / decay_steps))
    PiecewiseConstantDecay  values[0] if step <= boundaries[0], ..., values[-1] if step > boundaries[-1]
    PolynomialDecay         (lr0 - end) * (1 - min(step, D) / D)^power + end
                            (cycle: D grows to decay_steps * ceil(step / decay_steps))
    CosineDecay             warmup (step < warmup_steps, when warmup_target is set):
                                lr0 + (target - lr0) * step / warmup_steps
                            then, s = min(step - warmup_steps, decay_steps):
                                from_lr * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)
    CosineDecayRestarts     period i lasts first_decay_steps * t_mul^i, starts at lr0 * m_mul^i
"""

import math

import numpy as np

f32 = np.float32


class LearningRateSchedule:
    """A function of the step count; ``get_config()`` is Keras's serialised form of the schedule."""

    ARGS = ()  # the constructor's arguments, as Keras's get_config() names them

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        return {"module": "keras.optimizers.schedules", "class_name": type(self).__name__,
                "config": {key: getattr(self, key) for key in self.ARGS}, "registered_name": None}

    def __repr__(self):
        args = ", ".join(f"{key}={getattr(self, key)!r}" for key in self.ARGS)
        return f"{type(self).__name__}({args})"


def _positive(value, name):
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


class _StepDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: the arguments, and the decay's progress
    p = step / decay_steps (rounded down with ``staircase``), in float32 as Keras computes it."""

    ARGS = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name")

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate, self.decay_rate = float(initial_learning_rate), float(decay_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.staircase, self.name = bool(staircase), name or type(self).__name__

    def progress(self, step):
        p = f32(step) / f32(self.decay_steps)
        return np.floor(p) if self.staircase else p


class ExponentialDecay(_StepDecay):
    def __call__(self, step):
        return f32(self.initial_learning_rate) * np.power(f32(self.decay_rate), self.progress(step))


class InverseTimeDecay(_StepDecay):
    def __call__(self, step):
        return f32(self.initial_learning_rate) / (f32(1) + f32(self.decay_rate) * self.progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    ARGS = ("boundaries", "values", "name")

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"boundaries must have one entry fewer than values, got {len(boundaries)} "
                             f"boundaries and {len(values)} values")
        self.boundaries, self.values, self.name = list(boundaries), [float(v) for v in values], name

    def __call__(self, step):
        k = sum(step > b for b in self.boundaries)  # values[k]: boundaries[k-1] < step <= boundaries[k]
        return f32(self.values[k])


class PolynomialDecay(LearningRateSchedule):
    ARGS = ("initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle", "name")

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.initial_learning_rate, self.end_learning_rate = float(initial_learning_rate), float(end_learning_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.power, self.cycle, self.name = float(power), bool(cycle), name

    def __call__(self, step):
        step, decay_steps = f32(step), f32(self.decay_steps)
        if self.cycle:
            decay_steps = decay_steps * (f32(1) if step == 0 else np.ceil(step / f32(self.decay_steps)))
        else:
            step = min(step, decay_steps)
        lr0, end = f32(self.initial_learning_rate), f32(self.end_learning_rate)
        return (lr0 - end) * np.power(f32(1) - step / decay_steps, f32(self.power)) + end


class CosineDecay(LearningRateSchedule):
    ARGS = ("initial_learning_rate", "decay_steps", "alpha", "name", "warmup_target", "warmup_steps")

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate, self.alpha = float(initial_learning_rate), float(alpha)
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.name, self.warmup_steps = name, warmup_steps
        self.warmup_target = None if warmup_target is None else float(warmup_target)

    def _decay(self, step, from_lr):
        cosine = f32(0.5) * (f32(1) + np.cos(f32(math.pi) * (step / f32(self.decay_steps))))
        return from_lr * (f32(1 - self.alpha) * cosine + f32(self.alpha))

    def __call__(self, step):
        step, lr0 = f32(step), f32(self.initial_learning_rate)
        if self.warmup_target is None:
            return self._decay(min(step, f32(self.decay_steps)), lr0)
        target, warmup = f32(self.warmup_target), f32(self.warmup_steps)
        step = min(step, f32(self.decay_steps) + warmup)
        if step < warmup:
            return (target - lr0) * (step / warmup) + lr0
        return self._decay(step - warmup, target)


class CosineDecayRestarts(LearningRateSchedule):
    ARGS = ("initial_learning_rate", "first_decay_steps", "t_mul", "m_mul", "alpha", "name")

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = float(initial_learning_rate)
        self.first_decay_steps = _positive(first_decay_steps, "first_decay_steps")
        self.t_mul, self.m_mul, self.alpha, self.name = float(t_mul), float(m_mul), float(alpha), name

    def __call__(self, step):
        t_mul, fraction = f32(self.t_mul), f32(step) / f32(self.first_decay_steps)
        if t_mul == 1:  # equal periods
            restart = np.floor(fraction)
            fraction = fraction - restart
        else:  # period i is t_mul^i long: i = floor(log(1 - fraction (1 - t_mul)) / log(t_mul))
            restart = np.floor(np.log(f32(1) - fraction * (f32(1) - t_mul)) / np.log(t_mul))
            done = (f32(1) - np.power(t_mul, restart)) / (f32(1) - t_mul)  # periods before, in first-period units
            fraction = (fraction - done) / np.power(t_mul, restart)
        cosine = f32(0.5) * np.power(f32(self.m_mul), restart) * (f32(1) + np.cos(f32(math.pi) * fraction))
        alpha = f32(self.alpha)
        return f32(self.initial_learning_rate) * ((f32(1) - alpha) * cosine + alpha)


SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                           PolynomialDecay, CosineDecay, CosineDecayRestarts)}


def get(identifier):
    """A schedule from a LearningRateSchedule, a Keras schedule object, or Keras's serialised
    dict ``{"class_name": "ExponentialDecay", "config": {...}}`` (``get_config()`` of either)."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if type(identifier).__module__.startswith("keras") and hasattr(identifier, "get_config"):
        identifier = {"class_name": type(identifier).__name__, "config": identifier.get_config()}
    if isinstance(identifier, dict) and identifier.get("class_name") in SCHEDULES:
        return SCHEDULES[identifier["class_name"]](**identifier.get("config", {}))
    raise ValueError(f"learning-rate schedules are {sorted(SCHEDULES)}, got {identifier!r}")
