"""Weight exchange with Keras, this way: to_keras(model). The other way, from_keras, is in loading.py.

TensorFlow/Keras are imported only inside these functions: scratchconv.nn imports without them.

Both directions go through the layer configs of ``scratchconv.nn.config`` (Keras's class and
argument names) and ``get_weights()``/``set_weights()``, whose arrays are Keras's, in Keras's
order, layer by layer. A compiled model's optimizer (its hyper-parameters and learning-rate
schedule, not its slots), loss (with from_logits) and metrics are carried over too.
"""

from .._tensorflow import import_keras as _import_keras_quietly
from .config import layer_config


def import_keras():
    try:
        keras = _import_keras_quietly()  # TensorFlow's start-up noise filtered out of stderr
    except ImportError as error:  # pragma: no cover - exercised only without TensorFlow
        raise ImportError("from_keras/to_keras need Keras: pip install 'scratchconv[keras]'") from error
    return keras


def _keras_layer(keras_class, config):
    """keras_class(**config), ``trainable`` set after construction: Keras's SpatialDropout2D does
    not take it as an argument (its constructor has no ``**kwargs``)."""
    config = dict(config)
    trainable = config.pop("trainable", True)
    keras_layer = keras_class(**config)
    keras_layer.trainable = trainable
    return keras_layer


def to_keras(model):
    """A Keras Sequential with the same layers and weights as ``model`` (compiled like it, if it is)."""
    keras = import_keras()
    if not model.built:
        model.build()
    keras_layers = []
    for layer in model.layers:
        entry = layer_config(layer)
        keras_layers.append(_keras_layer(getattr(keras.layers, entry["class_name"]), entry["config"]))
    keras_model = keras.Sequential([keras.Input(shape=model.input_shape[1:], dtype=str(model.dtype)), *keras_layers],
                                   name=model.name)
    for layer, keras_layer in zip(model.layers, keras_layers):
        keras_layer.set_weights(layer.get_weights())
    if model.loss is not None:
        from .keras_compile import keras_loss, keras_optimizer

        keras_model.compile(optimizer=keras_optimizer(keras, model.optimizer), loss=keras_loss(keras, model.loss),
                            metrics=list(model.metrics))
    return keras_model
