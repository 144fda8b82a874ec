"""Weight regularizers and constraints (Keras's): defined in ``scratchconv.layers.regularizers``,
next to the layers that take them, since layers import nothing from ``nn``."""

from ..layers.regularizers import *  # noqa: F401,F403
from ..layers.regularizers import CONSTRAINTS, REGULARIZERS, get_constraint, get_regularizer  # noqa: F401
