"""Committed notebooks are clean; all six execute under papermill in the test profile (the quick one, shrunk)."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest
import soundfile as sf
from nbformat.sign import NotebookNotary

from gtzan_utils.base import parse
from gtzan_utils.base.errors import GtzanError
from gtzan_utils.features import splits
from gtzan_utils.features.store import FeatureStore
from gtzan_utils.run import environment, runner

NOTEBOOKS = sorted(runner.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_the_story_is_in_order():
    names = [p.name[:2] for p in NOTEBOOKS]
    assert names[:2] == ["01", "02"] and names == sorted(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs: make strip"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.metadata.kernelspec.name == "python3"
    assert "colab.research.google.com" in nb.cells[0].source
    assert 'IS_COLAB = "google.colab" in sys.modules' in code[0].source
    # parameters: typed UPPER_CASE constants, one per line, each with a comment
    names = []
    for line in tagged[0].source.splitlines():
        name = line.split(":")[0]
        assert name.isupper() and "#" in line, line
        names.append(name)
    # papermill must parse every line, or the runner silently cannot set that parameter
    import papermill as pm

    assert list(pm.inspect_notebook(str(path))) == names
    # no function or class is defined in a notebook: they live in gtzan_utils
    assert not any(line.lstrip().startswith(("def ", "class ")) for c in code for line in c.source.splitlines())


def test_unknown_override_and_profile_are_refused(tmp_path):
    with pytest.raises(GtzanError, match="unknown notebook parameter"):
        runner.run_pipeline(out=tmp_path, overrides={"NOPE": 1}, stop="02")
    with pytest.raises(GtzanError, match="unknown profile"):
        runner.run_pipeline(profile="huge", out=tmp_path)
    with pytest.raises(GtzanError, match="KEY=VALUE"):
        parse.parse_overrides(["EPOCHS"])


def test_executed_notebooks_are_signed_so_jupyter_trusts_them(tmp_path):
    """A signed notebook verifies as trusted with the same notary (its audio plays); an unsigned or edited one not."""
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "Audio(y)",
                outputs=[
                    nbformat.v4.new_output(
                        "display_data",
                        data={"text/html": '<audio controls><source src="data:audio/wav;base64,UklGRg=="></audio>'},
                    )
                ],
            )
        ]
    )
    signed, unsigned = tmp_path / "signed.ipynb", tmp_path / "unsigned.ipynb"
    nbformat.write(nb, signed)
    nbformat.write(nb, unsigned)
    unsigned.write_text(unsigned.read_text().replace("Audio(y)", "Audio(z)"))
    notary = NotebookNotary(data_dir=str(tmp_path / "jupyter"))
    runner.sign_notebook(signed, notary=notary)
    assert notary.check_signature(nbformat.read(signed, as_version=4))
    assert not notary.check_signature(nbformat.read(unsigned, as_version=4))
    # another installation (another secret) does not trust it: `jupyter trust` is needed there
    (tmp_path / "elsewhere").mkdir()
    assert not NotebookNotary(data_dir=str(tmp_path / "elsewhere")).check_signature(nbformat.read(signed, as_version=4))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The test profile (``profiles/test.yaml``: quick, shrunk) run once for the per-notebook tests below, by the
    command line, on a Dask cluster started from the command line (a scheduler and two workers on 127.0.0.1): the
    notebooks' parallel work runs on those workers (tests/test_engine.py). Returns (run folder, what it printed);
    the workers' process ids are kept in ``workers.json`` beside the run folder."""
    import contextlib
    import io
    import os

    from test_engine import cli_cluster, cluster_pids

    from gtzan_utils.run import cli

    folder = tmp_path_factory.mktemp("quick")
    printed = io.StringIO()
    # a data home of its own (this module-scoped fixture is set up before the autouse one that isolates each test):
    # the synthetic set and the stores are made here, by the cluster, not found in the repository's data/
    with pytest.MonkeyPatch.context() as mp, cli_cluster(folder / "cluster") as sched_file:
        mp.setenv("GTZAN_DATA_HOME", str(folder / "data"))
        pids = cluster_pids(sched_file)
        with contextlib.redirect_stdout(printed):
            # the stores in a folder of their own as well (STORE_DIR): stores built by an earlier session must never
            # be found finished here, whatever the data home
            argv = ["run", "--profile", "test", "--scheduler-file", str(sched_file), "--out", str(folder / "run")]
            status = cli.main([*argv, "-p", f"STORE_DIR={folder / 'stores'}"])
        assert status == 0, printed.getvalue()[-3000:]
        assert cluster_pids(sched_file) == pids  # no worker died on the way
    assert not os.environ.get("GTZAN_SCHEDULER_FILE")  # set for the run's kernels only
    assert (folder / "data" / "synth-5x12s-seed0" / "genres").is_dir()  # the kernels used this data home
    (folder / "workers.json").write_text(json.dumps(sorted(pids)))
    return folder / "run", printed.getvalue()


def _metrics(run, *parts):
    return json.loads(run.joinpath(*parts, "metrics.json").read_text())


@pytest.mark.slow
def test_quick_run_executes_all_six_signed_and_quiet(quick_run):
    run, _ = quick_run
    record = json.loads((run / "run.json").read_text())
    assert [v["status"] for v in record["notebooks"].values()] == ["ok"] * 6
    notary = NotebookNotary()  # the user's own Jupyter trust database, the one JupyterLab checks
    for nb_path in (run / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not any(o.get("output_type") == "error" for o in outputs)
        assert notary.check_signature(nb), f"{nb_path.name} is not signed: its audio players would open dead"
        stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
        assert not environment.TF_NOISE.search(stderr), f"{nb_path.name}: TensorFlow start-up noise\n{stderr}"
        stdout = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
        assert "\r" not in stdout  # progress is plain lines under papermill


@pytest.mark.slow
def test_01_data_exploration(quick_run):
    run, _ = quick_run
    out1 = run / "01_data_exploration"
    assert (out1 / "validation_report.csv").exists() and (out1 / "figures" / "clip_rock.png").exists()
    report = pd.read_csv(out1 / "validation_report.csv")
    assert len(report) == 50 and report.usable.all()  # 5 synthetic songs per genre, none damaged
    nb1 = (run / "notebooks" / "01_data_exploration.ipynb").read_text()
    assert "audio/wav" in nb1 or "<audio" in nb1  # inline players were rendered


@pytest.mark.slow
def test_02_preprocessing(quick_run):
    run, _ = quick_run
    prep = run / "02_preprocessing"
    stores = json.loads((prep / "stores.json").read_text())
    assert set(stores) == {"mfcc", "mel", "mel3", "mfcc_image", "musicnn"}
    assert all((prep / p / "complete.json").exists() for p in stores.values())  # paths relative to the index
    assert {p.name for p in (prep / "splits").iterdir()} == {"song.json", "kfold.json", "paper.json"}
    kfold = splits.Split.load(prep / "splits" / "kfold.json")
    tested = [t for f in kfold.folds for t in f["test"]]
    assert len(tested) == len(set(tested)) == 50  # every song tested exactly once


@pytest.mark.slow
def test_the_parallel_work_ran_on_the_cluster_workers(quick_run):
    """``gtzan run --scheduler-file F``: the feature stores' shards (02), the musicnn embeddings (04) and every fold
    that 03 and 04 trained were computed by the workers of the cluster that F describes, not by the kernels."""
    run, printed = quick_run
    workers = set(json.loads((run.parent / "workers.json").read_text()))
    assert "parallel work: the Dask cluster at" in printed
    record = json.loads((run / "run.json").read_text())
    assert record["engine"].startswith("the Dask cluster at") and record["engine"].endswith("scheduler.json")
    prep = run / "02_preprocessing"
    for rel in json.loads((prep / "stores.json").read_text()).values():
        s = FeatureStore(prep / rel)
        used = {int(w.rsplit(":", 1)[1]) for w in s.info["workers"]}
        assert used and used <= workers, (s.path.name, used, workers)
    (music,) = [prep / rel for kind, rel in json.loads((prep / "stores.json").read_text()).items() if kind == "musicnn"]
    (emb,) = music.glob("embeddings-MSD_musicnn-*.json")
    assert {int(w.rsplit(":", 1)[1]) for w in json.loads(emb.read_text())["workers"]} <= workers
    # the training sweeps of 03 and 04: each fold a task, trained in a process of its own that a worker started
    trained = ("vanilla_cnn-mfcc-song", "leak/vanilla_cnn-mfcc-song", "vanilla_cnn-mfcc-paper")
    for folder in [f"03_vanilla_cnn/{f}" for f in trained] + ["04_transfer_learning/msd_musicnn-musicnn-song"]:
        task = json.loads((run / folder / "task.json").read_text())
        assert task["pid"] in workers and task["child_pid"] not in workers and task["attempts"] == 1, folder
    for nb in ("03_vanilla_cnn", "04_transfer_learning"):
        assert (
            "fold(s) to train, one task each on the Dask cluster at" in (run / "notebooks" / f"{nb}.ipynb").read_text()
        )


@pytest.mark.slow
def test_03_vanilla_cnn(quick_run):
    run, _ = quick_run
    m03 = _metrics(run, "03_vanilla_cnn", "vanilla_cnn-mfcc-song")
    assert m03["protocol"]["split"] == "song" and m03["protocol"]["epochs_run"] == 2
    assert m03["protocol"]["n_test_songs"] == 10 and 0.0 <= m03["results"]["song"]["accuracy"] <= 1.0
    assert "song" in m03["validation"]  # what model selection reads
    leak = json.loads((run / "03_vanilla_cnn" / "leak.json").read_text())
    assert leak["protocols"]["paper"]["leaky"] is True and "gap" in leak


@pytest.mark.slow
def test_04_transfer_learning(quick_run):
    run, _ = quick_run
    p04 = _metrics(run, "04_transfer_learning", "mobilenetv2-mfcc_image-song")["protocol"]
    assert p04["pretrained"] is False and p04["n_train_slices_used"] == min(64, p04["n_train_slices"])
    # beyond the paper: musicnn with its real pretrained weights (offline), its probe, the baseline
    m = _metrics(run, "04_transfer_learning", "msd_musicnn-musicnn-song")
    assert m["protocol"]["pretrained"] == "MSD_musicnn" and m["protocol"]["base"] == "frozen"
    # its head learned from the cached embeddings, on every training slice (MAX_TRAIN_SLICES caps ImageNet rows)
    assert m["config"]["head_on"] == "cached embeddings" and m["config"]["max_train_slices"] is None
    probe = _metrics(run, "04_transfer_learning", "probe_msd_musicnn-musicnn-song")
    base = _metrics(run, "04_transfer_learning", "baseline_lr-mel-song")
    assert probe["protocol"]["n_test_songs"] == base["protocol"]["n_test_songs"] == p04["n_test_songs"]
    # the synthetic genres are learnable: the classical baseline is well above chance (10 %) on unseen songs
    assert base["results"]["song"]["accuracy"] >= 0.3
    nb4 = (run / "notebooks" / "04_transfer_learning.ipynb").read_text()
    assert "MSD_musicnn" in nb4 and ("real GTZAN excerpts" in nb4 or "synthetic clips" in nb4)


@pytest.mark.slow
def test_05_vae_generation(quick_run):
    run, _ = quick_run
    # 03 trained no mel model here (INPUTS mfcc), so 05 trained its own listener
    out5 = run / "05_vae_generation"
    assert (out5 / "vae" / "vae.keras").exists() and (out5 / "classifier" / "model.keras").exists()
    wav = sf.info(out5 / "audio" / "jazz.wav")
    assert (wav.samplerate, wav.frames) == (22050, int(1.5 * 22050))
    m05 = json.loads((out5 / "vae_metrics.json").read_text())
    sets = {r["set"] for r in m05["judging"]["summary"]}
    assert sets == {
        "real, validation songs",
        "VAE, spectrogram",
        "VAE, audio",
        "genre mean, audio",
        "real → mel → audio",
    }
    assert m05["judging"]["protocol"]["split"] == "song" and m05["vae"]["epochs_run"] == 2
    assert m05["augmentation"]["k_per_genre"] == 2 and m05["reconstruction"]["mean_abs_error_db"] > 0
    # augmentation on the k folds: every song tested once, mean ± std over the folds
    aug = m05["augmentation"]
    assert aug["protocol"]["split"] == "kfold" and len(aug["folds"]) == aug["protocol"]["folds"] == 2
    assert aug["protocol"]["n_test_songs"] == 50 and set(aug["difference"]["song"]) == {"mean", "std", "per_fold"}
    assert (out5 / "figures" / "latent_pca.png").exists() and list((out5 / "audio").glob("interpolation_*.wav"))
    nb5 = (run / "notebooks" / "05_vae_generation.ipynb").read_text()
    assert "audio/wav" in nb5 or "<audio" in nb5


@pytest.mark.slow
def test_06_results(quick_run):
    run, printed = quick_run
    # Table 1 with "not run" cells, written as CSV and Markdown, printed at the end of the run
    out6 = run / "06_results"
    table = (out6 / "table1.md").read_text()
    assert "| vanilla_cnn | mfcc | 79.0% |" in table and "not run" in table and "VAE, audio" in table
    t1 = pd.read_csv(out6 / "table1.csv")
    assert len(t1) == 8 and list(t1.model[5:]) == ["baseline_lr", "msd_musicnn", "probe_msd_musicnn"]
    assert "no CNN (baseline)" in table and "beyond the paper" in table
    assert "# Table 1, rebuilt" in printed
    nb6 = nbformat.read(run / "notebooks" / "06_results.ipynb", as_version=4)
    text = json.dumps([c.outputs for c in nb6.cells if c.cell_type == "code"])
    assert "slices" in text and "skipped" not in text  # the prediction table of two test songs
    assert "chosen on validation accuracy" in text  # the shown model was picked on validation songs


@pytest.mark.slow
def test_every_keras_file_of_the_run_predicts_or_is_refused_in_one_line(quick_run, tmp_path, capsys):
    """Whatever .keras file of a run a user passes to ``gtzan predict``: predictions, or one line naming what to use."""
    from conftest import SR, tone

    from gtzan_utils.run import cli

    run, _ = quick_run
    song = tmp_path / "my_song.wav"  # real-world audio for the models: not part of the synthetic set
    sf.write(song, tone(6.0, 330), SR)
    files = sorted(run.rglob("*.keras"))
    assert any(f.name == "vae.keras" for f in files) and any(f.name == "model.keras" for f in files)
    capsys.readouterr()
    for f in files:
        status = cli.main(["predict", str(song), "--model", str(f)])  # anything but a refusal in one line raises
        out = capsys.readouterr()
        assert status in (0, 1), (f, out.err)
        assert out.err.count("\n") == 1, (f, out.err)  # the refusal, or the note on synthetic training
        if status == 1:
            assert "gtzan predict: error:" in out.err, (f, out.err)
        else:
            assert out.out.startswith("my_song.wav (1 slices): ") and "mean nothing for real music" in out.err
    assert cli.main(["predict", str(song), "--model", str(run / "05_vae_generation" / "vae" / "vae.keras")]) == 1
    assert "gtzan generate" in capsys.readouterr().err
    feats = json.loads((run / "03_vanilla_cnn" / "vanilla_cnn-mfcc-song" / "features.json").read_text())
    # the song split of 50 songs: 30 train, 10 validation, 10 test; a model learns from the 30 training songs
    assert feats["trained_on"] == {"source": "synthetic", "n_songs": 30, "n_dataset_songs": 50, "profile": "test"}


@pytest.mark.slow
def test_a_failing_notebook_stops_the_run_naming_its_cell(tmp_path, capfd):
    run = tmp_path / "run"
    with pytest.raises(GtzanError) as err:
        runner.run_pipeline(profile="quick", out=run, stop="02", overrides={"DATA": str(tmp_path / "no_such_folder")})
    msg = str(err.value)
    assert "01_data_exploration.ipynb failed in cell" in msg and "no_such_folder" in msg
    assert f"--from 01 --out {run.resolve()}" in msg
    record = json.loads((run / "run.json").read_text())
    assert record["notebooks"]["01_data_exploration.ipynb"]["status"] == "failed"
    assert "02_preprocessing.ipynb" not in record["notebooks"]  # stopped at the first failure
    assert "FAILED 01_data_exploration.ipynb" in (run / "run.log").read_text()
    # the kernel's sockets are encrypted (runner.kernel_manager_class): ipykernel has nothing to warn about
    assert "without encryption" not in capfd.readouterr().err


@pytest.mark.parametrize("profile", ["quick", "cpu", "full", "test"])
def test_every_profile_key_is_a_notebook_parameter(profile):
    """A misspelt key in a profile would be ignored silently: each must be declared by a notebook it targets."""
    import papermill as pm

    declared = {nb.stem: set(pm.inspect_notebook(str(nb))) for nb in NOTEBOOKS}
    profile_params = runner.load_profile(profile)
    for key, value in profile_params.items():
        if key in declared:
            assert isinstance(value, dict) and set(value) <= declared[key], (key, set(value) - declared[key])
        else:
            assert any(key in d for d in declared.values()), key


@pytest.mark.slow
def test_01_02_carry_on_past_damaged_audio(tmp_path):
    """NaN/inf samples, silence, truncation and a second file of a track: 01 and 02 name them and go on."""
    from test_data import damaged_dataset

    root = damaged_dataset(tmp_path / "genres", seconds=15.0)  # 01 validates with 5-s slices, as 02 does here
    run = runner.run_pipeline(
        profile="quick",
        data=str(root),
        out=tmp_path / "run",
        stop="02",
        overrides={
            "FEATURE_KINDS": "mfcc",
            "SLICE_SECONDS": 5.0,
            "N_SLICES": 3,
            "SPLITS": "song",
            "N_JOBS": 1,
            "AUDIO_SECONDS": 1.0,
            "PLOT_SECONDS": 2.0,
        },
    )
    record = json.loads((run / "run.json").read_text())
    assert [v["status"] for v in record["notebooks"].values()] == ["ok"] * 2
    for name in ("01_data_exploration", "02_preprocessing"):
        nb = nbformat.read(run / "notebooks" / f"{name}.ipynb", as_version=4)
        text = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
        assert "non-finite samples (NaN/inf), excluded" in text and "all silent, excluded" in text, name
        assert "gives 1 of 3 slices" in text and "second file blues.00001.au" in text, name
    report = pd.read_csv(run / "01_data_exploration" / "validation_report.csv")
    assert len(report) == 12 and report.usable.sum() == 8
    (path,) = json.loads((run / "02_preprocessing" / "stores.json").read_text()).values()
    manifest = FeatureStore(run / "02_preprocessing" / path).manifest
    assert manifest.track_id.nunique() == 8 and (manifest.groupby("track_id").size()["rock.00011"] == 1)


def test_a_profile_extends_another(tmp_path):
    """profiles/test.yaml starts from quick: its top-level keys win over quick's sections, the rest is quick's."""
    quick, test = runner.load_profile("quick"), runner.load_profile("test")
    assert "extends" not in test and test["DATA"] == quick["DATA"] == "synth"
    assert test["EPOCHS"] == 2 and "EPOCHS" not in test["03_vanilla_cnn"]  # quick's 03 section has EPOCHS: 5
    assert test["05_vae_generation"]["LATENT_DIM"] == quick["05_vae_generation"]["LATENT_DIM"]
    assert runner.resolve_parameters("test", "03_vanilla_cnn")["EPOCHS"] == 2
    assert runner.resolve_parameters("quick", "03_vanilla_cnn")["EPOCHS"] == 5
    child = tmp_path / "child.yaml"
    child.write_text("extends: quick\n03_vanilla_cnn:\n  PATIENCE: 1\n")
    assert runner.resolve_parameters(str(child), "03_vanilla_cnn", {"SEED": 7}) == {
        **runner.resolve_parameters("quick", "03_vanilla_cnn"),
        "PATIENCE": 1,
        "SEED": 7,
    }
