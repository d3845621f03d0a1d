"""The controller as a policy: samples token sequences slot by slot, scores them, and learns by PPO.

An update is up to ``ppo_epochs`` passes of the clipped PPO objective (``clip``) with Adam (``learning_rate``)
and an entropy bonus (``entropy_weight``), stopped early once the KL from the policy that sampled passes
``target_kl``. Its rewards are standardised; an update whose rewards are all equal (a batch of zeros) carries
no information and is skipped instead of pushing down what was sampled. With ``risk_quantile`` q > 0 it
learns only from the rewards above their q-quantile, by how far they pass it, as Deep Symbolic Regression does.
"""

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import keras
import numpy as np

from keras_nos.search.strategies.controller import Controller, ppo_loss
from keras_nos.search.strategies.options import StrategyOptions, option

if TYPE_CHECKING:
    from keras_nos.search.space import SearchSpace

_NO_SIGNAL = 1e-8  # rewards whose standard deviation is below this carry no information


@dataclasses.dataclass(frozen=True, kw_only=True)
class PolicyOptions(StrategyOptions):
    """The controller's shape (``controller.Controller``) and how a PPO update trains it: see the module."""

    units: int = option(150, least=1)
    num_layers: int = option(1, least=1)
    embedding_size: int = option(150, least=1)
    init_scale: float = option(0.08, least=0)
    learning_rate: float = option(0.005, least=0)
    ppo_epochs: int = option(4, least=1)
    clip: float = option(0.2, least=0)
    target_kl: float = option(0.05, least=0)
    entropy_weight: float = option(0.0015)
    risk_quantile: float = option(0.0, least=0, below=1)


class ControllerPolicy:
    """A ``Controller`` over ``space``, its weights from ``seed``, sampling with ``rng``."""

    def __init__(self, space: "SearchSpace", rng: np.random.Generator, options: PolicyOptions, seed: int) -> None:
        self.space, self.rng, self.options, self.seed = space, rng, options, seed
        self.build()

    def build(self) -> None:
        """A new controller with fresh weights, compiled with its PPO loss."""
        o = self.options
        self.controller = Controller(len(self.space.vocabulary), units=o.units, num_layers=o.num_layers,
                                     embedding_size=o.embedding_size, init_scale=o.init_scale, seed=self.seed)
        self.controller.build_all(self.space.sequence_length)
        self.controller.compile(
            optimizer=keras.optimizers.Adam(learning_rate=o.learning_rate),
            loss=ppo_loss(clip=o.clip, entropy_weight=o.entropy_weight),
            # XLA pays off under JAX; under TensorFlow on CPU it only adds compile time.
            jit_compile=keras.backend.backend() == "jax",
        )

    def _inputs(self, sequences):
        space = self.space
        ids = np.array([[space.token_index[t] for t in tokens] for tokens in sequences], dtype="int32")
        start = np.full((len(ids), 1), self.controller.start_token, dtype="int32")
        previous = np.concatenate([start, ids[:, :-1]], axis=1)
        mask = np.array([[space.mask(p, tokens[:p]) for p in range(space.sequence_length)] for tokens in sequences])
        return previous, ids, mask

    def evaluate(self, sequences: Sequence[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(log-probabilities, entropies) of sequences under the current policy, NumPy arrays."""
        out = self.controller.predict_on_batch(self._inputs(sequences))
        out = np.asarray(keras.ops.convert_to_numpy(out)).astype(np.float64)
        return out[:, 0], out[:, 1]

    def sample(self, n: int) -> tuple[list[list[str]], np.ndarray]:
        """``n`` sequences drawn from the policy and their log-probabilities."""
        space = self.space
        sequences = [[] for _ in range(n)]
        log_probs = np.zeros(n)
        previous = np.full(n, self.controller.start_token, dtype="int32")
        states = self.controller.initial_states(n)
        for position in range(space.sequence_length):
            logits, states = self.controller.step(previous, states)
            mask = np.array([space.mask(position, tokens) for tokens in sequences])
            logp = _masked_log_softmax(logits, mask)
            cumulative = np.cumsum(np.exp(logp), axis=1)
            draws = self.rng.random(n) * cumulative[:, -1]
            chosen = np.argmax(cumulative > draws[:, None], axis=1)
            chosen = np.where(mask[np.arange(n), chosen], chosen, np.argmax(mask, axis=1))  # guard against round-off
            log_probs += logp[np.arange(n), chosen]
            for tokens, index in zip(sequences, chosen):
                tokens.append(space.vocabulary[index])
            previous = chosen.astype("int32")
        return sequences, log_probs

    def update(self, sequences: list[list[str]], rewards: np.ndarray, old: Sequence[Optional[float]],
               measured: int) -> dict[str, float]:
        """One PPO update; ``old`` holds each sequence's log-probability when it was sampled, None where unknown
        (scored now). Returns the KL, the epochs run and the mean entropy of the first ``measured`` sequences."""
        current, entropy = self.evaluate(sequences)
        old = np.array([current[i] if o is None else o for i, o in enumerate(old)])
        diagnostics = {"kl": 0.0, "epochs": 0, "entropy": float(entropy[:measured].mean())}
        if rewards.std() < _NO_SIGNAL:
            return diagnostics
        advantages = advantages_of(rewards, self.options.risk_quantile)
        x, y = self._inputs(sequences), np.stack([old, advantages], axis=1).astype("float32")
        for epoch in range(1, self.options.ppo_epochs + 1):
            self.controller.train_on_batch(x, y)
            new, entropy = self.evaluate(sequences)
            log_ratio = new - old
            kl = float(np.mean(np.expm1(log_ratio) - log_ratio))  # k3 estimator of KL(old || new), >= 0
            diagnostics.update(kl=kl, epochs=epoch, entropy=float(entropy[:measured].mean()))
            if kl > self.options.target_kl:
                break
        return diagnostics

    def imitate(self, sequences: list[list[str]], steps: int) -> None:
        """``steps`` steps of maximum likelihood on ``sequences`` (a warm start). Each is a PPO step with every
        advantage 1 and the old log-probabilities the current ones: at a ratio of 1 the clipped objective's
        gradient is the log-likelihood's, so the PPO loss the controller is compiled with serves."""
        x = self._inputs(sequences)
        for _ in range(steps):
            current, _ = self.evaluate(sequences)
            self.controller.train_on_batch(x, np.stack([current, np.ones(len(sequences))], axis=1).astype("float32"))

    def state(self) -> dict[str, Any]:
        optimizer_store = {}
        if self.controller.optimizer.built:
            self.controller.optimizer.save_own_variables(optimizer_store)
        return {"weights": [np.array(w) for w in self.controller.get_weights()],
                "optimizer": {k: np.array(v) for k, v in optimizer_store.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        if self.controller.optimizer.built and not state["optimizer"]:
            self.build()  # an optimizer that never stepped: start it afresh, as the saved one was
        self.controller.set_weights(state["weights"])
        if state["optimizer"]:
            optimizer = self.controller.optimizer
            optimizer.build(self.controller.trainable_variables)
            optimizer.load_own_variables(dict(state["optimizer"]))


def advantages_of(rewards: np.ndarray, risk_quantile: float) -> np.ndarray:
    """The rewards standardised; with ``risk_quantile`` q > 0 risk-seeking instead, as in Deep Symbolic Regression
    (Petersen et al., ICLR 2021): only rewards above the update's q-quantile count, by how far they pass it."""
    if not risk_quantile:
        return (rewards - rewards.mean()) / rewards.std()
    excess = np.maximum(rewards - np.quantile(rewards, risk_quantile), 0.0)
    return excess / (excess.std() + _NO_SIGNAL)


def _masked_log_softmax(logits, mask):
    logits = np.where(mask, logits.astype(np.float64), -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
