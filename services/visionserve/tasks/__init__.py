"""Per-task preprocessing and postprocessing. No Ray."""

from visionserve.config import ModelConfig
from visionserve.tasks.base import Prepared, Task
from visionserve.tasks.classification import ClassificationTask
from visionserve.tasks.detection import YoloxDetectionTask


def task_for(cfg: ModelConfig, labels: list[str]) -> Task:  # type: ignore[type-arg]
    if cfg.task == "classification":
        return ClassificationTask(cfg, labels)
    return YoloxDetectionTask(cfg, labels)


__all__ = ["ClassificationTask", "Prepared", "Task", "YoloxDetectionTask", "task_for"]
