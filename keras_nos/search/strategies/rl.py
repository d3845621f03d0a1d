"""``rl``: the paper's search, an LSTM controller trained with PPO.

``propose(n)`` samples ``n`` sequences in one batched pass over the slots
(invalid tokens masked, each sampled token fed back as the next input) and
remembers each sequence's log-probability under the policy that sampled it.
``observe`` collects rewards; once ``batch_size`` results have arrived since
the last update, all of them train the controller for ``ppo_epochs`` full-batch
steps of the clipped PPO objective (``clip``) with Adam (``learning_rate``)
and an entropy bonus (``entropy_weight``). The advantage of a reward is its
difference from an exponential moving average of earlier rewards
(``baseline_decay``); the average starts at the mean of the first batch.
A result whose sequence was not proposed (or was proposed before a restore
that lost it) is scored under the current policy as its old log-probability.
"""

import keras
import numpy as np

from keras_nos.search.strategies.base import Strategy
from keras_nos.search.strategies.controller import Controller, ppo_loss


class RLStrategy(Strategy):
    name = "rl"
    defaults = {
        "units": 150,
        "num_layers": 1,
        "embedding_size": 150,
        "init_scale": 0.08,
        "learning_rate": 0.0005,
        "ppo_epochs": 4,
        "clip": 0.2,
        "entropy_weight": 0.0015,
        "baseline_decay": 0.95,
        "batch_size": 10,
    }

    def __init__(self, space, seed=0, **options):
        super().__init__(space, seed, **options)
        if self.options["batch_size"] < 1 or self.options["ppo_epochs"] < 1:
            raise ValueError(f"batch_size and ppo_epochs must be at least 1; got {self.options}")
        self._build()
        self.baseline = None
        self.buffer = []  # [(tokens, reward, old log-probability or None)] since the last update
        self.proposed = {}  # tuple(tokens) -> [log-probability at proposal], oldest first
        self.num_updates = 0

    def _build(self):
        o = self.options
        self.controller = Controller(
            len(self.space.vocabulary),
            units=o["units"],
            num_layers=o["num_layers"],
            embedding_size=o["embedding_size"],
            init_scale=o["init_scale"],
            seed=self.seed,
        )
        self.controller.build_all(self.space.sequence_length)
        self.controller.compile(
            optimizer=keras.optimizers.Adam(learning_rate=o["learning_rate"]),
            loss=ppo_loss(clip=o["clip"], entropy_weight=o["entropy_weight"]),
            # XLA pays off under JAX; under TensorFlow on CPU it only adds compile time.
            jit_compile=keras.backend.backend() == "jax",
        )

    # -- policy -----------------------------------------------------------------------

    def _inputs(self, sequences):
        space = self.space
        ids = np.array([[space.token_index[t] for t in tokens] for tokens in sequences], dtype="int32")
        previous = np.concatenate([np.full((len(ids), 1), self.controller.start_token, dtype="int32"), ids[:, :-1]], axis=1)
        mask = np.array([[space.mask(p, tokens[:p]) for p in range(space.sequence_length)] for tokens in sequences])
        return previous, ids, mask

    def log_prob(self, sequences):
        """Log-probabilities of token sequences under the current policy, a NumPy array."""
        sequences = [self.space.validate(tokens) for tokens in sequences]
        if not sequences:
            return np.zeros(0)
        out = self.controller.predict_on_batch(self._inputs(sequences))
        return np.asarray(keras.ops.convert_to_numpy(out))[:, 0].astype(np.float64)

    def propose(self, n):
        n = int(n)
        if n <= 0:
            return []
        space = self.space
        sequences = [[] for _ in range(n)]
        log_probs = np.zeros(n)
        previous = np.full(n, self.controller.start_token, dtype="int32")
        states = self.controller.initial_states(n)
        for position in range(space.sequence_length):
            logits, states = self.controller.step(previous, states)
            mask = np.array([space.mask(position, tokens) for tokens in sequences])
            logits = np.where(mask, logits.astype(np.float64), -np.inf)
            logits -= logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            cumulative = np.cumsum(np.exp(logp), axis=1)
            draws = self.rng.random(n) * cumulative[:, -1]
            chosen = np.argmax(cumulative > draws[:, None], axis=1)
            chosen = np.where(mask[np.arange(n), chosen], chosen, np.argmax(mask, axis=1))  # guard against round-off
            log_probs += logp[np.arange(n), chosen]
            for tokens, index in zip(sequences, chosen):
                tokens.append(space.vocabulary[index])
            previous = chosen.astype("int32")
        for tokens, log_prob in zip(sequences, log_probs):
            self.proposed.setdefault(tuple(tokens), []).append(float(log_prob))
        return sequences

    # -- learning ---------------------------------------------------------------------

    def observe(self, results):
        for tokens, reward in self._results(results):
            self.space.validate(tokens)
            pending = self.proposed.get(tuple(tokens))
            old = pending.pop(0) if pending else None
            if pending is not None and not pending:
                del self.proposed[tuple(tokens)]
            self.buffer.append((tokens, reward, old))
        if len(self.buffer) >= self.options["batch_size"]:
            self.update()

    def update(self):
        """One PPO update on every result observed since the last one."""
        if not self.buffer:
            return
        sequences = [tokens for tokens, _, _ in self.buffer]
        rewards = np.array([reward for _, reward, _ in self.buffer])
        old = np.array([np.nan if o is None else o for _, _, o in self.buffer])
        missing = np.isnan(old)
        if missing.any():
            old[missing] = self.log_prob([s for s, m in zip(sequences, missing) if m])
        if self.baseline is None:
            self.baseline = float(rewards.mean())
        advantages = rewards - self.baseline
        decay = self.options["baseline_decay"]
        for reward in rewards:
            self.baseline = decay * self.baseline + (1.0 - decay) * float(reward)
        x = self._inputs(sequences)
        y = np.stack([old, advantages], axis=1).astype("float32")
        for _ in range(self.options["ppo_epochs"]):
            self.controller.train_on_batch(x, y)
        self.buffer = []
        self.num_updates += 1

    # -- resuming ---------------------------------------------------------------------

    def state(self):
        optimizer_store = {}
        if self.controller.optimizer.built:
            self.controller.optimizer.save_own_variables(optimizer_store)
        return {
            **super().state(),
            "weights": [np.array(w) for w in self.controller.get_weights()],
            "optimizer": {k: np.array(v) for k, v in optimizer_store.items()},
            "baseline": self.baseline,
            "buffer": [(list(t), r, o) for t, r, o in self.buffer],
            "proposed": [(list(t), list(logps)) for t, logps in self.proposed.items()],
            "num_updates": self.num_updates,
        }

    def load_state(self, state):
        options = dict(self.options)
        super().load_state(state)
        if options != self.options or (self.controller.optimizer.built and not state["optimizer"]):
            self._build()
        self.controller.set_weights(state["weights"])
        if state["optimizer"]:
            optimizer = self.controller.optimizer
            optimizer.build(self.controller.trainable_variables)
            optimizer.load_own_variables(dict(state["optimizer"]))
        self.baseline = state["baseline"]
        self.buffer = [(list(t), float(r), o) for t, r, o in state["buffer"]]
        self.proposed = {tuple(t): list(logps) for t, logps in state["proposed"]}
        self.num_updates = state["num_updates"]
