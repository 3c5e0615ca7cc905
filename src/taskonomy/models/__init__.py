"""Models of Stages I and II, all built through one registry (``create_model``).

Importing this package registers every part: encoders (``resnet50_taskonomy``, ``resnet_small``,
``resnet_tiny``), decoders by task kind, the transfer readout, and the whole task / transfer
networks.
"""
from . import decoders, encoders, networks  # noqa: F401  (registration side effects)
from .networks import ModelSettings, TaskNetwork, TransferNetwork, fit_output_scale
from .registry import create_model, list_models, model_kind, register_model

__all__ = ["create_model", "list_models", "model_kind", "register_model", "ModelSettings",
           "TaskNetwork", "TransferNetwork", "fit_output_scale"]
