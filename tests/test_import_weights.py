"""``edge-slr import-weights``: torchvision's r2plus1d_18 / r3d_18 weights in our models, checked against PyTorch.

torchvision's models are built with random weights and randomized BatchNorm statistics (variances down to 0.01,
so a wrong epsilon shows) and run in eval mode by ``torchvision_reference.py``, in a process of its own (see
there why). Our 5-D model, our 4-D edge form and its fp32 TFLite export must give PyTorch's logits on the same
clips to 1e-4 of the logit scale.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch  # plain torch only: torchvision must not load after TensorFlow (see torchvision_reference.py)

from edge_slr.cli import main

ARCHS = ("r2plus1d_18", "r3d_18")
TOLERANCE = 1e-4  # max |ours - PyTorch| / max |PyTorch logit|
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The folder ``torchvision_reference.py`` fills: state_dicts, the clips and PyTorch's logits on them."""
    out = tmp_path_factory.mktemp("torchvision")
    done = subprocess.run([sys.executable, str(HERE / "torchvision_reference.py"), str(out)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _relative(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_imported_weights_give_pytorchs_logits_in_5d_4d_and_tflite(arch, reference, tmp_path):
    from edge_slr.export.convert import convert_clip_model
    from edge_slr.models import create_model
    from edge_slr.models.import_weights import ImportConfig, import_weights
    from edge_slr.models.io import load_keras_model
    from edge_slr.runtime.runner import TFLiteRunner

    clip, logits = np.load(reference / "clip.npy"), np.load(reference / f"{arch}_logits.npy")
    frames, size = clip.shape[1], clip.shape[2]
    assert logits.shape == (2, 400) and np.abs(logits).max() > 0

    path = reference / f"{arch}.pth"
    result = import_weights(ImportConfig(path, arch, tmp_path / "kinetics.keras", frames=frames, size=size))
    assert result.head_kept and result.tensors == len(torch.load(path, weights_only=True))
    model = load_keras_model(result.out)
    errors = {"5d": _relative(model.predict(clip, verbose=0), logits)}
    edge = create_model(arch, 400, frames, size, form="4d")
    edge.set_weights(model.get_weights())
    errors["4d"] = max(_relative(edge.predict(c, verbose=0), r[None]) for c, r in zip(clip, logits, strict=True))
    tflite = tmp_path / "kinetics_fp32.tflite"
    tflite.write_bytes(convert_clip_model(edge, (frames, size, size, 3), "fp32"))
    with TFLiteRunner(tflite, num_threads=2) as runner:
        errors["tflite"] = max(_relative(next(iter(runner.run(c).values())), r[None])
                               for c, r in zip(clip, logits, strict=True))
    print(f"{arch}: max |logit diff| / max |logit| = " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    assert max(errors.values()) < TOLERANCE, errors

    torch_bn = json.loads((reference / "meta.json").read_text(encoding="utf-8"))[arch]["bn"]
    ours = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    assert len(ours) == len(torch_bn)
    assert all(k.epsilon == eps and k.momentum == pytest.approx(1 - momentum)
               for k, (eps, momentum) in zip(ours, torch_bn, strict=True))


@pytest.mark.slow
def test_a_checkpoint_with_module_prefixes_imports_with_a_fresh_head(reference, tmp_path, capsys):
    original = torch.load(reference / "r3d_18.pth", weights_only=True)
    state = {f"module.{k}": v for k, v in original.items()}
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
                                  original["stem.0.weight"].numpy().transpose(2, 3, 4, 1, 0))
    np.testing.assert_array_equal(model.get_layer("layer4_1_conv2_bn").get_weights()[3],
                                  original["layer4.1.conv2.1.running_var"].numpy())


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
def test_a_file_of_another_architecture_is_refused(given, arch, message, reference, tmp_path, capsys):
    path = reference / f"{given}.pth"
    out = tmp_path / "x.keras"
    assert message in _refusal([str(path), str(out), "--arch", arch], capsys)
    assert not out.exists()


def test_missing_and_unknown_keys_are_listed(reference, tmp_path, capsys):
    state = torch.load(reference / "r3d_18.pth", weights_only=True)
    del state["layer2.0.conv1.1.running_var"]
    state["layer5.0.conv1.0.weight"] = torch.zeros(3)
    path = tmp_path / "edited.pth"
    torch.save(state, path)
    err = _refusal([str(path), str(tmp_path / "x.keras"), "--arch", "r3d_18"], capsys)
    assert "missing 1 key(s) (layer2.0.conv1.1.running_var); 1 unknown key(s) (layer5.0.conv1.0.weight)" in err
    assert not (tmp_path / "x.keras").exists()


def test_a_wrong_shape_is_refused(reference, tmp_path, capsys):
    state = torch.load(reference / "r3d_18.pth", weights_only=True)
    state["layer3.1.conv2.0.weight"] = state["layer3.1.conv2.0.weight"][:, :128]
    path = tmp_path / "narrow.pth"
    torch.save(state, path)
    err = _refusal([str(path), str(tmp_path / "x.keras"), "--arch", "r3d_18"], capsys)
    assert "layer3.1.conv2.0.weight has shape (256, 128, 3, 3, 3)" in err


def test_unreadable_and_foreign_files_are_refused(reference, tmp_path, capsys):
    path = reference / "r3d_18.pth"
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
    err = _refusal([str(reference / "resnet18.pth"), str(tmp_path / "d.keras"), "--arch", "r3d_18"], capsys)
    assert "does not fit r3d_18: missing" in err and "unknown key(s)" in err
    assert "does not exist" in _refusal([str(tmp_path / "none.pth"), str(tmp_path / "e.keras"), "--arch", "r3d_18"],
                                        capsys)
    assert not list(tmp_path.glob("*.keras"))


def test_without_pytorch_the_command_says_what_to_install(reference, tmp_path, capsys, monkeypatch):
    path = reference / "r3d_18.pth"
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if it were not installed
    assert "pip install 'edge-slr[torch]'" in _refusal([str(path), str(tmp_path / "x.keras"), "--arch", "r3d_18"],
                                                       capsys)


def test_nothing_else_in_edge_slr_imports_torch():
    pattern = re.compile(r"^\s*(import|from)\s+(torch|torchvision)\b", re.MULTILINE)
    importers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "edge_slr").rglob("*.py")
                       if pattern.search(p.read_text(encoding="utf-8")))
    assert importers == ["edge_slr/models/import_weights.py"]


@pytest.mark.slow
def test_fine_tuning_from_imported_weights_trains_and_exports(reference, tiny_dataset, tmp_path, capsys):
    """import-weights -> train --init (frozen early stages, slower backbone) -> export-tflite, as a user runs them."""
    path = reference / "r2plus1d_18.pth"
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
    kinetics = json.loads((reference / "meta.json").read_text(encoding="utf-8"))["kinetics"]  # torchvision's
    assert card["input"]["value_range"] == [0, 255]
    assert card["input"]["mean"] == pytest.approx(kinetics["mean"], abs=1e-7)
    assert card["input"]["std"] == pytest.approx(kinetics["std"], abs=1e-7)
