"""tf.data pipelines for CIFAR-10: augmentation on the fly, prefetched.

Training: 4-pixel reflect padding and a random 32x32 crop, random horizontal
flip, then per-channel normalization with the training set's mean and
standard deviation; shuffled every epoch, mapped in parallel and prefetched
(``AUTOTUNE``) so that the input pipeline keeps up with an accelerator.
Evaluation: normalization only, batched and prefetched.
"""

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def channel_stats(x_train):
    """Per-channel mean and std of uint8 NHWC images, on the 0-1 scale."""
    x = x_train.reshape(-1, x_train.shape[-1]).astype(np.float64) / 255.0
    return x.mean(axis=0).astype(np.float32), x.std(axis=0).astype(np.float32)


def _normalizer(stats):
    mean, std = (tf.constant(v, tf.float32) for v in stats)

    def normalize(image):
        return (tf.cast(image, tf.float32) / 255.0 - mean) / std

    return normalize


def _augment(image):
    image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="REFLECT")
    image = tf.image.random_crop(image, [32, 32, tf.shape(image)[-1]])
    return tf.image.random_flip_left_right(image)


def train_dataset(x, y, batch_size, stats, seed=0):
    normalize = _normalizer(stats)
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda image, label: (normalize(_augment(image)), label),
                num_parallel_calls=AUTOTUNE)
    # Drop the last partial batch: a constant batch shape keeps XLA to one compile.
    return ds.batch(batch_size, drop_remainder=len(x) >= batch_size).prefetch(AUTOTUNE)


def eval_dataset(x, y, batch_size, stats):
    normalize = _normalizer(stats)
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
    ds = ds.batch(batch_size).map(lambda image, label: (normalize(image), label),
                                  num_parallel_calls=AUTOTUNE)
    return ds.cache().prefetch(AUTOTUNE)
