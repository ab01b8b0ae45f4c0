"""``edge-slr import-weights``: torchvision's r2plus1d_18 / r3d_18 weights in our models, checked against PyTorch.

torchvision's models are built here with random weights and randomized BatchNorm statistics (variances down to
0.01, so a wrong epsilon shows), run in eval mode, and their state_dicts imported. Our 5-D model, our 4-D edge
form and its fp32 TFLite export must give PyTorch's logits on the same clip to 1e-4 of the logit scale.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from edge_slr.cli import main
from edge_slr.models.registry import KINETICS_MEAN, KINETICS_STD

ARCHS = ("r2plus1d_18", "r3d_18")
FRAMES, SIZE = 8, 56  # both nets accept it; 1/8 of the 16x112x112 FLOPs
TOLERANCE = 1e-4  # max |ours - PyTorch| / max |PyTorch logit|
ROOT = Path(__file__).resolve().parents[1]


def _torchvision_model(arch: str, seed: int) -> torch.nn.Module:
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


def _torch_logits(model: torch.nn.Module, clip: np.ndarray) -> np.ndarray:
    """PyTorch's input convention: RGB in [0, 1], Kinetics mean/std, (B, C, T, H, W)."""
    x = (clip / 255.0 - np.array(KINETICS_MEAN, np.float32)) / np.array(KINETICS_STD, np.float32)
    with torch.no_grad():
        return model(torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())).numpy()


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory) -> Callable[[str], tuple[Path, torch.nn.Module]]:
    """``get(arch)``: a saved state_dict of a randomized torchvision model, and the model (made once per arch)."""
    root = tmp_path_factory.mktemp("torchvision")
    made: dict[str, tuple[Path, torch.nn.Module]] = {}

    def get(arch: str) -> tuple[Path, torch.nn.Module]:
        if arch not in made:
            model = _torchvision_model(arch, seed=ARCHS.index(arch) if arch in ARCHS else 9)
            path = root / f"{arch}.pth"
            torch.save(model.state_dict(), path)
            made[arch] = path, model
        return made[arch]

    return get


def _relative(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_imported_weights_give_pytorchs_logits_in_5d_4d_and_tflite(arch, torchvision_file, tmp_path):
    from edge_slr.export.convert import convert_clip_model
    from edge_slr.models import create_model
    from edge_slr.models.import_weights import ImportConfig, import_weights
    from edge_slr.models.io import load_keras_model
    from edge_slr.runtime.runner import TFLiteRunner

    path, torch_model = torchvision_file(arch)
    clip = np.random.default_rng(3).uniform(0, 255, (2, FRAMES, SIZE, SIZE, 3)).astype(np.float32)
    reference = _torch_logits(torch_model, clip)
    assert reference.shape == (2, 400) and np.abs(reference).max() > 0

    result = import_weights(ImportConfig(path, arch, tmp_path / "kinetics.keras", frames=FRAMES, size=SIZE))
    assert result.head_kept and result.tensors == len(torch_model.state_dict())
    model = load_keras_model(result.out)
    errors = {"5d": _relative(model.predict(clip, verbose=0), reference)}
    edge = create_model(arch, 400, FRAMES, SIZE, form="4d")
    edge.set_weights(model.get_weights())
    errors["4d"] = max(_relative(edge.predict(c, verbose=0), r[None]) for c, r in zip(clip, reference, strict=True))
    tflite = tmp_path / "kinetics_fp32.tflite"
    tflite.write_bytes(convert_clip_model(edge, (FRAMES, SIZE, SIZE, 3), "fp32"))
    with TFLiteRunner(tflite, num_threads=2) as runner:
        errors["tflite"] = max(_relative(next(iter(runner.run(c).values())), r[None])
                               for c, r in zip(clip, reference, strict=True))
    print(f"{arch}: max |logit diff| / max |logit| = " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    assert max(errors.values()) < TOLERANCE, errors

    bns = [m for m in torch_model.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    ours = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    assert len(ours) == len(bns)
    assert all(k.epsilon == t.eps and k.momentum == pytest.approx(1 - t.momentum) for k, t in zip(ours, bns,
                                                                                                  strict=True))


@pytest.mark.slow
def test_a_checkpoint_with_module_prefixes_imports_with_a_fresh_head(torchvision_file, tmp_path, capsys):
    path, torch_model = torchvision_file("r3d_18")
    state = {f"module.{k}": v for k, v in torch_model.state_dict().items()}
    checkpoint = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "model": state, "optimizer": {}}, checkpoint)
    out = tmp_path / "signs.keras"
    code = main(["import-weights", str(checkpoint), str(out), "--arch", "r3d_18", "--classes", "10",
                 "--frames", "8", "--size", "32"])
    printed = capsys.readouterr().out
    assert code == 0 and "a fresh 10-class head (the file's has 400 classes)" in printed
    from edge_slr.models.io import load_keras_model

    model = load_keras_model(out)
    assert model.get_layer("logits").get_weights()[0].shape == (512, 10)
    np.testing.assert_array_equal(model.get_layer("stem").get_weights()[0],
                                  torch_model.stem[0].weight.detach().numpy().transpose(2, 3, 4, 1, 0))
    np.testing.assert_array_equal(model.get_layer("layer4_1_conv2_bn").get_weights()[3],
                                  torch_model.layer4[1].conv2[1].running_var.numpy())


def _refusal(args: list[str], capsys) -> str:
    code = main(["import-weights", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("edge-slr import-weights: error:") and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("given, arch, message", [
    ("r3d_18", "r2plus1d_18", "holds r3d_18 weights, not r2plus1d_18: use --arch r3d_18"),
    ("r2plus1d_18", "r3d_18", "holds r2plus1d_18 weights, not r3d_18: use --arch r2plus1d_18"),
    ("mc3_18", "r3d_18", "holds the weights of another torchvision video model, not r3d_18"),
])
def test_a_file_of_another_architecture_is_refused(given, arch, message, torchvision_file, tmp_path, capsys):
    path, _ = torchvision_file(given)
    out = tmp_path / "x.keras"
    assert message in _refusal([str(path), str(out), "--arch", arch], capsys)
    assert not out.exists()


def test_missing_and_unknown_keys_are_listed(torchvision_file, tmp_path, capsys):
    _, model = torchvision_file("r3d_18")
    state = model.state_dict()
    del state["layer2.0.conv1.1.running_var"]
    state["layer5.0.conv1.0.weight"] = torch.zeros(3)
    path = tmp_path / "edited.pth"
    torch.save(state, path)
    err = _refusal([str(path), str(tmp_path / "x.keras"), "--arch", "r3d_18"], capsys)
    assert "missing 1 key(s) (layer2.0.conv1.1.running_var); 1 unknown key(s) (layer5.0.conv1.0.weight)" in err
    assert not (tmp_path / "x.keras").exists()


def test_a_wrong_shape_is_refused(torchvision_file, tmp_path, capsys):
    _, model = torchvision_file("r3d_18")
    state = model.state_dict()
    state["layer3.1.conv2.0.weight"] = state["layer3.1.conv2.0.weight"][:, :128]
    path = tmp_path / "narrow.pth"
    torch.save(state, path)
    err = _refusal([str(path), str(tmp_path / "x.keras"), "--arch", "r3d_18"], capsys)
    assert "layer3.1.conv2.0.weight has shape (256, 128, 3, 3, 3)" in err


def test_unreadable_and_foreign_files_are_refused(torchvision_file, tmp_path, capsys):
    path, _ = torchvision_file("r3d_18")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[:100_000])
    assert "(is the file complete?)" in _refusal([str(truncated), str(tmp_path / "a.keras"), "--arch", "r3d_18"],
                                                 capsys)
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    assert "never runs code from a file" in _refusal([str(text), str(tmp_path / "b.keras"), "--arch", "r3d_18"],
                                                     capsys)
    no_tensors = tmp_path / "no_tensors.pth"
    torch.save({"epoch": 3, "lr": 0.1}, no_tensors)
    assert "holds no state_dict" in _refusal([str(no_tensors), str(tmp_path / "c.keras"), "--arch", "r3d_18"], capsys)
    image_net = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), image_net)
    err = _refusal([str(image_net), str(tmp_path / "d.keras"), "--arch", "r3d_18"], capsys)
    assert "does not fit r3d_18: missing" in err and "unknown key(s)" in err
    assert "does not exist" in _refusal([str(tmp_path / "none.pth"), str(tmp_path / "e.keras"), "--arch", "r3d_18"],
                                        capsys)
    assert not list(tmp_path.glob("*.keras"))


def test_without_pytorch_the_command_says_what_to_install(torchvision_file, tmp_path, capsys, monkeypatch):
    path, _ = torchvision_file("r3d_18")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if it were not installed
    assert "pip install 'edge-slr[torch]'" in _refusal([str(path), str(tmp_path / "x.keras"), "--arch", "r3d_18"],
                                                       capsys)


def test_nothing_else_in_edge_slr_imports_torch():
    pattern = re.compile(r"^\s*(import|from)\s+(torch|torchvision)\b", re.MULTILINE)
    importers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "edge_slr").rglob("*.py")
                       if pattern.search(p.read_text(encoding="utf-8")))
    assert importers == ["edge_slr/models/import_weights.py"]


@pytest.mark.slow
def test_fine_tuning_from_imported_weights_trains_and_exports(torchvision_file, tiny_dataset, tmp_path, capsys):
    """import-weights -> train --init (frozen early stages, slower backbone) -> export-tflite, as a user runs them."""
    path, _ = torchvision_file("r2plus1d_18")
    start, run = tmp_path / "kinetics.keras", tmp_path / "runs" / "ft"
    assert main(["import-weights", str(path), str(start), "--arch", "r2plus1d_18", "--frames", "8",
                 "--size", "32"]) == 0
    assert main(["train", "--arch", "r2plus1d_18", "--data", str(tiny_dataset), "--frames", "8", "--size", "32",
                 "--epochs", "1", "--batch", "2", "--init", str(start), "--freeze-stages", "2",
                 "--backbone-lr-scale", "0.1", "--out", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "init: head not loaded: kinetics.keras has 400 classes, this run 3; it starts fresh" in printed
    assert "fine-tune: stem and stages 1-2 frozen for the whole run" in printed
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["init"] == str(start.resolve()) and config["backbone_lr_scale"] == 0.1
    assert main(["export-tflite", str(run), "--quant", "fp32", "--val-clips", "4"]) == 0
    tflite = run / "export" / "r2plus1d_18_fp32.tflite"
    report = json.loads(tflite.with_suffix(".report.json").read_text(encoding="utf-8"))
    assert report["gpu_compatible"] and report["parity"]["top1_agreement"] == 1.0
    card = json.loads(tflite.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["input"]["mean"] == list(KINETICS_MEAN) and card["input"]["value_range"] == [0, 255]
