"""One rank of the 2-process gloo group that ``tests/test_distributed.py`` starts.

Run as a script: ``python tests/dist_worker.py RANK WORLD STORE_FILE OUT_DIR GROUP [GROUP ...]``.
Each scenario group trains tiny float64 models with every optimizer of the registry (and wrapper
combinations) under one distributed setting and also runs the independent oracle in this same
process: the single-process run on the full batch, or the uninterrupted run for a resume.  A group
returns *data* (largest differences, phases, ...), written to ``OUT_DIR/rank<R>.json`` after each
group; the test asserts on it, so a failure names the optimizer and the size of the difference.

The rendezvous is a file (``FileStore``), not a TCP store: torch's TCPStore server listens on every
interface whatever ``MASTER_ADDR`` says (measured on torch 2.13), while gloo's own connections are
bound to the loopback interface by the ``GLOO_SOCKET_IFNAME`` the test sets.  The worker records the
addresses of its TCP sockets, and the test checks they are all on 127.0.0.1.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import sys
import traceback

import torch
import torch.distributed as dist
import torch.nn.functional as F

import optimlab
from optimlab.optim.swats import SWATS

STEPS = 6
BATCH = 8  # full batch; each of the 2 ranks takes half
EXTRA = ["lookahead_sgdm", "noisy_sgdm", "lookahead_noisy_adamw"]  # wrapper combinations beside the bare names


def names() -> list[str]:
    """Every registered name (the bare wrapper names build Lookahead(Adam) and GradientNoise(Adam)) and
    some wrapper combinations around other optimizers."""
    return optimlab.available_optimizers() + EXTRA


def kwargs_for(name: str) -> dict:
    """Keywords for ``create_optimizer(name, ...)``: a decay so that L2/decoupled paths run, k=2 so
    that Lookahead syncs inside the run, a fixed seed and a visible noise, SWATS forced to switch."""
    kw = {"lr": 0.01, "weight_decay": 1e-2}
    parts = name.split("_")
    if "lookahead" in parts:
        kw["k"] = 2
    if "noisy" in parts:
        kw.update(eta=1e-3, seed=7)
    if parts[-1] == "swats":
        kw["switch_at"] = 3
    return kw


# ---------------------------------------------------------------------------------------------- helpers
def model(seed: int = 0) -> torch.nn.Module:
    """4 -> 5 -> 1: under 2-way Shard(0) the shards are uneven (3/2 rows) and rank 1's shard of the
    last layer is empty."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)).double()


def batches(n: int = STEPS, seed: int = 1) -> list:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(BATCH, 4, generator=g, dtype=torch.float64),
             torch.randn(BATCH, 1, generator=g, dtype=torch.float64)) for _ in range(n)]


def half(batch, rank: int, world: int):
    x, y = batch
    n = BATCH // world
    return x[rank * n:(rank + 1) * n], y[rank * n:(rank + 1) * n]


def train(net, opt, data) -> None:
    for x, y in data:
        opt.zero_grad()
        F.mse_loss(net(x), y).backward()
        opt.step()


def full(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor (a DTensor gathered)."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def flat(net) -> torch.Tensor:
    return torch.cat([full(p.detach()).reshape(-1) for p in net.parameters()])


def reference(name: str, data, seed: int = 0) -> torch.Tensor:
    """The single-process run on the full batches (the oracle)."""
    net = model(seed)
    train(net, optimlab.create_optimizer(name, net.parameters(), **kwargs_for(name)), data)
    return flat(net)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def each(names_: list[str], fn) -> dict:
    """``fn(name)`` for every name; an exception becomes ``{"error": traceback}`` for that name."""
    out = {}
    for name in names_:
        try:
            out[name] = fn(name)
        except BaseException as exc:  # torch.distributed.checkpoint's CheckpointException is a BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            out[name] = {"error": traceback.format_exc()}
    return out


def tcp_sockets() -> list[list[str]]:
    """[local address, remote address, state] of this process's TCP sockets (Linux /proc; [] elsewhere)."""
    try:
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # the listing's own descriptor, closed by now
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        found = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in list(f)[1:]:
                    cols = line.split()
                    if cols[9] in inodes:
                        found.append([_address(cols[1]), _address(cols[2]), "LISTEN" if cols[3] == "0A" else cols[3]])
        return found
    except OSError:
        return []


def _address(hex_addr: str) -> str:
    host = hex_addr.split(":")[0]
    if len(host) == 8:
        return ".".join(str(int(host[i:i + 2], 16)) for i in (6, 4, 2, 0))
    if host.startswith("0000000000000000FFFF0000"):  # an IPv4-mapped IPv6 address
        return _address(host[24:] + ":0")
    return "::" if set(host) == {"0"} else host


# ---------------------------------------------------------------------------------------------- groups
def group_ddp(rank: int, world: int, out_dir: str) -> dict:
    """DDP on half batches == one process on the full batches, for every optimizer."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    data = batches()

    def one(name):
        ddp = DDP(model())
        opt = optimlab.create_optimizer(name, ddp.parameters(), **kwargs_for(name))
        train(ddp, opt, [half(b, rank, world) for b in data])
        got, want = flat(ddp.module), reference(name, data)
        return {"diff": max_diff(got, want), "moved": max_diff(want, flat(model()))}

    return each(names(), one)


def _fsdp_model(seed: int = 0):
    from torch.distributed.fsdp import fully_shard

    net = model(seed)
    for layer in (net[0], net[2]):
        fully_shard(layer)
    fully_shard(net)
    return net


def _sharded_state(opt) -> bool:
    """Whether every state tensor shaped like its parameter is a DTensor too (the state is sharded)."""
    from torch.distributed.tensor import DTensor

    found = [isinstance(value, DTensor)
             for group in opt.param_groups for p in group["params"] for value in opt.state.get(p, {}).values()
             if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape == p.shape]
    return all(found) if found else None  # None: no such state (plain SGD)


def group_fsdp(rank: int, world: int, out_dir: str) -> dict:
    """FSDP2 ``fully_shard`` (DTensor parameters, uneven and empty shards) == one unsharded process."""
    from torch.distributed.tensor import DTensor

    data = batches()

    def one(key):
        name, _, foreach = key.partition(":")
        net = _fsdp_model()
        assert all(isinstance(p, DTensor) for p in net.parameters())
        extra = {"foreach": True} if foreach else {}
        opt = optimlab.create_optimizer(name, net.parameters(), **kwargs_for(name), **extra)
        train(net, opt, [half(b, rank, world) for b in data])
        got, want = flat(net), reference(name, data)
        return {"diff": max_diff(got, want), "moved": max_diff(want, flat(model())),
                "sharded_state": _sharded_state(opt),
                "local_numel": [p.to_local().numel() for p in net.parameters()]}

    # the default path, and foreach=True (the list kernels, which torch's FSDP2 users get by default)
    return each(names() + [f"{n}:foreach" for n in names()], one)


USER_CLASSES = ["class:AdamW", "subclass:LookaheadAdam", "function:GradientNoise(SGD)", "partial:SWATS(process_group)"]


def _user_classes() -> dict:
    """``optimizer_class`` as a user would write it for ZeRO, which calls ``cls(params, **kwargs)``."""

    class LookaheadAdam(optimlab.Lookahead):
        def __init__(self, params, k=5, alpha=0.5, **kwargs):
            super().__init__(optimlab.Adam(params, **kwargs), k=k, alpha=alpha)

    def noisy_sgd(params, eta=0.01, seed=None, **kwargs):
        return optimlab.GradientNoise(optimlab.SGD(params, **kwargs), eta=eta, seed=seed)

    table = {
        "class:AdamW": (optimlab.AdamW, {"lr": 0.01, "weight_decay": 1e-2}),
        "subclass:LookaheadAdam": (LookaheadAdam, {"lr": 0.01, "k": 2}),
        "function:GradientNoise(SGD)": (noisy_sgd, {"lr": 0.01, "momentum": 0.9, "eta": 1e-3, "seed": 3}),
        "partial:SWATS(process_group)": (functools.partial(optimlab.SWATS, process_group=dist.group.WORLD),
                                         {"lr": 0.01, "switch_at": 3}),
    }
    assert list(table) == USER_CLASSES
    return table


def group_zero(rank: int, world: int, out_dir: str) -> dict:
    """``ZeroRedundancyOptimizer`` (with DDP): stop after 3 steps, ``consolidate_state_dict(to=0)``,
    save, build a fresh model and optimizer, load, run 3 more steps == 6 uninterrupted steps; and the
    uninterrupted run == one process (except noise, whose streams ZeRO renumbers per partition)."""
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel as DDP

    data = batches()
    mine = [half(b, rank, world) for b in data]
    cut = STEPS // 2
    table = {name: (functools.partial(optimlab.create_optimizer, name), kwargs_for(name)) for name in names()}
    table.update(_user_classes())

    def build(cls, kw, seed=0):
        ddp = DDP(model(seed))
        return ddp, ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=cls, **kw)

    def one(name):
        cls, kw = table[name]
        ddp, zero = build(cls, kw)
        train(ddp, zero, mine)
        uninterrupted = flat(ddp.module)

        ddp, zero = build(cls, kw)
        train(ddp, zero, mine[:cut])
        zero.consolidate_state_dict(to=0)
        path = os.path.join(out_dir, f"zero-{name.replace(':', '-')}.pt")
        if rank == 0:
            sd = zero.state_dict()
            torch.save({"model": ddp.module.state_dict(), "optim": sd}, path)
            n_state = sum(1 for v in sd["state"].values() if v)
        dist.barrier()
        ckpt = torch.load(path, weights_only=False)
        ddp2, zero2 = build(cls, kw, seed=5)  # another initialisation: everything comes from the checkpoint
        ddp2.module.load_state_dict(ckpt["model"])
        zero2.load_state_dict(ckpt["optim"])
        train(ddp2, zero2, mine[cut:])
        resumed = flat(ddp2.module)
        out = {"resume_diff": max_diff(resumed, uninterrupted),
               "owned": len(zero.optim.param_groups[0]["params"])}
        if rank == 0:
            out["state_entries"] = n_state
            out["state_keys"] = sorted({k for v in ckpt["optim"]["state"].values() if v for k in v})
        if name in names():
            out["vs_single"] = max_diff(uninterrupted, reference(name, data))
        return out

    return each(list(table), one)


def group_dcp(rank: int, world: int, out_dir: str) -> dict:
    """``torch.distributed.checkpoint.state_dict`` get/set round trips under FSDP2: the sharded state
    through ``dcp.save``/``dcp.load``, and the full state dict broadcast from rank 0; the resumed run
    == the uninterrupted one."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_optimizer_state_dict, set_model_state_dict,
                                                         set_optimizer_state_dict)

    data = batches()
    mine = [half(b, rank, world) for b in data]
    cut = STEPS // 2
    chosen = ["adam", "sgdm", "swats", "lookahead", "lookahead_sgdm", "noisy", "noisy_sgdm",
              "lookahead_noisy_adamw"]

    def fresh(name, seed=0):
        net = _fsdp_model(seed)
        return net, optimlab.create_optimizer(name, net.parameters(), **kwargs_for(name))

    def resume(name, mode, uninterrupted, out):
        net, opt = fresh(name)
        train(net, opt, mine[:cut])
        if isinstance(opt, optimlab.SWATS):
            out["phase_at_save"] = opt.phase
        net2, opt2 = fresh(name, seed=5)
        if mode == "sharded":
            where = os.path.join(out_dir, f"dcp-{name}")
            dcp.save({"model": get_model_state_dict(net), "optim": get_optimizer_state_dict(net, opt)},
                     checkpoint_id=where)
            state = {"model": get_model_state_dict(net2), "optim": get_optimizer_state_dict(net2, opt2)}
            dcp.load(state, checkpoint_id=where)
            set_model_state_dict(net2, state["model"])
            set_optimizer_state_dict(net2, opt2, state["optim"])
        else:
            opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
            msd, osd = get_model_state_dict(net, options=opts), get_optimizer_state_dict(net, opt, options=opts)
            if rank == 0:
                out["full_state_keys"] = sorted({k for v in osd["state"].values() for k in v})
            load = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
            set_model_state_dict(net2, msd if rank == 0 else {}, options=load)
            set_optimizer_state_dict(net2, opt2, osd if rank == 0 else {}, options=load)
        train(net2, opt2, mine[cut:])
        return max_diff(flat(net2), uninterrupted)

    def one(name):
        net, opt = fresh(name)
        train(net, opt, mine)
        uninterrupted = flat(net)
        out = {}
        for mode, result in each(["sharded", "full"], lambda mode: resume(name, mode, uninterrupted, out)).items():
            out[mode] = result
        return out

    return each(chosen, one)


def _swats_problem():
    """Two tensors of 10 elements: ``a`` has a constant gradient (its projected rate is constant, so
    the criterion holds at step 2), ``b`` a quadratic loss (its rate moves for many steps)."""
    g = torch.Generator().manual_seed(11)
    a = torch.nn.Parameter(torch.randn(10, generator=g, dtype=torch.float64))
    b = torch.nn.Parameter(torch.randn(10, generator=g, dtype=torch.float64))
    coef = torch.rand(10, generator=g, dtype=torch.float64) + 0.5
    slope = torch.randn(10, generator=g, dtype=torch.float64)
    return [a, b], lambda: (slope * a).sum() + 0.5 * (coef * b * b).sum()


SWATS_KW = dict(lr=0.01, eps=0.0, switch_eps=1e-6)


def _swats_run(make, steps=5):
    params, loss = _swats_problem()
    opt = make(params)
    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        opt.step()
    return params, opt


def _switch_steps(opt, params) -> dict:
    """{index of the parameter: its switch step or None} for the parameters this optimizer holds."""
    ids = {id(p): i for i, p in enumerate(params)}
    out = {}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p, {})
            out[ids[id(p)]] = int(st["switch_step"]) if "phase" in st and int(st["phase"]) == 1 else None
    return out


def group_swats(rank: int, world: int, out_dir: str) -> dict:
    """SWATS's whole-model switch under ZeRO (each rank owns one of the two tensors) with and without
    ``process_group``, against one process; and under FSDP2 (one tensor sharded across the ranks,
    half of it with a constant gradient) with and without the all-reduce of the sharded sums."""
    from torch.distributed.optim import ZeroRedundancyOptimizer

    out = {}
    params, single = _swats_run(lambda ps: optimlab.SWATS(ps, **SWATS_KW))
    out["single_switch"] = _switch_steps(single, params)
    single_flat = torch.cat([p.detach() for p in params])
    for label, pg in (("zero_pg", dist.group.WORLD), ("zero_no_pg", None)):
        cls = functools.partial(optimlab.SWATS, process_group=pg)
        params, zero = _swats_run(lambda ps: ZeroRedundancyOptimizer(ps, optimizer_class=cls, **SWATS_KW))
        mine = _switch_steps(zero.optim, params)
        everyone = [None] * world
        dist.all_gather_object(everyone, mine)
        out[label] = {"per_rank": everyone, "vs_single": max_diff(torch.cat([p.detach() for p in params]), single_flat)}

    # FSDP2: one 4x5 tensor, rows 0-1 (rank 0's shard) with a constant gradient, rows 2-3 quadratic
    from torch.distributed.fsdp import fully_shard

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(3)
            self.w = torch.nn.Parameter(torch.randn(4, 5, generator=g, dtype=torch.float64))
            self.slope = torch.randn(2, 5, generator=g, dtype=torch.float64)

        def forward(self):
            return (self.slope * self.w[:2]).sum() + 0.5 * (self.w[2:] ** 2).sum()

    def fsdp_run(net):
        opt = optimlab.SWATS(net.parameters(), **SWATS_KW)
        for _ in range(5):
            opt.zero_grad()
            net().backward()
            opt.step()
        st = opt.state[net.w]
        return int(st["phase"]), full(net.w.detach())

    phase_single, w_single = fsdp_run(Two())
    out["fsdp_single_phase"] = phase_single
    for label, reduce in (("fsdp_reduced", True), ("fsdp_not_reduced", False)):
        net = Two()
        fully_shard(net)
        original = SWATS._reduce_sharded
        if not reduce:  # the control: what each rank would decide from its own shard
            SWATS._reduce_sharded = lambda self, params, sums: sums
        try:
            phase, w = fsdp_run(net)
        finally:
            SWATS._reduce_sharded = original
        everyone = [None] * world
        dist.all_gather_object(everyone, phase)
        out[label] = {"phases": everyone, "vs_single": max_diff(w, w_single)}
    return out


GROUPS = {"ddp": group_ddp, "fsdp": group_fsdp, "zero": group_zero, "dcp": group_dcp, "swats": group_swats}


def main(argv: list[str]) -> int:
    rank, world, store_file, out_dir, *groups = argv
    rank, world = int(rank), int(world)
    torch.set_num_threads(1)
    store = dist.FileStore(store_file, world)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    dist.barrier()  # gloo is connected now
    results = {"sockets": tcp_sockets()}
    path = os.path.join(out_dir, f"rank{rank}.json")

    def write():
        with open(path + ".tmp", "w") as f:
            json.dump(results, f)
        os.replace(path + ".tmp", path)

    for name in groups:
        try:
            results[name] = GROUPS[name](rank, world, out_dir)
        except BaseException:
            results[name] = {"error": traceback.format_exc()}
            write()
            return 1  # the other rank's next collective fails too; the test reports both
        write()
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
