"""Notebook parameters read from their text form: the values a user types into a ``parameters`` cell or passes
as ``gtzan run -p KEY=VALUE``, turned into what the package takes, with a :class:`GtzanError` that says what to
type when one cannot be read.
"""

from __future__ import annotations

import yaml

from gtzan_utils.base.errors import GtzanError


def parse_list(text) -> list[str]:
    """A comma-separated parameter as its items: ``"mfcc, mel,"`` → ``["mfcc", "mel"]``; ``""`` → ``[]``.

    Notebook: 02_preprocessing, 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation, 06_results
    """
    return [item.strip() for item in str(text or "").split(",") if item.strip()]


def parse_ints(text, name: str = "value") -> tuple[int, ...]:
    """``"32,64,128"`` → ``(32, 64, 128)``; GtzanError naming ``name`` when an item is not a whole number.

    Notebook: 05_vae_generation
    """
    try:
        return tuple(int(v) for v in parse_list(text))
    except ValueError:
        raise GtzanError(f"{name} must be whole numbers separated by commas, e.g. 32,64,128; not {text!r}") from None


def parse_pairs(text, name: str = "value") -> list[tuple[str, str]]:
    """``"mobilenetv2:mfcc_image, densenet121:mel3"`` → ``[("mobilenetv2", "mfcc_image"), ...]``.

    Notebook: 04_transfer_learning
    """
    pairs = []
    for item in parse_list(text):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise GtzanError(f"{name} must be model:input pairs separated by commas (mobilenetv2:mel3), not {item!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


def parse_size(text: str):
    """'64x128' → (64, 128); '' → None (keep the store's size).

    Notebook: 03_vanilla_cnn, 04_transfer_learning, 05_vae_generation
    """
    if not text:
        return None
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise GtzanError(f"INPUT_SIZE must look like 64x128 (height x width) or be empty, not {text!r}") from None
    return (h, w)


def parse_weights(text):
    """A ``WEIGHTS`` parameter: ``""``, ``"none"``, ``"None"`` and None mean no pretrained weights (None); any other
    value (``imagenet``, ``cached``, a checkpoint, a file) is kept as it is.

    Notebook: 04_transfer_learning
    """
    if text is None or str(text).strip().lower() in ("", "none"):
        return None
    return str(text).strip()


def parse_train_base(text: str):
    """Notebook 04's ``TRAIN_BASE``: "auto" → None, "frozen" → False, "trained" → True.

    Notebook: 04_transfer_learning
    """
    options = {"auto": None, "frozen": False, "trained": True}
    key = str(text).strip().lower()
    if key not in options:
        raise GtzanError(f"TRAIN_BASE must be one of {', '.join(options)}, not {text!r}")
    return options[key]


def parse_overrides(items) -> dict:
    """``["KEY=VALUE", ...]`` → ``{KEY: value}`` with each value read as YAML."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise GtzanError(f"parameter override {item!r} must look like KEY=VALUE, e.g. -p EPOCHS=3")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out
