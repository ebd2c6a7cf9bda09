"""DC² in PyTorch: kernel-prediction op, DRBNet refiner, ASPP fusion, presets, defocus maps."""

from dc2kit.model.dc2 import PRESETS, DC2Config, DC2Net, DC2Output, ScaleOutput, preset_config
from dc2kit.model.dc2_io import load_dc2, read_dc2_config, save_dc2
from dc2kit.model.defocus import (
    defocus_map,
    defocus_pyramid,
    focus_disparity_at,
    lens_blur_strength,
)
from dc2kit.model.drbnet import (
    DRBNet,
    RefinerConfig,
    load_drbnet_checkpoint,
    load_drbnet_state_dict,
    single_image_drbnet,
)
from dc2kit.model.errors import (
    CheckpointError,
    ConfigError,
    DefocusError,
    InputShapeError,
    ModelError,
)
from dc2kit.model.fusion import ASPP_TABLE, ASPPFusion, FusionConfig
from dc2kit.model.kernel_predict import FORMULATIONS, KernelPredict, kernel_predict
from dc2kit.model.pretrained import init_from_drbnet
from dc2kit.model.radial import radial_mask

__all__ = [
    "ASPP_TABLE",
    "FORMULATIONS",
    "PRESETS",
    "ASPPFusion",
    "CheckpointError",
    "ConfigError",
    "DC2Config",
    "DC2Net",
    "DC2Output",
    "DRBNet",
    "DefocusError",
    "FusionConfig",
    "InputShapeError",
    "KernelPredict",
    "ModelError",
    "RefinerConfig",
    "ScaleOutput",
    "defocus_map",
    "defocus_pyramid",
    "focus_disparity_at",
    "init_from_drbnet",
    "kernel_predict",
    "lens_blur_strength",
    "load_dc2",
    "load_drbnet_checkpoint",
    "load_drbnet_state_dict",
    "preset_config",
    "radial_mask",
    "read_dc2_config",
    "save_dc2",
    "single_image_drbnet",
]
