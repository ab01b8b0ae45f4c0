"""Reference files for test_import_weights, made in a process of their own: ``python torchvision_reference.py OUT``.

torchvision's import loads triton's native library (through torch._dynamo), and that crashes the process when
TensorFlow was imported first, as it is in any pytest run of the whole suite. So torchvision runs only here, in a
fresh process; the test process reads the files with plain ``torch.load`` (safe after TensorFlow, as
``edge-slr import-weights`` does).

Writes, into OUT: ``clip.npy`` (two raw RGB clips), for r2plus1d_18 and r3d_18 ``ARCH.pth`` (state_dict with
random weights and randomized BatchNorm statistics, eval mode) and ``ARCH_logits.npy`` (PyTorch's logits on the
clips), ``mc3_18.pth`` and ``resnet18.pth`` (other architectures, for refusals) and ``meta.json`` (torchvision's
Kinetics mean/std, BatchNorm epsilon/momentum per layer).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision

# The input normalization torchvision's own Kinetics-400 weights declare (not ours: the test checks ours against it).
_KINETICS = torchvision.models.video.R2Plus1D_18_Weights.KINETICS400_V1.transforms()
KINETICS_MEAN, KINETICS_STD = tuple(_KINETICS.mean), tuple(_KINETICS.std)
FRAMES, SIZE = 8, 56  # both nets accept it; 1/8 of the 16x112x112 FLOPs
COMPARED = ("r2plus1d_18", "r3d_18")


def randomized(arch: str, seed: int) -> torch.nn.Module:
    """torchvision's ``arch`` with random weights and BatchNorm statistics (variances down to 0.01)."""
    torch.manual_seed(seed)
    model = getattr(torchvision.models.video, arch)()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.01, 2.0)
    return model.eval()


def logits(model: torch.nn.Module, clip: np.ndarray) -> np.ndarray:
    """PyTorch's input convention: RGB in [0, 1], Kinetics mean/std, (B, C, T, H, W)."""
    x = (clip / 255.0 - np.array(KINETICS_MEAN, np.float32)) / np.array(KINETICS_STD, np.float32)
    with torch.no_grad():
        return model(torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())).numpy()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    clip = np.random.default_rng(3).uniform(0, 255, (2, FRAMES, SIZE, SIZE, 3)).astype(np.float32)
    np.save(out / "clip.npy", clip)
    meta: dict = {"kinetics": {"mean": list(KINETICS_MEAN), "std": list(KINETICS_STD)}}
    for seed, arch in enumerate((*COMPARED, "mc3_18")):
        model = randomized(arch, seed)
        torch.save(model.state_dict(), out / f"{arch}.pth")
        if arch in COMPARED:
            np.save(out / f"{arch}_logits.npy", logits(model, clip))
        meta[arch] = {"bn": [[m.eps, m.momentum] for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)]}
    torch.save(torchvision.models.resnet18().state_dict(), out / "resnet18.pth")
    (out / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
