"""The embedded synthetic GTZAN: ten procedural music styles, so every notebook runs without a download.

Each clip is a small band rendered with numpy: drums (synthesised kick/snare/hats/ride on 16-step
patterns), a bass line, a chord instrument (three voices) playing a comping rhythm, an optional lead
melody, then a master chain (tanh distortion of the chord bus, slow dynamics, echo "reverb", low-pass,
hiss/crackle, peak normalisation to 0.8-0.95). Instruments are wavetables built from harmonic spectra
(plucks cross-fade from a bright to a dull table: a vectorised stand-in for Karplus-Strong), read with
wrapping uint32 phases, block by block; no per-sample Python loops. A 30-s clip takes ~50-70 ms on one core.

The styles (``_STYLES``):

* blues     - 66-110 bpm shuffle (swung 8ths), 12-bar I7-IV7-V7, boogie or walking bass, organ/guitar.
* classical - no drums, strings or piano on sustained triads or arpeggios, cello bass, reverb, wide dynamics.
* country   - train beat, twangy plucked arpeggios, root-fifth bass, bright major I-IV-V.
* disco     - four-on-the-floor with offbeat open hats, octave 8th-note bass, strings/synth stabs, 7th chords.
* hiphop    - boom-bap or half-time beat, long 808 sub bass, dark minor 7th/9th pads, vinyl noise.
* jazz      - swung ride pattern, walking upright bass, ii-V-I with 7ths/9ths, sparse comping, sax/piano.
* metal     - double-kick/gallop, low power chords in 16ths through heavy tanh distortion, flat dynamics.
* pop       - kick/snare backbeat, bright I-V-vi-IV, synth/piano, prominent lead melody.
* reggae    - one-drop (kick+snare on 3), offbeat skank stabs, loud melodic bass, organ.
* rock      - 8th-note hats and bass, overdriven power chords or strummed triads.

Every clip draws tempo, key, progression, pattern variants, instrument timbres, levels and noise from
``np.random.default_rng`` seeded by (seed, genre index, index). With probability ``_BORROW`` each of the
five aspects of a style (groove, harmony, band, lead, sound) is taken from a neighbouring genre
(rock~metal, pop~disco, blues~jazz, country~rock, hiphop~reggae, ...), so genres overlap the way real ones
do: learnable, not trivially separable.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import pathlib
import re

import numpy as np
import soundfile as sf
import yaml
from scipy.signal import butter, lfilter, sosfilt

from gtzan_utils.base import engine
from gtzan_utils.base.constants import GENRES, SR, SYNTH_MARKER
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.base.files import atomic_write, is_temporary, write_json

GENERATOR_VERSION = 1
_BORROW = 0.15
_TAB = 2048  # wavetable length: 2**11, read with the top 11 bits of a uint32 phase
_BLOCK = 16384  # samples per rendering block (keeps temporaries in cache)


def _tuples(v):
    """YAML's lists as tuples (the tables are constants), recursively."""
    if isinstance(v, dict):
        return {k: _tuples(x) for k, x in v.items()}
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


#: The style tables (chords, scales, instruments, drums, comping, bass, styles per genre, neighbours, aspects):
#: data, in ``styles.yaml`` beside this module, which explains each table.
_TABLES = _tuples(yaml.safe_load(pathlib.Path(__file__).with_name("styles.yaml").read_text()))
_CHORDS, _SCALES, _INSTR = _TABLES["chords"], _TABLES["scales"], _TABLES["instruments"]
_DRUMS, _COMP, _BASS = _TABLES["drums"], _TABLES["comping"], _TABLES["bass"]
_STYLES, _NEIGHBOURS, _ASPECTS = _TABLES["styles"], _TABLES["neighbours"], _TABLES["aspects"]
for _st in _STYLES.values():  # choices: "a b c" -> ["a", "b", "c"]; progressions split at "|"
    _st.update(
        {k: [c.strip() for c in v.split("|" if k == "progs" else None)] for k, v in _st.items() if isinstance(v, str)}
    )


def _hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69) / 12)


def _table(slope, n_harm, even):
    """One period of a harmonic spectrum (amplitude k**-slope, even harmonics scaled), peak 1."""
    k = np.arange(1, n_harm + 1)
    spec = np.zeros(_TAB // 2 + 1, complex)
    spec[k] = -1j * k**-slope * np.where(k % 2 == 0, even, 1.0)
    tab = np.fft.irfft(spec, _TAB)
    return (tab / np.abs(tab).max()).astype(np.float32)


def _voices(n, sr, on, dur, midi, vel, inst, rng, strum=0.0):
    """Render notes that share onsets (``midi``: one row per voice, one column per onset) with a wavetable
    instrument; voice v is delayed by v*strum seconds. Works in cache-sized blocks: per-note values are
    spread over the samples with np.repeat and the phase is a wrapping uint32 (top 11 bits = table index)."""
    slope, nh, even, att, dec, btau, vib = inst
    midi = np.atleast_2d(midi)
    s = np.minimum((np.asarray(on) * sr).astype(np.int64), n)
    keep = np.flatnonzero(np.diff(s, append=n) > 0)
    delay = [int(v * strum * sr) for v in range(len(midi))]
    out = np.zeros(n + delay[-1], np.float32)
    if len(keep) == 0:
        return out[:n]
    s, midi = s[keep], midi[:, keep]
    gaps = np.diff(s, append=n)
    rel = 0.015 * sr  # 15 ms release, silence after the note
    length = np.minimum(np.asarray(dur)[keep] * sr, gaps)
    k = np.arange(int(length.max()) + 2) / sr
    length = (length / rel).astype(np.float32)
    vel = np.asarray(vel, np.float32)[keep]
    inc = (_hz(midi) / sr * 2**32).astype(np.uint32)
    env = ((1 - np.exp(-k / att)) * (np.exp(-k / dec) if dec else 1)).astype(np.float32)
    fade = np.exp(-k / btau).astype(np.float32) if btau else None  # plucks: bright table fades to dull
    slope += rng.uniform(-0.25, 0.25)
    bright, dull = _table(slope, nh, even), _table(slope + 2.5, nh, even)
    depth = [np.float32(vib * np.median(_hz(m)) / 5.5 * _TAB) for m in midi]
    for b0 in range(int(s[0]), n, _BLOCK):
        b1 = min(b0 + _BLOCK, n)
        i0, i1 = np.searchsorted(s, b0, "right") - 1, np.searchsorted(s, b1)
        reps = np.diff(np.maximum(s[i0:i1], b0), append=b1)
        t = np.arange(b0, b1, dtype=np.uint32) - np.repeat(s[i0:i1].astype(np.uint32), reps)
        amp = np.repeat(length[i0:i1], reps) - t.astype(np.float32) / np.float32(rel)
        np.clip(amp, 0, 1, out=amp)
        amp *= np.take(env, t, mode="clip") * vel[i0:i1].repeat(reps)
        fd = np.take(fade, t, mode="clip") if btau else None
        wob = np.sin(t.astype(np.float32) * np.float32(2 * np.pi * 5.5 / sr)) if vib else None
        for v in range(len(midi)):
            ph = np.repeat(inc[v, i0:i1], reps) * t >> 21  # wraps modulo 2**32 = one table cycle
            if vib:  # phase-modulation vibrato, 5.5 Hz
                ph = (ph + (wob * depth[v]).astype(np.int32).view(np.uint32)) & (_TAB - 1)
            y = np.take(bright, ph)
            if btau:
                y0 = np.take(dull, ph)
                y = y0 + (y - y0) * fd
            out[b0 + delay[v] : b1 + delay[v]] += y * amp
    return out[:n]


_NOISE = {}


def _noise(rng, size, colour=0.0):
    """``size`` samples of unit-RMS noise (colour 0 = white .. 0.95 = brownish) cut at a random offset from a
    cached buffer: drawing fresh Gaussian noise for every 30-s clip would cost more than the music."""
    if colour not in _NOISE:
        white = np.random.default_rng(1234).standard_normal(2**18)
        col = lfilter([1.0], [1, -colour], white)
        _NOISE[colour] = (col / col.std()).astype(np.float32)
    buf = _NOISE[colour]
    start = int(rng.integers(len(buf)))
    return np.resize(np.roll(buf, -start), size) if size > len(buf) - start else buf[start : start + size].copy()


def _kit(kit, rng, sr):
    """Drum samples for one clip: kick, snare, hat, open hat, ride."""
    kdec, khz, sdec, hdec = (v * rng.uniform(0.8, 1.25) for v in kit)
    t = np.arange(int(sr * min(1.2, 4 * kdec))) / sr
    kick = np.sin(2 * np.pi * np.cumsum(khz + 120 * np.exp(-t / 0.03)) / sr) * np.exp(-t / kdec)
    t = np.arange(int(sr * 4 * sdec)) / sr
    snare = rng.uniform(0.4, 0.9) * _noise(rng, len(t)) * np.exp(-t / sdec) + np.sin(
        2 * np.pi * rng.uniform(160, 240) * t
    ) * np.exp(-t / 0.04)
    t = np.arange(int(sr * max(5 * hdec, 1.0))) / sr
    noise = np.diff(_noise(rng, len(t) + 1)) / 2  # differentiated noise: bright
    hat, opn = noise * np.exp(-t / hdec), noise * np.exp(-t / 0.25)
    ride = (
        0.5 * noise * np.exp(-t / 0.3)
        + sum(np.sin(2 * np.pi * rng.uniform(380, 470) * r * t) for r in (1, 1.48, 2.17, 2.91, 3.7))
        * np.exp(-t / 0.6)
        / 4
    )
    return dict(kick=kick, snare=snare, hat=hat[: int(5 * hdec * sr)], open=opn[: int(1.2 * sr)], ride=ride)


def _grid(pattern, bars):
    """16-step pattern string repeated over the bars -> (step indices, velocities)."""
    steps = [i for i, c in enumerate(pattern * bars) if c != "."]
    return np.array(steps, np.int64), np.array([{"X": 1.0, "x": 0.7, "o": 0.3}[(pattern * bars)[i]] for i in steps])


class _Song:
    """One clip being rendered: its style (after borrowing), tempo grid, key and chord per 16th step."""

    def __init__(self, genre, n, sr, rng):
        self.n, self.sr, self.rng = n, sr, rng
        self.st = st = dict(_STYLES[genre])
        for keys in _ASPECTS.values():  # deliberate overlap: take whole aspects from a neighbouring genre
            if rng.random() < _BORROW:
                st.update({k: _STYLES[self.pick(_NEIGHBOURS[genre])][k] for k in keys})
        self.beat = 60.0 / rng.uniform(*st["tempo"])
        swing = rng.uniform(*st["swing"])
        self.frac = np.array([0, swing / 2, swing, swing + (1 - swing) / 2])  # 16th positions in a beat
        self.bars = int(n / sr / (4 * self.beat)) + 2
        self.key = int(rng.integers(12))
        self.chords, self.at = [], np.zeros(self.bars * 16, np.int64)
        prog = [bar.split(",") for bar in self.pick(st["progs"]).split()]
        for b in range(self.bars):
            for j, tok in enumerate(prog[b % len(prog)]):
                root, quality = tok.split(":")
                self.chords.append((self.key + int(root), _CHORDS[quality]))
                self.at[b * 16 + j * 16 // len(prog[b % len(prog)]) :] = len(self.chords) - 1

    def pick(self, choices):
        return choices[self.rng.integers(len(choices))]

    def when(self, steps):
        """16th-note step index -> seconds, with swing."""
        steps = np.asarray(steps)
        return (steps // 4 + self.frac[steps % 4]) * self.beat

    def chord(self, step):
        return self.chords[self.at[min(step, len(self.at) - 1)]]

    def bass_root(self, step):
        return 36 + (self.chord(step)[0] - 36) % 12

    def play(self, steps, length, midi, vel, inst, strum=0.0):
        """Render notes at 16th ``steps``, ``length`` in steps (0 = until the next note)."""
        on = self.when(steps)
        dur = np.full(len(on), length * self.beat / 4 if length else 1e3)
        return _voices(self.n, self.sr, on, dur, midi, vel, _INSTR[self.pick(inst)], self.rng, strum)

    def comping(self):
        comp = self.pick(self.st["comp"])
        patterns, length, strum = _COMP[comp]
        steps, _ = _grid(self.pick(patterns), self.bars)
        vel = self.rng.uniform(0.6, 1, len(steps))
        lo = int(self.rng.integers(*self.st["octave"]))
        roots = [lo + (self.chord(s)[0] - lo) % 12 for s in steps]
        if comp == "arp":  # one line walking up and down the chord tones
            cycle = np.array([0, 1, 2, 3, 2, 1])[np.arange(len(steps)) % 6]
            midi = [r + 12 + (self.chord(s)[1] + (12,))[c] for r, s, c in zip(roots, steps, cycle)]
        else:  # three voices; four-note chords drop their fifth (shell voicing)
            ivs = [iv if len(iv) == 3 else (iv[0], iv[1], iv[3]) for iv in (self.chord(s)[1] for s in steps)]
            midi = np.array([[r + iv[v] for r, iv in zip(roots, ivs)] for v in range(3)])
        band = self.play(steps, length, midi, vel, self.st["chords"], strum)
        drive = self.rng.uniform(*self.st["drive"])
        band /= np.sqrt(np.mean(band**2)) + 1e-9
        return np.tanh(drive * band) if drive > 0.3 else band  # overdrive / metal distortion

    def bassline(self):
        style = self.pick(self.st["bass"])
        steps, length, offsets = _BASS[style]
        if style == "reggae":  # a syncopated riff of chord tones, drawn per clip
            steps = np.sort(self.rng.choice(16, size=int(self.rng.integers(4, 7)), replace=False))
            offsets = self.rng.choice([0, 7, 12, 10, 3, 4, 5], size=len(steps))
        steps = np.add.outer(np.arange(self.bars) * 16, np.asarray(steps)).ravel()
        offsets = np.resize(np.asarray(offsets if offsets is not None else 0), len(steps))
        if style == "walking":  # root, chord tone, scale tone, chromatic approach to the next root
            offsets = np.stack(
                [
                    np.zeros(self.bars),
                    self.rng.choice([3, 4, 7, 10, 12], self.bars),
                    self.rng.choice([2, 5, 7, 9], self.bars),
                    self.rng.choice([-1, 1], self.bars),
                ],
                1,
            )
            offsets[:, 3] += [self.bass_root(s + 16) - self.bass_root(s + 12) for s in steps[::4]]
            offsets = offsets.ravel()
        midi = np.array([self.bass_root(s) for s in steps]) + offsets
        return self.play(steps, length, midi, self.rng.uniform(0.7, 1, len(steps)), self.st["bass_inst"])

    def melody(self):
        """A 2-bar motif over the scale, repeated with small variations and rests."""
        rng = self.rng
        if rng.random() >= self.st["lead"]:
            return np.zeros(self.n, np.float32)
        scale = np.array(_SCALES[self.pick(self.st["scales"])])
        hits = np.flatnonzero(rng.random(32) < np.where(np.arange(32) % 2 == 0, rng.uniform(0.3, 0.8), 0.1))
        degree = np.clip(np.cumsum(rng.integers(-2, 3, len(hits))) + 4, 0, 2 * len(scale) - 1)
        steps, midi = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for bar in range(0, self.bars, 2):
            if rng.random() < 0.75:
                d = np.where(rng.random(len(hits)) < 0.2, degree + rng.integers(-2, 3, len(hits)), degree).clip(0)
                steps.append(bar * 16 + hits)
                midi.append(64 + self.key + scale[d % len(scale)] + 12 * (d // len(scale)))
        steps = np.concatenate(steps)
        return self.play(steps, 6, np.concatenate(midi), rng.uniform(0.6, 1, len(steps)), self.st["lead_inst"])

    def drums(self):
        pattern = _DRUMS[self.pick(self.st["drums"])]
        kit, out = _kit(pattern["kit"], self.rng, self.sr), np.zeros(self.n, np.float32)
        for drum in ("kick", "snare", "hat", "open", "ride"):
            if drum in pattern:
                steps, vel = _grid(self.pick(pattern[drum]), self.bars)
                vel *= self.rng.uniform(0.8, 1, len(steps))
                jitter = self.rng.normal(0, 0.003, len(steps))
                starts = ((self.when(steps) + jitter).clip(0) * self.sr).astype(np.int64)
                for a, b, v in zip(starts, np.append(starts[1:], self.n), vel):  # a new hit chokes the last
                    seg = kit[drum][: max(0, min(b, self.n) - a)]
                    out[a : a + len(seg)] += v * seg
        return out

    def master(self, buses):
        """Levels, slow dynamics, echoes, low-pass, hiss and crackle, peak normalisation."""
        rng, n, sr, st = self.rng, self.n, self.sr, self.st
        mix = np.zeros(n, np.float32)
        for bus, level in zip(buses, st["mix"]):
            rms = np.sqrt(np.mean(bus**2))
            if rms > 1e-6:
                mix += bus * np.float32(level * 10 ** (rng.uniform(-4, 4) / 20) / rms)
        gain = 10 ** (-rng.uniform(0, st["dyn"], int(n / sr / 4) + 2) / 20)  # a new level every ~4 s
        mix *= np.interp(np.arange(0, n, 256), np.linspace(0, n, len(gain)), gain).astype(np.float32).repeat(256)[:n]
        wet, amount = mix.copy(), rng.uniform(*st["reverb"])
        for j, d in enumerate(rng.uniform(0.02, 0.12, 5) * sr):
            d = int(d) * (j + 1)
            if 0 < d < n:
                wet[d:] += mix[:-d] * np.float32(amount * 0.7**j)
        cutoff = min(rng.uniform(*st["lowpass"]), 0.45 * sr)
        mix = sosfilt(butter(2, cutoff, fs=sr, output="sos"), wet).astype(np.float32)
        mix /= np.sqrt(np.mean(mix**2)) + 1e-9
        mix += _noise(rng, n, self.pick((0.0, 0.6, 0.95))) * np.float32(10 ** (rng.uniform(*st["noise"]) / 20))
        clicks = rng.integers(0, n, int(n / sr * rng.uniform(0, 8)))
        mix[clicks] += rng.normal(0, 20 * 10 ** (rng.uniform(*st["noise"]) / 20), len(clicks)).astype(np.float32)
        return np.clip(mix * np.float32(rng.uniform(0.8, 0.95) / (np.abs(mix).max() + 1e-9)), -1, 1)


def _check_int(name, value, minimum, hint=""):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise GtzanError(f"{name} must be an integer >= {minimum}{hint}, got {value!r}")


def _check_seconds(seconds, sr):
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, numbers.Real)
        or not math.isfinite(seconds)
        or seconds <= 0
        or round(seconds * sr) < 1
    ):
        raise GtzanError(f"seconds must be a positive number of seconds per clip (e.g. 30), got {seconds!r}")


def synth_clip(genre: str, index: int, seconds: float = 30.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    """float32 mono in [-1, 1], length exactly round(seconds*sr); deterministic in (genre, index, seconds, seed)."""
    if genre not in GENRES:
        raise GtzanError(f"unknown genre {genre!r}: pass one of {', '.join(GENRES)}")
    _check_int("index", index, 0)
    _check_int("seed", seed, 0)
    _check_int("sr", sr, 8000)
    _check_seconds(seconds, sr)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), GENRES.index(genre), int(index), 0x5EED]))
    song = _Song(genre, int(round(seconds * sr)), sr, rng)
    return song.master([song.drums(), song.bassline(), song.comping(), song.melody()]).astype(np.float32)


_NAME = re.compile(r"^([a-z]+)\.(\d{5})\.wav$")


def _write_clip(out: pathlib.Path, genre: str, index: int, seconds: float, seed: int) -> None:
    y = synth_clip(genre, index, seconds, seed)
    atomic_write(out / genre / f"{genre}.{index:05d}.wav", lambda tmp: sf.write(tmp, y, SR, "PCM_16", format="WAV"))


def _write_clips(item: tuple) -> int:
    """Task: ``(folder, seconds, seed, ((genre, index), ...))`` → the clips written, each atomically."""
    out, seconds, seed, clips = item
    for genre, index in clips:
        _write_clip(out, genre, index, seconds, seed)
    return len(clips)


def _is_done(path: pathlib.Path, frames: int) -> bool:
    try:
        info = sf.info(str(path))
    except Exception:  # missing or unreadable: (re)write it
        return False
    return (info.frames, info.samplerate, info.channels, info.subtype) == (frames, SR, 1, "PCM_16")


def _checked_arguments(genres, per_genre, seconds, seed, n_jobs) -> tuple[tuple, int]:
    """(genres as a tuple, worker processes) after checking every argument of :func:`make_synthetic_gtzan`."""
    genres = (genres,) if isinstance(genres, str) else tuple(genres)
    if not genres or len(set(genres)) != len(genres) or any(g not in GENRES for g in genres):
        raise GtzanError(f"genres must be distinct names among {', '.join(GENRES)}; got {list(genres)!r}")
    _check_int("per_genre", per_genre, 1, " (clips per genre, e.g. 10)")
    if per_genre > 99999:
        raise GtzanError(f"per_genre must be at most 99999 (5-digit file names), got {per_genre}")
    _check_seconds(seconds, SR)
    _check_int("seed", seed, 0)
    jobs = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    _check_int("n_jobs", jobs, 1, " (or -1 for all cores)")
    return genres, jobs


def _clear_stale(out: pathlib.Path, meta_path: pathlib.Path, meta: dict, genres, per_genre: int) -> None:
    """Remove temporary files of interrupted runs and clips made with other arguments; refuse a ``genres`` folder
    of audio that this generator did not write."""
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
            old.pop("complete", None)
        except (OSError, ValueError, AttributeError):
            old = None
        stale = old != meta
    elif out.is_dir() and any(p.is_file() for g in GENRES if (out / g).is_dir() for p in (out / g).iterdir()):
        raise GtzanError(
            f"{out} holds audio that make_synthetic_gtzan did not write (no SYNTH.json); "
            "pass an empty or new folder as root"
        )
    else:
        stale = False
    wanted = {(g, i) for g in genres for i in range(per_genre)}
    for g in GENRES:  # remove temp files of interrupted runs, and clips made with other arguments
        for p in (out / g).glob("*") if (out / g).is_dir() else ():
            m = _NAME.match(p.name)
            if is_temporary(p) or (m and m.group(1) == g and (stale or (g, int(m.group(2))) not in wanted)):
                p.unlink()


def make_synthetic_gtzan(
    root,
    per_genre: int = 10,
    seconds: float = 30.0,
    seed: int = 0,
    genres=GENRES,
    n_jobs: int = 1,
    progress: bool = True,
) -> pathlib.Path:
    """Write root/genres/<genre>/<genre>.000NN.wav (22050 Hz mono PCM_16) and root/genres/SYNTH.json.

    Idempotent: clips already present with the right length are kept, so a re-run is instant. SYNTH.json
    records the arguments (and ``complete``); if it records other ones, all clips are regenerated and clips
    outside the new set are removed. Files are written atomically, through :mod:`gtzan_utils.base.engine` (``n_jobs``
    local processes, -1 = all cores, 1 = this process; or the cluster of ``$GTZAN_SCHEDULER``).
    Refuses to write into a ``genres`` folder holding audio but no SYNTH.json (e.g. the real GTZAN).
    Returns root/'genres'.
    """
    genres, jobs = _checked_arguments(genres, per_genre, seconds, seed, n_jobs)
    out = pathlib.Path(root).expanduser() / "genres"
    meta_path = out / SYNTH_MARKER
    meta = dict(
        generator="gtzan_utils.data.synth",
        version=GENERATOR_VERSION,
        per_genre=int(per_genre),
        seconds=float(seconds),
        seed=int(seed),
        sr=SR,
        genres=list(genres),
    )
    _clear_stale(out, meta_path, meta, genres, per_genre)
    for g in genres:
        (out / g).mkdir(parents=True, exist_ok=True)
    write_json(meta_path, {**meta, "complete": False}, indent=2)

    frames = int(round(seconds * SR))
    todo = [(g, i) for g in genres for i in range(per_genre) if not _is_done(out / g / f"{g}.{i:05d}.wav", frames)]
    per = engine.chunk_size(len(todo), jobs, most=16)
    items = [(out, seconds, seed, tuple(todo[r.start : r.stop])) for r in engine.chunks(len(todo), per)]
    results = engine.map_unordered(
        _write_clips,
        items,
        jobs,
        desc="synthetic GTZAN",
        unit="clip",
        progress=progress and bool(todo),
        size=lambda n: n,
        total=len(todo),
    )
    for _ in results:
        pass
    write_json(meta_path, {**meta, "complete": True}, indent=2)
    return out
