"""How rl proposes: shrunk variants of its best rules (``strategies/shrink.py``), screened by the hurdles."""

import numpy as np
import pytest

from keras_nos.dsl.tokens import rule_to_tokens
from keras_nos.search.screen import HurdleScreen
from keras_nos.search.space import SearchSpace
from keras_nos.search.strategies import make_strategy
from keras_nos.search.strategies.moves import pad_tokens
from keras_nos.search.strategies.shrink import shrunk_variants

PAPER = SearchSpace.preset("paper")
# drop(adam, 0.1) + -(clip(noise, 1e-3) - clip(0.1*w, 1e-4)): a good core with a harmful extra
SCREEN = HurdleScreen()  # the search's default hurdles and learning rates, as a search hands them over
TOKENS = ["noise", "1e-1*w", "clip(1e-3)", "clip(1e-4)", "sub", "adam", "h0", "drop(0.1)", "neg", "add"]


def make(name, space, seed, screen=SCREEN, **options):
    return make_strategy(name, space, seed, screen=screen, **options)


def texts(space, variants):
    return {str(space.to_rule(tokens)) for tokens in variants}


def test_each_variant_drops_one_part_and_is_valid():
    variants = shrunk_variants(PAPER, TOKENS)
    assert all(PAPER.is_valid(v) for v in variants)
    assert TOKENS not in variants and len({tuple(v) for v in variants}) == len(variants)
    found = texts(PAPER, variants)
    assert "adam + -(clip(noise, 1e-3) - clip(0.1*w, 1e-4))" in found  # a unary becomes identity
    assert "drop(adam, 0.1) + -clip(noise, 1e-3)" in found  # an inner binary keeps its left side
    assert "drop(adam, 0.1)" in found  # one side of the last group becomes the rule
    assert "clip(noise, 1e-3) - clip(0.1*w, 1e-4)" in found  # the first group becomes the rule
    assert len(found) == len(variants) == 11


def test_a_space_without_left_only_drops_unaries():
    small = SearchSpace.preset("small")  # has identity, has no left
    tokens = ["g", "m", "exp", "sign", "add", "h0", "1", "neg", "identity", "mul"]
    variants = shrunk_variants(small, tokens)
    assert texts(small, variants) == {"-(g + sign(m))*1", "-(exp(g) + m)*1", "(exp(g) + sign(m))*1"}
    assert all(small.is_valid(v) for v in variants)
    one_group = SearchSpace(("g", "m"), ("sign", "exp"), ("add", "mul"), num_groups=1)
    assert shrunk_variants(one_group, ["g", "m", "sign", "exp", "add"]) == []  # nothing it can drop


def test_a_bare_operand_has_no_variants():
    assert shrunk_variants(PAPER, pad_tokens(rule_to_tokens("adam"), 2)) == []


def test_rl_tries_the_shrunk_variants_of_its_best_rule_before_random_mutations():
    strategy = make("rl", PAPER, 0, mutation_share=0.5, screen_tries=0)  # shrinking alone
    strategy.observe([(TOKENS, 0.8)])
    proposals = strategy.propose(10)
    variants = texts(PAPER, shrunk_variants(PAPER, TOKENS))
    assert texts(PAPER, proposals[5:]) <= variants  # the five children are all shrunk variants
    strategy.observe([(tokens, 0.0) for tokens in proposals])
    later = texts(PAPER, strategy.propose(10)[5:])
    assert later & variants and not later & texts(PAPER, proposals[5:])  # the untried ones next, no repeats

    without = make("rl", PAPER, 0, mutation_share=0.5, shrink=False, screen_tries=0)
    without.observe([(TOKENS, 0.8)])
    assert len(texts(PAPER, without.propose(10)[5:]) & variants) < 3


def test_rl_screens_out_proposals_that_fail_the_cheap_hurdles():
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
    from keras_nos.tasks.hurdles import check_hurdles

    def failing(proposals):
        return np.mean([check_hurdles(PAPER.to_rule(t), DEFAULT_LEARNING_RATES) is not None for t in proposals])

    plain = make("rl", PAPER, 0, screen_tries=0)
    screened = make("rl", PAPER, 0, screen_tries=10)
    unscreened_fails, screened_fails = failing(plain.propose(20)), failing(screened.propose(20))
    print("failing fraction: unscreened", unscreened_fails, "screened", screened_fails)
    assert unscreened_fails > 0.6 and screened_fails < 0.4
    assert plain.mixer.screened_out == 0 and screened.mixer.screened_out > 20
    restored = make("rl", PAPER, 1, screen_tries=10)
    restored.load_state(screened.state())
    assert restored.mixer.screened_out == screened.mixer.screened_out and restored.mixer.seen == screened.mixer.seen


def test_rl_screens_with_the_hurdles_the_search_runs():
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES

    unscreened = make("rl", PAPER, 0, screen=HurdleScreen((), DEFAULT_LEARNING_RATES), screen_tries=10)
    unscreened.propose(20)  # a search without hurdles: nothing to screen by
    assert unscreened.mixer.screened_out == 0
    without_screen = make("rl", PAPER, 0, screen=None, screen_tries=10)
    without_screen.propose(20)
    assert without_screen.mixer.screened_out == 0
    only_quadratic = make("rl", PAPER, 0, screen=HurdleScreen(("quadratic",), DEFAULT_LEARNING_RATES), screen_tries=10)
    only_quadratic.propose(20)
    assert only_quadratic.mixer.screened_out > 0
    with pytest.raises(ValueError, match="'quadratik'.*quadratic"):
        HurdleScreen(("quadratik",), DEFAULT_LEARNING_RATES)
