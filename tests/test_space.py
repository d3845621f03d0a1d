import itertools
import pickle

import numpy as np
import pytest

from keras_nos.dsl.rule import Rule
from keras_nos.dsl.tokens import BINARY_TOKENS, DECAY_OPERAND_TOKENS, OPERAND_TOKENS, UNARY_TOKENS, tokens_to_rule
from keras_nos.search.space import SPACES, SearchSpace


def dead_groups(tokens):
    """Groups (all but the last) whose result no later group reads through a live operand slot."""
    groups = [tokens[i:i + 5] for i in range(0, len(tokens), 5)]
    read = set()
    for op1, op2, _, _, binary in groups:
        read.add(op1)
        if binary != "left":
            read.add(op2)
    return [k for k in range(len(groups) - 1) if f"h{k}" not in read]


@pytest.mark.parametrize("name", sorted(SPACES))
def test_samples_are_always_valid(name):
    space = SearchSpace.preset(name)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        tokens = space.sample(rng)
        assert len(tokens) == space.sequence_length
        assert space.validate(tokens) == tokens
        assert isinstance(tokens_to_rule(tokens), Rule)
        assert not dead_groups(tokens)


@pytest.mark.parametrize("num_groups", [1, 3, 4])
def test_samples_valid_for_every_group_count(num_groups):
    for name in ("paper", "small"):
        space = SearchSpace.preset(name, num_groups=num_groups)
        rng = np.random.default_rng(num_groups)
        for _ in range(300):
            tokens = space.sample(rng)
            space.validate(tokens)
            tokens_to_rule(tokens)
            assert not dead_groups(tokens)


def test_sampling_reaches_every_token_of_every_slot():
    space = SearchSpace.preset("small", num_groups=3)
    rng = np.random.default_rng(1)
    seen = [set() for _ in range(space.sequence_length)]
    for _ in range(3000):
        for position, token in enumerate(space.sample(rng)):
            seen[position].add(token)
    for position in range(space.sequence_length):
        assert seen[position] == set(space.choices(position))


@pytest.mark.parametrize("num_groups", [2, 3])
def test_masking_allows_exactly_the_sequences_without_dead_groups(num_groups):
    """Exhaustively: following choices() gives every live sequence, and nothing else, and never a dead end."""
    space = SearchSpace(["g", "m"], ["identity"], ["add", "left"], num_groups=num_groups)
    reached = set()

    def walk(prefix):
        if len(prefix) == space.sequence_length:
            reached.add(tuple(prefix))
            return
        options = space.choices(len(prefix), prefix)
        assert options, f"dead end after {prefix}"
        for token in options:
            walk(prefix + [token])

    walk([])
    everything = set()
    for tokens in itertools.product(*(space.choices(p) for p in range(space.sequence_length))):
        if not dead_groups(list(tokens)):
            everything.add(tokens)
    assert reached == everything
    for tokens in everything:
        assert space.is_valid(list(tokens))


def test_choices_of_operand_slots():
    space = SearchSpace.preset("small", num_groups=3)
    operands = list(SPACES["small"]["operands"])
    assert space.choices(0) == operands
    assert space.choices(0, []) == operands
    assert space.choices(5) == operands + ["h0"]
    assert space.choices(10) == operands + ["h0", "h1"]
    assert space.choices(2) == list(SPACES["small"]["unaries"])
    assert space.choices(4) == list(SPACES["small"]["binaries"])


def test_last_group_must_read_the_previous_result():
    space = SearchSpace.preset("paper")
    first = ["g", "m", "identity", "identity", "add"]
    assert "h0" in space.choices(5, first)
    assert space.choices(6, first + ["g"]) == ["h0"]
    assert "g" in space.choices(6, first + ["h0"])
    # h0 read only by operand 2: 'left' would drop it.
    assert "left" not in space.choices(9, first + ["g", "h0", "identity", "identity"])
    assert "left" in space.choices(9, first + ["h0", "g", "identity", "identity"])


def test_three_groups_must_read_both_earlier_results():
    space = SearchSpace.preset("small", num_groups=3)
    group = ["g", "m", "identity", "identity", "add"]
    # Group 1 ignores h0: group 2 has to read h0 and h1.
    prefix = group + group
    assert space.choices(10, prefix) == ["h0", "h1"]
    assert space.choices(11, prefix + ["h0"]) == ["h1"]
    assert space.choices(11, prefix + ["h1"]) == ["h0"]


def test_mask_matches_choices():
    space = SearchSpace.preset("small")
    prefix = ["g", "m", "identity", "identity", "add", "m"]
    mask = space.mask(6, prefix)
    assert [space.vocabulary[i] for i in np.flatnonzero(mask)] == space.choices(6, prefix) == ["h0"]


def test_presets():
    assert set(SPACES) >= {"paper", "paper-decay", "small"}
    paper = SearchSpace.preset("paper")
    assert paper.num_groups == 2 and paper.sequence_length == 10
    assert paper.operands == OPERAND_TOKENS and paper.unaries == UNARY_TOKENS and paper.binaries == BINARY_TOKENS
    assert not paper.uses_decay
    decay = SearchSpace.preset("paper-decay", num_groups=3)
    assert decay.uses_decay and set(DECAY_OPERAND_TOKENS) <= set(decay.operands)
    assert decay.sequence_length == 15
    assert paper.vocabulary == list(OPERAND_TOKENS) + ["h0"] + list(UNARY_TOKENS) + list(BINARY_TOKENS)
    assert len(set(decay.vocabulary)) == len(decay.vocabulary)
    assert {"h0", "h1"} <= set(decay.vocabulary) and "h2" not in decay.vocabulary
    assert "h0" not in SearchSpace.preset("small", num_groups=1).vocabulary
    four = SearchSpace.preset("small", num_groups=4).vocabulary
    assert "h2" in four and "h3" not in four


def test_bad_inputs():
    with pytest.raises(ValueError, match="nope.*paper"):
        SearchSpace.preset("nope")
    for bad in (0, 5, 2.5, True, "2"):
        with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
            SearchSpace.preset("small", num_groups=bad)
    with pytest.raises(ValueError, match="'q'"):
        SearchSpace(["g", "q"], ["identity"], ["add"])
    with pytest.raises(ValueError, match="'add'"):
        SearchSpace(["g"], ["add"], ["add"])
    with pytest.raises(ValueError):
        SearchSpace([], ["identity"], ["add"])
    with pytest.raises(ValueError):
        SearchSpace(["g", "g"], ["identity"], ["add"])
    space = SearchSpace.preset("small")
    with pytest.raises(ValueError, match="position"):
        space.choices(10)
    with pytest.raises(ValueError):
        space.choices(3, ["g"])


def test_validate_and_to_rule():
    space = SearchSpace.preset("small")
    tokens = ["sign(g)", "sign(m)", "identity", "identity", "mul", "h0", "g", "exp", "identity", "mul"]
    assert str(space.to_rule(tokens)) == str(tokens_to_rule(tokens)) == "exp(sign(g)*sign(m))*g"
    with pytest.raises(ValueError, match="10 tokens"):
        space.validate(tokens[:5])
    with pytest.raises(ValueError, match="'v'.*position 0"):
        space.validate(["v"] + tokens[1:])
    dead = tokens[:5] + ["g", "m", "exp", "identity", "mul"]
    with pytest.raises(ValueError, match="position 6"):
        space.validate(dead)
    assert not space.is_valid(dead)
    with pytest.raises(ValueError):
        space.to_rule(dead)


def test_describe_and_pickle():
    space = SearchSpace.preset("paper-decay", num_groups=3)
    described = space.describe()
    assert described["space"] == "paper-decay" and described["space_num_groups"] == 3
    assert described["space_uses_decay"] is True
    assert all(isinstance(v, (str, int, bool)) for v in described.values())
    copy = pickle.loads(pickle.dumps(space))
    assert copy == space and copy.vocabulary == space.vocabulary
    assert copy.choices(5, ["g", "m", "identity", "identity", "add"]) == space.choices(5, ["g", "m", "identity", "identity", "add"])
    assert "paper-decay" in repr(space)
