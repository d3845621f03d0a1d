"""Ship a discovered rule as a self-contained Python module: ``keras-nos export RUN_ID``.

The module defines one Keras 3 optimizer class and imports nothing but ``keras``
(no private ``keras.src`` name either). Its ``update_step`` is straight-line
``keras.ops`` code written by running the library's own semantics and primitives
(``dsl.semantics``, ``dsl.primitives``) on source text (``source_ops``), and its
helpers are the library's own functions copied in, so it trains exactly as
``RuleOptimizer(rule)`` does. Its docstring carries the formula and the search it
came from; its default learning rate is the search's best one. The class is
registered with Keras as ``keras_nos>{Name}`` with the same config keys as
``optimizer_class`` makes, so ``keras.models.load_model`` finds it once the module
is imported.
"""

from __future__ import annotations

import inspect
import pprint
import os
import re
from collections.abc import Mapping
from typing import Any, Optional, Union

from keras_nos.dsl import primitives, semantics
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.pretty import to_latex, to_unicode
from keras_nos.dsl.rule import Const, Node, Operand, Rule, Unary, apply_unary
from keras_nos.errors import KerasNosError
from keras_nos.optimizers import random_draws
from keras_nos.optimizers.dense_gradients import dense_gradient
from keras_nos.optimizers.named import CONSTRUCTOR_DEFAULTS, PACKAGE, check_class_name, snake_case
from keras_nos.source_ops import SOURCE_OPS, Source, literal

# Constructor arguments the optimizer keeps as attributes and in its config (all but the learning rate).
_HYPERPARAMETERS = tuple(key for key in CONSTRUCTOR_DEFAULTS if key != "learning_rate")


def _variable_name(operand):
    return re.sub(r"\W", "_", operand)


class _UpdateWriter:
    """Straight-line statements computing the rule with the library's primitives; equal subtrees are computed once."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[Node, Union[Source, float]] = {}
        self.operands: list[str] = []

    def operand(self, name: str) -> Source:
        if name not in self.operands:
            self.operands.append(name)
        return Source("variable" if name == "w" else _variable_name(name))

    def value(self, node: Node) -> Union[Source, float]:
        """A ``Source`` naming the node's value, or a Python number where ``RuleOptimizer`` has one too."""
        if node not in self.names:
            self.names[node] = self._compute(node)
        return self.names[node]

    def _compute(self, node: Node) -> Union[Source, float]:
        if isinstance(node, Operand):
            return self.operand(node.name)
        if isinstance(node, Const):
            return node.value
        if isinstance(node, Unary):
            result = apply_unary(node, SOURCE_OPS, self.value(node.arg), self.operand)
        elif node.fn == "left":
            return self.value(node.left)
        else:
            result = primitives.BINARY[node.fn](SOURCE_OPS, self.value(node.left), self.value(node.right))
        if not isinstance(result, Source):
            return result  # Python numbers fold, as they do in RuleOptimizer
        name = f"h{len(self.lines)}"
        self.lines.append(f"{name} = {result}")
        return Source(name)


def _average_lines(slot):
    """Update the slot's running average and read it bias-corrected, as ``semantics`` says."""
    average = semantics.AVERAGES[slot]
    beta = Source(f"self.{average.beta}")
    new = semantics.updated_average(SOURCE_OPS, slot, Source(f"{slot}_average"), Source("g"), beta)
    corrected = semantics.bias_corrected(Source(f"{slot}_new"), SOURCE_OPS.cast(beta, Source("dtype")), Source("t"))
    return [
        f"# {slot}: running average of {average.text} with {average.beta}, bias-corrected",
        f"{slot}_average = self._{slot}[index]",
        f"{slot}_new = {new}",
        f"self.assign({slot}_average, {slot}_new)",
        f"{slot} = {corrected}",
    ]


def _draw_line(name):
    """The random operand's draw, keyed by (seed, step, variable) as in ``RuleOptimizer._random_draw``."""
    stream = literal(semantics.random_stream(name, Source("index")))
    keys = f"tuple(variable.shape), self.seed, self.iterations, {stream}"
    draw = semantics.random_draw(
        name,
        lambda stddev: f"normal_draw({keys}, stddev={literal(stddev)}, dtype=variable.dtype)",
        lambda: f"uniform_draw({keys}, dtype=variable.dtype)",
    )
    return f"{name} = {draw}"


def _operand_lines(operands, slots):
    """Statements giving every operand the rule reads: averages, derived operands, draws, decays."""
    lines = [line for slot in slots for line in _average_lines(slot)]
    for name in operands:
        if name in semantics.DERIVED:
            value = semantics.DERIVED[name][0](SOURCE_OPS, Source, Source("self.epsilon"))
            lines.append(f"{name} = {value}")
    lines += [_draw_line(name) for name in semantics.RANDOM_OPERANDS if name in operands]
    decays = [name for name in operands if semantics.decay_periods(name)]
    if decays:
        lines.append("total = float(self.decay_steps)")
    for name in decays:
        value = semantics.decay_value(SOURCE_OPS, name, Source("t"), Source("total"))
        lines.append(f"{_variable_name(name)} = {value}")
    return lines


def update_step_source(rule: Union[str, Rule], indent: str = "        ") -> tuple[str, list[str]]:
    """The body of ``update_step`` for ``rule`` (slots, operands, then the rule, then the assignment) and the
    operands it reads."""
    rule = parse_rule(rule)
    writer = _UpdateWriter()
    result = writer.value(rule.root)
    operands = writer.operands
    slots = rule.slots()
    randomness = any(name in semantics.RANDOM_OPERANDS for name in operands)
    body = [
        "dtype = variable.dtype",
        "lr = ops.cast(learning_rate, dtype)",
        "g = ops.cast(dense_gradient(gradient), dtype)",
    ]
    if slots or randomness:
        body.append("index = self._get_variable_index(variable)")
    if slots or any(semantics.decay_periods(name) for name in operands):
        body.append("t = ops.cast(self.iterations, dtype)")
    body += _operand_lines(operands, slots)
    body.append(f"# the rule: {rule}")
    body += writer.lines
    body.append(f"update = {literal(result)}")
    body.append("self.assign_sub(variable, lr * ops.broadcast_to(ops.cast(update, dtype), ops.shape(variable)))")
    return "\n".join(indent + line for line in body), operands


def _helpers_source(randomness):
    """The library's own helpers the update step calls, copied in; the seed dtype comes from public Keras only."""
    sources = [inspect.getsource(dense_gradient)]
    if randomness:
        sources += [
            inspect.getsource(random_draws._mix32),
            inspect.getsource(random_draws.uniform_draw),
            inspect.getsource(random_draws.normal_draw),
        ]
    return "\n\n".join(source.rstrip() + "\n" for source in sources)


def _docstring_text(text):
    """Text that can stand in a raw triple-quoted docstring (rule text and LaTeX have no quotes; stay safe anyway)."""
    return text.replace('"""', "'''").rstrip("\\")


def _provenance_lines(rule, learning_rate, provenance, raw_rule):
    """Where the rule was found and how it scored, one sentence a line."""
    found = []
    if provenance.get("run_id"):
        found.append(f"Found by the keras_nos search run {provenance['run_id']}")
        details = [f"{key} {provenance[key]}" for key in ("task", "strategy", "space") if provenance.get(key)]
        if details:
            found[-1] += f" ({', '.join(details)})"
        found[-1] += "."
    scores = []
    if provenance.get("rank") is not None:
        scores.append(f"rank {provenance['rank']}")
    if provenance.get("reward") is not None:
        scores.append(f"reward {provenance['reward']:.4f}")
    if provenance.get("funnel_reward") is not None:
        scores.append(f"funnel reward {provenance['funnel_reward']:.4f}")
    if scores:
        found.append(f"Leaderboard: {', '.join(scores)}; best learning rate {learning_rate:g} (the default).")
    if raw_rule is not None and str(parse_rule(raw_rule)) != str(rule):
        found.append(f"The search wrote it as {parse_rule(raw_rule)}; this is the simplified form (same fingerprint).")
    if provenance.get("fingerprint"):
        found.append(f"Fingerprint: {provenance['fingerprint']}.")
    return found


def _operand_uses(operands, slots):
    """What each operand the rule reads means, for the class docstring."""
    uses = ["g (the gradient)"]
    uses += [f"{slot} (bias-corrected running average of {average.text}, {average.beta})"
             for slot, average in semantics.AVERAGES.items() if slot in slots]
    if "w" in operands:
        uses.append("w (the weights)")
    uses += [f"{name} = {semantics.DERIVED[name][0](SOURCE_OPS, Source, Source('epsilon'))}".replace("ops.", "")
             for name in semantics.DERIVED if name in operands]
    if "noise" in operands:
        uses.append(f"noise (N(0, {semantics.NOISE_STDDEV ** 2:g}) per entry and step, drawn from seed)")
    if "uniform" in operands:
        uses.append("drop (one U(0,1) draw per entry and step, from seed)")
    decays = [name for name in operands if semantics.decay_periods(name)]
    if decays:
        uses.append(f"{', '.join(decays)} (decays over decay_steps, which must be given)")
    return uses


def _docstrings(rule, class_name, learning_rate, summary, uses):
    """The module's docstring and the class's."""
    doc = f'''{class_name}: a Keras 3 optimizer found by Neural Optimizer Search (Bello et al., ICML 2017).

    w <- w - learning_rate * update,   update = {rule}

Unicode: {to_unicode(rule)}
LaTeX:   {to_latex(rule)}

{summary}

Generated by ``keras-nos export``; this module depends on Keras 3 only. The class
is registered as ``{PACKAGE}>{class_name}``: import this module before
``keras.models.load_model`` of a model saved with it.
'''
    class_doc = f'''Optimizer whose step is ``w <- w - learning_rate * ({rule})``.

    {to_unicode(rule)}

    {summary.replace(chr(10), chr(10) + "    ")}

    The rule reads: {"; ".join(uses)}.

    Args:
        learning_rate: float, schedule or callable; default {learning_rate:g}, the search's best.
        beta_1, beta_2, beta_3: decay rates of the running averages m, v, y.
        epsilon: added to sqrt(v) in adam and rmsprop.
        decay_steps: steps T of the decays ld, cd, rd.
        seed: seed of noise and drop draws, keyed by (seed, step, variable).
        **kwargs: Keras optimizer arguments (weight_decay, clipnorm, use_ema, name, ...).

    Example:
        >>> model.compile(optimizer={class_name}(), loss="mse")
    '''
    return _docstring_text(doc), _docstring_text(class_doc)


def _decay_check(class_name, operands):
    """The constructor's first lines: a rule with decays refuses to start without decay_steps."""
    decays = [name for name in operands if semantics.decay_periods(name)]
    if not decays:
        return ""
    return (
        "        if not decay_steps:\n"
        "            raise ValueError(\n"
        f"                \"{class_name} uses the decay operand(s) {', '.join(decays)}, which need decay_steps \"\n"
        "                f\"(a positive number of steps, usually the total training steps); got decay_steps={decay_steps!r}\"\n"
        "            )\n"
    )


def module_source(rule: Union[str, Rule], class_name: str, learning_rate: float = 0.01,
                  provenance: Optional[Mapping[str, Any]] = None, raw_rule: Optional[str] = None) -> str:
    """Source of a module defining optimizer class ``class_name`` for ``rule``, importing only keras.

    ``provenance`` is a dict shown in the docstrings and kept as ``SEARCH`` (run_id,
    task, strategy, rank, reward, funnel_reward, fingerprint, ...).
    """
    check_class_name(class_name)
    rule = parse_rule(rule)
    provenance = dict(provenance or {})
    update, operands = update_step_source(rule)
    slots = rule.slots()
    defaults = dict(CONSTRUCTOR_DEFAULTS, learning_rate=float(learning_rate))
    signature = ", ".join(f"{key}={value!r}" for key, value in defaults.items())
    summary = "\n".join(_provenance_lines(rule, learning_rate, provenance, raw_rule))
    doc, class_doc = _docstrings(rule, class_name, learning_rate, summary, _operand_uses(operands, slots))
    build_lines = "\n".join(f'        self._{slot} = self.add_optimizer_variables(var_list, "{slot}")' for slot in slots)
    attributes = "\n".join(f"        self.{key} = {key}" for key in _HYPERPARAMETERS)
    config = "\n".join(f'                "{key}": self.{key},' for key in _HYPERPARAMETERS)
    provenance_items = pprint.pformat({k: v for k, v in provenance.items() if v is not None}, width=116)
    source = f'''r"""{doc}"""

import keras
from keras import ops

__all__ = [{class_name!r}]

RULE = {str(rule)!r}
RAW_RULE = {str(parse_rule(raw_rule)) if raw_rule is not None else str(rule)!r}
SEARCH = {provenance_items}


{_helpers_source(any(name in semantics.RANDOM_OPERANDS for name in operands))}

@keras.saving.register_keras_serializable(package={PACKAGE!r})
class {class_name}(keras.optimizers.Optimizer):
    r"""{class_doc}"""

    rule = RULE

    def __init__(self, {signature}, name=None, **kwargs):
{_decay_check(class_name, operands)}        super().__init__(learning_rate=learning_rate, name=name or {snake_case(class_name)!r}, **kwargs)
{attributes}

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
{build_lines}

    def update_step(self, gradient, variable, learning_rate):
{update}

    def get_config(self):
        config = super().get_config()
        config.update(
            {{
{config}
            }}
        )
        return config
'''
    compile(source, f"<{class_name}>", "exec")  # a generator bug should fail here, not at the user's import
    return source


def export_search(run_id: str, rank: int = 1, name: Optional[str] = None, out: Optional[Union[str, os.PathLike]] = None,
                  tracking_uri: Optional[str] = None) -> tuple[Union[str, os.PathLike], dict[str, Any], str]:
    """Write the rule at ``rank`` of search ``run_id``'s leaderboard as a module; returns (path, row, class name).

    Raises ValueError for a bad class name, an unknown run id or a rank past the leaderboard.
    """
    from keras_nos import tracking
    from keras_nos.search.leaderboard import read_leaderboard
    from keras_nos.tracking import check_reachable, find_search_run as find_run

    name = check_class_name(name or f"NosRank{rank}")
    if not isinstance(rank, int) or rank < 1:
        raise KerasNosError(f"rank must be a whole number >= 1, got {rank!r}")
    uri = tracking_uri or tracking.default_tracking_uri()
    check_reachable(uri)
    parent = find_run(uri, run_id)
    rows = read_leaderboard(uri, run_id)
    if rank > len(rows):
        raise KerasNosError(f"Rank {rank} is past the leaderboard of run {run_id!r}, which has {len(rows)} row(s)"
                         + ("" if rows else "; is it a search's parent run?"))
    row = rows[rank - 1]
    params = parent.data.params
    provenance = {
        "run_id": run_id,
        "experiment_id": parent.info.experiment_id,
        "task": params.get("task"),
        "strategy": params.get("strategy"),
        "space": params.get("space"),
        "rank": rank,
        "reward": row["reward"],
        "funnel_reward": row.get("funnel_reward"),
        "best_learning_rate": row["best_learning_rate"],
        "fingerprint": row["fingerprint"],
        "tokens": row.get("tokens"),
    }
    learning_rate = row["best_learning_rate"] or CONSTRUCTOR_DEFAULTS["learning_rate"]
    source = module_source(row["rule"], name, learning_rate=learning_rate, provenance=provenance,
                           raw_rule=row.get("raw_rule") or row["rule"])
    path = out or f"{snake_case(name)}.py"
    try:
        with open(path, "w") as handle:
            handle.write(source)
    except OSError as error:
        raise KerasNosError(f"Cannot write {path!r}: {error.strerror or error}") from None
    return path, row, name


__all__ = ["export_search", "module_source", "update_step_source"]
