"""Anomaly detectors: one module per detector, registered with ``registry.register_detector``."""

from policies.engine.detectors.registry import Detector, get_detector, register_detector

__all__ = ["Detector", "get_detector", "register_detector"]
