"""Greedy and beam-search decoding for models with ``encode``/``decode``.

There is no key/value cache: each step runs the decoder over the prefix and
reads the logits at position ``t``. The prefix is cut at the next multiple of
8 (causal masking or recurrence makes what follows ``t`` irrelevant), so the
step function sees only a few shapes and is traced a few times per batch size.
"""

import numpy as np
import tensorflow as tf

from .tokenizer import END_ID, PAD_ID, START_ID, UNK_ID


class Translator:
    def __init__(self, model, max_len, jit_compile=False):
        self.length = max_len - 1
        self.widths = [w for w in range(8, self.length, 8)] + [self.length]

        def encode(src):
            return model.encode(src, training=False)

        def step(memory, src_mask, tokens, t):
            logits = model.decode(memory, src_mask, tokens, training=False)
            return tf.nn.log_softmax(tf.cast(tf.gather(logits, t, axis=1), tf.float32))

        self._encode = tf.function(encode, jit_compile=jit_compile, reduce_retracing=True)
        self._step = tf.function(step, jit_compile=jit_compile, reduce_retracing=True)

    def _width(self, t):
        """The shortest prefix width that covers position ``t``."""
        return next(w for w in self.widths if w > t)

    def greedy(self, src):
        """src int32 [B, S] -> output ids [B, T] (no [START]; [END] then padding)."""
        memory, src_mask = self._encode(tf.constant(src))
        batch, length = len(src), self.length
        tokens = np.zeros((batch, length + 1), dtype="int32")
        tokens[:, 0] = START_ID
        finished = np.zeros(batch, dtype=bool)
        for t in range(length):
            prefix = tokens[:, :self._width(t)]
            log_probs = self._step(memory, src_mask, prefix, tf.constant(t)).numpy()
            log_probs[:, [PAD_ID, START_ID, UNK_ID]] = -np.inf
            next_ids = np.where(finished, PAD_ID, log_probs.argmax(-1))
            tokens[:, t + 1] = next_ids
            finished |= next_ids == END_ID
            if finished.all():
                break
        return tokens[:, 1:]

    def beam(self, src, beam_size=4, alpha=0.6):
        """Beam search with GNMT's length penalty ((5 + len) / 6) ** alpha."""
        memory, src_mask = self._encode(tf.constant(src))
        memory = tf.repeat(memory, beam_size, axis=0)
        src_mask = tf.repeat(src_mask, beam_size, axis=0)
        batch, length, k = len(src), self.length, beam_size
        tokens = np.zeros((batch, k, length + 1), dtype="int32")
        tokens[:, :, 0] = START_ID
        scores = np.full((batch, k), -np.inf)
        scores[:, 0] = 0.0
        finished = np.zeros((batch, k), dtype=bool)
        lengths = np.zeros((batch, k), dtype="int32")
        rows = np.arange(batch)[:, None]
        for t in range(length):
            flat = tokens.reshape(batch * k, length + 1)[:, :self._width(t)]
            log_probs = self._step(memory, src_mask, flat, tf.constant(t)).numpy()
            vocab = log_probs.shape[-1]
            log_probs = log_probs.reshape(batch, k, vocab)
            log_probs[:, :, [PAD_ID, START_ID, UNK_ID]] = -np.inf
            # A finished hypothesis carries on unchanged: only padding, at no cost.
            log_probs[finished] = -np.inf
            log_probs[finished, PAD_ID] = 0.0
            candidates = (scores[:, :, None] + log_probs).reshape(batch, k * vocab)
            best = np.argsort(-candidates, axis=1, kind="stable")[:, :k]
            origin, next_ids = best // vocab, best % vocab
            scores = candidates[rows, best]
            was_finished = finished[rows, origin]
            tokens = tokens[rows, origin]
            tokens[:, :, t + 1] = next_ids
            lengths = np.where(was_finished, lengths[rows, origin], t + 1)
            finished = was_finished | (next_ids == END_ID)
            if finished.all():
                break
        lengths = np.where(finished, lengths, length)
        penalty = ((5.0 + lengths) / 6.0) ** alpha
        choice = np.argmax(scores / penalty, axis=1)
        return tokens[np.arange(batch), choice, 1:]

    def translate(self, src_ids, batch_size=64, beam_size=1, alpha=0.6):
        """All rows of ``src_ids`` -> list of output id rows."""
        outputs = []
        for start in range(0, len(src_ids), batch_size):
            chunk = src_ids[start:start + batch_size]
            if beam_size > 1:
                outputs.extend(self.beam(chunk, beam_size, alpha))
            else:
                outputs.extend(self.greedy(chunk))
        return outputs
