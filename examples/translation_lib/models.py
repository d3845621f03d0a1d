"""Build the model named by ``--arch`` from the resolved settings."""

from .gnmt import GNMT
from .transformer import Transformer

ARCHITECTURES = ("transformer", "gnmt")


def build_model(cfg, src_vocab_size, tgt_vocab_size):
    """A built (weights created) model for ``cfg.arch``."""
    import numpy as np

    if cfg.arch == "transformer":
        model = Transformer(src_vocab_size, tgt_vocab_size, max_len=cfg.max_len,
                            num_layers=cfg.layers, d_model=cfg.d_model, num_heads=cfg.heads,
                            ff_dim=cfg.ff_dim, dropout=cfg.dropout)
    elif cfg.arch == "gnmt":
        model = GNMT(src_vocab_size, tgt_vocab_size, num_layers=cfg.layers, units=cfg.units,
                     dropout=cfg.dropout)
    else:
        raise ValueError(f"unknown architecture {cfg.arch!r}; choose from {ARCHITECTURES}")
    dummy = np.ones((1, cfg.max_len), dtype="int32")
    model((dummy, dummy[:, :-1]))
    return model


def model_params(cfg):
    """The size settings that matter for ``cfg.arch`` (logged to MLflow)."""
    if cfg.arch == "transformer":
        keys = ("layers", "d_model", "heads", "ff_dim", "dropout")
    else:
        keys = ("layers", "units", "dropout")
    return {key: getattr(cfg, key) for key in keys}
