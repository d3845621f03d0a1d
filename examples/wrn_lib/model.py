"""The Wide ResNet of Zagoruyko & Komodakis (2016), pre-activation, in Keras 3.

WRN-d-k has (d - 4) / 6 basic blocks (two 3x3 convolutions each) in each of
three groups of 16k, 32k and 64k channels, batch norm and ReLU before every
convolution, a 1x1 projection where the shape changes, and global average
pooling into a softmax. Every kernel carries L2 weight decay (5e-4 in the
paper: ``kernel_regularizer`` adds ``weight_decay * sum(w**2)`` to the loss).
"""

import keras
from keras import layers


def blocks_per_group(depth):
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"--depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got {depth}")
    return (depth - 4) // 6


def _conv(filters, kernel, stride, weight_decay):
    return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                         kernel_initializer="he_normal",
                         kernel_regularizer=keras.regularizers.L2(weight_decay))


def _bn_relu(x):
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
    return layers.Activation("relu")(x)


def _block(x, filters, stride, dropout, weight_decay):
    pre = _bn_relu(x)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, stride, weight_decay)(pre)
    y = _conv(filters, 3, stride, weight_decay)(pre)
    y = _bn_relu(y)
    if dropout:
        y = layers.Dropout(dropout)(y)
    y = _conv(filters, 3, 1, weight_decay)(y)
    return layers.Add()([shortcut, y])


def build_wrn(depth=16, width=4, num_classes=10, weight_decay=5e-4, dropout=0.0,
              input_shape=(32, 32, 3)):
    """WRN-``depth``-``width`` as a functional model with float32 softmax output."""
    n = blocks_per_group(depth)
    inputs = keras.Input(input_shape)
    x = _conv(16, 3, 1, weight_decay)(inputs)
    for group, stride in enumerate((1, 2, 2)):
        for index in range(n):
            x = _block(x, 16 * width * 2 ** group, stride if index == 0 else 1, dropout,
                       weight_decay)
    x = _bn_relu(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32",
                           kernel_regularizer=keras.regularizers.L2(weight_decay))(x)
    return keras.Model(inputs, outputs, name=f"wrn-{depth}-{width}")
