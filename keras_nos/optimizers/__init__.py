"""Keras 3 optimizers: PowerSign, AddSign, any rule, and the paper's schedules."""

from keras_nos.optimizers.by_name import make_optimizer, optimizer_names
from keras_nos.optimizers.named import optimizer_class
from keras_nos.optimizers.rule_optimizer import RuleOptimizer
from keras_nos.optimizers.schedules import LinearCosineDecay, NoisyLinearCosineDecay
from keras_nos.optimizers.sign_decay import CosineSignDecay, LinearSignDecay, RestartSignDecay, SignDecay
from keras_nos.optimizers.sign_optimizers import AddSign, PowerSign

__all__ = [
    "AddSign", "CosineSignDecay", "LinearCosineDecay", "LinearSignDecay", "NoisyLinearCosineDecay",
    "PowerSign", "RestartSignDecay", "RuleOptimizer", "SignDecay", "make_optimizer", "optimizer_class", "optimizer_names",
]
