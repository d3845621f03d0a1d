"""``rl``: the paper's search, an LSTM controller trained with PPO, made to learn within a few hundred rewards.

The paper's controller learned from about 10^4 sampled rules; a search here gets 100 to 500, and most of
them score 0. On top of the paper's PPO (measured in ``benchmarks/search_quality.py``, README):

* **Normalised advantages.** The rewards of an update are standardised; an update whose rewards are all
  equal (a batch of zeros) carries no information and is skipped instead of pushing down what was sampled.
* **Elite replay.** The ``elite_size`` best distinct rules observed join every update (as in priority-queue
  training), so a good early rule is not forgotten.
* **Half of each batch varies the best rules.** A share ``mutation_share`` of the proposals are mutations
  (evolution's operator, 1 to ``max_mutations`` slots) of elites drawn with the probability the policy gives
  them, as in the RNN-seeded genetic programming of Mundhenk et al. (NeurIPS 2021); the rest are the
  policy's own samples. The policy learns from all of them (their log-probability under the policy at
  proposal is the old one for PPO).
* **Shrinking the best rules first.** With ``shrink`` (on), that share first takes the untried *shrunk
  variants* of the elites, best elite first (``shrink.py``: each drops one part of a rule, a unary, a side of
  a binary, or all but one subexpression). A good rule is often a good core with a harmful extra, and a random
  mutation finds the one move that removes it about one try in a hundred. Over 40 held-out rosenbrock seeds
  it took rl's best@200 from 0.662 to 0.837, +0.175 (+0.065 .. +0.287) (``docs/results/search-strategies.md``).
* **Screened by the cheap hurdles.** A proposal that fails the search's hurdles (``check_hurdles`` on its
  learning-rate grid, as ``use_hurdles`` set them; milliseconds in NumPy) is drawn again, up to
  ``screen_tries`` times, so the budget goes on rules that train. The last draw is kept whatever it does,
  so the share that still fails falls as the policy learns. On the same 40 seeds it took best@200 from 0.837
  to 0.987, +0.150 (+0.078 .. +0.228); 3 tries gave 0.946 on 20 of them.
* **No repeats.** A proposal whose behaviour (fingerprint) was proposed before is mutated, up to
  ``novelty_tries`` times, until it is new.
* **Optional risk-seeking.** With ``risk_quantile`` q > 0 an update learns only from the rewards above its
  q-quantile (elites included), by how far they pass it, as Deep Symbolic Regression does; off by default
  (measured in ``docs/results/search-strategies.md``).
* **Optional pretraining on a cheap signal.** With ``pretrain_samples`` > 0 the controller first trains on
  that many of its own samples scored by ``hurdles.hurdle_score`` (the NumPy hurdles, milliseconds a rule,
  no task reward), which cuts the share of proposals that fail the hurdles.

An update comes every ``update_every`` results, whatever the search's batch size. It is up to
``ppo_epochs`` passes of the clipped PPO objective (``clip``) with Adam (``learning_rate``) and an entropy
bonus (``entropy_weight``), stopped early once the KL from the policy that sampled passes ``target_kl``.
A result whose sequence was not proposed (or was proposed before a restore that lost it) is scored under
the current policy as its old log-probability.
"""

import keras
import numpy as np

from keras_nos.dsl.fingerprint import fingerprint
from keras_nos.errors import KerasNosError
from keras_nos.search.strategies.base import Strategy
from keras_nos.search.strategies.evolution import mutate
from keras_nos.search.strategies.controller import Controller, ppo_loss
from keras_nos.search.strategies.shrink import shrunk_variants
from keras_nos.tasks.hurdles import DEFAULT_HURDLES, HURDLES, check_hurdles, hurdle_score
from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES

_NO_SIGNAL = 1e-8  # rewards whose standard deviation is below this carry no information


class RLStrategy(Strategy):
    name = "rl"
    defaults = {
        "units": 150,
        "num_layers": 1,
        "embedding_size": 150,
        "init_scale": 0.08,
        "learning_rate": 0.005,
        "ppo_epochs": 4,
        "clip": 0.2,
        "target_kl": 0.05,
        "entropy_weight": 0.0015,
        "update_every": 5,
        "elite_size": 10,
        "pretrain_samples": 0,
        "pretrain_batch": 100,
        "novelty_tries": 10,
        "max_mutations": 2,
        "mutation_share": 0.5,
        "risk_quantile": 0.0,
        "shrink": True,
        "screen_tries": 10,
    }

    def __init__(self, space, seed=0, **options):
        super().__init__(space, seed, **options)
        o = self.options
        if min(o["update_every"], o["ppo_epochs"], o["pretrain_batch"]) < 1:
            raise KerasNosError(f"update_every, ppo_epochs and pretrain_batch must be at least 1; got {o}")
        if min(o["elite_size"], o["pretrain_samples"], o["novelty_tries"], o["screen_tries"]) < 0:
            raise KerasNosError(
                f"elite_size, pretrain_samples, novelty_tries and screen_tries must be at least 0; got {o}")
        if not 0 <= o["risk_quantile"] < 1:
            raise KerasNosError(f"risk_quantile must be in [0, 1); got {o['risk_quantile']!r}")
        if not 0 <= o["mutation_share"] <= 1 or o["max_mutations"] < 1:
            raise KerasNosError(f"mutation_share must be in [0, 1] and max_mutations at least 1; got "
                             f"{o['mutation_share']!r} and {o['max_mutations']!r}")
        self._build()
        self.buffer = []  # [(tokens, reward, old log-probability or None)] not yet learned from
        self.proposed = {}  # tuple(tokens) -> [log-probability at proposal], oldest first
        self.elites = {}  # fingerprint -> (tokens, reward): the best distinct rules observed
        self.seen = set()  # fingerprints of every proposal
        self.pretrained = o["pretrain_samples"] == 0
        self.num_updates = 0
        self.screened_out = 0  # proposals drawn again because they failed the cheap hurdles
        self.hurdles = (DEFAULT_HURDLES, DEFAULT_LEARNING_RATES)  # what screens proposals; see use_hurdles
        self.last_update = {}  # the controller's diagnostics after its last update

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
            optimizer=keras.optimizers.Adam(learning_rate=float(o["learning_rate"])),
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

    def _evaluate(self, sequences):
        """(log-probabilities, entropies) of sequences under the current policy, NumPy arrays."""
        out = self.controller.predict_on_batch(self._inputs(sequences))
        out = np.asarray(keras.ops.convert_to_numpy(out)).astype(np.float64)
        return out[:, 0], out[:, 1]

    def log_prob(self, sequences):
        """Log-probabilities of token sequences under the current policy, a NumPy array."""
        sequences = [self.space.validate(tokens) for tokens in sequences]
        return self._evaluate(sequences)[0] if sequences else np.zeros(0)

    def _sample(self, n):
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

    def _children_of_elites(self, count):
        """``count`` mutations of elites, each parent drawn with the probability the policy gives it among them:
        the controller chooses which of the best rules so far to vary."""
        if count == 0:
            return []
        parents = [tokens for tokens, _ in self.elites.values()]
        preference = self._evaluate(parents)[0]
        weights = np.exp(preference - preference.max())
        drawn = self.rng.choice(len(parents), size=count, p=weights / weights.sum())
        return [mutate(self.space, parents[i], self.rng, self.options["max_mutations"]) for i in drawn]

    def _untried_shrunk_variants(self, count, taken):
        """Up to ``count`` shrunk variants of the elites (``shrink.py``), best elite first, whose behaviour is new."""
        chosen = []
        for tokens, _ in sorted(self.elites.values(), key=lambda item: -item[1]):
            for variant in shrunk_variants(self.space, tokens):
                if len(chosen) == count:
                    return chosen
                if self._fingerprint(variant) not in taken:
                    chosen.append(variant)
        return chosen

    def _children(self, count, taken):
        shrunk = self._untried_shrunk_variants(count, taken) if self.options["shrink"] else []
        return shrunk + self._children_of_elites(count - len(shrunk))

    def _fingerprint(self, tokens):
        return fingerprint(self.space.to_rule(tokens))

    def _novel(self, tokens, taken):
        """``tokens``, mutated up to ``novelty_tries`` times until its behaviour is not in ``taken``; and its key."""
        key = self._fingerprint(tokens)
        for _ in range(self.options["novelty_tries"]):
            if key not in taken:
                break
            tokens = mutate(self.space, tokens, self.rng, self.options["max_mutations"])
            key = self._fingerprint(tokens)
        return tokens, key

    def _fill(self, count, draw, taken):
        """``count`` novel proposals from ``draw(k)``; with ``screen_tries`` > 0, a proposal that fails the cheap
        hurdles is drawn again, up to that many times (the last draw is kept whatever it does)."""
        accepted = []
        for attempt in range(self.options["screen_tries"] + 1):
            if len(accepted) == count:
                break
            for tokens in draw(count - len(accepted)):
                tokens, key = self._novel(tokens, taken)
                taken.add(key)
                if attempt == self.options["screen_tries"] or _passes(self.space.to_rule(tokens), *self.hurdles):
                    accepted.append(tokens)
                else:
                    self.screened_out += 1
        return accepted

    def propose(self, n):
        n = int(n)
        if n <= 0:
            return []
        if not self.pretrained:
            self.pretrain()
        children = round(self.options["mutation_share"] * n) if self.elites else 0
        # self.seen gains every draw's behaviour, screened-out ones too: they are known to fail
        sequences = self._fill(n - children, lambda k: self._sample(k)[0], self.seen)
        sequences += self._fill(children, lambda k: self._children(k, self.seen), self.seen)
        log_probs = self._evaluate(sequences)[0]
        for tokens, log_prob in zip(sequences, log_probs):
            self.proposed.setdefault(tuple(tokens), []).append(float(log_prob))
        return sequences

    # -- learning ---------------------------------------------------------------------

    def pretrain(self):
        """Train on ``pretrain_samples`` samples scored by the cheap hurdles, on-policy: no elites, which would
        narrow the policy onto a few rules that pass the hurdles before any task reward is seen."""
        remaining = self.options["pretrain_samples"]
        while remaining > 0:
            sequences, log_probs = self._sample(min(self.options["pretrain_batch"], remaining))
            remaining -= len(sequences)
            scores = [_cheap_score(self.space.to_rule(tokens)) for tokens in sequences]
            self._update(list(zip(sequences, scores, log_probs)), {}, pretraining=True)
        self.pretrained = True

    def observe(self, results):
        for tokens, reward in self._results(results):
            self.space.validate(tokens)
            pending = self.proposed.get(tuple(tokens))
            old = pending.pop(0) if pending else None
            if pending is not None and not pending:
                del self.proposed[tuple(tokens)]
            self.buffer.append((tokens, reward, old))
            _remember(self.elites, self._fingerprint(tokens), tokens, reward, self.options["elite_size"])
        every = self.options["update_every"]
        while len(self.buffer) >= every:
            chunk, self.buffer = self.buffer[:every], self.buffer[every:]
            self._update(chunk, self.elites)

    def _update(self, chunk, elites, pretraining=False):
        """One PPO update on ``chunk`` (tokens, reward, old log-probability or None) and the elites."""
        in_chunk = {tuple(tokens) for tokens, _, _ in chunk}
        replayed = [(tokens, reward) for tokens, reward in elites.values() if tuple(tokens) not in in_chunk]
        sequences = [tokens for tokens, _, _ in chunk] + [tokens for tokens, _ in replayed]
        rewards = np.array([reward for _, reward, _ in chunk] + [reward for _, reward in replayed])
        current, entropy = self._evaluate(sequences)
        old = np.array([current[i] if o is None else o for i, (_, _, o) in enumerate(chunk)] + list(current[len(chunk):]))
        diagnostics = {"kl": 0.0, "epochs": 0, "entropy": float(entropy[:len(chunk)].mean()),
                       "pretraining": pretraining}
        if rewards.std() >= _NO_SIGNAL:
            advantages = _advantages(rewards, self.options["risk_quantile"])
            x, y = self._inputs(sequences), np.stack([old, advantages], axis=1).astype("float32")
            for epoch in range(1, self.options["ppo_epochs"] + 1):
                self.controller.train_on_batch(x, y)
                new, entropy = self._evaluate(sequences)
                log_ratio = new - old
                kl = float(np.mean(np.expm1(log_ratio) - log_ratio))  # k3 estimator of KL(old || new), >= 0
                diagnostics.update(kl=kl, epochs=epoch, entropy=float(entropy[:len(chunk)].mean()))
                if kl > self.options["target_kl"]:
                    break
        self.num_updates += not pretraining
        self.last_update = diagnostics

    def use_hurdles(self, names, learning_rates):
        unknown = [name for name in names if name not in HURDLES]
        if unknown:
            raise KerasNosError(f"Unknown hurdle {unknown[0]!r}; allowed: {', '.join(HURDLES)}")
        self.hurdles = (tuple(names), tuple(float(lr) for lr in learning_rates))

    def diagnostics(self):
        """The last update's entropy (nats, summed over slots), KL from the sampling policy and PPO epochs."""
        last = self.last_update
        if not last or last["pretraining"]:
            return {}
        return {"controller_entropy": last["entropy"], "controller_kl": last["kl"],
                "controller_epochs": float(last["epochs"]), "controller_updates": float(self.num_updates),
                "controller_screened_out": float(self.screened_out)}

    # -- resuming ---------------------------------------------------------------------

    def state(self):
        optimizer_store = {}
        if self.controller.optimizer.built:
            self.controller.optimizer.save_own_variables(optimizer_store)
        return {
            **super().state(),
            "weights": [np.array(w) for w in self.controller.get_weights()],
            "optimizer": {k: np.array(v) for k, v in optimizer_store.items()},
            "buffer": [(list(t), r, o) for t, r, o in self.buffer],
            "proposed": [(list(t), list(logps)) for t, logps in self.proposed.items()],
            "elites": [(key, list(t), r) for key, (t, r) in self.elites.items()],
            "seen": sorted(self.seen),
            "pretrained": self.pretrained,
            "num_updates": self.num_updates,
            "screened_out": self.screened_out,
        }

    def load_state(self, state):
        if not {"elites", "screened_out"} <= state.keys():
            raise KerasNosError("This rl checkpoint comes from an earlier keras_nos version (without elite replay or "
                                "screening); resume it with the version that started it, or start a new search")
        options = dict(self.options)
        super().load_state(state)
        if options != self.options or (self.controller.optimizer.built and not state["optimizer"]):
            self._build()
        self.controller.set_weights(state["weights"])
        if state["optimizer"]:
            optimizer = self.controller.optimizer
            optimizer.build(self.controller.trainable_variables)
            optimizer.load_own_variables(dict(state["optimizer"]))
        self.buffer = [(list(t), float(r), o) for t, r, o in state["buffer"]]
        self.proposed = {tuple(t): list(logps) for t, logps in state["proposed"]}
        self.elites = {key: (list(t), float(r)) for key, t, r in state["elites"]}
        self.seen = set(state["seen"])
        self.pretrained = state["pretrained"]
        self.num_updates = state["num_updates"]
        self.screened_out = state["screened_out"]


def _advantages(rewards, risk_quantile):
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


def _passes(rule, hurdles, learning_rates):
    """Whether ``rule`` clears ``hurdles`` on ``learning_rates`` (milliseconds); every rule does when there are none."""
    try:
        return not hurdles or check_hurdles(rule, learning_rates, hurdles) is None
    except Exception:  # noqa: BLE001 - a rule that cannot run fails (hurdle names are checked in use_hurdles)
        return False


def _cheap_score(rule):
    """``hurdle_score`` of a rule; 0 for one that cannot even run (a pretraining sample is never an error)."""
    try:
        return hurdle_score(rule, DEFAULT_LEARNING_RATES)
    except Exception:  # noqa: BLE001 - any failure of a sampled rule is simply a useless rule
        return 0.0


def _remember(elites, key, tokens, reward, size):
    """Keep ``elites`` the ``size`` best distinct rules with a positive reward (fingerprint -> (tokens, reward))."""
    if size == 0 or reward <= 0 or (key in elites and elites[key][1] >= reward):
        return
    elites[key] = (list(tokens), float(reward))
    if len(elites) > size:
        del elites[min(elites, key=lambda k: elites[k][1])]
