"""The paper's controller: an LSTM that writes a token sequence one slot at a time.

At slot ``t`` the LSTM reads the embedding of the token written at ``t-1`` (a
start token at ``t=0``) and a dense layer gives logits over the space's whole
vocabulary; tokens the space does not allow at that slot after the tokens
written so far are masked (their logits set to -1e9, probability 0 in
float32). All weights start uniform in ``[-init_scale, init_scale]``.

Everything is Keras 3 layers and ``keras.ops``; training goes through
``model.train_on_batch`` with the PPO loss below, so Keras computes the
gradients on whichever backend is active.
"""

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

MASKED_LOGIT = -1e9


class Controller(keras.Model):
    """``call((previous, targets, mask))`` -> ``[batch, 2]``: (log-probability of ``targets``, entropy).

    previous, targets: int ``[batch, length]``; mask: bool ``[batch, length, vocabulary]``.
    The entropy is summed over slots, each slot's over its valid tokens.
    """

    def __init__(self, vocabulary_size: int, units: int = 150, num_layers: int = 1, embedding_size: int = 150,
                 init_scale: float = 0.08, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.start_token = self.vocabulary_size
        self.units = int(units)
        seeds = iter(range(int(seed) * 1000, int(seed) * 1000 + 1000))

        def init():
            return keras.initializers.RandomUniform(-init_scale, init_scale, seed=next(seeds))

        self.embedding = keras.layers.Embedding(self.vocabulary_size + 1, int(embedding_size), embeddings_initializer=init())
        self.lstms = [
            keras.layers.LSTM(
                self.units,
                return_sequences=True,
                kernel_initializer=init(),
                recurrent_initializer=init(),
                bias_initializer=init(),
                unit_forget_bias=False,
            )
            for _ in range(int(num_layers))
        ]
        self.head = keras.layers.Dense(self.vocabulary_size, kernel_initializer=init(), bias_initializer=init())

    def call(self, inputs: tuple[Any, Any, Any]) -> Any:
        previous, targets, mask = inputs
        x = self.embedding(previous)
        for lstm in self.lstms:
            x = lstm(x)
        logits = ops.where(ops.cast(mask, "bool"), self.head(x), MASKED_LOGIT)
        log_probs = ops.log_softmax(logits, axis=-1)
        chosen = ops.take_along_axis(log_probs, ops.expand_dims(ops.cast(targets, "int32"), -1), axis=-1)
        log_prob = ops.sum(ops.squeeze(chosen, -1), axis=1)
        entropy = -ops.sum(ops.exp(log_probs) * log_probs, axis=(1, 2))
        return ops.stack([log_prob, entropy], axis=-1)

    def build_all(self, length: int) -> None:
        """Create the weights by one call on a dummy batch."""
        previous = np.zeros((1, length), dtype="int32")
        mask = np.ones((1, length, self.vocabulary_size), dtype=bool)
        self((previous, previous, mask))

    def initial_states(self, batch: int) -> list[list[Any]]:
        return [[ops.zeros((batch, self.units)), ops.zeros((batch, self.units))] for _ in self.lstms]

    def step(self, previous: np.ndarray, states: list[list[Any]]) -> tuple[np.ndarray, list[list[Any]]]:
        """One slot for a batch: (logits as a NumPy ``[batch, vocabulary]`` array, new states)."""
        x = self.embedding(ops.convert_to_tensor(np.asarray(previous, dtype="int32")))
        new_states = []
        for lstm, state in zip(self.lstms, states):
            x, state = lstm.cell(x, state)
            new_states.append(state)
        return ops.convert_to_numpy(self.head(x)), new_states


def ppo_loss(clip: float = 0.2, entropy_weight: float = 0.0015) -> Callable[[Any, Any], Any]:
    """Loss of ``y_true = [old log-probability, advantage]`` and ``y_pred = Controller output``.

    ``-(min(ratio * A, clip(ratio, 1 - clip, 1 + clip) * A) + entropy_weight * entropy)``
    with ``ratio = exp(log_prob - old_log_prob)``.
    """

    def loss(y_true, y_pred):
        old_log_prob, advantage = y_true[:, 0], y_true[:, 1]
        log_prob, entropy = y_pred[:, 0], y_pred[:, 1]
        ratio = ops.exp(log_prob - old_log_prob)
        surrogate = ops.minimum(ratio * advantage, ops.clip(ratio, 1.0 - clip, 1.0 + clip) * advantage)
        return -(surrogate + entropy_weight * entropy)

    return loss
