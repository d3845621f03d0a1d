"""``evolution``: regularized evolution (Real et al., 2019), as in Lion's search.

A population of the last ``population_size`` observed sequences. Each child is
a mutation of the best of ``tournament_size`` members drawn at random; every
observation joins the population and the oldest member leaves it (aging, not
the worst). Until ``population_size`` sequences have been proposed, proposals
are the ``seed_rules`` (known optimizers, in order) and then uniform samples.

Mutation resamples 1 to ``max_mutations`` random positions that have more than
one valid choice, each to a different valid token; later tokens that the
change made invalid (a result that is no longer read, say) are resampled too,
so a child is always valid.
"""


from keras_nos.dsl.tokens import GROUP_SIZE, rule_to_tokens
from keras_nos.errors import KerasNosError
from keras_nos.search.strategies.base import Strategy


def pad_tokens(tokens, num_groups):
    """Extend a token list to ``num_groups`` groups with groups that pass the last result through."""
    tokens = list(tokens)
    while len(tokens) < num_groups * GROUP_SIZE:
        last = f"h{len(tokens) // GROUP_SIZE - 1}"
        tokens += [last, last, "identity", "identity", "left"]
    return tokens


def seed_tokens(space, rules):
    """Token lists of ``rules`` (texts or Rules) that ``space`` can express, padded to its group count.

    A rule the space cannot express (an operand it lacks, too many groups, a
    padding group whose ``left`` binary or ``identity`` unary it lacks) is skipped.
    """
    expressed = []
    for rule in rules:
        try:
            tokens = rule_to_tokens(rule)
        except ValueError:
            continue
        if len(tokens) > space.sequence_length:
            continue
        tokens = pad_tokens(tokens, space.num_groups)
        if space.is_valid(tokens):
            expressed.append(tokens)
    return expressed


def mutate(space, parent, rng, max_mutations):
    """A valid child of ``parent`` that differs from it in 1 to ``max_mutations`` slots.

    Only slots with another valid choice can change, so the child always differs from its parent; later
    tokens that the change made invalid (a result that is no longer read, say) are resampled too.
    """
    child = list(parent)
    free = [p for p in range(space.sequence_length) if len(space.choices(p, child[:p])) > 1]
    count = min(int(rng.integers(1, max_mutations + 1)), len(free))
    positions = sorted(int(p) for p in rng.choice(free, size=count, replace=False))
    for position in positions:
        options = [t for t in space.choices(position, child[:position]) if t != child[position]]
        if options:
            child[position] = options[int(rng.integers(len(options)))]
    for position in range(space.sequence_length):
        options = space.choices(position, child[:position])
        if child[position] not in options:
            child[position] = options[int(rng.integers(len(options)))]
    return child


class EvolutionStrategy(Strategy):
    name = "evolution"
    defaults = {"population_size": 20, "tournament_size": 5, "max_mutations": 2, "seed_rules": ()}

    def __init__(self, space, seed=0, **options):
        super().__init__(space, seed, **options)
        if self.options["population_size"] < 1 or self.options["tournament_size"] < 1 or self.options["max_mutations"] < 1:
            raise KerasNosError(f"population_size, tournament_size and max_mutations must be at least 1; got {self.options}")
        self.options["seed_rules"] = [str(rule) for rule in self.options["seed_rules"] or ()]
        self.seeds = seed_tokens(space, self.options["seed_rules"])
        self.population = []  # [(tokens, reward)], oldest first
        self.num_proposed = 0

    def propose(self, n):
        proposals = []
        for _ in range(int(n)):
            size = self.options["population_size"]
            if self.num_proposed < len(self.seeds) and self.num_proposed < size:
                child = list(self.seeds[self.num_proposed])
            elif self.num_proposed < size or not self.population:
                child = self.space.sample(self.rng)
            else:
                child = self.mutate(self.tournament())
            self.num_proposed += 1
            proposals.append(child)
        return proposals

    def tournament(self):
        """Tokens of the best of ``tournament_size`` random members (the earliest drawn on ties)."""
        k = min(self.options["tournament_size"], len(self.population))
        drawn = self.rng.choice(len(self.population), size=k, replace=False)
        best = max(drawn, key=lambda i: self.population[i][1])
        return self.population[best][0]

    def mutate(self, parent):
        return mutate(self.space, parent, self.rng, self.options["max_mutations"])

    def observe(self, results):
        for tokens, reward in self._results(results):
            self.population.append((tokens, reward))
            if len(self.population) > self.options["population_size"]:
                self.population.pop(0)

    def state(self):
        return {
            **super().state(),
            "population": [(list(t), r) for t, r in self.population],
            "num_proposed": self.num_proposed,
        }

    def load_state(self, state):
        super().load_state(state)
        self.seeds = seed_tokens(self.space, self.options["seed_rules"])
        self.population = [(list(t), float(r)) for t, r in state["population"]]
        self.num_proposed = state["num_proposed"]
