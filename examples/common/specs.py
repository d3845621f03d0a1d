"""Parsing ``--optimizers`` and ``--lr`` (plain Python, no TensorFlow).

``--optimizers`` is a comma-separated list; commas inside parentheses belong
to rule text (``"clip(g, 1)*sign(m)"``) and do not split. ``--lr`` is one value
for all, one value per optimizer in order, or ``name=value`` pairs; an
optimizer without a value gets ``default_lr(spec)``.
"""


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


def lr_lookup(table, prefix_table=None, fallback=0.1):
    """A ``default_lr(spec)``: exact names in ``table``, then name prefixes, else ``fallback``."""
    def default_lr(spec):
        name = spec.strip().lower()
        if name in table:
            return table[name]
        for prefix, rate in (prefix_table or {}).items():
            if name.startswith(prefix):
                return rate
        return fallback

    return default_lr


def positive_number(text, flag="--lr"):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a number") from None
    if not value > 0:
        raise ValueError(f"{flag}: learning rate must be positive, got {text}")
    return value


def parse_optimizers(text, flag="--optimizers"):
    specs = split_top_level(text)
    if not specs:
        raise ValueError(f"{flag}: give at least one optimizer name or rule")
    if len(set(specs)) != len(specs):
        raise ValueError(f"{flag}: {text!r} names an optimizer twice")
    return specs


def parse_learning_rates(text, specs, default_lr, flag="--lr"):
    """{spec: learning rate} for every spec."""
    rates = {spec: default_lr(spec) for spec in specs}
    if not text:
        return rates
    parts = split_top_level(text)
    if all("=" in part for part in parts):
        for part in parts:
            name, value = (piece.strip() for piece in part.rsplit("=", 1))
            if name not in rates:
                raise ValueError(f"{flag}: {name!r} is not one of --optimizers {specs}")
            rates[name] = positive_number(value, flag)
    elif any("=" in part for part in parts):
        raise ValueError(f"{flag}: use either plain values or name=value pairs, not both")
    elif len(parts) == 1:
        rates = {spec: positive_number(parts[0], flag) for spec in specs}
    elif len(parts) == len(specs):
        rates = {spec: positive_number(part, flag) for spec, part in zip(specs, parts)}
    else:
        raise ValueError(f"{flag}: {len(parts)} values for {len(specs)} optimizers; "
                         "give one value, one per optimizer, or name=value pairs")
    return rates
