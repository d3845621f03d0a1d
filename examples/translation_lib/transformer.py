"""An encoder-decoder Transformer (Vaswani et al., 2017) in Keras 3.

Pre-layer-norm blocks (trains more reliably with plain-SGD-like optimizers
such as PowerSign and AddSign than the original post-norm) and sinusoidal
positions. ``encode`` and ``decode`` are exposed separately for decoding.
"""

import math

import keras
import numpy as np
from keras import layers, ops


def sinusoid_table(length, depth):
    positions = np.arange(length)[:, None]
    rates = 1.0 / np.power(10000.0, (2 * (np.arange(depth) // 2)) / depth)
    angles = positions * rates[None, :]
    table = np.zeros((length, depth), dtype="float32")
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table


class PositionalEmbedding(layers.Layer):
    def __init__(self, vocab_size, d_model, max_len, **kwargs):
        super().__init__(**kwargs)
        self.embedding = layers.Embedding(vocab_size, d_model)
        self.scale = math.sqrt(d_model)
        self.table = sinusoid_table(max_len, d_model)

    def call(self, ids):
        length = ops.shape(ids)[1]
        positions = ops.convert_to_tensor(self.table)[None, :length, :]
        return self.embedding(ids) * self.scale + positions


class FeedForward(layers.Layer):
    def __init__(self, d_model, ff_dim, dropout, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(ff_dim, activation="relu")
        self.outer = layers.Dense(d_model)
        self.dropout = layers.Dropout(dropout)

    def call(self, x, training=False):
        return self.outer(self.dropout(self.inner(x), training=training))


class EncoderBlock(layers.Layer):
    def __init__(self, d_model, heads, ff_dim, dropout, **kwargs):
        super().__init__(**kwargs)
        self.attention = layers.MultiHeadAttention(heads, d_model // heads, dropout=dropout)
        self.feed_forward = FeedForward(d_model, ff_dim, dropout)
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout = layers.Dropout(dropout)

    def call(self, x, attention_mask, training=False):
        h = self.norm1(x)
        h = self.attention(h, h, attention_mask=attention_mask, training=training)
        x = x + self.dropout(h, training=training)
        h = self.feed_forward(self.norm2(x), training=training)
        return x + self.dropout(h, training=training)


class DecoderBlock(layers.Layer):
    def __init__(self, d_model, heads, ff_dim, dropout, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = layers.MultiHeadAttention(heads, d_model // heads, dropout=dropout)
        self.cross_attention = layers.MultiHeadAttention(heads, d_model // heads, dropout=dropout)
        self.feed_forward = FeedForward(d_model, ff_dim, dropout)
        self.norms = [layers.LayerNormalization(epsilon=1e-6) for _ in range(3)]
        self.dropout = layers.Dropout(dropout)

    def call(self, y, memory, memory_mask, training=False):
        h = self.norms[0](y)
        h = self.self_attention(h, h, use_causal_mask=True, training=training)
        y = y + self.dropout(h, training=training)
        h = self.norms[1](y)
        h = self.cross_attention(h, memory, attention_mask=memory_mask, training=training)
        y = y + self.dropout(h, training=training)
        h = self.feed_forward(self.norms[2](y), training=training)
        return y + self.dropout(h, training=training)


class Transformer(keras.Model):
    """``call((src, tgt_in))`` -> logits [B, T, tgt_vocab]; id 0 is padding."""

    def __init__(self, src_vocab_size, tgt_vocab_size, max_len, num_layers=6, d_model=512,
                 num_heads=8, ff_dim=2048, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={num_heads}")
        self.src_embedding = PositionalEmbedding(src_vocab_size, d_model, max_len)
        self.tgt_embedding = PositionalEmbedding(tgt_vocab_size, d_model, max_len)
        self.encoder_blocks = [EncoderBlock(d_model, num_heads, ff_dim, dropout)
                               for _ in range(num_layers)]
        self.decoder_blocks = [DecoderBlock(d_model, num_heads, ff_dim, dropout)
                               for _ in range(num_layers)]
        self.encoder_norm = layers.LayerNormalization(epsilon=1e-6)
        self.decoder_norm = layers.LayerNormalization(epsilon=1e-6)
        self.dropout = layers.Dropout(dropout)
        self.logits = layers.Dense(tgt_vocab_size)

    def encode(self, src, training=False):
        src_mask = ops.not_equal(src, 0)
        x = self.dropout(self.src_embedding(src), training=training)
        attention_mask = src_mask[:, None, :]
        for block in self.encoder_blocks:
            x = block(x, attention_mask, training=training)
        return self.encoder_norm(x), src_mask

    def decode(self, memory, src_mask, tgt_in, training=False):
        y = self.dropout(self.tgt_embedding(tgt_in), training=training)
        memory_mask = src_mask[:, None, :]
        for block in self.decoder_blocks:
            y = block(y, memory, memory_mask, training=training)
        return self.logits(self.decoder_norm(y))

    def call(self, inputs, training=False):
        src, tgt_in = inputs
        memory, src_mask = self.encode(src, training=training)
        return self.decode(memory, src_mask, tgt_in, training=training)
