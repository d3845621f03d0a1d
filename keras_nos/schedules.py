"""``keras_nos.schedules``: the paper's learning-rate schedules."""

from keras_nos.optimizers.schedules import LinearCosineDecay, NoisyLinearCosineDecay

__all__ = ["LinearCosineDecay", "NoisyLinearCosineDecay"]
