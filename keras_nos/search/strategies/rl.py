"""``rl``: the paper's search, an LSTM controller trained with PPO, made to learn within a few hundred rewards.

The paper's controller learned from about 10^4 sampled rules; a search here gets 100 to 500, and most of
them score 0. The strategy is made of parts, each measured in ``benchmarks/search_quality.py`` (README):

* **The policy** (``policy.py``): the controller and its PPO updates, with normalised advantages (an update
  whose rewards carry no information is skipped) and optional risk-seeking (``risk_quantile``).
* **Elite replay** (``pool.ElitePool``): the ``elite_size`` best distinct rules observed join every update
  (as in priority-queue training), so a good early rule is not forgotten.
* **Half of each batch varies the best rules** (``mixer.ProposalMixer``): a share ``mutation_share`` of the
  proposals are children of the elites, their untried shrunk variants first (``shrink``, on), then mutations
  of elites the policy prefers; the rest are the policy's own samples, and no behaviour is proposed twice.
  The policy learns from all of them (their log-probability under the policy at proposal is the old one for
  PPO). Shrinking took rl's best@200 over 40 held-out rosenbrock seeds from 0.662 to 0.837, +0.175
  (+0.065 .. +0.287) (``docs/results/search-strategies.md``).
* **Screened by the search's cheap hurdles** (the ``screen`` the search hands over): a proposal it refuses is
  drawn again, up to ``screen_tries`` times, so the budget goes on rules that train. On the same 40 seeds it
  took best@200 from 0.837 to 0.987, +0.150 (+0.078 .. +0.228); 3 tries gave 0.946 on 20 of them.
* **Optional pretraining on a cheap signal.** With ``pretrain_samples`` > 0 the controller first trains on
  that many of its own samples scored by the screen (``Screen.score``, milliseconds a rule, no task reward),
  which cuts the share of proposals that fail the hurdles.
* **Warm start** (``Strategy(warm_start=...)``). The warm-start rules are proposed first; before its first
  proposal the controller takes ``warm_start_steps`` likelihood steps on them (``ControllerPolicy.imitate``),
  and their behaviours count as proposed, so the mixer varies them rather than proposing them again. Once
  observed, those with a positive reward join the elites like any other result.

An update comes every ``update_every`` results, whatever the search's batch size. A result whose sequence was
not proposed (or was proposed before a restore that lost it) is scored under the current policy as its old
log-probability.
"""

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from keras_nos.errors import KerasNosError
from keras_nos.search.strategies.base import Strategy
from keras_nos.search.strategies.mixer import MixerOptions, ProposalMixer
from keras_nos.search.strategies.options import option
from keras_nos.search.strategies.policy import ControllerPolicy, PolicyOptions
from keras_nos.search.strategies.pool import ElitePool, behaviour

WARM_START_STEPS = 10  # docs/search.md, "Warm start": how far they raise the warm-start rules' likelihood


@dataclasses.dataclass(frozen=True, kw_only=True)
class RLOptions(PolicyOptions, MixerOptions):
    """The policy's options, the mixer's, and: ``update_every`` results a PPO update; ``elite_size`` rules
    replayed and varied; ``pretrain_samples`` cheaply scored samples to learn from first, ``pretrain_batch``
    an update; ``warm_start_steps`` likelihood steps on the warm-start rules before the first proposal."""

    update_every: int = option(5, least=1)
    elite_size: int = option(10, least=0)
    pretrain_samples: int = option(0, least=0)
    pretrain_batch: int = option(100, least=1)
    warm_start_steps: int = option(WARM_START_STEPS, least=0)


class RLStrategy(Strategy):
    name = "rl"
    options_class = RLOptions
    options: RLOptions

    def _start_fresh(self) -> None:
        """The parts, made from the options: the policy, the elite pool and the mixer over both."""
        if self.options.pretrain_samples and self.screen is None:
            raise KerasNosError("rl's pretrain_samples needs a screen to score its samples (a search hands one "
                                "over); set pretrain_samples=0 or pass screen=")
        self.policy = ControllerPolicy(self.space, self.rng, self.options, self.seed)
        self.elites = ElitePool(self.space, self.options.elite_size)
        self.mixer = ProposalMixer(self.space, self.rng, self.elites, self.options, screen=self.screen,
                                   sample=lambda k: self.policy.sample(k)[0],
                                   preference=lambda parents: self.policy.evaluate(parents)[0])
        self.buffer = []  # [(tokens, reward, old log-probability or None)] not yet learned from
        self.proposed = {}  # tuple(tokens) -> [log-probability at proposal], oldest first
        self.pretrained = self.options.pretrain_samples == 0 and not self.warm_start
        self.num_updates = 0
        self.last_update = {}  # the policy's diagnostics after its last update

    def log_prob(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        """Log-probabilities of token sequences under the current policy, a NumPy array."""
        sequences = [self.space.validate(tokens) for tokens in sequences]
        return self.policy.evaluate(sequences)[0] if sequences else np.zeros(0)

    def propose(self, n: int) -> list[list[str]]:
        if int(n) > 0 and not self.pretrained:
            self.pretrain()
        return super().propose(n)

    def _propose(self, n: int) -> list[list[str]]:
        sequences = self.mixer.propose(n)
        for tokens, log_prob in zip(sequences, self.policy.evaluate(sequences)[0]):
            self.proposed.setdefault(tuple(tokens), []).append(float(log_prob))
        return sequences

    def pretrain(self) -> None:
        """Train on ``pretrain_samples`` samples scored by the screen, on-policy: no elites, which would narrow
        the policy onto a few rules that pass the hurdles before any task reward is seen. Then take
        ``warm_start_steps`` likelihood steps on the warm-start rules, whose behaviours the mixer then knows."""
        remaining = self.options.pretrain_samples
        while remaining > 0:
            sequences, log_probs = self.policy.sample(min(self.options.pretrain_batch, remaining))
            remaining -= len(sequences)
            scores = [self.screen.score(self.space.to_rule(tokens)) for tokens in sequences]
            self._update(list(zip(sequences, scores, log_probs)), [], pretraining=True)
        if self.warm_start:
            self.policy.imitate(self.warm_start, self.options.warm_start_steps)
            self.mixer.seen.update(behaviour(self.space, tokens) for tokens in self.warm_start)
        self.pretrained = True

    def observe(self, results: Iterable[tuple[Sequence[str], float]]) -> None:
        for tokens, reward in self._results(results):
            self.space.validate(tokens)
            pending = self.proposed.get(tuple(tokens))
            old = pending.pop(0) if pending else None
            if pending is not None and not pending:
                del self.proposed[tuple(tokens)]
            self.buffer.append((tokens, reward, old))
            self.elites.offer(tokens, reward)
        every = self.options.update_every
        while len(self.buffer) >= every:
            chunk, self.buffer = self.buffer[:every], self.buffer[every:]
            self._update(chunk, self.elites.members())

    def _update(self, chunk, elites, pretraining=False):
        """One PPO update on ``chunk`` (tokens, reward, old log-probability or None) and the ``elites``
        (tokens, reward) it does not hold."""
        in_chunk = {tuple(tokens) for tokens, _, _ in chunk}
        replayed = [(tokens, reward) for tokens, reward in elites if tuple(tokens) not in in_chunk]
        sequences = [tokens for tokens, _, _ in chunk] + [tokens for tokens, _ in replayed]
        rewards = np.array([reward for _, reward, _ in chunk] + [reward for _, reward in replayed])
        old = [o for _, _, o in chunk] + [None] * len(replayed)
        self.last_update = dict(self.policy.update(sequences, rewards, old, len(chunk)), pretraining=pretraining)
        self.num_updates += not pretraining

    def diagnostics(self) -> dict[str, float]:
        """The last update's entropy (nats, summed over slots), KL from the sampling policy and PPO epochs."""
        last = self.last_update
        if not last or last["pretraining"]:
            return {}
        return {"controller_entropy": last["entropy"], "controller_kl": last["kl"],
                "controller_epochs": float(last["epochs"]), "controller_updates": float(self.num_updates),
                "controller_screened_out": float(self.mixer.screened_out)}

    # -- resuming ---------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "policy": self.policy.state(),
            "elites": self.elites.state(),
            "mixer": self.mixer.state(),
            "buffer": [(list(t), r, o) for t, r, o in self.buffer],
            "proposed": [(list(t), list(logps)) for t, logps in self.proposed.items()],
            "pretrained": self.pretrained,
            "num_updates": self.num_updates,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if not {"policy", "mixer"} <= state.keys():
            raise KerasNosError("This rl checkpoint comes from an earlier keras_nos version (before the strategy was "
                                "made of parts); resume it with the version that started it, or start a new search")
        super().load_state(state)
        self.policy.load_state(state["policy"])
        self.elites.load_state(state["elites"])
        self.mixer.load_state(state["mixer"])
        self.buffer = [(list(t), float(r), o) for t, r, o in state["buffer"]]
        self.proposed = {tuple(t): list(logps) for t, logps in state["proposed"]}
        self.pretrained = state["pretrained"]
        self.num_updates = state["num_updates"]
