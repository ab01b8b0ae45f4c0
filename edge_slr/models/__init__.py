"""The model zoo: ``create_model(name, num_classes, ...)`` builds any registered architecture.

Family modules are imported here by name so that their ``@register_model`` decorators run; the
registry itself has no import side effects.
"""

from edge_slr.models import cnn3d, cnn_lstm, resnet3d  # noqa: F401  (registers the families)
from edge_slr.models.registry import (
    InputSpec,
    ModelInfo,
    create_model,
    get_model_info,
    input_spec,
    list_models,
    validate_model_args,
)

__all__ = ["InputSpec", "ModelInfo", "create_model", "get_model_info", "input_spec", "list_models",
           "validate_model_args"]
