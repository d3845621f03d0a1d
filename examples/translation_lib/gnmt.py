"""A GNMT-style LSTM encoder-decoder with attention (Wu et al., 2016) in Keras 3.

Encoder: a bidirectional LSTM, then unidirectional LSTMs with residual
connections from the third layer on. Decoder: the bottom LSTM's output queries
Bahdanau (additive) attention over the encoder; the context is fed to every
upper layer and to the softmax. Unlike GNMT the query is the bottom layer's
output at the current step rather than the previous one, which keeps
teacher-forced training parallel over time and decoding causal.
"""

import keras
from keras import layers, ops


class GNMT(keras.Model):
    """``call((src, tgt_in))`` -> logits [B, T, tgt_vocab]; id 0 is padding."""

    def __init__(self, src_vocab_size, tgt_vocab_size, num_layers=2, units=256, dropout=0.2,
                 **kwargs):
        super().__init__(**kwargs)
        if units % 2:
            raise ValueError(f"units={units} must be even (the bidirectional layer halves it)")
        self.src_embedding = layers.Embedding(src_vocab_size, units)
        self.tgt_embedding = layers.Embedding(tgt_vocab_size, units)
        self.encoder_bi = layers.Bidirectional(layers.LSTM(units // 2, return_sequences=True))
        self.encoder_layers = [layers.LSTM(units, return_sequences=True)
                               for _ in range(num_layers - 1)]
        self.decoder_bottom = layers.LSTM(units, return_sequences=True)
        self.decoder_layers = [layers.LSTM(units, return_sequences=True)
                               for _ in range(num_layers - 1)]
        self.query_projection = layers.Dense(units, use_bias=False)
        self.key_projection = layers.Dense(units, use_bias=False)
        self.attention = layers.AdditiveAttention(use_scale=True)
        self.dropout = layers.Dropout(dropout)
        self.logits = layers.Dense(tgt_vocab_size)

    def encode(self, src, training=False):
        src_mask = ops.not_equal(src, 0)
        x = self.dropout(self.src_embedding(src), training=training)
        x = self.encoder_bi(x, mask=src_mask, training=training)
        for i, lstm in enumerate(self.encoder_layers):
            h = lstm(self.dropout(x, training=training), mask=src_mask, training=training)
            x = x + h if i > 0 else h
        return x, src_mask

    def decode(self, memory, src_mask, tgt_in, training=False):
        y = self.dropout(self.tgt_embedding(tgt_in), training=training)
        x = self.decoder_bottom(y, training=training)
        context = self.attention(
            [self.query_projection(x), memory, self.key_projection(memory)],
            mask=[None, src_mask], training=training)
        for i, lstm in enumerate(self.decoder_layers):
            h = lstm(self.dropout(ops.concatenate([x, context], axis=-1), training=training),
                     training=training)
            x = x + h if i > 0 else h
        features = self.dropout(ops.concatenate([x, context], axis=-1), training=training)
        return self.logits(features)

    def call(self, inputs, training=False):
        src, tgt_in = inputs
        memory, src_mask = self.encode(src, training=training)
        return self.decode(memory, src_mask, tgt_in, training=training)
