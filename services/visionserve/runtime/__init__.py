"""Runners that execute a batch on a device. No Ray."""

from visionserve.runtime.base import Runner

__all__ = ["Runner"]
