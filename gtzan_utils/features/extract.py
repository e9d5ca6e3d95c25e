"""Slicing and the four input kinds of the paper, computed from a whole song at once.

Kinds (shapes for the default 5-s slices at 22050 Hz):

=============  ===============  ==================================================================
kind           shape            what
=============  ===============  ==================================================================
``mfcc``       (13, 216)        13 MFCC, n_fft 2048, hop 512 (the paper's 13×216)
``mel``        (128, 216)       128-bin log-mel in dB (``librosa.power_to_db``, ref 1.0)
``mel3``       (128, 500, 3)    multi-resolution log-mel (Palanisamy et al. 2020): windows/hops
                                25/10, 50/25, 100/50 ms, ``log(S + eps)``, each resized in time to
                                the finest grid (500 frames for 5 s) and stacked as channels
``mfcc_image`` (64, 216, 3)     the colour-mapped MFCC as an RGB image in [0, 1] (the paper's code saved
                                MFCC plots as PNG and reloaded them for MobileNetV2; no files here)
``musicnn``    (96, 313)        the input of the pretrained musicnn backbones (gtzan_utils.classify.pretrained):
                                16 kHz, n_fft 512, hop 256, 96 mel bands, ``log10(10000·S + 1)`` in
                                float32. Its sample rate and STFT are fixed by the checkpoints, whatever
                                the other parameters say (set in ``__post_init__``)
=============  ===============  ==================================================================

All slices of a song are computed in one librosa call on a (n_slices, samples) array, which is what
makes featurizing fast (see ``gtzan bench featurize``). Shown in notebook 02_preprocessing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from gtzan_utils.base.constants import SR
from gtzan_utils.base.errors import GtzanError

KINDS: tuple[str, ...] = ("mfcc", "mel", "mel3", "mfcc_image", "musicnn")

#: The musicnn checkpoints' input (Pons & Serra 2019): fixed by their training, so one home here.
MUSICNN_INPUT: dict = {"sr": 16000, "n_fft": 512, "hop_length": 256, "n_mels": 96}

#: Bump when the feature code or the store's layout changes: old stores then get other folder names and are rebuilt,
#: not misread. 2: the sharded store (``features.store``, one ``.npy`` per shard of songs and a Parquet manifest).
FEATURE_VERSION = 2


@dataclass(frozen=True)
class FeatureParams:
    """Everything that determines a feature array; its :attr:`key` names the store folder.

    Notebook: 02_preprocessing
    """

    kind: str = "mfcc"
    sr: int = SR
    slice_seconds: float = 5.0
    n_slices: int = 6
    #: start-to-start distance of a song's windows in seconds; 0 means ``slice_seconds`` (the paper's consecutive
    #: slices). Shorter hops give overlapping windows: the training crops of :func:`windows_of`
    hop_seconds: float = 0.0
    #: a last slice missing at most this many seconds is zero-padded (GTZAN clips run 29.9–30.7 s)
    pad_seconds: float = 0.25
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 13
    #: (window ms, hop ms) of the three mel3 channels
    mel3_resolutions: tuple[tuple[float, float], ...] = ((25.0, 10.0), (50.0, 25.0), (100.0, 50.0))
    mel3_eps: float = 1e-6
    image_height: int = 64
    image_cmap: str = "viridis"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise GtzanError(f"unknown feature kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.slice_seconds <= 0 or self.n_slices < 1:
            raise GtzanError(f"slice_seconds must be > 0 and n_slices >= 1 (got {self.slice_seconds}, {self.n_slices})")
        if not 0 <= self.hop_seconds <= self.slice_seconds:
            raise GtzanError(
                f"hop_seconds must be between 0 (consecutive slices) and slice_seconds ({self.slice_seconds}), "
                f"got {self.hop_seconds}"
            )
        if self.image_height < 32:
            raise GtzanError(f"image_height must be >= 32 (ImageNet models need it), got {self.image_height}")
        if self.kind == "musicnn":  # the backbone's input is fixed by its weights
            for name, value in MUSICNN_INPUT.items():
                object.__setattr__(self, name, value)
        # tuples survive a JSON round trip as lists: normalise so that equality and hashing hold
        object.__setattr__(self, "mel3_resolutions", tuple(tuple(float(v) for v in r) for r in self.mel3_resolutions))

    # -- identity -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mel3_resolutions"] = [list(r) for r in self.mel3_resolutions]
        if not self.hop_seconds:  # consecutive slices keep the key they had before windows existed
            del d["hop_seconds"]
        d["feature_version"] = FEATURE_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureParams:
        d = {k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}}
        if "mel3_resolutions" in d:
            d["mel3_resolutions"] = tuple(tuple(r) for r in d["mel3_resolutions"])
        return cls(**d)

    @property
    def key(self) -> str:
        """Stable short hash of the parameters (and the feature code version)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    # -- derived sizes ------------------------------------------------------------------------------
    @property
    def slice_samples(self) -> int:
        return int(round(self.slice_seconds * self.sr))

    @property
    def hop_samples(self) -> int:
        """Samples from one window's start to the next one's (``slice_samples`` for consecutive slices)."""
        return int(round(self.hop_seconds * self.sr)) if self.hop_seconds else self.slice_samples

    def _mel3_frames(self) -> list[tuple[int, int]]:
        """(window, hop) in samples for each mel3 channel."""
        return [(int(round(w * self.sr / 1000)), int(round(h * self.sr / 1000))) for w, h in self.mel3_resolutions]

    @property
    def mel3_width(self) -> int:
        finest_hop_ms = min(h for _, h in self.mel3_resolutions)
        return int(round(self.slice_seconds * 1000 / finest_hop_ms))

    @property
    def frames(self) -> int:
        """STFT frames of one slice with librosa's centred framing."""
        return 1 + self.slice_samples // self.hop_length

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one slice's feature array."""
        if self.kind == "mfcc":
            return (self.n_mfcc, self.frames)
        if self.kind in ("mel", "musicnn"):
            return (self.n_mels, self.frames)
        if self.kind == "mel3":
            return (self.n_mels, self.mel3_width, len(self.mel3_resolutions))
        return (self.image_height, self.frames, 3)


# -- slicing ----------------------------------------------------------------------------------------
def n_whole_slices(n_samples: int, params: FeatureParams) -> int:
    """How many slices (windows) a clip of ``n_samples`` yields (at most ``params.n_slices``)."""
    length, hop = params.slice_samples, params.hop_samples
    pad = int(round(params.pad_seconds * params.sr))
    if n_samples + pad < length:
        return 0
    return int(min(params.n_slices, 1 + (n_samples + pad - length) // hop))


def slice_audio(y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Cut a mono clip into slices: array (k, slice_samples), k = :func:`n_whole_slices`. Slice ``i`` starts at
    ``i * hop_samples``: consecutive slices by default, overlapping windows with a shorter ``hop_seconds``.

    A clip shorter than ``n_slices`` slices keeps its whole slices only; a last slice short by at most
    ``pad_seconds`` is zero-padded. ``k`` may be 0 for a clip shorter than one slice.
    """
    k = n_whole_slices(len(y), params)
    length, hop = params.slice_samples, params.hop_samples
    need = (k - 1) * hop + length if k else 0
    if len(y) < need:
        y = np.pad(y, (0, need - len(y)))
    if hop == length or k == 0:
        return np.ascontiguousarray(y[:need].reshape(k, length), dtype=np.float32)
    return np.ascontiguousarray(np.stack([y[i * hop : i * hop + length] for i in range(k)]), dtype=np.float32)


def windows_of(params: FeatureParams, hop_seconds: float) -> FeatureParams:
    """The parameters of a song's overlapping training windows: ``params``' slices (same length and features)
    starting every ``hop_seconds``, over the same span of audio (``n_slices`` consecutive slices' worth), e.g.
    26 windows of 5 s every second of a 30-s song instead of its 6 slices. ``params`` themselves when the hop is
    0 or the slice length. Notebook: 02_preprocessing
    """
    if not hop_seconds or hop_seconds >= params.slice_seconds:
        return params
    span = (params.n_slices - 1) * params.slice_seconds
    n = 1 + int(np.floor(span / hop_seconds + 1e-9))
    return dataclasses.replace(params, hop_seconds=float(hop_seconds), n_slices=n)


# -- the kinds --------------------------------------------------------------------------------------
def _mel_power(slices: np.ndarray, p: FeatureParams) -> np.ndarray:
    """Mel power spectrograms of all slices in one call (the expensive part)."""
    import librosa

    return librosa.feature.melspectrogram(y=slices, sr=p.sr, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels)


def _db_per_slice(S: np.ndarray) -> np.ndarray:
    """``power_to_db`` slice by slice: its ``top_db`` floor must follow each slice's own maximum, so that a
    slice's features never depend on its neighbours (one call on the batch would share one maximum)."""
    import librosa

    return np.stack([librosa.power_to_db(s, ref=1.0) for s in S])


def _cached(cache: dict | None, key: tuple, make):
    if cache is None:
        return make()
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _mel_db(slices: np.ndarray, p: FeatureParams, cache: dict | None = None) -> np.ndarray:
    key = ("mel_db", p.sr, p.n_fft, p.hop_length, p.n_mels)
    return _cached(cache, key, lambda: _db_per_slice(_mel_power(slices, p)))


def _mfcc(slices: np.ndarray, p: FeatureParams, cache: dict | None = None) -> np.ndarray:
    """Equal to ``librosa.feature.mfcc(y=slice, ...)`` for each slice (it is the DCT of the log-mel)."""
    import librosa

    key = ("mfcc", p.sr, p.n_fft, p.hop_length, p.n_mels, p.n_mfcc)
    return _cached(cache, key, lambda: librosa.feature.mfcc(S=_mel_db(slices, p, cache), n_mfcc=p.n_mfcc))


def resize_time(x: np.ndarray, width: int) -> np.ndarray:
    """Linear interpolation of the last axis of ``x`` to ``width`` points (end points kept)."""
    n = x.shape[-1]
    if n == width:
        return x
    pos = np.linspace(0.0, n - 1, width)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo).astype(x.dtype)
    return x[..., lo] * (1 - frac) + x[..., hi] * frac


def resize_rows(x: np.ndarray, height: int) -> np.ndarray:
    """Linear interpolation of axis -2 (rows) of ``x`` to ``height``."""
    return np.swapaxes(resize_time(np.swapaxes(x, -1, -2), height), -1, -2)


def _mel3(slices: np.ndarray, p: FeatureParams) -> np.ndarray:
    import librosa

    chans = []
    for win, hop in p._mel3_frames():
        S = librosa.feature.melspectrogram(
            y=slices, sr=p.sr, n_fft=win, hop_length=hop, win_length=win, n_mels=p.n_mels
        )
        chans.append(resize_time(np.log(S + p.mel3_eps), p.mel3_width))
    return np.stack(chans, axis=-1)


def mfcc_to_rgb(mfcc: np.ndarray, height: int, cmap: str = "viridis") -> np.ndarray:
    """Colour-map MFCC arrays (..., n_mfcc, frames) to RGB images (..., height, frames, 3) in [0, 1].

    Each image is min-max scaled on its own (as a saved plot is), coefficient 0 at the bottom row
    (as ``specshow`` draws it), then resized in height.
    """
    import matplotlib

    lo = mfcc.min(axis=(-2, -1), keepdims=True)
    hi = mfcc.max(axis=(-2, -1), keepdims=True)
    scaled = (mfcc - lo) / np.maximum(hi - lo, 1e-9)
    rgb = matplotlib.colormaps[cmap](scaled[..., ::-1, :])[..., :3]  # drop alpha; low coefficients at bottom
    rgb = np.moveaxis(rgb, -1, 0)  # (3, ..., rows, frames)
    rgb = resize_rows(rgb, height)
    return np.moveaxis(rgb, 0, -1).astype(np.float32)


def musicnn_log_mel(y: np.ndarray, p: FeatureParams | None = None) -> np.ndarray:
    """musicnn's input of 16-kHz audio (..., samples) → float32 (..., 96, frames): mel power, then
    ``log10(10000·S + 1)`` **in float32**. musicnn's own extractor casts to float16 first, where ``10000·S``
    overflows to inf for any mel power above 6.55 (most real songs): every output then reads the same."""
    import librosa

    p = p or FeatureParams(kind="musicnn")
    S = librosa.feature.melspectrogram(
        y=np.asarray(y, np.float32), sr=p.sr, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels
    )
    S = np.asarray(S, np.float32)
    return np.log10(np.float32(10000.0) * S + np.float32(1.0))


def compute_slices(slices: np.ndarray, params: FeatureParams, cache: dict | None = None) -> np.ndarray:
    """Features of a batch of slices (k, slice_samples) → float32 (k, *params.shape).

    ``cache`` (a dict, one per batch of slices) shares the log-mel between ``mel``, ``mfcc`` and ``mfcc_image``.
    """
    if slices.shape[0] == 0:
        return np.zeros((0, *params.shape), np.float32)
    if params.kind == "mfcc":
        out = _mfcc(slices, params, cache)
    elif params.kind == "mel":
        out = _mel_db(slices, params, cache)
    elif params.kind == "mel3":
        out = _mel3(slices, params)
    elif params.kind == "musicnn":
        out = musicnn_log_mel(slices, params)
    else:
        out = mfcc_to_rgb(_mfcc(slices, params, cache), params.image_height, params.image_cmap)
    out = np.asarray(out, dtype=np.float32)
    assert out.shape[1:] == params.shape, (out.shape, params.shape)
    return out


def compute_song(y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Slice a mono clip and compute its features: float32 (k, *params.shape)."""
    return compute_slices(slice_audio(y, params), params)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """``y`` at ``target_sr`` (librosa's default resampler, as :func:`gtzan_utils.data.dataset.read_audio` uses)."""
    if orig_sr == target_sr or not len(y):
        return y
    import librosa

    return np.ascontiguousarray(librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr), dtype=np.float32)


def compute_song_kinds(y: np.ndarray, params_list, sr: int | None = None) -> list[np.ndarray]:
    """Several kinds of one clip in one pass: the clip is resampled once per sample rate the kinds need
    (``sr`` is the clip's own rate; None means it is already at each kind's rate), sliced once per slicing,
    and the log-mel STFT is shared by the kinds that use it. Returns one array per entry of ``params_list``."""
    groups: dict[tuple, tuple[np.ndarray, dict]] = {}
    at_rate: dict[int, np.ndarray] = {}
    out = []
    for p in params_list:
        if sr is not None:
            if p.sr not in at_rate:
                at_rate[p.sr] = resample(y, sr, p.sr)
            y_p = at_rate[p.sr]
        else:
            y_p = y
        key = (p.sr, p.slice_seconds, p.n_slices, p.pad_seconds, p.hop_samples)
        if key not in groups:
            groups[key] = (slice_audio(y_p, p), {})
        slices, cache = groups[key]
        out.append(compute_slices(slices, p, cache))
    return out
