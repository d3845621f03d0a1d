"""Ship a discovered rule as a self-contained Python module: ``keras-nos export RUN_ID``.

The module defines one Keras 3 optimizer class and imports nothing but
``keras`` (and ``math`` where a cosine decay needs pi): the rule is compiled
here to straight-line ``keras.ops`` code, with the language's primitives
written inline (exp capped at 80, log|x| floored at 1e-30, sqrt|x|, division by
y + 1e-8 signed like y, the odd power, clip, drop and noise with the draws of
``RuleOptimizer``), so it trains exactly as ``RuleOptimizer(rule)`` does. Its
docstring carries the formula and the search it came from; its default learning
rate is the search's best one. The class is registered with Keras as
``keras_nos>{Name}`` with the same config keys as ``optimizer_class`` makes, so
``keras.models.load_model`` finds it once the module is imported.
"""

import inspect
import math
import pprint
import re

from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Const, Operand, Unary, decay_periods
from keras_nos.dsl import primitives
from keras_nos.optimizers.dense_gradients import dense_gradient
from keras_nos.optimizers.named import CONSTRUCTOR_DEFAULTS, PACKAGE, check_class_name, snake_case
from keras_nos.optimizers.rule_optimizer import NOISE_STDDEV


def _literal(value):
    """Python source of a float; negative ones in parentheses so they can stand as operands."""
    value = float(value)
    if not math.isfinite(value):
        return f"float({str(value)!r})"
    text = repr(value)
    return f"({text})" if value < 0 or text.startswith("-") else text


def _is_python_scalar(node):
    """Whether ``evaluate_node`` gives a Python float for ``node`` (then the generator folds it)."""
    if isinstance(node, Const):
        return True
    if isinstance(node, Operand):
        return False
    if isinstance(node, Unary):
        return node.fn == "neg" and _is_python_scalar(node.arg)
    if node.fn == "left":
        return _is_python_scalar(node.left)
    return node.fn in ("add", "sub", "mul") and _is_python_scalar(node.left) and _is_python_scalar(node.right)


def _scalar_value(node):
    from keras_nos.dsl.rule import evaluate_node

    def no_operand(name):  # pragma: no cover - scalar subtrees have no operands
        raise AssertionError(name)

    return float(evaluate_node(node, None, no_operand))


class _UpdateWriter:
    """Straight-line ``keras.ops`` statements computing the rule; equal subtrees are computed once."""

    def __init__(self):
        self.lines = []
        self.names = {}
        self.operands = []

    def _new(self, expression):
        name = f"h{len(self.lines)}"
        self.lines.append(f"{name} = {expression}")
        return name

    def operand(self, name):
        if name not in self.operands:
            self.operands.append(name)
        return "variable" if name == "w" else _variable_name(name)

    def value(self, node):
        """A Python expression (a name or a literal) with the node's value."""
        if node in self.names:
            return self.names[node]
        if _is_python_scalar(node):
            return _literal(_scalar_value(node))
        if isinstance(node, Operand):
            return self.operand(node.name)
        if isinstance(node, Unary):
            name = self._new(self._unary(node))
        elif node.fn == "left":
            name = self.value(node.left)
        else:
            name = self._new(self._binary(node))
        self.names[node] = name
        return name

    def _unary(self, node):
        x = self.value(node.arg)
        if node.fn == "neg":
            return f"-{x}"
        if node.fn == "exp":
            return f"ops.exp(ops.minimum({x}, {_literal(primitives.EXP_MAX_ARGUMENT)}))"
        if node.fn == "log":
            return f"ops.log(ops.maximum(ops.abs({x}), {_literal(primitives.LOG_MIN_ABS)}))"
        if node.fn == "sqrt":
            return f"ops.sqrt(ops.abs({x}))"
        if node.fn == "sign":
            return f"ops.sign({x})"
        if node.fn == "clip":
            return f"ops.clip({x}, {_literal(-node.param)}, {_literal(node.param)})"
        if node.fn == "drop":
            uniform = self.operand("uniform")
            return f"ops.where({uniform} >= {_literal(node.param)}, {x} / {_literal(1.0 - node.param)}, 0.0 * {x})"
        raise ValueError(f"Cannot export the function {node.fn!r}")

    def _binary(self, node):
        a, b = self.value(node.left), self.value(node.right)
        if node.fn in ("add", "sub", "mul"):
            return f"{a} {dict(add='+', sub='-', mul='*')[node.fn]} {b}"
        if node.fn == "div":
            delta = _literal(primitives.DIVISION_DELTA)
            return f"{a} / ({b} + ops.where({b} >= 0, {delta}, {_literal(-primitives.DIVISION_DELTA)}))"
        if node.fn == "pow":
            if _is_python_scalar(node.right):
                if _scalar_value(node.right).is_integer():
                    return f"ops.power({a}, {b})"
                return f"ops.sign({a}) * ops.power(ops.abs({a}), {b})"
            return (f"ops.where(ops.equal({b}, ops.round({b})), ops.power({a}, {b}), "
                    f"ops.sign({a}) * ops.power(ops.abs({a}), {b}))")
        raise ValueError(f"Cannot export the operation {node.fn!r}")


def _variable_name(operand):
    return re.sub(r"\W", "_", operand)


_SLOT_TARGET = {"m": ("g", "beta_1"), "v": ("ops.square(g)", "beta_2"), "y": ("g * ops.square(g)", "beta_3")}
_SLOT_TEXT = {"m": "g", "v": "g^2", "y": "g^3"}


def update_step_source(rule, indent="        "):
    """The body of ``update_step`` for ``rule``: slots, operands, then the rule, then the assignment."""
    rule = parse_rule(rule)
    writer = _UpdateWriter()
    result = writer.value(rule.root)
    operands = writer.operands
    slots = rule.slots()
    randomness = any(name in ("noise", "uniform") for name in operands)
    decays = [name for name in operands if decay_periods(name)]
    body = [
        "dtype = variable.dtype",
        "lr = ops.cast(learning_rate, dtype)",
        "g = ops.cast(dense_gradient(gradient), dtype)",
    ]
    if slots or randomness:
        body.append("index = self._get_variable_index(variable)")
    if slots or decays:
        body.append("t = ops.cast(self.iterations, dtype)")
    for slot in slots:
        target, beta = _SLOT_TARGET[slot]
        body += [
            f"# {slot}: running average of {_SLOT_TEXT[slot]} with {beta}, bias-corrected",
            f"{slot}_average = self._{slot}[index]",
            f"{slot}_new = {slot}_average + ({target} - {slot}_average) * (1.0 - self.{beta})",
            f"self.assign({slot}_average, {slot}_new)",
            f"{slot} = {slot}_new / (1.0 - ops.power(ops.cast(self.{beta}, dtype), t + 1.0))",
        ]
    if "adam" in operands:
        body.append("adam = m / (ops.sqrt(v) + self.epsilon)")
    if "rmsprop" in operands:
        body.append("rmsprop = g / (ops.sqrt(v) + self.epsilon)")
    if "uniform" in operands:
        body.append("uniform = keras.random.uniform(ops.shape(variable), dtype=variable.dtype, "
                    "seed=_step_seed(self.seed, self.iterations, 2 * index))")
    if "noise" in operands:
        body.append(f"noise = keras.random.normal(ops.shape(variable), stddev={_literal(NOISE_STDDEV)}, "
                    "dtype=variable.dtype, seed=_step_seed(self.seed, self.iterations, 2 * index + 1))")
    if decays:
        body.append("total = float(self.decay_steps)")
    for name in decays:
        kind, periods = decay_periods(name)
        if kind == "ld":
            expression = "1.0 - ops.minimum(t, total) / total"
        elif kind == "cd":
            expression = f"0.5 * (1.0 + ops.cos(2.0 * math.pi * {_literal(periods)} * ops.minimum(t, total) / total))"
        else:
            expression = (f"0.5 * (1.0 + ops.cos(math.pi * ops.mod({_literal(periods)} * ops.minimum(t, total), "
                          "total) / total))")
        body.append(f"{_variable_name(name)} = {expression}")
    body.append(f"# the rule: {rule}")
    body += writer.lines
    body.append(f"update = {result}")
    body.append("self.assign_sub(variable, lr * ops.broadcast_to(ops.cast(update, dtype), ops.shape(variable)))")
    return "\n".join(indent + line for line in body), operands


_SEED_HELPERS = '''

def _seed_dtype():
    try:
        from keras.src.backend import random_seed_dtype

        return random_seed_dtype()
    except ImportError:  # pragma: no cover - older or newer Keras layouts
        return "int64" if keras.backend.backend() == "tensorflow" else "uint32"


class _FixedSeed(keras.random.SeedGenerator):
    """A seed source whose next seed is a given tensor; it holds no variable (works under jit on every backend)."""

    def __init__(self, seed_tensor):  # noqa: D107 - no state, so the base __init__ is skipped on purpose
        self._seed_tensor = seed_tensor

    def next(self, ordered=True):
        return self._seed_tensor


def _step_seed(seed, step, stream):
    """A seed unique to (seed, stream, step): draws differ every step and resume exactly after loading."""
    key = (int(seed) * 1000003 + int(stream)) % (2**31 - 1)
    pair = ops.stack([ops.convert_to_tensor(key, "int32"), ops.cast(step, "int32")])
    return _FixedSeed(ops.cast(pair, _seed_dtype()))
'''


def _docstring_text(text):
    """Text that can stand in a raw triple-quoted docstring (rule text and LaTeX have no quotes; stay safe anyway)."""
    return text.replace('"""', "'''").rstrip("\\")


def module_source(rule, class_name, learning_rate=0.01, provenance=None, raw_rule=None):
    """Source of a module defining optimizer class ``class_name`` for ``rule``, importing only keras.

    ``provenance`` is a dict shown in the docstrings and kept as ``SEARCH`` (run_id,
    task, strategy, rank, reward, funnel_reward, fingerprint, ...).
    """
    check_class_name(class_name)
    rule = parse_rule(rule)
    provenance = dict(provenance or {})
    update, operands = update_step_source(rule)
    slots = rule.slots()
    randomness = any(name in ("noise", "uniform") for name in operands)
    uses_pi = any(decay_periods(name) and decay_periods(name)[0] in ("cd", "rd") for name in operands)
    defaults = dict(CONSTRUCTOR_DEFAULTS, learning_rate=float(learning_rate))
    signature = ", ".join(f"{key}={value!r}" for key, value in defaults.items())

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
    uses = ["g (the gradient)"]
    uses += [f"{slot} (bias-corrected running average of {_SLOT_TEXT[slot]}, {beta})"
             for slot, (_, beta) in _SLOT_TARGET.items() if slot in slots]
    if "w" in operands:
        uses.append("w (the weights)")
    if "adam" in operands or "rmsprop" in operands:
        uses.append("adam = m/(sqrt(v) + epsilon)" if "adam" in operands else "rmsprop = g/(sqrt(v) + epsilon)")
    if "noise" in operands:
        uses.append("noise (N(0, 0.01) per entry and step, drawn from seed)")
    if "uniform" in operands:
        uses.append("drop (one U(0,1) draw per entry and step, from seed)")
    decays = [name for name in operands if decay_periods(name)]
    if decays:
        uses.append(f"{', '.join(decays)} (decays over decay_steps, which must be given)")
    summary = "\n".join(found)
    doc = f'''{class_name}: a Keras 3 optimizer found by Neural Optimizer Search (Bello et al., ICML 2017).

    w <- w - learning_rate * update,   update = {rule}

Unicode: {rule.to_unicode()}
LaTeX:   {rule.to_latex()}

{summary}

Generated by ``keras-nos export``; this module depends on Keras 3 only. The class
is registered as ``{PACKAGE}>{class_name}``: import this module before
``keras.models.load_model`` of a model saved with it.
'''
    class_doc = f'''Optimizer whose step is ``w <- w - learning_rate * ({rule})``.

    {rule.to_unicode()}

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
    imports = ["import math", ""] if uses_pi else []
    imports += ["import keras", "from keras import ops"]
    build_lines = "\n".join(f'        self._{slot} = self.add_optimizer_variables(var_list, "{slot}")' for slot in slots)
    decay_check = ""
    if decays:
        decay_check = (
            "        if not decay_steps:\n"
            "            raise ValueError(\n"
            f"                \"{class_name} uses the decay operand(s) {', '.join(decays)}, which need decay_steps \"\n"
            "                f\"(a positive number of steps, usually the total training steps); got decay_steps={decay_steps!r}\"\n"
            "            )\n"
        )
    provenance_items = pprint.pformat({k: v for k, v in provenance.items() if v is not None}, width=116)
    source = f'''r"""{_docstring_text(doc)}"""

{chr(10).join(imports)}

__all__ = [{class_name!r}]

RULE = {str(rule)!r}
RAW_RULE = {str(parse_rule(raw_rule)) if raw_rule is not None else str(rule)!r}
SEARCH = {provenance_items}


{inspect.getsource(dense_gradient).rstrip()}
{_SEED_HELPERS if randomness else ""}

@keras.saving.register_keras_serializable(package={PACKAGE!r})
class {class_name}(keras.optimizers.Optimizer):
    r"""{_docstring_text(class_doc)}"""

    rule = RULE

    def __init__(self, {signature}, name=None, **kwargs):
{decay_check}        super().__init__(learning_rate=learning_rate, name=name or {snake_case(class_name)!r}, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.beta_3 = beta_3
        self.epsilon = epsilon
        self.decay_steps = decay_steps
        self.seed = seed

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
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "beta_3": self.beta_3,
                "epsilon": self.epsilon,
                "decay_steps": self.decay_steps,
                "seed": self.seed,
            }}
        )
        return config
'''
    compile(source, f"<{class_name}>", "exec")  # a generator bug should fail here, not at the user's import
    return source


def export_search(run_id, rank=1, name=None, out=None, tracking_uri=None):
    """Write the rule at ``rank`` of search ``run_id``'s leaderboard as a module; returns (path, row, class name).

    Raises ValueError for a bad class name, an unknown run id or a rank past the leaderboard.
    """
    from keras_nos import tracking
    from keras_nos.search.leaderboard import read_leaderboard
    from keras_nos.tracking import check_reachable, find_search_run as find_run

    name = check_class_name(name or f"NosRank{rank}")
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a whole number >= 1, got {rank!r}")
    uri = tracking_uri or tracking.default_tracking_uri()
    check_reachable(uri)
    parent = find_run(uri, run_id)
    rows = read_leaderboard(uri, run_id)
    if rank > len(rows):
        raise ValueError(f"Rank {rank} is past the leaderboard of run {run_id!r}, which has {len(rows)} row(s)"
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
        raise ValueError(f"Cannot write {path!r}: {error.strerror or error}") from None
    return path, row, name


__all__ = ["export_search", "module_source", "update_step_source"]
