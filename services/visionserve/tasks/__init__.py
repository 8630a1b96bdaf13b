"""Per-task preprocessing and postprocessing. No Ray."""

from visionserve.config import ModelConfig
from visionserve.tasks.base import Prepared, Task
from visionserve.tasks.classification import ClassificationTask
from visionserve.tasks.clip import ClipTask
from visionserve.tasks.detection import YoloxDetectionTask
from visionserve.tasks.segmentation import SemanticSegmentationTask
from visionserve.tasks.torchvision_detection import InstanceSegmentationTask, TorchvisionDetectionTask

_BY_HEAD: dict[str, type[Task]] = {  # type: ignore[type-arg]
    "logits": ClassificationTask,
    "yolox": YoloxDetectionTask,
    "torchvision_detection": TorchvisionDetectionTask,
    "torchvision_instances": InstanceSegmentationTask,
    "mask_sigmoid": SemanticSegmentationTask,
    "logits_map": SemanticSegmentationTask,
    "clip": ClipTask,
}


def task_for(cfg: ModelConfig, labels: list[str]) -> Task:  # type: ignore[type-arg]
    """The task that reads this model's output (ModelConfig checked head and task agree)."""
    return _BY_HEAD[cfg.source.head](cfg, labels)


__all__ = [
    "ClassificationTask",
    "ClipTask",
    "InstanceSegmentationTask",
    "Prepared",
    "SemanticSegmentationTask",
    "Task",
    "TorchvisionDetectionTask",
    "YoloxDetectionTask",
    "task_for",
]
