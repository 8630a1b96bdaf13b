"""The understanding layer on its own (no Ray): search, sets on disk, synthesis, measures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import image_bytes
from visionserve.errors import Cancelled, InvalidImage, PayloadTooLarge, ReferenceSetNotFound
from visionserve.explain.progress import Progress
from visionserve.understand import filters, patches, rollout, space, synthesis
from visionserve.understand.refsets import ReferenceSets


def test_hnsw_finds_what_exact_search_finds() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    queries = vectors[:50] + 0.01 * rng.normal(size=(50, 32)).astype(np.float32)
    for metric in ("cosine", "l2"):
        exact = space.Index(vectors, metric, exact_limit=10_000)
        approximate = space.Index(vectors, metric, exact_limit=100)
        assert (exact.kind, approximate.kind) == ("exact", "hnsw")
        want = exact.search(queries, 5, [None] * 50)
        got = approximate.search(queries, 5, [None] * 50)
        recall = np.mean(
            [len({n.index for n in a} & {n.index for n in b}) / 5 for a, b in zip(want, got, strict=True)]
        )
        assert recall > 0.95
        assert [a[0].index for a in want] == list(range(50))  # each query's own vector is nearest
        assert got[0][0].distance == pytest.approx(want[0][0].distance, abs=1e-4)


def test_search_leaves_the_query_itself_out() -> None:
    vectors = np.eye(4, dtype=np.float32) + 0.1
    index = space.Index(vectors, "cosine", exact_limit=10)
    found = index.search(vectors[:1], 2, [0])[0]
    assert 0 not in [n.index for n in found]
    assert len(found) == 2


def test_pooled_embeddings_of_maps_tokens_and_vectors() -> None:
    assert space.pooled(torch.ones(2, 8, 5, 5)).shape == (2, 8)
    assert space.pooled(torch.ones(2, 50, 16)).shape == (2, 16)
    assert space.pooled(torch.ones(2, 16)).shape == (2, 16)


def test_pca_coordinates_separate_two_clusters() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(10, 20)) + 5
    b = rng.normal(size=(10, 20)) - 5
    coordinates = space.project(np.vstack([a, b]).astype(np.float32), "pca", seed=0, perplexity=30)
    assert np.sign(coordinates[:10, 0]).tolist() != np.sign(coordinates[10:, 0]).tolist()
    assert abs(coordinates[:10, 0].mean() - coordinates[10:, 0].mean()) > 10


def test_a_filter_grid_tiles_each_filter_scaled_on_its_own() -> None:
    weights = np.zeros((4, 3, 3, 3), dtype=np.float32)
    weights[1, 0] = 1.0  # only red
    grid = np.asarray(filters.filter_grid(weights, cell=2, gap=1))
    assert grid.shape == (2 * 7 + 1, 2 * 7 + 1, 3)
    second = grid[1:7, 8:14]  # the tile of filter 1
    assert (second[..., 0] == 255).all()
    assert (second[..., 1:] == 0).all()


def test_reference_sets_are_written_whole_and_read_back(tmp_path: Path) -> None:
    sets = ReferenceSets(tmp_path, max_images=3, max_pixels=10_000_000)
    made = sets.create("cats", [("a.png", image_bytes("chelsea.png")), ("b.jpg", image_bytes("rocket.jpg"))])
    again = sets.get(made.id)
    assert [i.name for i in again.items] == ["a.png", "b.jpg"]
    assert again.image_bytes(1) == image_bytes("rocket.jpg")
    assert json.loads((again.folder / "set.json").read_text())["name"] == "cats"
    with pytest.raises(InvalidImage, match=r"image 1 \('x.txt'\)"):
        sets.create("bad", [("a.png", image_bytes("chelsea.png")), ("x.txt", b"text")])
    with pytest.raises(PayloadTooLarge):
        sets.create("big", [("a.png", image_bytes("chelsea.png"))] * 4)
    assert [s.id for s in sets.list()] == [made.id]  # nothing left of the refused ones
    assert not [p for p in sets.root.iterdir() if p.name.startswith(".new-")]
    for wrong in ("0" * 32, "../" + made.id, made.id[:-1]):
        with pytest.raises(ReferenceSetNotFound):
            sets.get(wrong)
    sets.delete(made.id)
    assert sets.list() == []


def test_ssim_is_one_for_the_same_image_and_falls_with_noise() -> None:
    image = (
        np.asarray(Image.open(io.BytesIO(image_bytes("chelsea.png"))).convert("RGB"), dtype=np.float32) / 255
    )
    assert synthesis.ssim(image, image) == pytest.approx(1.0, abs=1e-5)
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 0.2, image.shape), 0, 1).astype(np.float32)
    assert synthesis.ssim(image, noisy) < 0.5


def test_pixel_range_keeps_images_real() -> None:
    pixels = synthesis.PixelRange.of((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    x = torch.full((1, 3, 2, 2), 5.0)
    assert pixels.clip(x).max() == 1.0
    unit = torch.rand(1, 3, 2, 2)
    assert torch.allclose(pixels.to_unit(pixels.from_unit(unit)), unit, atol=1e-6)


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(torch.relu(self.conv(x))).flatten(1))


def test_class_model_raises_its_class_and_is_deterministic() -> None:
    model = _Tiny().eval()
    pixels = synthesis.PixelRange.of((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    options = synthesis.ClassModelOptions(steps=40, seed=7)
    first = synthesis.class_model(model, 2, (16, 16), pixels, options, Progress())
    again = synthesis.class_model(model, 2, (16, 16), pixels, options, Progress())
    assert torch.equal(first, again)
    assert model(first)[0, 2] > model(torch.zeros(1, 3, 16, 16))[0, 2]
    assert first.min() >= -1.0
    assert first.max() <= 1.0


@pytest.mark.parametrize("sigma", [5e-324, 1e-30, 0.009])
def test_a_blur_narrower_than_a_pixel_keeps_the_image_finite(sigma: float) -> None:
    """A legal blur_sigma (> 0) so small that 1 / sigma^2 overflowed made the class model NaN,
    and its response a 500."""
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(synthesis.gaussian_blur(x, sigma), x)
    options = synthesis.ClassModelOptions(steps=4, blur_every=1, blur_sigma=sigma)
    pixels = synthesis.PixelRange.of((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    made = synthesis.class_model(_Tiny().eval(), 2, (16, 16), pixels, options, Progress())
    assert torch.isfinite(made).all()
    assert torch.isfinite(synthesis.gaussian_blur(x, 0.011)).all()


def test_synthesis_stops_when_cancelled() -> None:
    model = _Tiny().eval()
    pixels = synthesis.PixelRange.of((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    steps: list[int] = []

    def listener(stage: str, done: int, total: int) -> None:
        steps.append(done)
        if done == 3:
            progress.cancel()

    progress = Progress(listener)
    with pytest.raises(Cancelled):
        synthesis.class_model(model, 0, (8, 8), pixels, synthesis.ClassModelOptions(steps=100), progress)
    assert steps == [0, 1, 2, 3]


def test_layer_output_stops_the_forward_pass_at_the_layer() -> None:
    model = _Tiny().eval()
    ran: list[str] = []
    model.head.register_forward_hook(lambda *_: ran.append("head"))
    with synthesis.layer_output(model, "conv") as features:
        assert features(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 8, 8)
    assert ran == []
    assert not model.conv._forward_hooks  # the hook is gone afterwards


def test_a_receptive_field_is_measured_from_gradients() -> None:
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Conv2d(1, 1, 3, padding=1))
    torch.nn.init.constant_(conv[0].weight, 1.0)
    torch.nn.init.constant_(conv[1].weight, 1.0)
    box = patches.receptive_box(conv, "1", torch.ones(1, 1, 16, 16), 0, 8, 8)
    assert box == (6, 6, 11, 11)  # two 3x3 layers: 5x5 around the unit
    assert patches.receptive_box(conv, "1", torch.ones(1, 1, 16, 16), 0, 0, 0) == (0, 0, 3, 3)  # clipped


def test_attention_rollout_of_uniform_attention_is_uniform() -> None:
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)
            for p in self.attn.parameters():
                torch.nn.init.zeros_(p)  # equal scores: every token attends to all alike

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.attn(x, x, x, need_weights=False)[0]

    model = torch.nn.Sequential(Block(), Block())
    grid = rollout.rollout(model, torch.randn(1, 1 + 16, 8))
    assert grid.shape == (4, 4)
    assert np.allclose(grid, grid.mean())
    assert model[0].attn.forward.__name__ == "forward"  # restored
