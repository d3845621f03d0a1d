"""tf.data pipelines from sentence pairs to fixed-shape padded id batches.

Every batch has the same shape (``max_len`` source ids, ``max_len - 1``
decoder inputs/targets) so that an XLA-compiled train step compiles once.
Training pairs longer than ``max_len`` ids are dropped; evaluation pairs are
truncated instead, so every test sentence is still translated and scored.
"""

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def _split_target(src, tgt):
    return (src, tgt[:, :-1]), tgt[:, 1:]


def tokenize_pairs(pairs, src_tok, tgt_tok, max_len):
    """String pairs -> id pairs zero-padded to ``max_len``; longer pairs are dropped."""

    def tokenize(src, tgt):
        src_ids, tgt_ids = src_tok.tokenize(src), tgt_tok.tokenize(tgt)
        keep = tf.logical_and(src_ids.row_lengths() <= max_len, tgt_ids.row_lengths() <= max_len)
        src_ids = tf.ragged.boolean_mask(src_ids, keep).to_tensor(shape=[None, max_len])
        tgt_ids = tf.ragged.boolean_mask(tgt_ids, keep).to_tensor(shape=[None, max_len])
        return src_ids, tgt_ids

    return pairs.batch(1024).map(tokenize, num_parallel_calls=AUTOTUNE).unbatch()


def materialize(id_pairs, max_len):
    """Id pairs -> (src, tgt) int32 arrays [N, max_len], for corpora that fit in memory."""
    srcs, tgts = [], []
    for src, tgt in id_pairs.batch(8192):
        srcs.append(src.numpy())
        tgts.append(tgt.numpy())
    if not srcs:
        empty = np.zeros((0, max_len), dtype="int32")
        return empty, empty
    return np.concatenate(srcs), np.concatenate(tgts)


def bucket_widths(max_len, step=8):
    """Batch widths for length bucketing: 8, 16, ... and ``max_len`` itself."""
    return [w for w in range(step, max_len, step)] + [max_len]


def bucketed_batches(ds, max_len, batch_size, step=8):
    """Batch same-width pairs together and cut the padding beyond that width.

    Short sentences then cost short steps, and there are only a few distinct
    batch shapes (one XLA compilation each when jit-compiling).
    """
    widths = tf.constant(bucket_widths(max_len, step), tf.int32)

    def bucket(src, tgt):
        used = tf.cast(tf.maximum(tf.math.count_nonzero(src), tf.math.count_nonzero(tgt)),
                       tf.int32)
        return tf.argmax(tf.cast(widths >= used, tf.int32), output_type=tf.int64)

    def batch(key, window):
        width = widths[key]
        return window.batch(batch_size, drop_remainder=True).map(
            lambda src, tgt: (src[:, :width], tgt[:, :width]))

    return ds.group_by_window(bucket, batch, window_size=batch_size)


def train_dataset(source, max_len, batch_size, seed, shuffle_buffer=100000, bucket=True):
    """Endless shuffled batches ``((src, tgt_in), tgt_out)``, bucketed by length.

    ``source`` is a pair of arrays from ``materialize`` or a streaming dataset
    from ``tokenize_pairs`` (for corpora too large to hold in memory).
    """
    if isinstance(source, tuple):
        ds = tf.data.Dataset.from_tensor_slices(source)
        ds = ds.shuffle(len(source[0]), seed=seed, reshuffle_each_iteration=True).repeat()
    else:
        ds = source.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    if bucket:
        ds = bucketed_batches(ds, max_len, batch_size)
    else:
        ds = ds.batch(batch_size, drop_remainder=True)
    return ds.map(_split_target, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def encode_texts(tokenizer, texts, length, batch_size=4096):
    """Strings -> int32 array [N, length], truncated or zero-padded."""
    out = np.zeros((len(texts), length), dtype="int32")
    for start in range(0, len(texts), batch_size):
        chunk = tf.constant(texts[start:start + batch_size], tf.string)
        ids = tokenizer.tokenize(chunk).to_tensor(shape=[None, length])
        out[start:start + len(ids)] = ids.numpy()
    return out


def pad_rows(ids, multiple):
    """Append all-padding rows so that the row count is a multiple of ``multiple``."""
    extra = -len(ids) % multiple
    return np.concatenate([ids, np.zeros((extra, ids.shape[1]), ids.dtype)]) if extra else ids


def eval_dataset(src_ids, tgt_ids, batch_size):
    """Batches ``((src, tgt_in), tgt_out)`` over fixed arrays, in order.

    All-padding rows fill the last batch (they carry no target tokens, so they
    change no loss), which keeps one batch shape for the compiled step.
    """
    batch_size = min(batch_size, len(src_ids))
    src_ids, tgt_ids = pad_rows(src_ids, batch_size), pad_rows(tgt_ids, batch_size)
    ds = tf.data.Dataset.from_tensor_slices((src_ids, tgt_ids)).batch(batch_size)
    return ds.map(_split_target).cache().prefetch(AUTOTUNE)
