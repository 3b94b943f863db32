"""Prompt transforms for conjugate prompting (Kotha et al.): one per file, looked up by name.

    identity    the prompt as it is
    leetspeak   a→4 e→3 i→1 o→0 s→5 t→7 (fixed character map)
    piglatin    word rules (docs/transforms.md)
    parallel    read another language's text from the dataset's parallel columns
    mt_model    translate with a local sequence-to-sequence model folder
    world_l2    the fact world's second language (word bijection)
"""

from forgetscope.transforms.base import (
    TRANSFORMS,
    Transform,
    get_transform,
    transform_class,
)

__all__ = ["TRANSFORMS", "Transform", "get_transform", "transform_class"]
