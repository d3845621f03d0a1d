"""Tests for keras_nos.tasks.datasets on tiny fake CIFAR-10 copies in every accepted layout."""

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_nos.tasks import datasets
from keras_nos.tasks.datasets import (
    CIFAR10_CLASSES,
    Splits,
    load_cifar10,
    load_digits,
    make_synthetic_classification,
)

SHARED_JPEGS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
PER_BATCH = 6  # 5 batches x 6 = 30 training images, 3 per class
SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Every test gets its own cache and no source from the developer's environment."""
    monkeypatch.setenv("KERAS_NOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KERAS_NOS_CIFAR10", raising=False)


def fake_images(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 10


def write_batch(path, images, labels):
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # official CHW rows
    path.write_bytes(pickle.dumps({b"data": rows, b"labels": labels.tolist()}))


@pytest.fixture
def batches_dir(tmp_path):
    """A tiny ``cifar-10-batches-py`` folder and the arrays it holds."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    x_train, y_train = fake_images(5 * PER_BATCH, seed=1)
    for i in range(5):
        part = slice(i * PER_BATCH, (i + 1) * PER_BATCH)
        write_batch(folder / f"data_batch_{i + 1}", x_train[part], y_train[part])
    x_test, y_test = fake_images(10, seed=2)
    write_batch(folder / "test_batch", x_test, y_test)
    (folder / "batches.meta").write_bytes(b"ignored")
    return folder, (x_train, y_train, x_test, y_test)


@pytest.fixture
def batches_tar(batches_dir, tmp_path):
    folder, arrays = batches_dir
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return path, arrays


def color(label):
    """A flat colour per class, so labels can be read back from lossy JPEG pixels."""
    return label * 25


@pytest.fixture
def image_tree(tmp_path):
    """``train/<class>/*.jpg`` (2 per class) and ``test/<class>/*.jpg`` (1 per class)."""
    root = tmp_path / "cifar10-jpeg"
    for split, count in (("train", 2), ("test", 1)):
        for label, name in enumerate(CIFAR10_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (32, 32), (color(label),) * 3).save(folder / f"{i:04d}.jpg", quality=95)
    (root / "README.txt").write_text("not an image")
    return root


@pytest.fixture
def image_tar(image_tree, tmp_path):
    path = tmp_path / "images.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(image_tree, arcname="top")  # a top-level folder inside, as tarballs often have
    return path


def assert_cifar_like(splits, n_train, n_val, n_test):
    assert isinstance(splits, Splits)
    assert [len(getattr(splits, k)) for k in SPLITS] == [n_train, n_train, n_val, n_val, n_test, n_test]
    for x in (splits.x_train, splits.x_val, splits.x_test):
        assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3)
    for y in (splits.y_train, splits.y_val, splits.y_test):
        assert y.dtype == np.int64 and y.ndim == 1
    assert splits.num_classes == 10


# ------------------------------------------------------------ pickled batches


def test_batches_folder_keeps_pixels_and_labels(batches_dir):
    folder, (x_train, y_train, x_test, y_test) = batches_dir
    splits = load_cifar10(folder, validation_size=0)
    assert_cifar_like(splits, 30, 0, 10)
    np.testing.assert_array_equal(splits.x_train, x_train)  # CHW rows became HWC images
    np.testing.assert_array_equal(splits.y_train, y_train)
    np.testing.assert_array_equal(splits.x_test, x_test)
    np.testing.assert_array_equal(splits.y_test, y_test)


def test_batches_tarball_gives_the_same_data_as_the_folder(batches_dir, batches_tar):
    from_folder = load_cifar10(batches_dir[0], validation_size=10, seed=3)
    from_tar = load_cifar10(batches_tar[0], validation_size=10, seed=3)
    assert_cifar_like(from_tar, 20, 10, 10)
    for k in SPLITS:
        np.testing.assert_array_equal(getattr(from_tar, k), getattr(from_folder, k))


def test_validation_split_is_stratified_seeded_and_disjoint(batches_tar):
    path, (x_train, _, _, _) = batches_tar
    a = load_cifar10(path, validation_size=10, seed=0)
    assert np.bincount(a.y_val).tolist() == [1] * 10
    b = load_cifar10(path, validation_size=10, seed=0)
    c = load_cifar10(path, validation_size=10, seed=1)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    together = np.concatenate([a.x_train, a.x_val]).reshape(30, -1)
    assert len(np.unique(together, axis=0)) == 30  # a partition of the training set
    np.testing.assert_array_equal(np.sort(together, axis=0), np.sort(x_train.reshape(30, -1), axis=0))


def test_train_limit_keeps_a_seeded_class_balanced_subset(batches_tar):
    path = batches_tar[0]
    small = load_cifar10(path, validation_size=0, train_limit=25, seed=4)
    assert_cifar_like(small, 25, 0, 10)
    counts = np.bincount(small.y_train, minlength=10)
    assert counts.max() - counts.min() <= 1
    assert np.bincount(load_cifar10(path, validation_size=0, train_limit=10).y_train).tolist() == [1] * 10
    again = load_cifar10(path, validation_size=0, train_limit=25, seed=4)
    np.testing.assert_array_equal(small.x_train, again.x_train)


# ------------------------------------------------------------ image folders


def assert_labels_match_colours(splits):
    for x, y in ((splits.x_train, splits.y_train), (splits.x_val, splits.y_val), (splits.x_test, splits.y_test)):
        np.testing.assert_array_equal(np.rint(x.mean(axis=(1, 2, 3)) / color(1)).astype(int), y)


def test_image_folder_labels_follow_official_class_order(image_tree):
    splits = load_cifar10(image_tree, validation_size=10)
    assert_cifar_like(splits, 10, 10, 10)
    assert_labels_match_colours(splits)


def test_image_tarball_with_top_level_folder(image_tar):
    splits = load_cifar10(image_tar, validation_size=10)
    assert_cifar_like(splits, 10, 10, 10)
    assert_labels_match_colours(splits)


def test_env_var_names_the_source(image_tar, monkeypatch):
    monkeypatch.setenv("KERAS_NOS_CIFAR10", str(image_tar))
    assert_cifar_like(load_cifar10(validation_size=10), 10, 10, 10)


# ------------------------------------------------------------ cache


def test_second_load_comes_from_the_cache(image_tar, tmp_path, monkeypatch):
    calls = []
    decode = datasets._decode_source
    monkeypatch.setattr(datasets, "_decode_source", lambda path: calls.append(path) or decode(path))
    first = load_cifar10(image_tar, validation_size=10)
    second = load_cifar10(image_tar, validation_size=10)
    assert len(calls) == 1
    assert len(list((tmp_path / "cache").glob("cifar10-*.npz"))) == 1
    for k in SPLITS:
        np.testing.assert_array_equal(getattr(first, k), getattr(second, k))


def test_changed_source_is_decoded_again(batches_dir, tmp_path, monkeypatch):
    folder, _ = batches_dir
    calls = []
    decode = datasets._decode_source
    monkeypatch.setattr(datasets, "_decode_source", lambda path: calls.append(path) or decode(path))
    load_cifar10(folder, validation_size=0)
    x_test, y_test = fake_images(10, seed=9)
    write_batch(folder / "test_batch", x_test, y_test)
    np.testing.assert_array_equal(load_cifar10(folder, validation_size=0).x_test, x_test)
    assert len(calls) == 2


# ------------------------------------------------------------ Keras and errors


def test_keras_copy_is_the_default(monkeypatch):
    import keras

    x_train, y_train = fake_images(30, seed=5)
    x_test, y_test = fake_images(10, seed=6)
    as_keras = ((x_train, y_train.astype(np.uint8)[:, None]), (x_test, y_test.astype(np.uint8)[:, None]))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: as_keras)
    splits = load_cifar10(validation_size=10)
    assert_cifar_like(splits, 20, 10, 10)
    np.testing.assert_array_equal(splits.y_test, y_test)


def test_offline_without_source_lists_every_place_tried(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def offline():
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/: None -- no network")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10()
    message = str(info.value)
    first_line = message.splitlines()[0]  # all the command line shows
    for expected in (
        "no --data",
        "$KERAS_NOS_CIFAR10 not set",
        str(tmp_path / "keras-home" / "datasets"),
        "download from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz failed",
        "no network",
        "pass --data PATH or set KERAS_NOS_CIFAR10",
    ):
        assert expected in first_line


def test_missing_path_says_where_it_looked(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.tar.gz"
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10(missing)
    assert str(info.value).splitlines()[0] == \
        f"CIFAR-10 not found at {missing} (does not exist); pass --data PATH or set KERAS_NOS_CIFAR10"
    assert "cifar-10-python.tar.gz" in str(info.value).splitlines()[1]  # the layouts that would work follow
    monkeypatch.setenv("KERAS_NOS_CIFAR10", str(missing))
    with pytest.raises(FileNotFoundError, match=r"at .*nowhere.tar.gz \(from \$KERAS_NOS_CIFAR10, does not exist\)"):
        load_cifar10()


@pytest.mark.parametrize("kind", ["folder", "text file", "tarball"])
def test_unknown_layout_names_path_and_layouts(tmp_path, kind):
    if kind == "folder":
        path = tmp_path / "photos"
        (path / "train" / "cats").mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(path / "train" / "cats" / "a.jpg")
    elif kind == "text file":
        path = tmp_path / "notes.txt"
        path.write_text("hello")
    else:
        path = tmp_path / "other.tar.gz"
        (tmp_path / "x.txt").write_text("x")
        with tarfile.open(path, "w:gz") as tar:
            tar.add(tmp_path / "x.txt", arcname="x.txt")
    with pytest.raises(ValueError) as info:
        load_cifar10(path)
    assert str(path) in str(info.value)
    assert "cifar-10-batches-py" in str(info.value) and "train/<class>/*.jpg" in str(info.value)


# ------------------------------------------------------------ small tasks


def test_digits_splits():
    splits = load_digits(seed=0)
    sizes = [len(splits.x_train), len(splits.x_val), len(splits.x_test)]
    assert sum(sizes) == 1797 and sizes[1] == sizes[2] == round(0.2 * 1797)
    for x in (splits.x_train, splits.x_val, splits.x_test):
        assert x.dtype == np.float32 and x.shape[1:] == (8, 8, 1)
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert splits.y_train.dtype == np.int64 and splits.num_classes == 10
    np.testing.assert_array_equal(load_digits(seed=0).x_val, splits.x_val)
    assert not np.array_equal(load_digits(seed=1).x_val, splits.x_val)


def test_synthetic_task_is_learnable_and_seeded():
    splits = make_synthetic_classification(200, shape=(4, 4, 2), num_classes=5, seed=7)
    assert splits.x_train.shape == (120, 4, 4, 2) and splits.x_train.dtype == np.float32
    assert len(splits.x_val) == len(splits.x_test) == 40
    assert splits.num_classes == 5 and splits.y_test.dtype == np.int64
    flat = lambda x: x.reshape(len(x), -1)  # noqa: E731
    centroids = np.stack([flat(splits.x_train)[splits.y_train == c].mean(0) for c in range(5)])
    distances = ((flat(splits.x_test)[:, None] - centroids[None]) ** 2).sum(-1)
    assert (distances.argmin(1) == splits.y_test).mean() > 0.9
    again = make_synthetic_classification(200, shape=(4, 4, 2), num_classes=5, seed=7)
    np.testing.assert_array_equal(again.x_train, splits.x_train)


# ------------------------------------------------------------ shared data


def test_shared_cifar10_jpegs():
    """The real 60,000-image tarball: about 10 s to decode, then cached."""
    if not SHARED_JPEGS.exists():
        pytest.skip(f"{SHARED_JPEGS} not present")
    splits = load_cifar10(SHARED_JPEGS)
    assert_cifar_like(splits, 45_000, 5_000, 10_000)
    assert np.bincount(splits.y_val).tolist() == [500] * 10
    assert np.bincount(splits.y_test).tolist() == [1000] * 10


def test_pool_averages_pixel_blocks_of_every_split(batches_tar):
    path = batches_tar[0]
    full = load_cifar10(path, validation_size=10, seed=2)
    pooled = load_cifar10(path, validation_size=10, seed=2, pool=2)
    for name in ("x_train", "x_val", "x_test"):
        big, small = getattr(full, name), getattr(pooled, name)
        assert small.shape == (big.shape[0], 16, 16, 3) and small.dtype == np.uint8
        block = big[:, 2:4, 6:8, :].astype(float).mean(axis=(1, 2))  # pixel (1, 3) of the pooled image
        np.testing.assert_array_equal(small[:, 1, 3, :], np.rint(block))
    np.testing.assert_array_equal(pooled.y_train, full.y_train)
    with pytest.raises(ValueError, match="pool must be .* divides the image size 32x32, got 3"):
        load_cifar10(path, validation_size=10, pool=3)
