"""Where the sentence pairs come from: built-in grammar, plain files, WMT 2014.

``check_source`` runs before TensorFlow is imported and raises ``DataError``
(one line, naming what was tried) when a data set is not there, so a missing
data set never costs a TensorFlow start-up or prints a traceback. Nothing is
downloaded unless ``--download`` is given for WMT 2014.
"""

import importlib.util
import os
import random
from dataclasses import dataclass
from pathlib import Path

WMT14 = "wmt14_translate/de-en"
SOURCES = ("builtin", "files", "wmt14")


class DataError(Exception):
    """A data set that is missing or unusable; the message is one line."""


@dataclass
class Corpus:
    """Pairs (source, target). ``train`` is a tf.data.Dataset of string pairs."""

    name: str
    train: object
    train_size: int
    val: list
    test: list


def tfds_data_dir(data_dir=None):
    return str(Path(data_dir or os.environ.get("TFDS_DATA_DIR")
                    or Path.home() / "tensorflow_datasets").expanduser())


def check_source(cfg):
    """Raise DataError if the chosen data set cannot be read (no TensorFlow needed)."""
    if cfg.data == "files":
        for flag, path in (("--src", cfg.src), ("--tgt", cfg.tgt),
                           ("--test-src", cfg.test_src), ("--test-tgt", cfg.test_tgt)):
            if path is not None and not Path(path).is_file():
                raise DataError(f"data set not found: tried {flag} {path} (no such file)")
    elif cfg.data == "wmt14":
        where = f"{WMT14} in {tfds_data_dir(cfg.data_dir)}"
        if importlib.util.find_spec("tensorflow_datasets") is None:
            raise DataError(f"data set not found: tried WMT 2014 en-de ({where}) but "
                            "tensorflow-datasets is not installed; install it, or use "
                            "--src FILE --tgt FILE, or --smoke for the built-in corpus")
        prepared = list(Path(tfds_data_dir(cfg.data_dir), WMT14).glob("*/dataset_info.json"))
        if not prepared and not cfg.download:
            raise DataError(f"data set not found: tried {where} (not prepared; "
                            "pass --download to let tensorflow-datasets fetch it)")


def _read_lines(path):
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


def _read_pairs(src_path, tgt_path):
    src, tgt = _read_lines(src_path), _read_lines(tgt_path)
    if len(src) != len(tgt):
        raise DataError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; "
                        "the files must be aligned line by line")
    pairs = [(s.strip(), t.strip()) for s, t in zip(src, tgt) if s.strip() and t.strip()]
    if not pairs:
        raise DataError(f"no sentence pairs in {src_path} / {tgt_path}")
    return pairs


def _from_lists(name, train, val, test):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant([s for s, _ in train]), tf.constant([t for _, t in train])))
    return Corpus(name, dataset, len(train), val, test)


def _load_files(cfg):
    pairs = _read_pairs(cfg.src, cfg.tgt)
    random.Random(0).shuffle(pairs)
    if cfg.test_src:
        test = _read_pairs(cfg.test_src, cfg.test_tgt)[: cfg.test_size or None]
        held = cfg.val_size
    else:
        held = cfg.val_size + cfg.test_size
        test = pairs[cfg.val_size:held]
    if len(pairs) <= held:
        raise DataError(f"{cfg.src} has {len(pairs)} pairs, too few to hold out {held} "
                        "for validation/test (lower --val-size/--test-size)")
    val, train = pairs[: cfg.val_size], pairs[held:]
    if cfg.train_size:
        train = train[: cfg.train_size]
    return _from_lists(f"files:{Path(cfg.src).name}", train, val, test)


def _load_wmt14(cfg):
    import tensorflow_datasets as tfds

    data_dir = tfds_data_dir(cfg.data_dir)
    try:
        builder = tfds.builder(WMT14, data_dir=data_dir)
        if cfg.download:
            builder.download_and_prepare()
    except Exception as error:  # tfds raises many kinds; report one line
        raise DataError(f"data set not usable: tried {WMT14} in {data_dir}: "
                        f"{type(error).__name__}: {str(error).splitlines()[0]}") from None

    def en_de(example):
        return example["en"], example["de"]

    train = builder.as_dataset(split="train", shuffle_files=True).map(en_de)
    train_size = builder.info.splits["train"].num_examples
    if cfg.train_size:
        train, train_size = train.take(cfg.train_size), min(cfg.train_size, train_size)

    def as_list(split, limit):
        ds = builder.as_dataset(split=split).map(en_de)
        if limit:
            ds = ds.take(limit)
        return [(s.decode("utf-8"), t.decode("utf-8")) for s, t in tfds.as_numpy(ds)]

    # newstest2013 for validation, newstest2014 for the reported test BLEU.
    return Corpus("wmt14-en-de", train, train_size, as_list("validation", cfg.val_size),
                  as_list("test", cfg.test_size))


def load_corpus(cfg):
    """The Corpus for ``cfg.data`` (call after ``check_source``)."""
    if cfg.data == "builtin":
        from .corpus import builtin_splits

        train, val, test = builtin_splits(cfg.train_size, cfg.val_size, cfg.test_size,
                                          seed=cfg.corpus_seed)
        return _from_lists(f"builtin-en-de(seed={cfg.corpus_seed})", train, val, test)
    if cfg.data == "files":
        return _load_files(cfg)
    if cfg.data == "wmt14":
        return _load_wmt14(cfg)
    raise DataError(f"unknown data source {cfg.data!r}; choose from {', '.join(SOURCES)}")
