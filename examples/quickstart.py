"""Train a tiny classifier with a few optimlab optimizers and print their losses.

    python examples/quickstart.py

Every optimizer is a drop-in ``torch.optim.Optimizer``: the training loop is torch's own.
"""

import torch

import optimlab


def make_data(seed: int = 0, n: int = 512):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = ((x[:, 0] ** 2 + x[:, 1] ** 2) > 1.0).long()  # inside / outside the unit circle
    return x, y


def train(name: str, lr: float, steps: int = 300, seed: int = 0) -> float:
    torch.manual_seed(seed)
    x, y = make_data(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
    opt = optimlab.create_optimizer(name, model.parameters(), lr=lr)
    for step in range(steps):
        idx = torch.randint(0, len(x), (64,))
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(model(x), y).item()


if __name__ == "__main__":
    for name, lr in [("sgd", 0.1), ("sgdm", 0.05), ("nag", 0.05), ("adam", 0.01), ("adamw", 0.01), ("amsgrad", 0.01)]:
        print(f"{name:>8}  lr={lr:<5}  final training loss {train(name, lr):.4f}")
