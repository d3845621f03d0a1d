"""Child networks of the proxy tasks: small, so a search can train thousands."""

from __future__ import annotations

from typing import Optional

import keras
from keras import layers


# Batch norm's moving statistics, which validation uses, move by 1 - momentum a step. Keras' default 0.99
# leaves them far from the batch statistics after the 100-2000 steps of a proxy task: on cifar10-small
# (80 steps) Adam's validation accuracy was 0.23 with it and 0.42 with 0.9, and rules ranked by noise.
PROXY_BN_MOMENTUM = 0.9


def conv_block_net(input_shape: tuple[int, ...], num_classes: int, filters: int = 32,
                   name: Optional[str] = None) -> keras.Model:
    """The paper's proxy: two 3x3 conv layers of ``filters`` with batch norm and ReLU,
    2x2 max pooling, and a softmax layer on the flattened features (logits out)."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=PROXY_BN_MOMENTUM),
            layers.ReLU(),
            layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=PROXY_BN_MOMENTUM),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(num_classes),
        ],
        name=name,
    )


def mlp(input_shape: tuple[int, ...], num_classes: int, hidden: int = 64, name: Optional[str] = None) -> keras.Model:
    """One hidden ReLU layer on flattened inputs (logits out)."""
    return keras.Sequential(
        [keras.Input(input_shape), layers.Flatten(), layers.Dense(hidden, activation="relu"), layers.Dense(num_classes)],
        name=name,
    )


def autoencoder(input_shape: tuple[int, ...], num_outputs: int, hidden: int = 32, bottleneck: int = 8,
                name: Optional[str] = None) -> keras.Model:
    """A dense autoencoder: ReLU layer, linear bottleneck, ReLU layer, linear reconstruction of ``num_outputs``."""
    return keras.Sequential(
        [keras.Input(input_shape), layers.Flatten(), layers.Dense(hidden, activation="relu"), layers.Dense(bottleneck),
         layers.Dense(hidden, activation="relu"), layers.Dense(num_outputs)],
        name=name,
    )
