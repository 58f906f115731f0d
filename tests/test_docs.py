"""Every public name carries its documentation; every docstring example runs."""

import doctest
import importlib
import inspect
import pkgutil

import pytest
import torch

import optimlab

PUBLIC = [n for n in optimlab.__all__ if not n.startswith("__")]
OPTIMIZERS = [n for n in PUBLIC if inspect.isclass(getattr(optimlab, n)) and issubclass(getattr(optimlab, n), torch.optim.Optimizer)]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_has_a_docstring_with_a_runnable_example(name):
    obj = getattr(optimlab, name)
    doc = inspect.getdoc(obj)
    assert doc, f"optimlab.{name} has no docstring"
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert ">>>" in doc, f"optimlab.{name}'s docstring has no example"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_docstring_carries_the_math_and_the_reference(name):
    doc = inspect.getdoc(getattr(optimlab, name))
    assert "<-" in doc or "=" in doc, "no update rule"
    assert "Reference" in doc, "no reference"
    if "See :class:" not in doc:  # named variants point to their base class
        assert "State per parameter" in doc or "state" in doc.lower()
        assert "Args:" in doc


def _library_modules():
    """Modules under optimlab, lab and CLI included (they need the lab extra, installed in CI)."""
    names = ["optimlab"]
    for info in pkgutil.walk_packages(optimlab.__path__, "optimlab."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module", _library_modules())
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(mod, module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module}"
