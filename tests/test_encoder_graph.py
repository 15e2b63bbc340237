"""The encoder's ONNX graph (callassist.mood.encoder.GraphEncoder, built by
callassist.mood.export): the same numbers as the torch model it was traced from, on real caller
utterances with their context; a graph that is missing, broken or built from other weights is
never used (torch runs instead, and one log line says how to build it); and a call analysed
from a stereo recording loads neither torch nor transformers (what makes `analyze` start in
seconds)."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from callassist.mood.encoder import (GRAPH_FILE, GraphEncoder, GraphUnusable, TorchEncoder,
                                     graph_problem, shared_encoder)
from callassist.mood.sentiment import DEFAULT_MODEL_DIR, context_text, utterance_text

ROOT = Path(__file__).resolve().parents[1]


def _caller_lines(n: int) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in
            (ROOT / "tests" / "data" / "mood_calls_blind.jsonl").read_text().splitlines()[:n]]
    texts = [utterance_text(r["text"]) for r in rows]
    contexts = [context_text([(t["speaker"], t["text"]) for t in r["context"]]) for r in rows]
    return texts, contexts


@pytest.fixture(scope="module")
def torch_reference():
    enc = TorchEncoder()
    return enc, enc.attach(DEFAULT_MODEL_DIR)


def test_setup_built_the_shipped_graph_and_the_process_uses_it():
    assert graph_problem(DEFAULT_MODEL_DIR) is None, "run scripts/setup.sh"
    assert isinstance(shared_encoder(), GraphEncoder)


def test_graph_scores_real_calls_as_torch_does(torch_reference):
    reference, name = torch_reference
    graph = GraphEncoder(DEFAULT_MODEL_DIR)
    texts, contexts = _caller_lines(80)
    assert sum(bool(c) for c in contexts) > 30  # most with the turns before them
    want_pol, want_int = reference.classify(name, texts, contexts, 128)
    got_pol, got_int = graph.classify(graph.attach(DEFAULT_MODEL_DIR), texts, contexts, 128)
    assert np.abs(np.array(want_pol) - np.array(got_pol)).max() < 1e-4
    assert np.abs(np.array(want_int) - np.array(got_int)).max() < 1e-4
    one = [graph.classify(graph.attach(DEFAULT_MODEL_DIR), [t], [c], 128)[0][0]
           for t, c in zip(texts[:10], contexts[:10])]  # one at a time, as a live call asks
    assert np.abs(np.array(want_pol[:10]) - np.array(one)).max() < 1e-4
    assert [int(np.argmax(p)) for p in want_pol] == [int(np.argmax(p)) for p in got_pol]
    # embeddings: the packaged weights as they are (the adapter off), batched and alone
    sentences = texts + ["How do I reset my router?", "", "refund " * 300]
    want = reference.embed(sentences)
    got = graph.embed(sentences)
    assert got.shape == want.shape == (len(sentences), 384) and got.dtype == np.float32
    assert np.abs(want - got).max() < 1e-5
    assert np.abs(graph.embed(sentences[:1]) - want[:1]).max() < 1e-5
    assert graph.n_tokens("refund " * 300, "agent: " * 300) == 128  # truncated as torch does
    assert graph.n_tokens(texts[0], contexts[0]) == reference.n_tokens(texts[0], contexts[0])


def _copy_adapter(tmp_path: Path, with_graph: bool) -> Path:
    folder = tmp_path / "mood"
    shutil.copytree(DEFAULT_MODEL_DIR, folder,
                    ignore=None if with_graph else shutil.ignore_patterns(GRAPH_FILE))
    return folder


def test_a_graph_that_does_not_fit_its_adapter_is_never_used(tmp_path, caplog, torch_reference):
    reference, name = torch_reference
    texts, contexts = _caller_lines(6)
    want = reference.classify(name, texts, contexts, 128)[0]
    missing = _copy_adapter(tmp_path / "a", with_graph=False)
    other = _copy_adapter(tmp_path / "b", with_graph=True)  # the adapter re-saved: another file
    cfg = other / "adapter_config.json"
    cfg.write_text(json.dumps(json.loads(cfg.read_text()), indent=4))
    broken = _copy_adapter(tmp_path / "c", with_graph=True)
    data = (broken / GRAPH_FILE).read_bytes()
    (broken / GRAPH_FILE).write_bytes(data[:len(data) // 3])
    for folder, why in ((missing, "is missing"), (other, "built from other weights"),
                        (broken, "is corrupt")):
        assert why in graph_problem(folder)
        with pytest.raises(GraphUnusable, match=why):
            GraphEncoder(folder)
        graph = GraphEncoder(DEFAULT_MODEL_DIR)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="callassist.mood.encoder"):
            adapter = graph.attach(folder)  # its mood through torch, still right
        assert adapter.startswith("torch:")
        assert why in caplog.text and "callassist.mood.export" in caplog.text
        got = graph.classify(adapter, texts, contexts, 128)[0]
        assert np.abs(np.array(want) - np.array(got)).max() < 1e-5


@pytest.mark.slow  # traces and writes a 90 MB graph (~10-20 s)
def test_export_builds_a_missing_graph_and_leaves_a_current_one(tmp_path, torch_reference):
    from callassist.mood import export

    folder = _copy_adapter(tmp_path, with_graph=False)
    assert export.main([str(folder), "--if-stale"]) == 0
    assert graph_problem(folder) is None
    assert (folder / GRAPH_FILE).stat().st_mode & 0o077 == 0  # owner-only, as all we write
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in DEFAULT_MODEL_DIR.iterdir())  # no temporary file left behind
    built = (folder / GRAPH_FILE).stat().st_mtime_ns
    assert export.main([str(folder), "--if-stale"]) == 0
    assert (folder / GRAPH_FILE).stat().st_mtime_ns == built  # up to date: not rebuilt
    graph = GraphEncoder(DEFAULT_MODEL_DIR)
    adapter = graph.attach(folder)
    assert not adapter.startswith("torch:")
    texts, contexts = _caller_lines(8)
    reference, name = torch_reference
    want = reference.classify(name, texts, contexts, 128)[0]
    assert np.abs(np.array(want) - np.array(graph.classify(adapter, texts, contexts, 128)[0])).max() < 1e-4


def test_export_of_a_folder_without_an_adapter_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "callassist.mood.export", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("callassist: error: ") and len(proc.stderr.splitlines()) == 1


def test_analyze_of_a_stereo_call_loads_neither_torch_nor_transformers(tmp_path):
    audio, rate = sf.read(ROOT / "demo" / "calls" / "satisfied_caller.flac", frames=16000 * 20)
    assert audio.shape[1] == 2
    call = tmp_path / "call.wav"
    sf.write(call, audio, rate)
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('LOADED', sorted(m for m in ('torch', 'transformers', "
            "'peft') if m in sys.modules)))\n"
            "from callassist.cli import main\n"
            f"main(['analyze', {str(call)!r}, '--json', '-'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout[-300:]
    timeline = json.loads(proc.stdout[:proc.stdout.rindex("LOADED")])
    kinds = {e["type"] for e in timeline["events"]}
    assert {"utterance", "mood", "knowledge", "wrapup"} <= kinds  # the mood and the search ran
