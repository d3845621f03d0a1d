"""Parsing ``--optimizers`` and ``--lr`` (plain Python, no TensorFlow).

``--optimizers`` is a comma-separated list; commas inside parentheses belong
to rule text (``"clip(g, 1)*sign(m)"``) and do not split. ``--lr`` is one value
for all, one value per optimizer in order, or ``name=value`` pairs; an
optimizer without a value gets its default from ``DEFAULT_LR``.
"""

# Defaults from a coarse sweep on the built-in corpus (Transformer smoke size,
# batch 64, 100 warm-up steps, gradients clipped to global norm 1). PowerSign,
# AddSign and rule texts scale the raw gradient (no per-parameter
# normalisation), so like SGD they take far larger learning rates than Adam.
# Without clipping they diverge on the Transformer already around 0.5-0.8.
DEFAULT_LR = {"adam": 1e-3, "rmsprop": 1e-3, "lion": 1e-4, "sgd": 0.3, "momentum": 0.05}
DEFAULT_PREFIX_LR = {"powersign": 0.5, "addsign": 0.5}
DEFAULT_RULE_LR = 0.3


def split_top_level(text, sep=","):
    """Split on ``sep`` outside parentheses/brackets; strip and drop empty parts."""
    parts, depth, current = [], 0, []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def default_lr(spec):
    name = spec.strip().lower()
    if name in DEFAULT_LR:
        return DEFAULT_LR[name]
    for prefix, rate in DEFAULT_PREFIX_LR.items():
        if name.startswith(prefix):
            return rate
    return DEFAULT_RULE_LR


def _number(text, flag="--lr"):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a number") from None
    if not value > 0:
        raise ValueError(f"{flag}: learning rate must be positive, got {text}")
    return value


def parse_optimizers(text):
    specs = split_top_level(text)
    if not specs:
        raise ValueError("--optimizers: give at least one optimizer name or rule")
    if len(set(specs)) != len(specs):
        raise ValueError(f"--optimizers: {text!r} names an optimizer twice")
    return specs


def parse_learning_rates(text, specs):
    """{spec: learning rate} for every spec."""
    rates = {spec: default_lr(spec) for spec in specs}
    if not text:
        return rates
    parts = split_top_level(text)
    if all("=" in part for part in parts):
        for part in parts:
            name, value = (piece.strip() for piece in part.rsplit("=", 1))
            if name not in rates:
                raise ValueError(f"--lr: {name!r} is not one of --optimizers {specs}")
            rates[name] = _number(value)
    elif any("=" in part for part in parts):
        raise ValueError("--lr: use either plain values or name=value pairs, not both")
    elif len(parts) == 1:
        rates = {spec: _number(parts[0]) for spec in specs}
    elif len(parts) == len(specs):
        rates = {spec: _number(part) for spec, part in zip(specs, parts)}
    else:
        raise ValueError(f"--lr: {len(parts)} values for {len(specs)} optimizers; "
                         "give one value, one per optimizer, or name=value pairs")
    return rates
