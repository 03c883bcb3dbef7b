"""Issue 26: the clinic's own model. A checked model registry in the database (add, list, use,
compare; the active model measures every new photo and is named in its provenance), the
record's accepted corrections as a training set, and a short fine-tune on the CPU that starts
from the shipped network and writes an ONNX model with its card. Bad input gets one message
each and the active model is never left broken."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from woundtrack.cli import main
from woundtrack.errors import ModelError
from woundtrack.image.learned import (
    LABELS_KEY,
    LearnedSegmenter,
    check_model,
    default_model_path,
    default_tissue_model_path,
    load_model,
    model_version,
)
from woundtrack.models import ESCHAR, GRANULATION, SLOUGH, WOUND_BED_LABELS
from woundtrack.record import clinic_models
from woundtrack.record.access import AccessError
from woundtrack.record.ingest import correct, import_photo, stored_labels
from woundtrack.record.store import SHIPPED_MODEL, Store, StoreError
from woundtrack.record.training_set import export_dataset, tissue_map
from woundtrack.synthetic.phantom import PhantomSpec, write_phantom

#: what a measurement's model_version adds to its wound-bed model's: the shipped tissue network
TISSUE = f"+tissue-{model_version(load_model(str(default_tissue_model_path())))}"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Models run from the user cache folder: a fresh one per test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def tiny_model(
    *, out_channels: int = 1, labels: str | None = None, version: str = "tiny-1"
) -> bytes:
    """A one-convolution 'network': logits = 0.05 * (R - G) - 1 on the [-1, 1] input, so red
    pixels (R much above G) are wound. It has the shipped model's input and output names."""
    weight = np.zeros((out_channels, 3, 1, 1), np.float32)
    weight[:, 0], weight[:, 1] = 6.0, -6.0
    bias = np.full(out_channels, -1.0, np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["logits"], kernel_shape=[1, 1])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", out_channels, "h", "w"])],
        [onnx.numpy_helper.from_array(weight, "w"), onnx.numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"woundtrack_model_version": version}
    if labels is not None:
        meta[LABELS_KEY] = labels
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clinic")
    paths = []
    for seed in (71, 72):
        spec = PhantomSpec(seed=seed, width_px=640, height_px=480, wound_radius_mm=12.0)
        path = folder / f"p{seed}.jpg"
        write_phantom(spec, path)
        paths.append(path)
    return paths


def _store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'w.db'}")


# -- checking a model -----------------------------------------------------------------------------


def test_the_shipped_model_and_a_tiny_one_pass_the_check():
    shipped = check_model(default_model_path().read_bytes(), name="wound_bed.onnx")
    assert shipped.version == "2026-11-26a" and shipped.card is None
    tiny = check_model(tiny_model(), name="tiny.onnx")
    assert tiny.version == "tiny-1" and len(tiny.sha256) == 64


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not a model at all", "is not an ONNX model that can be run"),
        (tiny_model()[:40], "is not an ONNX model that can be run"),
        (tiny_model(labels="tissue"), "is a model for 'tissue', not for the wound bed"),
        (tiny_model(out_channels=4), "not one wound-bed channel"),
    ],
)
def test_a_model_that_cannot_measure_gets_one_message_naming_the_file(data, words):
    with pytest.raises(ModelError, match=words) as caught:
        check_model(data, name="clinic.onnx")
    assert str(caught.value).startswith("clinic.onnx ")
    assert "\n" not in str(caught.value)


# -- the registry ---------------------------------------------------------------------------------


def test_the_active_model_measures_new_photos_and_is_named_in_their_provenance(tmp_path, photos):
    store = _store(tmp_path)
    assert store.active_model() == SHIPPED_MODEL and store.models() == []
    first = import_photo(store, photos[0].read_bytes(), name=photos[0].name, patient="CUA-1")
    entry = clinic_models.add_model(store, tiny_model(), name="clinic-a", file_name="a.onnx")
    assert not entry.active and store.active_model() == SHIPPED_MODEL
    store.use_model("clinic-a")
    assert store.active_model() == "clinic-a"
    assert [m.name for m in store.models() if m.active] == ["clinic-a"]
    second = import_photo(store, photos[1].read_bytes(), name=photos[1].name, patient="CUA-1")
    old = store.current_analysis(first.visit_id).record["provenance"]
    new = store.current_analysis(second.visit_id).record["provenance"]
    shipped_sha = check_model(default_model_path().read_bytes(), name="x").sha256
    # a measurement names the wound-bed model and the (shipped) tissue network
    assert (old["model_name"], old["model_version"]) == ("shipped", f"2026-11-26a{TISSUE}")
    assert old["model_sha256"] == shipped_sha
    assert (new["model_name"], new["model_version"]) == ("clinic-a", f"tiny-1{TISSUE}")
    assert new["model_sha256"] == entry.sha256
    # the tiny model sees only red; the first visit's figures are untouched by the switch
    assert store.current_analysis(first.visit_id).model_version == f"2026-11-26a{TISSUE}"
    store.use_model(SHIPPED_MODEL)
    assert store.active_model() == SHIPPED_MODEL
    actions = [e.action for e in store.audit_entries()]
    assert actions.count("model_use") == 2 and "model_add" in actions


def test_a_broken_or_unknown_model_is_refused_and_the_active_one_stays(tmp_path):
    store = _store(tmp_path)
    clinic_models.add_model(store, tiny_model(), name="good", file_name="good.onnx")
    store.use_model("good")
    with pytest.raises(ModelError, match="broken.onnx is not an ONNX model"):
        clinic_models.add_model(store, b"\x00" * 100, name="broken", file_name="broken.onnx")
    with pytest.raises(StoreError, match="already in this database"):
        clinic_models.add_model(store, tiny_model(), name="good", file_name="again.onnx")
    with pytest.raises(StoreError, match="not allowed"):
        clinic_models.add_model(store, tiny_model(), name="shipped", file_name="s.onnx")
    with pytest.raises(StoreError, match="no model called 'nope'"):
        store.use_model("nope")
    assert store.active_model() == "good" and [m.name for m in store.models()] == ["good"]


def test_a_cached_model_file_that_was_changed_is_written_again_from_the_database(tmp_path):
    store = _store(tmp_path)
    entry = clinic_models.add_model(store, tiny_model(), name="m", file_name="m.onnx")
    path = clinic_models.model_path(store, "m")
    path.write_bytes(b"tampered")
    again = clinic_models.model_path(store, "m")
    assert again == path and check_model(path.read_bytes(), name="m").sha256 == entry.sha256


def test_only_an_admin_adds_or_switches_models(tmp_path):
    store = _store(tmp_path)
    store.add_user("admin@clinic.org", "admin")
    store.as_actor("admin@clinic.org").add_user("nurse@clinic.org", "nurse")
    nurse = store.as_actor("nurse@clinic.org")
    with pytest.raises(AccessError):
        clinic_models.add_model(nurse, tiny_model(), name="m", file_name="m.onnx")
    admin = store.as_actor("admin@clinic.org")
    clinic_models.add_model(admin, tiny_model(), name="m", file_name="m.onnx")
    with pytest.raises(AccessError):
        nurse.use_model("m")
    assert nurse.active_model() == SHIPPED_MODEL  # anyone reads which model measures


# -- the training set -----------------------------------------------------------------------------


def test_the_accepted_corrections_export_as_photos_masks_and_tissue_maps(tmp_path, photos):
    store = _store(tmp_path)
    visits = [
        import_photo(store, p.read_bytes(), name=p.name, patient="CUA-2").visit_id for p in photos
    ]
    labels = stored_labels(store, visits[0]).copy()
    labels[:40, :40] = ESCHAR  # the clinician adds a corner of eschar
    correct(store, visits[0], labels, by="dr@clinic.org")
    out = tmp_path / "set"
    entries = export_dataset(store, out, accepted_only=True)
    assert [e.id for e in entries] == [f"CUA-2-v{visits[0]}"]
    name = f"{entries[0].id}.png"
    mask = cv2.imread(str(out / "masks" / name), cv2.IMREAD_GRAYSCALE)
    tissue = cv2.imread(str(out / "tissue" / name), cv2.IMREAD_GRAYSCALE)
    photo = cv2.imread(str(out / "images" / name))
    assert photo.shape[:2] == mask.shape == labels.shape
    np.testing.assert_array_equal(mask == 255, np.isin(labels, WOUND_BED_LABELS))
    assert set(np.unique(mask)) <= {0, 255}
    assert (tissue[:40, :40] == 4).all()
    np.testing.assert_array_equal(tissue, tissue_map(labels))
    manifest = json.loads((out / "manifest.json").read_text())
    row = manifest["photos"][0]
    assert row["outline"] == "corrected" and row["accepted_by"] == "dr@clinic.org"
    assert row["photo_sha256"] == store.visits("CUA-2")[0]["photo_sha256"]
    assert datetime.fromisoformat(row["accepted_at"]).year >= 2026
    everything = export_dataset(store, tmp_path / "all")
    assert [e.outline for e in everything] == ["corrected", "automatic"]
    assert "dataset_export" in [e.action for e in store.audit_entries()]


def test_an_empty_export_or_a_used_folder_is_refused(tmp_path, photos):
    store = _store(tmp_path)
    import_photo(store, photos[0].read_bytes(), name=photos[0].name, patient="CUA-3")
    with pytest.raises(Exception, match="no accepted corrections to export"):
        export_dataset(store, tmp_path / "empty", accepted_only=True)
    assert not (tmp_path / "empty").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "x.txt").write_text("keep me")
    with pytest.raises(Exception, match="already exists and is not empty"):
        export_dataset(store, used)
    assert (used / "x.txt").read_text() == "keep me"


def test_tissue_values_are_fusegs():
    labels = np.array([[0, GRANULATION, SLOUGH, ESCHAR, 4]], np.uint8)
    assert tissue_map(labels).tolist() == [[0, 2, 1, 4, 0]]


# -- the command line -----------------------------------------------------------------------------


def test_model_commands_add_list_use_and_refuse_broken_files(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'w.db'}"
    Store(db).close()
    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    good.write_bytes(tiny_model())
    bad.write_bytes(b"garbage")
    assert main(["--db", db, "model", "add", str(bad), "--name", "bad"]) == 1
    assert "bad.onnx is not an ONNX model" in capsys.readouterr().err
    assert main(["--db", db, "model", "add", str(good), "--name", "clinic-b"]) == 0
    assert main(["--db", db, "model", "use", "clinic-b"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "model", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  shipped") and lines[1].startswith("* clinic-b")
    assert main(["--db", db, "model", "use", "missing"]) == 1
    assert "no model called 'missing'" in capsys.readouterr().err


def test_measure_and_evaluate_take_a_model_file(tmp_path, photos, capsys):
    model = tmp_path / "tiny.onnx"
    model.write_bytes(tiny_model())
    assert main(["measure", str(photos[0]), "--json", "--model", str(model)]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["provenance"]["model_version"] == f"tiny-1{TISSUE}"
    assert record["provenance"]["model_name"] == "tiny"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"nope")
    assert main(["measure", str(photos[0]), "--model", str(broken)]) == 2
    assert "broken.onnx is not an ONNX model" in capsys.readouterr().err
    assert main(["measure", str(photos[0]), "--model", str(tmp_path / "none.onnx")]) == 2
    assert "cannot read the model" in capsys.readouterr().err


def test_compare_scores_both_models_on_the_same_photos(tmp_path, photos, capsys):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for p in photos:
        (images / p.name).write_bytes(p.read_bytes())
        truth = write_phantom(
            PhantomSpec(seed=int(p.stem[1:]), width_px=640, height_px=480, wound_radius_mm=12.0),
            tmp_path / "again.jpg",
        ).labels
        cv2.imwrite(
            str(masks / f"{p.stem}.png"),
            (np.isin(truth, WOUND_BED_LABELS) * 255).astype(np.uint8),
        )
    db = f"sqlite:///{tmp_path / 'w.db'}"
    store = Store(db)
    clinic_models.add_model(store, tiny_model(), name="tiny", file_name="tiny.onnx")
    table = clinic_models.compare_models(store, "tiny", images=images, masks=masks)
    shipped, tiny = table.scores
    assert shipped["n_images"] == tiny["n_images"] == 2
    assert shipped["data_based_dice"] > 0.8  # the shipped network finds the phantom wounds
    assert len(table.per_photo) == 2 and table.names == ("shipped", "tiny")
    # The same scores by the skin around the wound: both phantoms' skin (tone 0.3, ITA° 49) is
    # "light", so that group is the whole set.
    groups = table.by_skin_tone
    assert groups == {"light": (shipped, tiny)}
    assert table.to_json()["by_skin_tone"] == {
        tone: {"shipped": a, "tiny": b} for tone, (a, b) in groups.items()
    }
    store.close()
    assert (
        main(
            ["--db", db, "model", "compare", "tiny", "--images", str(images), "--masks", str(masks)]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "Dice (pixels pooled)" in text and f"{shipped['data_based_dice']:.3f}" in text
    assert "Dice (pixels pooled) by the skin around the wound (ITA°):" in text
    for tone, (a, _) in groups.items():
        assert f"  {tone} ({a['n_images']})" in text


# -- the fine-tune (torch) ------------------------------------------------------------------------


def test_the_trainable_copy_of_the_shipped_network_gives_its_logits():
    torch = pytest.importorskip("torch")
    from woundtrack.learn.onnx_net import OnnxNet

    base = onnx.load(str(default_model_path()))
    net = OnnxNet(base)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32)
    expected = load_model(str(default_model_path())).run(None, {"input": x})[0]
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)
    with torch.no_grad():  # a changed weight is what the written model runs
        net.params["p0"].mul_(0.5)
        changed = net(torch.from_numpy(x)).numpy()
    written = net.tuned_model(base, {"woundtrack_model_version": "x"}).SerializeToString()
    import onnxruntime as ort

    session = ort.InferenceSession(written, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], changed, atol=1e-3)
    assert not np.allclose(changed, expected, atol=1e-2)


def _clinic_pairs(n: int):
    """n photos of a 'clinic' the tiny model half-sees: red wounds on brown skin."""
    from woundtrack.learn.pairs import make_pair

    rng = np.random.default_rng(0)
    pairs = []
    for i in range(n):
        image = np.zeros((160, 200, 3), np.uint8)
        image[:] = (120, 80, 60)
        mask = np.zeros((160, 200), np.uint8)
        cv2.circle(mask, (int(rng.integers(60, 140)), int(rng.integers(50, 110))), 30, 1, -1)
        image[mask > 0] = (170, 60, 60)
        noise = rng.normal(0, 6, image.shape)
        pairs.append(make_pair(f"c{i}", np.clip(image + noise, 0, 255).astype(np.uint8), mask > 0))
    return pairs


def test_finetune_writes_a_checked_model_with_its_card(tmp_path):
    pytest.importorskip("torch")
    from woundtrack.learn.finetune import FinetuneParams, card_markdown, finetune

    base = tmp_path / "tiny.onnx"
    base.write_bytes(tiny_model())
    seen = []
    result = finetune(
        _clinic_pairs(8),
        base_path=base,
        replay=_clinic_pairs(8),
        params=FinetuneParams(minutes=3, max_steps=6, crop_px=64, batch=2, lr=0.05, warmup_steps=2),
        progress=lambda fraction, message: seen.append(fraction),
        source="test clinic",
    )
    data = result.model.SerializeToString()
    info = check_model(data, name="tuned.onnx")
    card = info.card
    assert card == result.card
    assert info.version == card["model_version"] and info.version.startswith("clinic-")
    assert info.base_version == "tiny-1" and card["steps"] == 6
    assert len(card["held_back"]) == 2 and len(card["tuned_on"]) == 6
    assert not set(card["held_back"]) & set(card["tuned_on"])
    assert card["held_back_before"]["n_images"] == 2 and card["held_back_after"]["n_images"] == 2
    assert card["public_held_back_before"]["n_images"] == 2
    assert card["total_minutes"] < 3
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in result.model.graph.initializer}
    assert not np.allclose(weights["w"][0, :, 0, 0], [6.0, -6.0, 0.0])  # it learned
    md = card_markdown(card)
    assert card["model_version"] in md and "| clinic, held back |" in md
    (tmp_path / "t.onnx").write_bytes(data)
    segmenter = LearnedSegmenter(model_path=str(tmp_path / "t.onnx"))  # it measures
    labels = segmenter(_clinic_pairs(1)[0].image, _no_calibration())
    assert labels.shape == (160, 200)


def _no_calibration():
    from woundtrack.models import Calibration

    return Calibration(method="none")


def test_finetune_refuses_too_few_photos_and_empty_masks(tmp_path):
    pytest.importorskip("torch")
    from woundtrack.learn.finetune import FinetuneError, finetune
    from woundtrack.learn.pairs import make_pair

    with pytest.raises(FinetuneError, match="needs at least 4"):
        finetune(_clinic_pairs(3), base_path=default_model_path())
    blank = [
        make_pair(f"b{i}", np.zeros((50, 50, 3), np.uint8), np.zeros((50, 50), bool))
        for i in range(4)
    ]
    with pytest.raises(FinetuneError, match="no photo has a wound drawn"):
        finetune(blank, base_path=default_model_path())


def test_finetune_command_reports_bad_folders_and_files(tmp_path, capsys):
    pytest.importorskip("torch")
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    pairs = _clinic_pairs(2)
    for p in pairs:
        cv2.imwrite(str(images / f"{p.name}.png"), p.image)
    cv2.imwrite(str(masks / f"{pairs[0].name}.png"), pairs[0].mask.astype(np.uint8) * 255)
    cv2.imwrite(str(masks / f"{pairs[1].name}.png"), np.zeros((20, 20), np.uint8))
    (images / "lonely.png").write_bytes(cv2.imencode(".png", pairs[0].image)[1].tobytes())
    out = tmp_path / "m.onnx"
    assert main(["finetune", "--out", str(out)]) == 2
    assert "needs either --images DIR and --masks DIR, or --from-db" in capsys.readouterr().err
    code = main(["finetune", "--images", str(images), "--masks", str(masks), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert "lonely.png: no mask named lonely.* found" in err
    assert "c1.png is 200x160 px but its mask c1.png is 20x20 px" in err
    assert "1 outlined photo(s): fine-tuning needs at least 4" in err
    out.write_bytes(b"")
    assert (
        main(["finetune", "--images", str(images), "--masks", str(masks), "--out", str(out)]) == 2
    )
    assert "must be a new file" in capsys.readouterr().err


def test_finetune_from_the_database_needs_accepted_corrections(tmp_path, photos, capsys):
    pytest.importorskip("torch")
    db = f"sqlite:///{tmp_path / 'w.db'}"
    store = Store(db)
    import_photo(store, photos[0].read_bytes(), name=photos[0].name, patient="CUA-4")
    store.close()
    code = main(["--db", db, "finetune", "--from-db", "--out", str(tmp_path / "m.onnx")])
    assert code == 1
    assert "0 outlined photo(s): fine-tuning needs at least 4" in capsys.readouterr().err


def test_a_model_written_for_another_input_is_refused_by_measure(tmp_path, capsys):
    model = onnx.load_from_string(tiny_model())
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1  # grey photos
    model.graph.node[0].input[1] = "w1"
    model.graph.initializer.append(
        onnx.numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w1")
    )
    path = tmp_path / "grey.onnx"
    path.write_bytes(model.SerializeToString())
    assert (
        main(
            [
                "measure",
                str(Path(__file__).parent.parent / "sample_images" / "demo_week00.jpg"),
                "--model",
                str(path),
            ]
        )
        == 2
    )
    assert "grey.onnx cannot run on a 3-channel photo" in capsys.readouterr().err
