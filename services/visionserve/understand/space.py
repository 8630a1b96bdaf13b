"""Feature space: embeddings at a layer, nearest neighbours, and 2-D maps of a set (no Ray).

An embedding is a layer's activation for an image, global-average-pooled when it is a feature
map (the default layer, the input of the last global pool, gives the penultimate features a
linear head sees). Neighbours are exact (a matrix product) up to ``exact_limit`` items and
come from a faiss HNSW index above it; cosine compares L2-normalised embeddings.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from PIL import Image, ImageDraw

from visionserve.errors import Unprocessable

if TYPE_CHECKING:
    import faiss

Metric = Literal["cosine", "l2"]


def pooled(activation: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C) by global average pooling; (N, D) as it is; tokens (N, L, D) ->
    the mean token."""
    if activation.dim() == 4:
        return activation.mean(dim=(2, 3))
    if activation.dim() == 3:
        return activation.mean(dim=1)
    if activation.dim() == 2:
        return activation
    raise Unprocessable(f"the layer's output has shape {tuple(activation.shape)}: not an embedding")


@dataclass(frozen=True)
class Neighbour:
    index: int
    distance: float


class Index:
    """Nearest neighbours of query embeddings among a set's."""

    def __init__(self, embeddings: np.ndarray, metric: Metric, exact_limit: int) -> None:
        self.metric = metric
        self.vectors = _prepared(embeddings, metric)
        self.exact = len(self.vectors) <= exact_limit
        self._hnsw = None if self.exact else _hnsw(self.vectors, metric)

    @property
    def kind(self) -> str:
        return "exact" if self.exact else "hnsw"

    def search(self, queries: np.ndarray, k: int, exclude: list[int | None]) -> list[list[Neighbour]]:
        """The k nearest of each query (its own index in ``exclude`` left out), nearest first.
        Distances: cosine distance (1 - cosine similarity) or Euclidean."""
        q = _prepared(queries, self.metric)
        wanted = min(k + 1, len(self.vectors))
        if self._hnsw is not None:
            self._hnsw.hnsw.efSearch = max(64, 2 * wanted)
            scores, found = self._hnsw.search(q, wanted)
            distances = 1.0 - scores if self.metric == "cosine" else np.sqrt(np.maximum(scores, 0))
        else:
            distances = _distances(q, self.vectors, self.metric)
            found = np.argsort(distances, axis=1, kind="stable")[:, :wanted]
            distances = np.take_along_axis(distances, found, axis=1)
        answers = []
        for row, (indices, dist) in enumerate(zip(found, distances, strict=True)):
            picked = [
                Neighbour(int(i), float(d))
                for i, d in zip(indices, dist, strict=True)
                if i >= 0 and i != exclude[row]
            ]
            answers.append(picked[:k])
        return answers


def _prepared(embeddings: np.ndarray, metric: Metric) -> np.ndarray:
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    if metric == "cosine":
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
    return vectors


def _distances(q: np.ndarray, vectors: np.ndarray, metric: Metric) -> np.ndarray:
    distances: np.ndarray
    if metric == "cosine":
        distances = 1.0 - q @ vectors.T
    else:
        squared = (q**2).sum(1)[:, None] - 2 * q @ vectors.T + (vectors**2).sum(1)[None, :]
        distances = np.sqrt(np.maximum(squared, 0.0))
    return distances


def _hnsw(vectors: np.ndarray, metric: Metric) -> faiss.IndexHNSWFlat:
    import faiss  # only large sets need it

    space = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, space)
    index.hnsw.efConstruction = 80
    index.add(vectors)
    return index


def project(
    embeddings: np.ndarray, method: Literal["pca", "tsne"], seed: int, perplexity: float
) -> np.ndarray:
    """(N, 2) coordinates: the first two principal components, or t-SNE started from them."""
    n = len(embeddings)
    if n < 3:
        raise Unprocessable(f"a map needs at least 3 images, the set has {n}")
    centred = embeddings - embeddings.mean(axis=0)
    if method == "pca":
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        components: np.ndarray = (centred @ vt[:2].T).astype(np.float32)
        return components
    from sklearn.manifold import TSNE

    chosen = min(perplexity, (n - 1) / 3)  # t-SNE needs perplexity < n
    tsne = TSNE(n_components=2, perplexity=chosen, init="pca", random_state=seed, max_iter=500)
    return np.asarray(tsne.fit_transform(centred), dtype=np.float32)


def scatter(
    coordinates: np.ndarray, thumbnail: Callable[[int], Image.Image], size: int = 900, thumb: int = 56
) -> bytes:
    """A PNG of the map with each image's thumbnail at its point."""
    canvas = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(canvas)
    low, high = coordinates.min(axis=0), coordinates.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    usable = size - thumb - 8
    for index, (x, y) in enumerate(coordinates):
        left = int(4 + (x - low[0]) / span[0] * usable)
        top = int(4 + (1 - (y - low[1]) / span[1]) * usable)  # y grows upwards, as on a plot
        picture = thumbnail(index)
        picture.thumbnail((thumb, thumb))
        canvas.paste(picture, (left, top))
        draw.rectangle([left, top, left + picture.width, top + picture.height], outline=(80, 80, 80))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()
