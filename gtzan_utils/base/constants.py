"""The constants every chapter shares: the ten genres, the sample rate, the audio file endings, the repository root.

A parameter has one home: the audio constants live here, feature parameters in
:class:`gtzan_utils.features.extract.FeatureParams`, notebook parameters in the notebooks' ``parameters`` cell and
the profile files in ``gtzan_utils/run/profiles/``; where files go is :mod:`gtzan_utils.base.layout`'s.
"""

from __future__ import annotations

from pathlib import Path

#: The ten GTZAN genres, in the dataset's (alphabetical) order; label index = position here.
GENRES: tuple[str, ...] = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)

#: GTZAN's sample rate; every clip is resampled to it.
SR: int = 22050

#: Audio file endings that soundfile decodes without system packages.
AUDIO_EXTENSIONS: tuple[str, ...] = (".au", ".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".snd")

#: The file the embedded synthetic GTZAN (``gtzan_utils.data.synth``) writes beside its genre folders: it marks a set
#: as synthetic (``dataset.dataset_source``).
SYNTH_MARKER: str = "SYNTH.json"

#: Repository root (where ``notebooks/`` lives) when the package is installed from a checkout.
REPO_ROOT: Path = Path(__file__).resolve().parents[2]
