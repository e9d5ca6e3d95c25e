"""A genre-conditioned variational autoencoder (CVAE) on log-mel slices, trained from the feature store.

=============  ===========================================================================================
part           what
=============  ===========================================================================================
input          a ``mel`` store slice (n_mels, frames) in dB, normalised inside the model with the training
               split's per-row (mel bin) mean and std; zero-padded, then averaged over ``downsample`` (mel bins,
               frames) to the *working grid* (the quick profile: 4 × 2), padded to multiples of 16 (4 stride-2
               convs); cropped back at the output, so any size (128×216) goes in and the same size comes out
encoder        the one-hot genre broadcast as extra input channels → 4 × [Conv2D 3×3 stride 2 → BatchNorm
               (momentum 0.9) → LeakyReLU] → Flatten → Dense ``z_mean``, Dense ``z_log_var``
decoder        [z, one-hot genre] → Dense → Reshape → 4 × [Conv2DTranspose 3×3 stride 2 → BatchNorm
               (momentum 0.9) → FiLM by the genre → LeakyReLU] → Conv2D 3×3 (linear output, no norm) →
               bilinear upsampling from the working grid → crop
loss           ``reconstruction + β_t · kl`` per slice: squared error summed over the (normalised) pixels,
               KL summed over the latent dimensions; β_t rises linearly to β over ``warmup_epochs``
               (:class:`KLWarmup`). ``loss``, ``reconstruction`` and ``kl`` are logged per epoch, so a
               posterior collapse (kl → 0) shows in the history.
sampling       after training (:meth:`CVAE.fit_prior`): z from a full-covariance Gaussian fitted to each genre's codes,
               x = decoder(z) + noise of the spread the decoder leaves on that genre's slices (per row of the
               working grid) + noise of the detail finer than the grid (per mel bin, full resolution, AR(1) over
               frames), i.e. a draw from p(x | z) rather than its mean
=============  ===========================================================================================

:meth:`CVAE.decode` and :meth:`CVAE.sample` return dB log-mel arrays that
:func:`gtzan_utils.generate.audio.mel_db_to_audio` turns into sound. Shown in notebook 05_vae_generation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from gtzan_utils.base import files
from gtzan_utils.base.constants import GENRES
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import write_json
from gtzan_utils.base.resume import RunFolder
from gtzan_utils.classify.settings import TrainSettings
from gtzan_utils.classify.training import config_key, default_verbose, train_stats, train_val_rows

BN_MOMENTUM = 0.9
ARCHITECTURE = 8  # part of the configuration key: a model saved by another architecture is trained again
FILTERS = (32, 64, 128, 128)


@dataclass(frozen=True)
class VAESpec:
    """The VAE's own design, beside the :class:`TrainSettings` it trains with: ``latent_dim``; ``beta`` (weight
    of the KL term once warmed up over ``warmup_epochs``); ``free_bits`` (nats per latent dimension that cost
    nothing); ``filters`` (the 4 encoder convolutions' widths, mirrored by the decoder); ``downsample`` (mel bins,
    frames averaged into the working grid).

    Notebook: 05_vae_generation
    """

    latent_dim: int = 32
    beta: float = 1.0
    warmup_epochs: int = 5
    free_bits: float = 0.0
    filters: tuple[int, ...] = FILTERS
    downsample: tuple[int, int] = (1, 1)

    def __post_init__(self):
        fix = object.__setattr__
        fix(self, "filters", tuple(int(f) for f in self.filters))
        fix(self, "downsample", tuple(int(v) for v in (self.downsample or (1, 1))))
        if len(self.filters) != 4 or min(self.filters) < 1:
            raise GtzanError(
                f"the VAE needs 4 positive filter counts (one per encoder convolution), got {self.filters}"
            )
        if int(self.latent_dim) < 1 or len(self.downsample) != 2 or min(self.downsample) < 1:
            raise GtzanError(f"LATENT_DIM must be >= 1 and DOWNSAMPLE two positive numbers, not {self}")
        fix(self, "latent_dim", int(self.latent_dim))
        fix(self, "warmup_epochs", int(self.warmup_epochs))
        fix(self, "beta", float(self.beta))
        fix(self, "free_bits", float(self.free_bits))

    def to_dict(self) -> dict:
        """The spec as plain JSON values (lists for the tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _pad16(n: int) -> int:
    return int(-(-n // 16) * 16)


def _as_rows(v, h: int) -> np.ndarray:
    """A scalar or per-row statistic → float32 (h, 1) for broadcasting over (batch, h, frames)."""
    a = np.asarray(v, np.float32).reshape(-1)
    if a.size not in (1, h):
        raise GtzanError(f"mean/std must be a scalar or have one value per mel bin ({h}), got {a.size} values")
    return np.broadcast_to(a.reshape(-1, 1), (h, 1)).copy()


def _grid(h, w, down):
    """(rows, frames) of the working grid: the picture averaged over ``down`` (mel bins, frames), before padding."""
    return -(-h // down[0]), -(-w // down[1])


def _inner(h, w, down):
    """(H, W) the convolutions work on: the working grid (:func:`_grid`) padded to multiples of 16."""
    rows, cols = _grid(h, w, down)
    return _pad16(rows), _pad16(cols)


def _encoder(h, w, n_genres, latent_dim, filters, down=(1, 1)):
    L = keras.layers
    x_in = keras.Input((h, w), name="x")
    g_in = keras.Input((n_genres,), name="genre")
    H, W = _inner(h, w, down)
    x = L.Reshape((h, w, 1))(x_in)
    x = L.ZeroPadding2D(((0, H * down[0] - h), (0, W * down[1] - w)))(x)
    if down != (1, 1):  # average neighbouring mel bins / frames: a smaller picture, 4× cheaper per halving of both
        x = L.AveragePooling2D(down, name="enc_down")(x)
    g = L.Reshape((1, 1, n_genres))(g_in)
    g = L.UpSampling2D(size=(H, W))(g)  # genre as constant extra channels
    x = L.Concatenate(axis=-1)([x, g])
    for i, f in enumerate(filters):
        x = L.Conv2D(f, 3, strides=2, padding="same", name=f"enc_conv{i + 1}")(x)
        # batch norm, not instance norm: instance norm removes each channel's mean over the picture, i.e. the
        # slice's spectral envelope, and the encoder could not pass it on (reconstructions lost their genre)
        x = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"enc_bn{i + 1}")(x)
        x = L.LeakyReLU(0.2)(x)
    x = L.Flatten()(x)
    z_mean = L.Dense(latent_dim, dtype="float32", name="z_mean")(x)
    z_log_var = L.Dense(latent_dim, dtype="float32", name="z_log_var")(x)
    return keras.Model([x_in, g_in], [z_mean, z_log_var], name="encoder")


@keras.saving.register_keras_serializable(package="gtzan")
class FiLM(keras.layers.Layer):
    """Feature-wise linear modulation by the genre: ``x · (1 + γ(g)) + β(g)`` per channel (Perez et al. 2018),
    γ and β linear in the one-hot genre and zero at initialisation."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.gamma = keras.layers.Dense(self.channels, kernel_initializer="zeros", name="gamma")
        self.shift = keras.layers.Dense(self.channels, kernel_initializer="zeros", name="shift")

    def build(self, input_shape):
        g_shape = input_shape[1]
        self.gamma.build(g_shape)
        self.shift.build(g_shape)

    def call(self, inputs):
        x, g = inputs
        gamma = keras.ops.reshape(self.gamma(g), (-1, 1, 1, self.channels))
        shift = keras.ops.reshape(self.shift(g), (-1, 1, 1, self.channels))
        return x * (1.0 + gamma) + shift

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _decoder(h, w, n_genres, latent_dim, filters, down=(1, 1)):
    L = keras.layers
    H, W = _inner(h, w, down)
    z_in = keras.Input((latent_dim,), name="z")
    g_in = keras.Input((n_genres,), name="genre")
    x = L.Concatenate()([z_in, g_in])
    x = L.Dense((H // 16) * (W // 16) * filters[-1], name="dec_dense")(x)
    x = L.Reshape((H // 16, W // 16, filters[-1]))(x)
    for i, f in enumerate(reversed(filters)):
        x = L.Conv2DTranspose(f, 3, strides=2, padding="same", name=f"dec_deconv{i + 1}")(x)
        x = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"dec_bn{i + 1}")(x)
        x = FiLM(f, name=f"dec_film{i + 1}")([x, g_in])  # the genre steers every block, not only the first
        x = L.LeakyReLU(0.2)(x)
    x = L.Conv2D(1, 3, padding="same", dtype="float32", name="dec_out")(x)
    if down != (1, 1):
        x = L.UpSampling2D(down, interpolation="bilinear", name="dec_up")(x)
    x = L.Cropping2D(((0, H * down[0] - h), (0, W * down[1] - w)))(x)
    x = L.Reshape((h, w), dtype="float32")(x)
    return keras.Model([z_in, g_in], x, name="decoder")


@keras.saving.register_keras_serializable(package="gtzan")
class CVAE(keras.Model):
    """Genre-conditioned VAE; see the module docstring. Build it with :func:`build_vae`."""

    def __init__(self, slice_shape=(128, 216), spec=None, mean=0.0, std=1.0, labels=GENRES, seed=0, **kwargs):
        super().__init__(**kwargs)
        spec = VAESpec(**spec) if isinstance(spec, dict) else (spec or VAESpec())
        self.spec = spec
        #: genre names in label order (the store's labels), so that a loaded model knows what it can make
        self.labels = list(labels)
        if not self.labels:
            raise GtzanError("the VAE needs at least one genre label")
        self.slice_shape = tuple(int(v) for v in slice_shape)
        h, w = self.slice_shape
        self.n_genres, self.latent_dim, self.filters = len(self.labels), spec.latent_dim, spec.filters
        self.beta, self.warmup_epochs, self.seed = spec.beta, spec.warmup_epochs, int(seed)
        self.free_bits, self.downsample = spec.free_bits, spec.downsample
        self.mean_ = _as_rows(mean, h)
        self.std_ = np.maximum(_as_rows(std, h), 1e-6)
        self.encoder = _encoder(h, w, self.n_genres, self.latent_dim, self.filters, self.downsample)
        self.decoder = _decoder(h, w, self.n_genres, self.latent_dim, self.filters, self.downsample)
        self.beta_weight = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.beta), trainable=False, name="beta_weight"
        )
        # the prior that sample() draws from, per genre: N(0, I) until fit_prior() replaces it by a Gaussian fitted
        # to the training slices' codes of that genre (ex-post density estimation, Ghosh et al. 2020), with its full
        # covariance (kept as its Cholesky factor): the codes of one genre are correlated, and a diagonal fit draws
        # codes between the places where that genre's slices lie
        self.prior_mean = self.add_weight(
            shape=(self.n_genres, self.latent_dim), initializer="zeros", trainable=False, name="prior_mean"
        )
        self.prior_scale = self.add_weight(
            shape=(self.n_genres, self.latent_dim, self.latent_dim),
            initializer="zeros",
            trainable=False,
            name="prior_scale",
        )
        self.prior_scale.assign(np.tile(np.eye(self.latent_dim, dtype=np.float32), (self.n_genres, 1, 1)))
        # the decoder's output spread in dB, per genre and mel row of the working grid: zero until fit_prior()
        # measures it on the training slices; sample() draws x from p(x | z) = N(decoder(z), spread²), not only
        # its mean (the mean alone is smoother over time than any real slice)
        self.noise_std = self.add_weight(
            shape=(self.n_genres, _grid(h, w, self.downsample)[0]),
            initializer="zeros",
            trainable=False,
            name="noise_std",
        )
        # and the detail the working grid cannot hold (slice minus its grid average), per genre and mel bin: drawn at
        # full resolution, so that a sample has the fine texture of a real slice, not a blurred picture of it
        self.detail_std = self.add_weight(
            shape=(self.n_genres, h), initializer="zeros", trainable=False, name="detail_std"
        )
        # ... which lasts: a partial that stands above its grid cell's average stands there for many frames (the
        # detail's correlation between neighbouring frames is ≈ 0.85 on the synthetic GTZAN), so the detail is drawn
        # as an AR(1) process over frames with this correlation per genre, not as independent pixels
        self.detail_rho = self.add_weight(
            shape=(self.n_genres,), initializer="zeros", trainable=False, name="detail_rho"
        )
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss", "reconstruction", "kl")}
        self.built = True  # its sub-models are built: saving before a call keeps every weight

    def get_config(self):
        def plain(a):
            return float(a[0, 0]) if np.all(a == a[0, 0]) else a[:, 0].tolist()

        return {
            "name": self.name,
            "slice_shape": list(self.slice_shape),
            "spec": self.spec.to_dict(),
            "mean": plain(self.mean_),
            "std": plain(self.std_),
            "labels": self.labels,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def metrics(self):
        return list(self.trackers.values())

    # -- tensors in, tensors out (normalised space) ------------------------------------------------------
    def _onehot(self, genre, n=None):
        g = keras.ops.convert_to_tensor(genre)
        if len(g.shape) == 0 and n is not None:
            g = keras.ops.repeat(keras.ops.reshape(g, (1,)), n)
        if len(g.shape) == 1:
            return keras.ops.one_hot(keras.ops.cast(g, "int32"), self.n_genres)
        return keras.ops.cast(g, "float32")

    def _norm(self, x_db):
        return (keras.ops.cast(x_db, "float32") - self.mean_) / self.std_

    def _vae_losses(self, x_db, genre, training):
        x = self._norm(x_db)
        g = self._onehot(genre)
        z_mean, z_log_var = self.encoder([x, g], training=training)
        eps = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)
        z = z_mean + keras.ops.exp(0.5 * z_log_var) * eps
        x_hat = self.decoder([z, g], training=training)
        rec = keras.ops.mean(keras.ops.sum(keras.ops.square(x - x_hat), axis=(1, 2)))
        kl_dims = keras.ops.mean(-0.5 * (1 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var)), axis=0)
        kl = keras.ops.sum(kl_dims)
        # free bits (Kingma et al. 2016): a dimension's KL below free_bits nats costs nothing, so the encoder has
        # no reason to switch a dimension off (posterior collapse)
        kl_term = keras.ops.sum(keras.ops.maximum(kl_dims, self.free_bits)) if self.free_bits > 0 else kl
        return rec, kl, kl_term

    @staticmethod
    def _unpack(data):
        """Batches are ``((x, genre),)`` (from :func:`vae_batches`) or ``(x, genre)``."""
        if isinstance(data, (tuple, list)) and len(data) == 1:
            data = data[0]
        x, genre = data[0], data[1]
        if isinstance(x, (tuple, list)):
            x, genre = x
        return x, genre

    def _update(self, rec, kl, kl_term):
        loss = rec + self.beta_weight * kl_term
        for k, v in (("loss", loss), ("reconstruction", rec), ("kl", kl)):
            self.trackers[k].update_state(v)
        return {k: m.result() for k, m in self.trackers.items()}

    def train_step(self, data):
        import tensorflow as tf

        x, genre = self._unpack(data)
        with tf.GradientTape() as tape:
            rec, kl, kl_term = self._vae_losses(x, genre, training=True)
            loss = rec + self.beta_weight * kl_term
            scaled = self.optimizer.scale_loss(loss)  # a no-op unless mixed precision wraps the optimizer
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update(rec, kl, kl_term)

    def test_step(self, data):
        x, genre = self._unpack(data)
        return self._update(*self._vae_losses(x, genre, training=False))

    def call(self, inputs, training=False):
        """``(x_db, genre)`` → reconstruction in dB (through ``z_mean``, no sampling)."""
        x_db, genre = inputs
        g = self._onehot(genre)
        z_mean, _ = self.encoder([self._norm(x_db), g], training=training)
        return self.decoder([z_mean, g], training=training) * self.std_ + self.mean_

    # -- numpy API ----------------------------------------------------------------------------------------
    def encode(self, x, genre):
        """Log-mel dB slices (n, n_mels, frames) and genres (ints or one-hot) → (z_mean, z_log_var), numpy."""
        x = np.asarray(x, np.float32)
        z_mean, z_log_var = self.encoder([self._norm(x), self._onehot(genre, len(x))], training=False)
        return keras.ops.convert_to_numpy(z_mean), keras.ops.convert_to_numpy(z_log_var)

    def decode(self, z, genre, batch_size: int = 64) -> np.ndarray:
        """Latent codes (n, latent_dim) and genres (one int, ints or one-hot) → log-mel dB (n, n_mels, frames)."""
        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        g = keras.ops.convert_to_numpy(self._onehot(genre, len(z)))
        out = [
            keras.ops.convert_to_numpy(self.decoder([z[a : a + batch_size], g[a : a + batch_size]], training=False))
            for a in range(0, len(z), batch_size)
        ]
        out = np.concatenate(out) if out else np.zeros((0, *self.slice_shape), np.float32)
        return out * self.std_ + self.mean_

    def to_grid(self, x_db) -> np.ndarray:
        """Log-mel slices (n, n_mels, frames) averaged to the working grid (n, rows, cols) of ``downsample``."""
        x = np.asarray(x_db, np.float32)
        (h, w), (r, c) = self.slice_shape, _grid(*self.slice_shape, self.downsample)
        x = np.pad(x, ((0, 0), (0, r * self.downsample[0] - h), (0, c * self.downsample[1] - w)), mode="edge")
        return x.reshape(len(x), r, self.downsample[0], c, self.downsample[1]).mean(axis=(2, 4))

    def from_grid(self, g) -> np.ndarray:
        """Working-grid pictures (n, rows, cols) → slices (n, n_mels, frames), upsampled as the decoder does."""
        g = np.asarray(g, np.float32)
        up = keras.layers.UpSampling2D(self.downsample, interpolation="bilinear")
        out = keras.ops.convert_to_numpy(up(g[..., None]))[..., 0]
        return out[:, : self.slice_shape[0], : self.slice_shape[1]]

    def fit_prior(self, x, genre, batch_size: int = 64) -> dict:
        """Fit what :meth:`sample` draws from to real slices, per genre: the prior (mean and covariance of the
        slices' ``z_mean``, the latter as its Cholesky factor; a genre without slices keeps N(0, I)) and the
        output spread in dB at two scales: on the working grid (per grid row: the std of the slices minus their
        reconstructions, both averaged to the grid) and below it (per mel bin: the std of the slices minus their
        own grid averages, and that detail's correlation between neighbouring frames; zero without
        ``downsample``). A VAE's codes never fill N(0, I) exactly; sampling where the genre's real codes lie gives
        samples like that genre's slices. Returns "mean" (n_genres, latent_dim), "scale" (n_genres, latent_dim,
        latent_dim: the Cholesky factors), "noise_std" (n_genres, grid rows), "detail_std"
        (n_genres, n_mels) and "detail_rho" (n_genres,)."""
        genre = np.asarray(genre)
        x = np.asarray(x, np.float32)
        z = (
            np.concatenate(
                [self.encode(x[a : a + batch_size], genre[a : a + batch_size])[0] for a in range(0, len(x), batch_size)]
            )
            if len(x)
            else np.zeros((0, self.latent_dim))
        )
        mean = np.zeros((self.n_genres, self.latent_dim), np.float32)
        scale = np.tile(np.eye(self.latent_dim, dtype=np.float32), (self.n_genres, 1, 1))
        noise = np.zeros((self.n_genres, _grid(*self.slice_shape, self.downsample)[0]), np.float32)
        detail = np.zeros((self.n_genres, self.slice_shape[0]), np.float32)
        rho = np.zeros(self.n_genres, np.float32)
        for g in np.unique(genre):
            zg = z[genre == g]
            mean[g] = zg.mean(axis=0)
            if len(zg) > 1:  # the ridge keeps a covariance of fewer codes than dimensions positive definite
                cov = np.atleast_2d(np.cov(zg, rowvar=False)) + 1e-6 * np.eye(self.latent_dim)
                scale[g] = np.linalg.cholesky(cov)
            xg = x[genre == g]
            on_grid = self.to_grid(xg)
            noise[g] = (on_grid - self.to_grid(self.decode(zg, int(g), batch_size))).std(axis=(0, 2))
            if self.downsample != (1, 1):
                d = xg - self.from_grid(on_grid)
                detail[g] = d.std(axis=(0, 2))
                rho[g] = _lag1_correlation(d)
        self.prior_mean.assign(mean)
        self.prior_scale.assign(scale)
        self.noise_std.assign(noise)
        self.detail_std.assign(detail)
        self.detail_rho.assign(rho)
        return {"mean": mean, "scale": scale, "noise_std": noise, "detail_std": detail, "detail_rho": rho}

    def prior_codes(self, genre: int, n: int = 1, seed: int = 0) -> np.ndarray:
        """``n`` latent codes of genre index ``genre`` drawn from its prior (``np.random.default_rng(seed)``)."""
        if not 0 <= int(genre) < self.n_genres:
            raise GtzanError(
                f"genre index {genre} out of range: the model knows {self.n_genres} genres (0..{self.n_genres - 1})"
            )
        eps = np.random.default_rng(seed).standard_normal((int(n), self.latent_dim)).astype(np.float32)
        g = int(genre)
        mean = keras.ops.convert_to_numpy(self.prior_mean)[g]
        scale = keras.ops.convert_to_numpy(self.prior_scale)[g]
        return (mean + eps @ scale.T).astype(np.float32)

    def sample(self, genre: int, n: int = 1, seed: int = 0, noise: float = 1.0) -> np.ndarray:
        """``n`` log-mel dB slices of genre index ``genre``: z from the genre's prior (:meth:`prior_codes`), then x
        from p(x | z): the decoded mean plus Gaussian noise of the genre's fitted spreads (:meth:`fit_prior`), on
        the working grid and below it, times ``noise`` (0 gives the decoded means). Seeded by ``seed``."""
        x = self.decode(self.prior_codes(genre, n, seed), int(genre))
        g = int(genre)
        spread = keras.ops.convert_to_numpy(self.noise_std)[g] * float(noise)
        detail = keras.ops.convert_to_numpy(self.detail_std)[g] * float(noise)
        rng = np.random.default_rng([seed, 1])
        if np.any(spread):
            rows, cols = _grid(*self.slice_shape, self.downsample)
            x = x + self.from_grid(rng.standard_normal((len(x), rows, cols)).astype(np.float32) * spread[None, :, None])
        if np.any(detail):
            rho = float(keras.ops.convert_to_numpy(self.detail_rho)[g])
            x = x + _ar1(rng.standard_normal(x.shape).astype(np.float32), rho) * detail[None, :, None]
        return x


def _lag1_correlation(d) -> float:
    """Correlation of ``d`` (n, rows, frames) with itself one frame later, in [0, 0.99] (0 for constant input)."""
    d = np.asarray(d, np.float64)
    d = d - d.mean()
    var = float((d**2).mean())
    if d.shape[-1] < 2 or var <= 0:
        return 0.0
    return float(np.clip((d[..., 1:] * d[..., :-1]).mean() / var, 0.0, 0.99))


def _ar1(noise, rho: float) -> np.ndarray:
    """White noise (..., frames) → a stationary AR(1) process over the last axis with unit variance and lag-1
    correlation ``rho``: e₀ = n₀, eₜ = ρ eₜ₋₁ + √(1 − ρ²) nₜ."""
    from scipy.signal import lfilter

    noise = np.asarray(noise, np.float32)
    if rho <= 0 or noise.shape[-1] < 2:
        return noise
    first = noise[..., :1]
    rest = lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], noise[..., 1:], axis=-1, zi=rho * first)[0]
    return np.concatenate([first, rest], axis=-1).astype(np.float32)


class KLWarmup(keras.callbacks.Callback):
    """Sets the model's β weight before every batch: ``β · min(1, t / warmup_epochs)`` where ``t`` counts epochs
    with fractions (epoch + batch / steps per epoch), so it starts at 0 and rises smoothly, also when a run
    resumes mid-way (the epoch comes from ``fit``)."""

    def __init__(self, beta: float | None = None, warmup_epochs: int | None = None):
        super().__init__()
        self.beta_value, self.warmup = beta, warmup_epochs
        self._epoch = 0

    def weight(self, t: float) -> float:
        """β at ``t`` epochs of training (0 at the start)."""
        beta = self.model.beta if self.beta_value is None else self.beta_value
        warm = self.model.warmup_epochs if self.warmup is None else self.warmup
        return float(beta * min(1.0, max(t, 0.0) / warm)) if warm > 0 else float(beta)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        steps = (self.params or {}).get("steps") or 1
        self.model.beta_weight.assign(self.weight(self._epoch + batch / steps))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = float(keras.ops.convert_to_numpy(self.model.beta_weight))


def build_vae(
    input_shape=(128, 216), spec: VAESpec | None = None, labels=GENRES, mean=0.0, std=1.0, learning_rate=1e-3
):
    """A :class:`CVAE` of ``spec`` for log-mel slices of ``input_shape``, one genre per label, compiled with Adam.

    ``mean``/``std``: the training split's statistics in dB (scalars or one value per mel bin).
    """
    if len(input_shape) != 2:
        raise GtzanError(f"the VAE takes 2-D log-mel slices (n_mels, frames), not shape {tuple(input_shape)}")
    model = CVAE(input_shape, spec or VAESpec(), mean, std, labels=labels, name="cvae")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    model.optimizer.build(model.trainable_variables)  # saved and loaded files then carry the same slots
    return model


def _read_rows(store, rows, chunk: int = 256):
    """(slices, genre indices as int32) of manifest ``rows``, read ``chunk`` rows at a time."""
    rows = np.sort(np.asarray(rows))
    x = np.concatenate([store.read(rows[a : a + chunk]) for a in range(0, len(rows), chunk)])
    return x, store.y[rows].astype(np.int32)


def load_vae(path) -> CVAE:
    """A :class:`CVAE` saved by :func:`train_vae` (``vae.keras``). GtzanError naming the file and what to do when it
    is missing, not a Keras file, not a VAE, or saved by another architecture of this module (its weights differ)."""
    path = Path(path)
    if not path.exists():
        raise GtzanError(f"model {path} not found: train one in notebook 05_vae_generation (vae.keras)")
    try:
        model = keras.models.load_model(path)
    except Exception as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "expected" in ln.lower()), lines[0] if lines else type(exc).__name__)
        raise GtzanError(
            f"cannot load the VAE {path} ({why.split(' Expected:')[0][:160]}): it is damaged or was "
            f"saved by another version of gtzan_utils (this one's VAE architecture is {ARCHITECTURE}); train it again "
            f"with notebook 05 (`gtzan run --from 05 --out RUN_DIR` retrains it in place)"
        ) from None
    if not isinstance(model, CVAE):
        raise GtzanError(f"{path} holds a {type(model).__name__}, not the genre VAE of notebook 05 (vae/vae.keras)")
    return model


def read_vae_history(path) -> pd.DataFrame:
    """The VAE's ``vae_history.csv``: loss, reconstruction, kl, beta per epoch (:func:`base.files.read_history`)."""
    return files.read_history(path, ("epoch", "loss", "reconstruction", "kl", "beta"))


#: Files of a VAE run that another configuration must not resume (besides vae_config.json and vae.keras).
RESUME_FILES = ("vae_backup", "vae_history.csv")


def vae_config(store, split, settings: TrainSettings, spec: VAESpec, fold: int, learnt_from) -> dict:
    """What names a VAE run (its hash is the cache key): the data (store, windows, the exact split members), the
    design and the training settings. ``learnt_from``: (the store trained on, its rows)."""
    pool, train_rows = learnt_from
    cfg = {
        "store": store.path.name,
        **({"train_store": pool.path.name} if pool is not store else {}),
        **split.identity(fold),
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        **{k: v for k, v in spec.to_dict().items() if k != "filters"},
        "learning_rate": settings.learning_rate or 1e-3,
        "seed": settings.seed,
        "filters": list(spec.filters),
        "architecture": ARCHITECTURE,
        "n_train_slices": int(len(train_rows)),
        "n_val_slices": int(len(split.rows(store.manifest, "val", fold))),
    }
    if settings.min_epoch_slices:
        cfg["min_epoch_slices"] = int(settings.min_epoch_slices)
    return cfg


def _fit_vae(model, train, val, out_dir: Path, settings: TrainSettings, callbacks=()) -> None:
    """Fit on the in-memory training slices: plain epochs, or (``min_epoch_slices`` above their count) epochs of
    that many slices reshuffled and repeated, so that a few songs get the steps of a large set's epoch."""
    s = settings
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out_dir / "vae_backup")),  # first: a killed run resumes at its epoch
        KLWarmup(),
        keras.callbacks.CSVLogger(str(out_dir / "vae_history.csv"), append=True),
        *callbacks,
    ]
    feed, steps = train, None
    if s.min_epoch_slices and len(train[1]) < s.min_epoch_slices:
        import tensorflow as tf

        steps = int(np.ceil(s.min_epoch_slices / s.batch_size))
        feed = (
            tf.data.Dataset.from_tensor_slices(train).shuffle(len(train[1]), seed=s.seed).repeat().batch(s.batch_size)
        )
    model.fit(
        feed,
        batch_size=None if steps else s.batch_size,
        shuffle=steps is None,
        steps_per_epoch=steps,
        validation_data=val,
        epochs=s.epochs,
        callbacks=callbacks,
        verbose=default_verbose() if s.verbose is None else s.verbose,
    )


def train_vae(store, split, out_dir, settings: TrainSettings, spec: VAESpec, *, fold=0, train_store=None, callbacks=()):
    """Train a :class:`CVAE` of ``spec`` with ``settings`` on a ``mel`` store's training slices of ``split``
    (validation on its val slices). ``train_store``: the overlapping training windows of the same songs (notebook
    02): the VAE and its fitted prior then learn from those windows. At most ``settings.max_train_slices`` of them
    (a seeded random subset) are read once and held in memory (``fit_prior`` needs them all anyway; batches from
    arrays cost ~0.1 s per step, from the store through a Python generator ~0.2 s more).

    Writes ``out_dir/vae.keras``, ``out_dir/vae_history.csv`` (loss, reconstruction, kl, beta per epoch) and
    ``out_dir/vae_config.json`` (last: it marks the model as finished). A finished model with the same
    configuration (which includes the exact split members) is loaded, not retrained; a killed run resumes at the
    epoch it had reached (:class:`gtzan_utils.base.resume.RunFolder`, as the classifiers). Returns ``{"model",
    "history", "config", "train_store", "train_rows"}``: the last two are what the VAE learnt from (the store and
    its rows), which the judging's nearest-training-slice distances must use.

    Notebook: 05_vae_generation
    """
    if store.params.kind != "mel":
        raise GtzanError(f"the VAE is trained on the 'mel' store (128-bin log-mel in dB), not {store.params.kind!r}")
    out_dir = Path(out_dir)
    pool = train_store if train_store is not None else store
    if train_store is not None and (train_store.params.kind, train_store.params.shape) != ("mel", store.params.shape):
        raise GtzanError(f"training windows {train_store.path.name} are not the mel slices' kind and shape")
    train_rows, _ = train_val_rows(pool, split, fold, settings.max_train_slices, settings.seed)
    cfg = vae_config(store, split, settings, spec, fold, (pool, train_rows))
    run = RunFolder(out_dir, config_key(cfg), "vae_started.json", "vae_config.json", "key", "vae.keras", RESUME_FILES)
    done = {"config": cfg, "train_store": pool, "train_rows": train_rows}
    if run.is_finished():
        model = keras.models.load_model(out_dir / "vae.keras")
        return {"model": model, "history": read_vae_history(out_dir / "vae_history.csv"), **done}
    run.start(cfg)
    keras.utils.set_random_seed(settings.seed)
    mean, var = train_stats(pool, train_rows)
    lr = settings.learning_rate or 1e-3
    model = build_vae(store.params.shape, spec, store.labels, mean[:, 0], np.sqrt(var[:, 0]), learning_rate=lr)
    train = _read_rows(pool, train_rows)
    val_rows = split.rows(store.manifest, "val", fold)
    _fit_vae(model, train, (_read_rows(store, val_rows),) if len(val_rows) else None, out_dir, settings, callbacks)
    model.fit_prior(*train)
    model.save(out_dir / "vae.keras")
    write_json(out_dir / "vae_config.json", {"key": run.key, **cfg})  # last: marks the model as finished
    return {"model": model, "history": read_vae_history(out_dir / "vae_history.csv"), **done}
