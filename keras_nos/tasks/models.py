"""Child networks of the proxy tasks: small, so a search can train thousands."""

import keras
from keras import layers


def conv_block_net(input_shape, num_classes, filters=32, name=None):
    """The paper's proxy: two 3x3 conv layers of ``filters`` with batch norm and ReLU,
    2x2 max pooling, and a softmax layer on the flattened features (logits out)."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(num_classes),
        ],
        name=name,
    )


def mlp(input_shape, num_classes, hidden=64, name=None):
    """One hidden ReLU layer on flattened inputs (logits out)."""
    return keras.Sequential(
        [keras.Input(input_shape), layers.Flatten(), layers.Dense(hidden, activation="relu"), layers.Dense(num_classes)],
        name=name,
    )
