"""The genre-conditioned VAE and genre + duration → audio generation, on tiny inputs."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

keras = pytest.importorskip("keras")

from callbacks import Epochs, Kill  # noqa: E402
from conftest import (
    SR,  # noqa: E402
    vae_args,  # noqa: E402
)

from gtzan_utils.base.constants import GENRES  # noqa: E402
from gtzan_utils.base.errors import GtzanError  # noqa: E402
from gtzan_utils.features import splits
from gtzan_utils.features.extract import FeatureParams  # noqa: E402
from gtzan_utils.generate import audio as gen  # noqa: E402
from gtzan_utils.generate import vae

SHAPE = (32, 40)  # neither side a multiple of 16


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return vae.build_vae(SHAPE, vae.VAESpec(latent_dim=4), GENRES, mean=-30.0, std=12.0)


def _x(n=4, seed=0):
    return np.random.default_rng(seed).normal(-30.0, 12.0, (n, *SHAPE)).astype(np.float32)


def test_output_shapes_equal_input_shapes(model):
    x, g = _x(), np.array([0, 1, 2, 3])
    assert tuple(model((x, g)).shape) == x.shape
    z_mean, z_log_var = model.encode(x, g)
    assert z_mean.shape == z_log_var.shape == (4, 4)
    assert model.decode(z_mean, g).shape == x.shape
    assert model.sample(genre=3, n=5, seed=1).shape == (5, *SHAPE)
    odd = vae.build_vae((20, 23), vae.VAESpec(latent_dim=2), GENRES[:3])
    assert tuple(odd((np.zeros((2, 20, 23), np.float32), np.array([0, 2]))).shape) == (2, 20, 23)


def test_encoder_and_decoder_use_the_genre(model):
    """Same input, another genre → another output, in both halves (a VAE that ignores its genre cannot pass)."""
    x = _x(3)
    z_a, _ = model.encode(x, np.zeros(3, int))
    z_b, _ = model.encode(x, np.full(3, 7))
    assert np.abs(z_a - z_b).max() > 1e-3
    z = np.random.default_rng(0).standard_normal((3, 4))
    assert np.abs(model.decode(z, 0) - model.decode(z, 7)).max() > 1e-3
    # the genre also reaches the last block (FiLM), not only the first dense layer: shifting genre 7's
    # modulation there changes genre 7's output and leaves genre 0's alone
    shift = model.decoder.get_layer("dec_film4").shift.kernel
    saved = keras.ops.convert_to_numpy(shift)
    before_7, before_0 = model.decode(z, 7), model.decode(z, 0)
    try:
        shift.assign(saved + 0.5 * (np.arange(saved.shape[0]) == 7)[:, None].astype(np.float32))
        after_7, after_0 = model.decode(z, 7), model.decode(z, 0)
    finally:
        shift.assign(saved)
    assert np.abs(after_7 - before_7).max() > 1e-3
    np.testing.assert_allclose(after_0, before_0, rtol=1e-5, atol=1e-5)


def test_save_and_load_give_the_same_decode(model, tmp_path):
    path = tmp_path / "m" / "vae.keras"
    path.parent.mkdir()
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, vae.CVAE) and loaded.slice_shape == SHAPE
    z = np.random.default_rng(1).standard_normal((2, 4))
    np.testing.assert_allclose(loaded.decode(z, 4), model.decode(z, 4), rtol=1e-5, atol=1e-4)
    for g in (0, 7):  # the genre's modulation survives saving too
        np.testing.assert_allclose(loaded.decode(z, g), model.decode(z, g), rtol=1e-5, atol=1e-4)


def test_kl_warmup_starts_at_zero_and_rises_per_batch():
    m = types.SimpleNamespace(beta=2.0, warmup_epochs=4, beta_weight=keras.Variable(-1.0))
    cb = vae.KLWarmup()
    cb.set_model(m)
    assert [cb.weight(e) for e in range(6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    cb.set_params({"steps": 4, "epochs": 6})
    seen = []
    for epoch in (0, 1):
        cb.on_epoch_begin(epoch)
        for batch in range(4):
            cb.on_train_batch_begin(batch)
            seen.append(float(m.beta_weight.numpy()))
    assert seen == [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]  # the first batch has no KL weight


def test_generation_is_deterministic_and_exact_in_length(model):
    a = gen.generate(model, "jazz", 1.3, gen.Render(n_iter=4), seed=0)
    b = gen.generate(model, "jazz", 1.3, gen.Render(n_iter=4), seed=0)
    c = gen.generate(model, 5, 1.3, gen.Render(n_iter=4), seed=1)
    assert len(a) == round(1.3 * SR) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.max(np.abs(a)) == pytest.approx(0.9, abs=1e-4)
    with pytest.raises(GtzanError, match="blues"):
        gen.generate(model, "polka", 1.0)
    with pytest.raises(GtzanError):
        gen.generate(model, "jazz", 0)
    with pytest.raises(GtzanError):
        gen.generate(model, "jazz", -1.0)


def _energy_above(y, hz):
    spec = np.abs(np.fft.rfft(y)) ** 2
    return spec[np.fft.rfftfreq(len(y), 1 / SR) > hz].sum()


def test_lowpass_removes_energy_above_the_cutoff(model):
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    low = gen.butter_filter(noise, SR, lowpass_hz=1000)
    assert _energy_above(low, 2000) / _energy_above(noise, 2000) < 0.05
    high = gen.butter_filter(noise, SR, highpass_hz=4000)
    assert _energy_above(high, 4000) / _energy_above(high, 0) > 0.95
    y = gen.generate(model, "rock", 1.0, gen.Render(n_iter=4), seed=0)
    y_low = gen.generate(model, "rock", 1.0, gen.Render(n_iter=4, lowpass_hz=1000), seed=0)
    # both peak-normalised: compare the share of energy above 2 kHz
    share_low = _energy_above(y_low, 2000) / _energy_above(y_low, 0)
    assert share_low / (_energy_above(y, 2000) / _energy_above(y, 0)) < 0.05
    with pytest.raises(GtzanError):
        gen.butter_filter(noise, SR, lowpass_hz=SR)
    with pytest.raises(GtzanError, match="not above the high-pass"):
        gen.generate(model, "rock", 1.0, gen.Render(lowpass_hz=1000, highpass_hz=1000))


def test_join_slices_cross_fades_to_an_exact_length():
    ones = [np.ones(1000, np.float32)] * 3
    y = gen.join_slices(ones, 2500, SR, crossfade_s=100 / SR)
    assert len(y) == 2500 and np.all(y[:900] == 1) and np.all(y[1000:1800] == 1)
    fade = gen.join_slices([np.ones(1000), np.zeros(1000)], 2000, SR, crossfade_s=100 / SR)
    assert np.all(np.diff(fade[900:1000]) < 0) and fade[1000] == 0  # fades out over the overlap
    assert len(gen.join_slices(ones, 5000, SR, crossfade_s=100 / SR)) == 5000  # zero-padded end
    assert len(gen.join_slices(ones[:1], 10, SR)) == 10


def test_written_wav_reads_back(tmp_path):
    y = 0.5 * np.sin(2 * np.pi * 440 * np.arange(int(1.3 * SR)) / SR).astype(np.float32)
    path = gen.write_wav(tmp_path / "out" / "deep" / "x.wav", y, SR)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (SR, 1, "PCM_16", len(y))
    back, _ = sf.read(path)
    np.testing.assert_allclose(back, y, atol=1e-4)


def test_train_vae_writes_model_and_history(mel_store, tmp_path):
    s, tracks = mel_store
    sp = splits.song_split(tracks, seed=0)
    r = vae.train_vae(
        s, sp, tmp_path / "vae", *vae_args(epochs=2, batch_size=8, latent_dim=4, warmup_epochs=2, verbose=0)
    )
    assert (tmp_path / "vae" / "vae.keras").exists()
    h = pd.read_csv(tmp_path / "vae" / "vae_history.csv")
    assert len(h) == 2 and {"loss", "reconstruction", "kl", "beta", "val_kl"} <= set(h.columns)
    assert np.isfinite(h.kl).all() and np.isfinite(h.reconstruction).all()
    assert 0 < h.beta[0] < h.beta[1] < 1.0  # the last batch's weight: still warming up (warm-up of 2 epochs)
    assert isinstance(r["history"], pd.DataFrame) and len(r["history"]) == 2
    m = r["model"]
    assert m.slice_shape == s.params.shape == (128, 44)
    x = s.read([0, 1])
    assert tuple(m((x, s.y[[0, 1]])).shape) == x.shape
    assert np.isfinite(m.sample(0, 1, 0)).all()


def test_train_vae_learns_from_training_windows_in_epochs_of_a_minimum_size(mel_store, tmp_path):
    from gtzan_utils.features import extract, store

    s, tracks = mel_store
    w = store.build_store(tracks, extract.windows_of(s.params, 0.5), tmp_path / "stores", n_jobs=1, progress=False)
    sp = splits.song_split(tracks, seed=0)
    pool = sp.rows(w.manifest, "train")
    assert len(pool) > len(sp.rows(s.manifest, "train"))  # more windows than slices
    steps = []

    class Steps(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            steps.append(self.params["steps"])

    kw = dict(batch_size=8, latent_dim=2, warmup_epochs=1, filters=(4, 4, 8, 8), verbose=0)
    r = vae.train_vae(
        s, sp, tmp_path / "v", *vae_args(epochs=2, min_epoch_slices=40, **kw), train_store=w, callbacks=[Steps()]
    )
    assert r["config"]["train_store"] == w.path.name and r["config"]["n_train_slices"] == len(pool)
    assert r["train_store"] is w and list(r["train_rows"]) == sorted(pool)
    assert steps == [5, 5]  # 40 slices per epoch in batches of 8, though the pool is smaller
    again = vae.train_vae(s, sp, tmp_path / "v", *vae_args(epochs=2, min_epoch_slices=40, **kw), train_store=w)
    assert again["config"] == r["config"]  # finished: loaded, with the same pool
    with pytest.raises(GtzanError, match="kind and shape"):
        vae.train_vae(
            s,
            sp,
            tmp_path / "x",
            *vae_args(**kw),
            train_store=types.SimpleNamespace(params=FeatureParams(kind="mfcc"), path=tmp_path),
        )


def test_train_vae_takes_only_the_mel_store(tmp_path):
    fake = types.SimpleNamespace(params=FeatureParams(kind="mfcc"))
    with pytest.raises(GtzanError, match="mel"):
        vae.train_vae(fake, None, tmp_path / "x", *vae_args())


def test_cli_generate_writes_a_wav_of_the_asked_length(tmp_path):
    import subprocess
    import sys

    import soundfile as sf

    from gtzan_utils.generate.vae import build_vae

    model_path = tmp_path / "vae.keras"
    build_vae((128, 44), vae.VAESpec(latent_dim=4)).save(model_path)
    out = tmp_path / "out" / "jazz.wav"
    cmd = [
        sys.executable,
        "-m",
        "gtzan_utils",
        "generate",
        "--genre",
        "jazz",
        "--seconds",
        "2.5",
        "--model",
        str(model_path),
        "--out",
        str(out),
        "--lowpass",
        "4000",
        "--inverse",
        "pinv",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames) == (22050, 1, int(2.5 * 22050))
    bad = subprocess.run(cmd[:4] + ["--genre", "polka"] + cmd[6:], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "polka" in bad.stderr and "Traceback" not in bad.stderr
    # a low-pass below the high-pass lets nothing through: refused in one line
    band = tmp_path / "out" / "band.wav"
    crossed = [*cmd[:8], "--model", str(model_path), "--out", str(band), "--lowpass", "500", "--highpass", "2000"]
    r = subprocess.run(crossed, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr and not band.exists()
    assert len(r.stderr.strip().splitlines()) == 1 and "low-pass" in r.stderr and "high-pass" in r.stderr


def test_load_vae_names_the_file_and_what_to_do(tmp_path):
    """A damaged file (or one of another VAE architecture) and a Keras model that is not the VAE are refused with
    the file's name and the way out; the generate command prints that line, not a traceback."""
    import subprocess
    import sys

    junk = tmp_path / "vae.keras"
    junk.write_bytes(b"not a keras file")
    with pytest.raises(GtzanError, match=r"vae\.keras.*notebook 05"):
        vae.load_vae(junk)
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(other)
    with pytest.raises(GtzanError, match="not the genre VAE"):
        vae.load_vae(other)
    with pytest.raises(GtzanError, match="not found"):
        vae.load_vae(tmp_path / "missing.keras")
    cmd = [sys.executable, "-m", "gtzan_utils", "generate", "--genre", "jazz", "--model", str(junk)]
    r = subprocess.run([*cmd, "--out", str(tmp_path / "j.wav")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr and str(junk) in r.stderr, r.stderr


def test_fista_solves_the_nnls_of_the_mel_inversion():
    import librosa

    basis = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128, dtype=np.float32)
    rng = np.random.default_rng(0)
    truth = rng.gamma(0.5, 1.0, size=(2, 1025, 20)).astype(np.float32)  # sparse-ish non-negative spectra
    M = basis @ truth
    S = gen.nnls_fista(basis, M, n_iter=50)
    pinv = np.clip(np.linalg.pinv(basis) @ M, 0, None)
    assert S.shape == truth.shape and (S >= 0).all()

    def residual(x):
        return float(np.linalg.norm(basis @ x - M) / np.linalg.norm(M))

    assert residual(S) < 0.5 * residual(pinv)  # a far closer fit than the clipped pseudo-inverse
    assert residual(S) < 0.05
    assert residual(gen.nnls_fista(basis, M, n_iter=200)) <= residual(S)  # more iterations never fit worse


def test_pinv_inversion_is_close_to_nnls_and_unknown_inversions_are_refused(mel_store):
    s, _ = mel_store
    x = s.read([0])
    fast = gen.mel_db_to_audio(x, n_iter=8, inverse="pinv", random_state=0)
    slow = gen.mel_db_to_audio(x, n_iter=8, inverse="nnls", random_state=0)
    fista = gen.mel_db_to_audio(x, n_iter=8, inverse="fista", random_state=0)
    assert fast.shape == slow.shape == fista.shape == (1, (s.params.frames - 1) * s.params.hop_length)
    # all carry the tone's energy: a spectral peak at the same frequency bin
    peak = [np.abs(np.fft.rfft(a[0])).argmax() for a in (fast, slow, fista)]
    assert abs(peak[0] - peak[1]) <= 2 and abs(peak[2] - peak[1]) <= max(2, 0.02 * peak[1])  # within 2 %
    with pytest.raises(GtzanError, match="pinv"):
        gen.mel_db_to_audio(x, inverse="magic")


def test_a_model_keeps_its_genre_labels(tmp_path):
    m = vae.build_vae((16, 16), vae.VAESpec(latent_dim=2), ["jazz", "rock"])
    m.save(tmp_path / "v.keras")
    loaded = keras.models.load_model(tmp_path / "v.keras")
    assert loaded.labels == ["jazz", "rock"]
    y = gen.generate(loaded, "rock", 0.5, gen.Render(n_iter=2, inverse="pinv"))
    assert len(y) == int(0.5 * SR)
    with pytest.raises(GtzanError, match="jazz, rock"):
        gen.generate(loaded, "blues", 0.5)


@pytest.mark.slow
def test_trained_samples_follow_the_genre(mel_store, tmp_path):
    """Three genres of tones at different pitches: after training, samples drawn from the prior for a genre peak
    in that genre's mel band, so the decoder uses the genre, not only z."""
    s, tracks = mel_store
    sp = splits.song_split(tracks, seed=0)
    m = vae.train_vae(
        s,
        sp,
        tmp_path / "v",
        *vae_args(
            epochs=20,
            min_epoch_slices=160,
            batch_size=8,
            latent_dim=4,
            warmup_epochs=2,
            filters=(8, 16, 32, 32),
            verbose=0,
        ),
    )["model"]
    x, y = s.read(np.arange(len(s))), s.y
    peaks = {}
    for g in np.unique(y):
        real = int(np.argmax(x[y == g].mean(axis=(0, 2))))
        generated = np.argmax(m.sample(int(g), 8, seed=1).mean(axis=2), axis=1)
        peaks[s.labels[g]] = (real, generated.tolist())
        assert abs(np.median(generated) - real) <= 3, peaks
    reals = sorted(r for r, _ in peaks.values())
    assert reals[-1] - reals[0] > 10  # the genres' bands are apart, so the check can fail


def test_samples_draw_the_fitted_output_spread(tmp_path):
    """fit_prior measures the decoder's output spread per genre and grid row (std of slice minus reconstruction);
    sample() adds noise of that spread on the working grid and of the detail below it (per mel bin): noise=0 gives
    the decoded means, and the samples' spread over time grows with it. Before fitting the spread is 0 and samples
    are the means."""
    keras.utils.set_random_seed(0)
    m = vae.build_vae(SHAPE, vae.VAESpec(latent_dim=4, downsample=(4, 2)), GENRES[:3], mean=-30.0, std=12.0)
    np.testing.assert_array_equal(m.sample(1, 2, seed=3), m.decode(m.prior_codes(1, 2, seed=3), 1))
    x = _x(12)
    g = np.repeat([0, 1, 2], 4)
    x[g == 2] += np.random.default_rng(1).normal(0, 20.0, x[g == 2].shape)  # genre 2: far rougher slices
    fitted = m.fit_prior(x, g)
    assert fitted["noise_std"].shape == (3, 8)  # 32 mel bins / 4 rows of the working grid
    z = m.encode(x[g == 0], g[g == 0])[0]
    # the prior: the genre's codes' mean and full covariance (as a Cholesky factor), which prior_codes reproduces
    scale = fitted["scale"][0]
    np.testing.assert_allclose(fitted["mean"][0], z.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scale @ scale.T, np.cov(z, rowvar=False), atol=1e-4)
    drawn = np.cov(m.prior_codes(0, 20000, seed=0), rowvar=False)
    np.testing.assert_allclose(drawn, scale @ scale.T, atol=0.05 * np.abs(scale @ scale.T).max())
    want = (m.to_grid(x[g == 0]) - m.to_grid(m.decode(z, 0))).std(axis=(0, 2))
    np.testing.assert_allclose(fitted["noise_std"][0], want, rtol=1e-4)
    assert fitted["noise_std"][2].mean() > 1.5 * fitted["noise_std"][0].mean()
    # below the grid: the std of each slice minus its own grid average per mel bin, and its lag-1 correlation
    detail = x[g == 0] - m.from_grid(m.to_grid(x[g == 0]))
    assert fitted["detail_std"].shape == (3, SHAPE[0])
    np.testing.assert_allclose(fitted["detail_std"][0], detail.std(axis=(0, 2)), rtol=1e-4)
    d = detail - detail.mean()
    want_rho = np.clip((d[..., 1:] * d[..., :-1]).mean() / (d**2).mean(), 0, 0.99)
    assert fitted["detail_rho"][0] == pytest.approx(want_rho, abs=1e-5)
    means = m.decode(m.prior_codes(2, 16, seed=3), 2)
    np.testing.assert_allclose(m.sample(2, 16, seed=3, noise=0), means, rtol=1e-6)
    noisy = m.sample(2, 16, seed=3)
    assert noisy.shape == (16, *SHAPE) and noisy.std(axis=2).mean() > means.std(axis=2).mean() + 5
    np.testing.assert_array_equal(noisy, m.sample(2, 16, seed=3))  # seeded
    # the spread is saved with the model
    path = tmp_path / "v.keras"
    m.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).sample(2, 16, seed=3), noisy, rtol=1e-5, atol=1e-4)


def test_detail_noise_is_ar1_with_unit_variance_and_the_fitted_correlation():
    """The detail below the working grid is drawn as a stationary AR(1) process over frames: unit variance from
    the first frame on, lag-1 correlation rho (lag 4: rho⁴); rho 0 leaves white noise as it is."""
    white = np.random.default_rng(0).standard_normal((400, 8, 200)).astype(np.float32)
    e = vae._ar1(white, 0.85)
    assert e.shape == white.shape
    assert e[..., 0].var() == pytest.approx(1, abs=0.05) and e[..., -1].var() == pytest.approx(1, abs=0.05)
    for lag, want in ((1, 0.85), (4, 0.85**4)):
        assert (e[..., lag:] * e[..., :-lag]).mean() == pytest.approx(want, abs=0.02)
    np.testing.assert_array_equal(vae._ar1(white, 0.0), white)
    assert vae._lag1_correlation(e) == pytest.approx(0.85, abs=0.02)
    assert vae._lag1_correlation(np.zeros((2, 3, 5))) == 0.0


TINY = dict(batch_size=8, latent_dim=2, warmup_epochs=2, filters=(4, 4, 8, 8), verbose=0)


def test_killed_vae_training_resumes_where_it_stopped(mel_store, tmp_path):
    s, tracks = mel_store
    sp = splits.song_split(tracks, seed=0)
    with pytest.raises(KeyboardInterrupt):
        vae.train_vae(s, sp, tmp_path / "v", *vae_args(epochs=4, **TINY), callbacks=[Kill(1)])
    assert (tmp_path / "v" / "vae_backup").exists() and not (tmp_path / "v" / "vae_config.json").exists()
    seen = Epochs()
    r = vae.train_vae(s, sp, tmp_path / "v", *vae_args(epochs=4, **TINY), callbacks=[seen])
    assert seen.seen == [2, 3]  # continued after the two finished epochs, not from scratch
    assert r["history"].epoch.tolist() == [0, 1, 2, 3]
    assert not (tmp_path / "v" / "vae_backup").exists()
    again = Epochs()  # finished: loaded, not trained
    vae.train_vae(s, sp, tmp_path / "v", *vae_args(epochs=4, **TINY), callbacks=[again])
    assert again.seen == []
    other = Epochs()  # another configuration in the same folder starts afresh
    r = vae.train_vae(s, sp, tmp_path / "v", *vae_args(epochs=2, **TINY), callbacks=[other])
    assert other.seen == [0, 1] and r["history"].epoch.tolist() == [0, 1]


def test_a_cached_vae_is_keyed_by_the_split_members(mel_store, tmp_path):
    """Same split name, seed and fold, other songs: the VAE is trained again, not loaded."""
    s, tracks = mel_store
    sp = splits.song_split(tracks, seed=0)
    vae.train_vae(s, sp, tmp_path / "v", *vae_args(epochs=1, **TINY))
    fold = sp.folds[0]
    moved = dict(fold, train=fold["train"][1:], test=fold["test"] + fold["train"][:1])
    sp2 = splits.Split(sp.name, sp.seed, sp.level, [moved], sp.leaky, sp.note, dict(sp.extra))
    assert sp2.members_key() != sp.members_key()
    seen = Epochs()
    r = vae.train_vae(s, sp2, tmp_path / "v", *vae_args(epochs=1, **TINY), callbacks=[seen])
    assert seen.seen == [0] and r["config"]["n_train_slices"] < len(sp.rows(s.manifest, "train"))


def test_free_bits_floor_the_kl_term(mel_store):
    s, _ = mel_store
    x, y = s.read([0, 1, 2, 3]), s.y[[0, 1, 2, 3]]
    m = vae.build_vae(
        s.params.shape, vae.VAESpec(latent_dim=3, filters=(4, 4, 8, 8), free_bits=5.0), s.labels, -40.0, 15.0
    )
    rec, kl, kl_term = m._vae_losses(x, y, training=False)
    kl, kl_term = float(kl), float(kl_term)
    assert kl_term >= 3 * 5.0 - 1e-4 and kl_term >= kl  # each dimension counts at least 5 nats
    m0 = vae.build_vae(s.params.shape, vae.VAESpec(latent_dim=3, filters=(4, 4, 8, 8)), s.labels, -40.0, 15.0)
    _, kl0, term0 = m0._vae_losses(x, y, training=False)
    assert float(term0) == pytest.approx(float(kl0))


@pytest.mark.slow
def test_the_quick_vae_makes_samples_a_listener_assigns_to_their_genre(tmp_path):
    """The quick profile's VAE (its own settings, fewer epochs) on a tiny synthetic GTZAN of five genres: a
    listener fitted on real training slices only (the spectral envelope: each of 32 bands' mean level,
    logistic regression) assigns the VAE's samples to the genre they were drawn for well above chance (1/5).
    A VAE that ignored its genre input would sit at chance."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from gtzan_utils.base import parse
    from gtzan_utils.data import dataset, synth
    from gtzan_utils.features import store
    from gtzan_utils.run import runner

    genres = ("blues", "classical", "disco", "hiphop", "metal")
    root = synth.make_synthetic_gtzan(
        tmp_path / "synth", per_genre=4, seconds=10.0, seed=0, genres=genres, progress=False
    )
    tracks = dataset.find_dataset(root)
    s = store.build_store(
        tracks, FeatureParams(kind="mel", slice_seconds=2.0, n_slices=5), tmp_path / "stores", n_jobs=1, progress=False
    )
    sp = splits.song_split(tracks, seed=0)
    q = runner.load_profile("quick")["05_vae_generation"]
    m = vae.train_vae(
        s,
        sp,
        tmp_path / "v",
        *vae_args(
            epochs=25,
            batch_size=q["BATCH_SIZE"],
            latent_dim=q["LATENT_DIM"],
            warmup_epochs=q["WARMUP_EPOCHS"],
            free_bits=q["FREE_BITS"],
            filters=tuple(int(v) for v in q["FILTERS"].split(",")),
            downsample=parse.parse_size(q["DOWNSAMPLE"]),
            learning_rate=q["LEARNING_RATE"],
            verbose=0,
        ),
    )["model"]

    def bands(x):  # 32 bands (as the quick listener sees them), mean level over time
        return np.asarray(x).reshape(len(x), 32, -1, x.shape[-1]).mean(axis=(2, 3))

    train = sp.rows(s.manifest, "train")
    listener = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(bands(s.read(train)), s.y[train])
    present = np.unique(s.y)
    samples = np.concatenate([m.sample(int(g), 6, seed=1) for g in present])
    intended = np.repeat(present, 6)
    accuracy = float((listener.predict(bands(samples)) == intended).mean())
    assert accuracy >= 0.5, accuracy  # chance is 0.2


# trains models or runs TensorFlow graphs: not in `make test-fast`
pytestmark = pytest.mark.slow
