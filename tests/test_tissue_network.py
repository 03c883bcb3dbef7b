"""The tissue network in the learned segmenter: its file is checked, its tissues replace the colour
rules' inside the bed (never the bed itself), and a black patch by the colour rule stays eschar
unless the network is confident, over most of a patch it can see, that it is not.
Its accuracy on real photos is in weights/MODEL_CARD.md (``woundtrack evaluate --tissue-masks``);
on phantoms in test_accuracy.py and test_segmentation.py."""

import dataclasses

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from woundtrack.errors import ModelError
from woundtrack.image import learned
from woundtrack.image.calibration import calibrate
from woundtrack.image.pipeline import make_segmenter
from woundtrack.models import ESCHAR, GRANULATION, SLOUGH
from woundtrack.synthetic.phantom import PhantomSpec, render_phantom


def colour_tissue_net(tmp_path, *, version: str = "fake-1", labels: str = "tissue") -> str:
    """A one-convolution 'tissue network' on the [-1, 1] input: granulation = 5 R, slough =
    5 G + 2, eschar = -5 (R + G) - 3, and "not wound" 20 everywhere (which the segmenter must
    ignore: the bed is the wound-bed network's). Red is granulation, yellow slough, black eschar."""
    weight = np.zeros((4, 3, 1, 1), np.float32)
    weight[1, 0] = 5.0
    weight[2, 1] = 5.0
    weight[3, 0] = weight[3, 1] = -5.0
    bias = np.array([20.0, 0.0, 2.0, -3.0], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["logits"], kernel_shape=[1, 1])],
        "fake-tissue",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 4, "h", "w"])],
        [onnx.numpy_helper.from_array(weight, "w"), onnx.numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {"woundtrack_model_version": version, "woundtrack_labels": labels}.items():
        model.metadata_props.add(key=key, value=value)
    path = tmp_path / f"{version}.onnx"
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_the_best_bed_tissue_is_taken_whatever_not_wound_scores(tmp_path):
    session = learned.load_model(colour_tissue_net(tmp_path))
    region = np.zeros((60, 90, 3), np.uint8)
    region[:, :30] = (220, 30, 30)  # red
    region[:, 30:60] = (230, 220, 60)  # yellow
    region[:, 60:] = (10, 10, 10)  # black
    scores = learned.tissue_scores(region, session, 64, (30, 45))
    assert scores.shape == (30, 45, 4) and scores.dtype == np.float32
    dark_grey = np.zeros((30, 45, 3), np.float32)  # no colour check says "not eschar"
    labels = learned.tissue_from_scores(scores, dark_grey, learned.LearnedParams())
    assert labels.dtype == np.uint8  # "not wound" scores 20 everywhere, and is never taken
    assert (labels[:, :13] == GRANULATION).all()
    assert (labels[:, 16:28] == SLOUGH).all()
    assert (labels[:, 32:] == ESCHAR).all()


def test_the_networks_eschar_must_be_dark_and_not_red():
    scores = np.zeros((1, 3, 4), np.float32)
    scores[..., ESCHAR] = 5.0  # eschar first ...
    scores[0, :, SLOUGH] = 3.0  # ... slough second
    lab = np.array([[[20.0, 2.0, 3.0], [70.0, 2.0, 30.0], [30.0, 30.0, 10.0]]], np.float32)
    labels = learned.tissue_from_scores(scores, lab, learned.LearnedParams())
    # black stays eschar; a light pixel and a dark red one take the next best tissue
    assert labels.tolist() == [[ESCHAR, SLOUGH, SLOUGH]]
    assert learned.dark_red(lab, 25.0).tolist() == [[False, False, True]]


def test_the_tissue_network_sees_the_region_at_most_as_large_as_the_photo_at_512_px():
    p = learned.LearnedParams()
    assert learned.tissue_long_side_px((1000, 800), (4000, 3000), p) == 128
    assert learned.tissue_long_side_px((3000, 3000), (3000, 3000), p) == 384
    assert learned.tissue_long_side_px((40, 40), (4000, 3000), p) == 64  # never below 64


def _labels(segmenter, image):
    calibration, _ = calibrate(image)
    return segmenter(image, calibration)


def constant_tissue_net(tmp_path, tissue: int, lead: float = 5.0) -> str:
    """A 'tissue network' that scores ``tissue`` highest of the bed tissues everywhere, ``lead``
    logits above the other two."""
    path = colour_tissue_net(
        tmp_path, version=f"only-{tissue}" + (f"-lead-{lead:g}" if lead != 5 else "")
    )
    model = onnx.load(path)
    bias = np.array([20.0, 0.0, 0.0, 0.0], np.float32)
    bias[tissue] = lead
    arrays = {"w": np.zeros((4, 3, 1, 1), np.float32), "b": bias}
    for t in model.graph.initializer:
        t.CopyFrom(onnx.numpy_helper.from_array(arrays[t.name], t.name))
    onnx.save(model, path)
    return path


def test_the_tissue_network_splits_the_bed_and_leaves_the_bed_as_it_was(tmp_path):
    ph = render_phantom(PhantomSpec(seed=31, noise_sigma=2.0, jpeg_quality=90))
    by_colour = dataclasses.replace(learned.LearnedSegmenter(), tissue_model_path=None)
    net = dataclasses.replace(
        by_colour,
        tissue_model_path=constant_tissue_net(tmp_path, GRANULATION),
        params=dataclasses.replace(by_colour.params, colour_eschar=False),
    )
    plain, split = _labels(by_colour, ph.image), _labels(net, ph.image)
    bed_plain = (plain >= GRANULATION) & (plain <= ESCHAR)
    bed_split = (split >= GRANULATION) & (split <= ESCHAR)
    assert bed_plain.sum() > 1000
    assert len(np.unique(plain[bed_plain])) == 3  # the colour rules see all three tissues
    np.testing.assert_array_equal(bed_split, bed_plain)
    assert (split[bed_split] == GRANULATION).all()  # the network's, not the colours'


@pytest.fixture(scope="module")
def eschar_phantom():
    """A phantom whose bed is half black eschar and half granulation."""
    return render_phantom(PhantomSpec(seed=5, eschar_fraction=0.5, slough_fraction=0.0))


def test_black_by_the_colour_rule_is_eschar_where_the_network_is_not_sure(tmp_path, eschar_phantom):
    ph = eschar_phantom
    lead = learned.LearnedParams().black_veto_logit - 1  # slough, but not by much
    seg = dataclasses.replace(
        learned.LearnedSegmenter(), tissue_model_path=constant_tissue_net(tmp_path, SLOUGH, lead)
    )
    with_colour = _labels(seg, ph.image)
    without = _labels(
        dataclasses.replace(seg, params=dataclasses.replace(seg.params, colour_eschar=False)),
        ph.image,
    )
    true_eschar = ph.labels == ESCHAR
    assert true_eschar.sum() > 1000
    assert np.mean(with_colour[true_eschar] == ESCHAR) > 0.8
    assert not (without == ESCHAR).any()
    assert (without[(without >= GRANULATION) & (without <= ESCHAR)] == SLOUGH).all()


def test_a_black_patch_the_network_is_sure_is_granulation_is_not_eschar(tmp_path, eschar_phantom):
    # a shaded bed of beefy granulation is "black" to the colour rules
    ph = eschar_phantom
    lead = learned.LearnedParams().black_veto_logit + 1
    seg = dataclasses.replace(
        learned.LearnedSegmenter(),
        tissue_model_path=constant_tissue_net(tmp_path, GRANULATION, lead),
    )
    labels = _labels(seg, ph.image)
    true_eschar = ph.labels == ESCHAR
    assert true_eschar.sum() > 1000
    assert not (labels == ESCHAR).any()
    assert np.mean(labels[true_eschar] == GRANULATION) > 0.8


def test_only_the_beds_black_is_judged_not_a_dark_sheet_beside_it(
    tmp_path, monkeypatch, eschar_phantom
):
    # a dim photo's dark surroundings must not join the bed's black into one patch that the
    # network is unsure of as a whole
    ph = eschar_phantom
    image = ph.image.copy()
    ys, xs = np.nonzero(ph.labels == ESCHAR)
    row = int(np.median(ys))
    image[row - 10 : row + 10, xs.max() :] = 12  # a black shadow from the eschar to the edge
    judged, judge = [], learned.black_patches_kept

    def spy(black, *args):
        judged.append(black.copy())
        return judge(black, *args)

    monkeypatch.setattr(learned, "black_patches_kept", spy)
    seg = dataclasses.replace(
        learned.LearnedSegmenter(), tissue_model_path=constant_tissue_net(tmp_path, SLOUGH, 1.0)
    )
    labels = _labels(seg, image)
    (black,) = judged
    bed = (labels >= GRANULATION) & (labels <= ESCHAR)
    bed = cv2.resize(bed.view(np.uint8), black.shape[::-1], interpolation=cv2.INTER_NEAREST)
    near_bed = cv2.dilate(bed, np.ones((5, 5), np.uint8)) > 0
    assert black.any()  # the bed's eschar is judged ...
    assert not (black & ~near_bed).any()  # ... and not the shadow beyond it
    assert np.mean(labels[ph.labels == ESCHAR] == ESCHAR) > 0.8


def test_a_black_patch_is_judged_whole_and_only_where_the_network_could_see_it():
    p = learned.LearnedParams()  # veto at 4 logits, on patches of 16 network pixels or more
    black = np.zeros((20, 40), bool)
    black[2:12, 2:12] = True  # patch A, 100 px: 60 % of it confidently not eschar
    black[2:12, 20:30] = True  # patch B, 100 px: 40 % of it
    black[15:18, 35:38] = True  # patch C, 9 px, all of it
    margin = np.zeros((20, 40), np.float32)
    margin[2:8, 2:12] = p.black_veto_logit
    margin[2:6, 20:30] = 9.0
    margin[15:18, 35:38] = 9.0
    kept = learned.black_patches_kept(black, margin, 1.0, p)
    assert kept.dtype == bool and not (kept & ~black).any()
    assert not kept[2:12, 2:12].any()  # A: vetoed, all of it (its unsure rows too)
    assert kept[2:12, 20:30].all()  # B: eschar, all of it (its confident rows too)
    assert kept[15:18, 35:38].all()  # C: 9 network pixels, too small for the network to judge
    # seen at twice the network's resolution C spans 36 network pixels: vetoed
    assert not learned.black_patches_kept(black, margin, 2.0, p)[15:18, 35:38].any()
    # where the network did not run (outside its region) black stays eschar
    outside = np.full((20, 40), -np.inf, np.float32)
    np.testing.assert_array_equal(learned.black_patches_kept(black, outside, 1.0, p), black)
    nothing = np.zeros((20, 40), bool)
    assert not learned.black_patches_kept(nothing, margin, 1.0, p).any()


def test_a_tissue_file_is_checked_and_not_taken_for_a_wound_bed_one(tmp_path):
    path = colour_tissue_net(tmp_path)
    data = open(path, "rb").read()
    assert learned.check_model(data, name="t.onnx", labels="tissue").version == "fake-1"
    with pytest.raises(ModelError, match="is a model for 'tissue', not for the wound bed"):
        learned.check_model(data, name="t.onnx")
    bed = learned.default_model_path().read_bytes()
    with pytest.raises(ModelError, match="not for the tissues"):
        learned.check_model(bed, name="wound_bed.onnx", labels="tissue")
    with pytest.raises(ModelError, match="fake-1.onnx is a model for 'tissue'"):
        make_segmenter(model_path=path)
    segmenter = make_segmenter(tissue_model_path=path)
    assert segmenter.version.endswith("+tissue-fake-1")


def test_the_shipped_tissue_network_is_in_the_package_and_named_in_the_version():
    path = learned.default_tissue_model_path()
    assert path.is_file()
    total = path.stat().st_size + learned.default_model_path().stat().st_size
    assert total <= 20e6  # both networks ship in the package
    info = learned.check_model(path.read_bytes(), name=path.name, labels="tissue")
    segmenter = learned.LearnedSegmenter()
    assert segmenter.tissue_model_path == str(path)
    assert segmenter.version.endswith(f"+tissue-{info.version}")
    colour = dataclasses.replace(segmenter, tissue_model_path=None)
    assert "+tissue" not in colour.version
    assert "tissue.onnx" in (path.parent / "MODEL_CARD.md").read_text()
