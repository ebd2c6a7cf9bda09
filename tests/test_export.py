"""`dc2kit export` and `verify`: the parity gate, manifests, refusals that leave nothing."""

import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from dc2kit.cli import main
from dc2kit.convert import export as export_module
from dc2kit.convert.errors import ExportError
from dc2kit.convert.export_targets import EXPORT_TARGETS
from dc2kit.convert.manifest import artifact_sha256, manifest_path
from dc2kit.model import DC2Net, preset_config, save_dc2
from dc2kit.model.builder import WeightsChoice, build_dc2

SIZE = "96x64"


def _run(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def _tflite_argv(out, *extra):
    """`dc2kit export` of the mobile preset to an fp32 .tflite in `out`."""
    return [
        "export",
        "--target",
        "tflite",
        "--preset",
        "mobile",
        "--size",
        SIZE,
        "--precision",
        "fp32",
        "--out",
        str(out),
        "--random-weights",
        *extra,
    ]


@pytest.fixture(scope="module")
def tflite_export(mobile_tflite_cli):
    """The session's one CLI export of the mobile preset (conftest), as `_tflite_argv` says."""
    assert mobile_tflite_cli.returncode == 0, mobile_tflite_cli.stderr
    return mobile_tflite_cli.out / "dc2_mobile_96x64_fp32.tflite"


def test_export_writes_artifact_and_manifest(tflite_export):
    manifest = json.loads(manifest_path(tflite_export).read_text())
    assert manifest["sha256"] == artifact_sha256(tflite_export)
    assert manifest["preset"] == "mobile"
    assert (manifest["config"]["width"], manifest["config"]["height"]) == (96, 64)
    assert manifest["weights"]["kind"] == "random" and manifest["weights"]["seed"] == 0
    assert "RANDOM (untrained)" in manifest["weights"]["label"]
    assert set(manifest["tools"]) >= {"torch", "coremltools", "litert-torch", "ai-edge-litert"}
    assert not [op for op in manifest["op_histogram"] if "COMPOSITE" in op]  # the default: ops
    assert not [op for op in manifest["op_histogram"] if "GATHER" in op or "SCATTER" in op]
    checks = {c["check"]: c for c in manifest["parity"]["checks"]}
    assert set(checks) == {"random", "structured"}
    assert manifest["parity"]["passed"]
    assert manifest["parity"]["min_psnr_db"] >= 80
    report = manifest["delegate_report"]  # the default lowering: plain ops, one partition
    assert report["xnnpack_residency"]["partitions"] == 1
    assert report["xnnpack_residency"]["undelegated"] == {}
    assert manifest["options"]["kernel_predict"] == "ops"
    assert [spec["name"] for spec in manifest["inputs"]] == ["w", "uw", "defocus_w", "defocus_t"]


def test_random_weights_say_so_inside_the_tflite(tflite_export, capsys):
    from dc2kit.convert.tflite_metadata import read_metadata

    description, entries = read_metadata(tflite_export)
    assert "weights: RANDOM (untrained) weights, seed 0" in description
    assert entries["dc2kit.weights"] == "RANDOM (untrained) weights, seed 0"
    assert (
        json.loads(entries["dc2kit.weights_origin"])
        == json.loads(manifest_path(tflite_export).read_text())["weights"]
    )
    code, out, _ = _run(capsys, ["verify", str(tflite_export)])
    assert code == 0 and "weights: RANDOM (untrained) weights, seed 0" in out


def test_verify_passes_then_catches_a_changed_artifact(tflite_export, capsys, tmp_path):
    code, out, _ = _run(capsys, ["verify", str(tflite_export), "--json"])
    assert code == 0
    assert json.loads(out)["passed"] is True
    changed = tmp_path / tflite_export.name
    changed.write_bytes(tflite_export.read_bytes())
    manifest_path(changed).write_text(manifest_path(tflite_export).read_text())
    model, _ = build_dc2("mobile", (64, 96), weights=WeightsChoice.random(0))  # as exported
    _corrupt(changed, model.refiner_w.encoder.stage2[0][0].bias)
    code, out, err = _run(capsys, ["verify", str(changed), "--json"])
    assert code == 1
    report = json.loads(out)
    assert report["sha256_matches"] is False
    assert report["parity"]["passed"] is False
    assert "changed since export" in err
    changed.write_bytes(tflite_export.read_bytes()[:5000])
    code, _, err = _run(capsys, ["verify", str(changed)])
    assert code == 1
    assert "cannot run it" in err


def _corrupt(path, parameter):
    """Scale one value of a model parameter inside an artifact file (found by its exact bytes)."""
    vector = parameter.detach().numpy().astype(np.float32)
    data = bytearray(path.read_bytes())
    offset = bytes(data).find(vector.tobytes())
    assert offset > 0, "parameter bytes not found in the artifact"
    value = np.frombuffer(bytes(data[offset : offset + 4]), np.float32)[0]
    data[offset : offset + 4] = np.float32(value * 50 + 1).tobytes()
    path.write_bytes(bytes(data))


def test_a_corrupted_weight_fails_the_gate_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    """The publish path of every target; Core ML's conversion is the cheaper one to repeat."""
    coreml = EXPORT_TARGETS["coreml"]

    def convert_then_corrupt(model, path, options, weights):
        artifact = coreml.convert(model, path, options, weights)
        weights_file = path / "Data/com.apple.CoreML/weights/weight.bin"  # biases live in the spec
        _corrupt(weights_file, model.refiner_w.encoder.stage2[0][0].weight)
        return artifact

    monkeypatch.setitem(EXPORT_TARGETS, "coreml", replace(coreml, convert=convert_then_corrupt))
    argv = ["export", "--target", "coreml", "--preset", "mobile", "--size", "64x64"]
    argv += ["--precision", "fp32", "--random-weights", "--out", str(tmp_path)]
    code, _, err = _run(capsys, argv)
    assert code == 1
    assert "misses the fp32 gate" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "coreml", "--precision", "int8"], "not available for coreml"),
        (["--target", "all", "--precision", "int8"], "not available for coreml"),
        (["--target", "tflite", "--size", "100x64"], "multiple of 8"),
        (["--target", "tflite", "--out", "/dev/null/x"], "cannot create output folder"),
        (
            ["--target", "tflite", "--precision", "w8a8", "--kernel-predict", "composite"],
            "w8a8 needs --kernel-predict ops",
        ),
    ],
)
def test_bad_requests_fail_fast(tmp_path, capsys, argv, message):
    full = ["export", "--preset", "mobile", "--size", SIZE, "--out", str(tmp_path / "o")]
    full += ["--random-weights", *argv]
    code, _, err = _run(capsys, full)
    assert code == 1
    assert message in err
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_checkpoint_of_another_preset_is_refused(tmp_path, capsys):
    checkpoint = tmp_path / "paper.safetensors"
    torch.manual_seed(0)
    save_dc2(DC2Net(preset_config("paper", 32, 32)), checkpoint)
    argv = [
        "export",
        "--target",
        "tflite",
        "--preset",
        "mobile",
        "--size",
        SIZE,
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(tmp_path / "o"),
    ]
    code, _, err = _run(capsys, argv)
    assert code == 1
    assert "holds preset 'paper', not the requested 'mobile'" in err


# --- Core ML: a damaged package, publishing order ---------------------------------------------


@pytest.fixture(scope="module")
def coreml_export(tmp_path_factory):
    """The smallest real Core ML export: mobile preset, 64×64, fp32, through the parity gate."""
    out = tmp_path_factory.mktemp("coreml")
    options = export_module.ExportOptions(
        preset="mobile", height=64, width=64, precision="fp32", weights=WeightsChoice.random()
    )
    return export_module.export_artifact("coreml", options, out).artifact


def _copy_with_manifest(artifact, folder):
    copy = folder / artifact.name
    shutil.copytree(artifact, copy)
    shutil.copy(manifest_path(artifact), manifest_path(copy))
    return copy


def _damage_blob_metadata(package):
    """Overwrite the first weight blob's metadata sentinel (0xDEADBEEF) in weight.bin."""
    blob = package / "Data/com.apple.CoreML/weights/weight.bin"
    data = bytearray(blob.read_bytes())
    offset = data.find(np.uint32(0xDEADBEEF).tobytes())
    assert offset >= 0
    data[offset : offset + 4] = b"\0\0\0\0"
    blob.write_bytes(bytes(data))


def _damage_spec(package):
    spec = package / "Data/com.apple.CoreML/model.mlmodel"
    data = bytearray(spec.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 256] = b"\x7f" * 256
    spec.write_bytes(bytes(data))


def test_random_weights_say_so_inside_the_mlpackage(coreml_export):
    import coremltools as ct

    spec = ct.utils.load_spec(str(coreml_export))
    metadata = spec.description.metadata
    assert metadata.shortDescription.endswith("Weights: RANDOM (untrained) weights, seed 0.")
    assert metadata.userDefined["dc2kit.weights"] == "RANDOM (untrained) weights, seed 0"
    origin = json.loads(metadata.userDefined["dc2kit.weights_origin"])
    assert origin == json.loads(manifest_path(coreml_export).read_text())["weights"]


def test_published_package_matches_its_manifest(coreml_export, capsys):
    manifest = json.loads(manifest_path(coreml_export).read_text())
    assert manifest["sha256"] == artifact_sha256(coreml_export)
    assert not list(coreml_export.rglob("executorch_debug_handle_mapping.json"))
    assert sorted(p.name for p in coreml_export.parent.iterdir()) == [
        coreml_export.name,
        manifest_path(coreml_export).name,
    ]
    code, out, _ = _run(capsys, ["verify", str(coreml_export), "--json"])
    assert code == 0 and json.loads(out)["passed"] is True


@pytest.mark.parametrize("damage", [_damage_blob_metadata, _damage_spec])
def test_verify_on_a_damaged_package_is_one_line_with_the_sha_verdict(
    coreml_export, tmp_path, capsys, damage
):
    damaged = _copy_with_manifest(coreml_export, tmp_path)
    damage(damaged)
    code, out, err = _run(capsys, ["verify", str(damaged)])
    assert code == 1
    # stdout holds at most the timings of the phases that finished before the refusal
    assert all(re.fullmatch(r"  \S.* +\d+\.\d s", line) for line in out.splitlines())
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith(f"dc2kit: error: {damaged}: sha256 differs from the manifest; ")
    assert "not a loadable ML program" in err


def test_an_artifact_without_its_manifest_is_refused(coreml_export, tmp_path, capsys):
    orphan = _copy_with_manifest(coreml_export, tmp_path)
    manifest_path(orphan).unlink()  # as a run killed between the two renames leaves it
    code, _, err = _run(capsys, ["verify", str(orphan)])
    assert code == 1
    assert "no manifest beside it" in err and "\n" not in err


def test_both_exporters_refuse_the_reference_formulation_in_the_same_words(tmp_path):
    from dc2kit.convert.coreml import export_coreml
    from dc2kit.convert.tflite import export_tflite

    model = DC2Net(preset_config("mobile", 16, 16, formulation="reference"))
    messages = []
    for export, name in ((export_coreml, "dc2.mlpackage"), (export_tflite, "dc2.tflite")):
        with pytest.raises(ExportError) as caught:
            export(model, tmp_path / name)
        messages.append(str(caught.value).removeprefix(f"{tmp_path / name}: "))
    assert messages[0] == messages[1] and "\n" not in messages[0]
    assert "'reference' cannot be exported" in messages[0]
    assert list(tmp_path.iterdir()) == []


def test_the_constants_are_one_set_the_exporters_and_the_model_agree_with():
    from dc2kit.convert.coreml import COMPUTE_PRECISIONS
    from dc2kit.convert.targets import EXPORTABLE_FORMULATIONS, GATES_DB, PRECISIONS, TARGETS
    from dc2kit.model import FORMULATIONS

    assert tuple(PRECISIONS) == TARGETS == tuple(EXPORT_TARGETS)
    assert all(target.name == name for name, target in EXPORT_TARGETS.items())
    assert set(COMPUTE_PRECISIONS) == set(PRECISIONS["coreml"])
    assert set(GATES_DB) == {p for target in TARGETS for p in PRECISIONS[target]}
    assert set(EXPORTABLE_FORMULATIONS) == set(FORMULATIONS) - {"reference"}
