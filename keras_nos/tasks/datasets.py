"""Data sets for the optimizer search.

CIFAR-10 is read from wherever a user has it (the Keras download, the official
pickled batches, or a JPEG/PNG image-folder tree, each as a folder or a
tarball) and is never silently replaced by other data. Decoding a local copy is
slow, so the decoded arrays are cached as a compressed ``.npz``. Two tiny tasks
(scikit-learn's digits and a synthetic one) need no files at all, for tests and
quick smoke runs.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Optional, Union

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from keras_nos.errors import KerasNosError, DataNotFoundError

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SOURCE_ENV = "KERAS_NOS_CIFAR10"
CACHE_ENV = "KERAS_NOS_CACHE"

_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_LAYOUTS = (
    "a cifar-10-python.tar.gz or cifar-10-batches-py folder "
    "(pickled data_batch_1..5 and test_batch), or an image-folder tree or "
    ".tar.gz of one (train/<class>/*.jpg and test/<class>/*.jpg with classes "
    + " ".join(CIFAR10_CLASSES)
    + ")"
)
_HINT = f"pass --data PATH or set {SOURCE_ENV}"
_LAYOUT_HINT = f"PATH is {_LAYOUTS}."


@dataclass(frozen=True, eq=False)
class Splits:
    """Train, validation and (optional) test data of one task; the test set is never tuned on.

    Inputs are what ``model.fit`` takes: an array, a list or dict of arrays, or a batched ``tf.data.Dataset``
    of (inputs, targets) with its targets None.
    """

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any = None
    y_test: Any = None

    @property
    def num_classes(self) -> int:
        """Labels are 0..K-1, so K is one more than the largest label anywhere."""
        labels = np.concatenate([y for y in (self.y_train, self.y_val, self.y_test) if y is not None])
        return int(labels.max()) + 1


def scaled_images(splits: Splits) -> Splits:
    """``splits`` with uint8 images as float32 in [0, 1], as the bundled image tasks train on them."""
    x_train, x_val, x_test = (None if x is None else x.astype(np.float32) / 255.0
                              for x in (splits.x_train, splits.x_val, splits.x_test))
    return Splits(x_train, splits.y_train, x_val, splits.y_val, x_test, splits.y_test)


# ---------------------------------------------------------------- CIFAR-10


def load_cifar10(source: Optional[Union[str, os.PathLike]] = None, *, validation_size: int = 5000, seed: int = 0,
                 train_limit: Optional[int] = None, pool: int = 1) -> Splits:
    """CIFAR-10 as uint8 NHWC images and int64 labels.

    ``source`` (else ``$KERAS_NOS_CIFAR10``) is a local copy in any layout of
    ``_LAYOUTS``; with neither, Keras's cache or download is used. The
    validation set is a seeded, stratified hold-out of ``validation_size``
    training images (500 per class by default), so that tuning never sees the
    test set. ``train_limit`` keeps a seeded, class-balanced subset of what
    remains for training, for cheap proxy tasks. ``pool`` averages each
    ``pool`` x ``pool`` block of pixels (2: 16x16 images, a quarter of the
    compute a step), also for cheap proxies.
    """
    x_train, y_train, x_test, y_test = _cifar10_arrays(source)
    x_train, y_train, x_val, y_val = _hold_out(x_train, y_train, validation_size, seed)
    if train_limit is not None:
        keep = _balanced_subset(y_train, train_limit, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    if pool != 1:
        x_train, x_val, x_test = (mean_pool(x, pool) for x in (x_train, x_val, x_test))
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test)


def mean_pool(images: np.ndarray, factor: int) -> np.ndarray:
    """uint8 NHWC images averaged over ``factor`` x ``factor`` pixel blocks (rounded, still uint8)."""
    n, height, width, channels = images.shape
    if not (isinstance(factor, int) and factor >= 1 and height % factor == 0 and width % factor == 0):
        raise KerasNosError(f"pool must be a whole number >= 1 that divides the image size {height}x{width}, got {factor!r}")
    blocks = images.reshape(n, height // factor, factor, width // factor, factor, channels)
    return np.rint(blocks.mean(axis=(2, 4), dtype=np.float32)).astype(np.uint8)


def _cifar10_arrays(source):
    """(x_train, y_train, x_test, y_test) from the first place that has CIFAR-10."""
    if source is not None:
        return _load_local(Path(source))
    if os.environ.get(SOURCE_ENV):
        return _load_local(Path(os.environ[SOURCE_ENV]), f"from ${SOURCE_ENV}, ")
    return _load_keras()


def _load_local(path, origin=""):
    """Decode a local copy once, then reuse the cached arrays. ``origin`` says where ``path`` came from."""
    path = path.expanduser().resolve()
    if not path.exists():
        # The first line is the whole story (the command line prints only it); the layouts follow.
        raise DataNotFoundError(f"CIFAR-10 not found at {path} ({origin}does not exist); {_HINT}\n{_LAYOUT_HINT}")
    cache = _cache_path(path)
    if cache.exists():
        with np.load(cache) as arrays:
            return tuple(arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    arrays = _decode_source(path)
    _save_cache(cache, arrays)
    return arrays


def _load_keras():
    """Keras's copy (downloaded if online); offline, say everywhere we looked.

    Keras is imported here, not at module level, so the small tasks do not pay
    for importing TensorFlow.
    """
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as err:
        keras_cache = Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"
        raise DataNotFoundError(
            f"CIFAR-10 not found: no --data, ${SOURCE_ENV} not set, no usable copy in the Keras cache "
            f"{keras_cache / 'cifar-10-batches-py-target'}, download from {CIFAR10_URL} failed "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); {_HINT}\n{_LAYOUT_HINT}"
        ) from err
    if keras.config.image_data_format() == "channels_first":
        x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return x_train, _labels(y_train), x_test, _labels(y_test)


def _decode_source(path):
    """Arrays from a folder or tarball in one of the accepted layouts."""
    files = _read_folder(path) if path.is_dir() else _read_tarball(path)
    names = {p.name for p in files}
    if all(b in names for b in _BATCHES):
        return _decode_batches(files)
    images = {p: blob for p, blob in files.items() if _image_role(p)}
    splits = {_image_role(p)[0] for p in images}
    if splits == {"train", "test"}:
        return _decode_images(images)
    raise KerasNosError(f"{path} is in no known CIFAR-10 layout; expected {_LAYOUTS}.")


def _is_relevant(p):
    """Only batch files and class images are read, to keep memory small."""
    return p.name in _BATCHES or _image_role(p) is not None


def _image_role(p):
    """(split, label) for ``.../train|test/<class>/<image>``, else None."""
    parts = p.parts
    if (
        len(parts) >= 3
        and parts[-3] in ("train", "test")
        and parts[-2] in CIFAR10_CLASSES
        and p.suffix.lower() in _IMAGE_SUFFIXES
        and not p.name.startswith(".")  # macOS "._x.jpg" resource forks
    ):
        return parts[-3], CIFAR10_CLASSES.index(parts[-2])
    return None


def _read_folder(path):
    """Relevant files under ``path`` as {relative path: bytes}."""
    files = {}
    for f in path.rglob("*"):
        rel = PurePosixPath(f.relative_to(path).as_posix())
        if f.is_file() and _is_relevant(rel):
            files[rel] = f.read_bytes()
    return files


def _read_tarball(path):
    """Relevant members of a (possibly compressed) tarball as {path: bytes}."""
    try:
        with tarfile.open(path, "r:*") as tar:
            return {
                PurePosixPath(m.name): tar.extractfile(m).read()
                for m in tar
                if m.isfile() and _is_relevant(PurePosixPath(m.name))
            }
    except tarfile.ReadError as err:
        raise KerasNosError(f"{path} is in no known CIFAR-10 layout; expected {_LAYOUTS}.") from err


def _decode_batches(files):
    """The official pickled batches: rows of 3072 bytes in CHW order.

    They are pickles, as in Keras's own loader, so only load copies you trust.
    """
    blobs = {p.name: blob for p, blob in files.items() if p.name in _BATCHES}
    xs, ys = [], []
    for name in tqdm(_BATCHES, desc="Decoding CIFAR-10 batches"):
        batch = pickle.loads(blobs[name], encoding="bytes")
        xs.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(_labels(batch[b"labels"]))
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5]


def _decode_images(images):
    """Image files to arrays, in sorted path order so the result is reproducible."""
    out = {"train": ([], []), "test": ([], [])}
    for p in tqdm(sorted(images), desc="Decoding CIFAR-10 images", unit="img"):
        split, label = _image_role(p)
        with Image.open(io.BytesIO(images[p])) as im:
            pixels = np.asarray(im.convert("RGB"))
        if pixels.shape != (32, 32, 3):
            size = f"{pixels.shape[1]}x{pixels.shape[0]}"
            raise KerasNosError(f"{p} is {size}; CIFAR-10 images are 32x32.")
        out[split][0].append(pixels)
        out[split][1].append(label)
    (xtr, ytr), (xte, yte) = out["train"], out["test"]
    return np.stack(xtr), _labels(ytr), np.stack(xte), _labels(yte)


def _cache_path(path):
    """One cache file per version of a source: path, size and mtime are the key."""
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    stats = [f.stat() for f in files]
    key = f"{path}|{sum(s.st_size for s in stats)}|{max((s.st_mtime_ns for s in stats), default=0)}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    root = Path(os.environ.get(CACHE_ENV) or "~/.cache/keras_nos").expanduser()
    return root / f"cifar10-{digest}.npz"


def _save_cache(cache, arrays):
    """Write then rename, so a killed run never leaves a half-written cache."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)))
    os.replace(tmp, cache)


# ---------------------------------------------------------------- small tasks


def load_digits(*, validation_size: float = 0.2, test_size: float = 0.2, seed: int = 0) -> Splits:
    """scikit-learn's bundled 8x8 digits: a real task that needs no download.

    Images are float32 (N, 8, 8, 1) in [0, 1]; sizes are fractions of all
    1,797 images, split with stratification.
    """
    from sklearn.datasets import load_digits as sk_digits

    digits = sk_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    return _three_way(x, _labels(digits.target), validation_size, test_size, seed)


def load_digits_reconstruction(*, seed: int = 0) -> Splits:
    """Digits as 64-vectors, each its own target: a bundled regression task (``load_digits``' split)."""
    splits = load_digits(seed=seed)
    flat = [a.reshape(len(a), -1) for a in (splits.x_train, splits.x_val, splits.x_test)]
    return Splits(flat[0], flat[0], flat[1], flat[1], flat[2], flat[2])


def make_synthetic_classification(n: int = 512, *, shape: tuple[int, ...] = (8, 8, 1), num_classes: int = 4,
                                  seed: int = 0) -> Splits:
    """A learnable task made on the fly: one random mean image per class plus noise.

    Returns float32 images and a stratified 60/20/20 split, for unit tests
    that must not touch the disk.
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(num_classes, *shape))
    y = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    x = (means[y] + rng.normal(size=(n, *shape))).astype(np.float32)
    return _three_way(x, y, 0.2, 0.2, seed)


# ---------------------------------------------------------------- splitting


def _labels(y):
    """Labels as a flat int64 vector, whatever shape a source stores them in."""
    return np.asarray(y, dtype=np.int64).reshape(-1)


def _hold_out(x, y, size, seed):
    """Stratified, seeded split of ``size`` examples, so every class keeps its share."""
    if size == 0:
        return x, y, x[:0], y[:0]
    x_keep, x_out, y_keep, y_out = train_test_split(
        x, y, test_size=size, random_state=seed, stratify=y
    )
    return x_keep, y_keep, x_out, y_out


def _three_way(x, y, validation_size, test_size, seed):
    """Train/val/test from one pool; float sizes are fractions of the whole pool."""
    n_test, n_val = (
        s if isinstance(s, int) else round(s * len(y)) for s in (test_size, validation_size)
    )
    x, y, x_test, y_test = _hold_out(x, y, n_test, seed)
    x, y, x_val, y_val = _hold_out(x, y, n_val, seed)
    return Splits(x, y, x_val, y_val, x_test, y_test)


def _balanced_subset(y, limit, seed):
    """Indices of ``limit`` examples, as equal per class as the data allow, seeded.

    Each example gets its rank within its class in a random order; taking the
    lowest ranks first gives one of every class before a second of any.
    """
    order = np.random.default_rng(seed).permutation(len(y))
    rank = np.empty(len(y), np.int64)
    for c in np.unique(y):
        members = order[y[order] == c]
        rank[members] = np.arange(len(members))
    return np.sort(order[np.argsort(rank[order], kind="stable")[:limit]])
