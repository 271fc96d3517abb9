"""`sam3m4 teacher cache` on several ranks (issue 33): two gloo ranks on this CPU, two "nodes" on 127.0.0.1 (c10d rendezvous),
and a rank killed mid-way then the same command again; every time the cache equals a one-process cache item for item."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from sam3m4.teacher_cache import TeacherCache, build_teacher_caches
from sam3m4.world import WorldConfig, make_world

ENV = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
CACHE = ["teacher", "cache", "--teacher", "random-tiny", "--image-size", "64", "--shard-size", "2", "--batch-size", "2", "--json"]


def _port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _torchrun(*args, nproc: int = 2, extra=()) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *extra, "--nproc_per_node", str(nproc), "-m", "sam3m4.cli", *map(str, args)]


def _same(a: Path, b: Path):
    "Every item of every split of cache `a` equals cache `b`'s, tensor for tensor."
    for split in ("train", "val"):
        ca, cb = TeacherCache(a/split), TeacherCache(b/split)
        assert len(ca) == len(cb) and ca.index["fingerprint"] == cb.index["fingerprint"]
        for i in range(len(ca)):
            x, y = ca[i], cb[i]
            assert sorted(x) == sorted(y), i
            for k in x:
                assert (torch.equal(x[k], y[k]) if torch.is_tensor(x[k]) else x[k] == y[k]), (split, i, k)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    "A world of 60 images and its cache from one process: the reference."
    t = tmp_path_factory.mktemp("cache")
    make_world(t/"w", WorldConfig(n_images=60, image_size=64, n_videos=0), progress=False)
    r = build_teacher_caches("random-tiny", t/"w", t/"one", 64, shard_size=2, batch_size=2, progress=False)
    assert r["complete"] and r["ranks"] == [{"rank": 0, "computed_items": r["n_items"], "seconds": r["ranks"][0]["seconds"]}]
    return t, r


@pytest.mark.slow
def test_two_ranks_share_the_work_and_match_one_process(one_process):
    t, ref = one_process
    p = subprocess.run(_torchrun(*CACHE, "--data", t/"w", "--out", t/"two", extra=["--standalone"]), capture_output=True, text=True,
                       env=ENV, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    docs = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert len(docs) == 1, p.stdout                                  # rank 0 alone answers, for both
    r = docs[0]
    assert [x["rank"] for x in r["ranks"]] == [0, 1] and all(x["computed_items"] > 0 for x in r["ranks"])
    assert sum(x["computed_items"] for x in r["ranks"]) == ref["n_items"] and r["complete"]
    assert json.loads((t/"two"/"train"/"index.json").read_text())["world_size"] == 2
    _same(t/"one", t/"two")
    print(f"cache of {ref['n_items']} items: one process {ref['seconds']:.1f} s, two ranks {r['seconds']:.1f} s "
          f"(ranks {[x['seconds'] for x in r['ranks']]})")


@pytest.mark.slow
def test_two_nodes_on_localhost_c10d(one_process):
    t, _ = one_process
    port = _port()
    rdzv = ["--nnodes", "2", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "cache-two-nodes"]
    nodes = [subprocess.Popen(_torchrun(*CACHE, "--data", t/"w", "--out", t/"nodes", nproc=1, extra=rdzv + ["--node_rank", str(k)]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) for k in (0, 1)]
    outs = [n.communicate(timeout=900) for n in nodes]
    assert all(n.returncode == 0 for n in nodes), [o[1][-2000:] for o in outs]
    docs = [json.loads(l) for o in outs for l in o[0].splitlines() if l.startswith("{")]
    assert len(docs) == 1 and [x["rank"] for x in docs[0]["ranks"]] == [0, 1]
    _same(t/"one", t/"nodes")


@pytest.mark.slow
def test_a_rank_killed_mid_way_then_the_same_command(one_process):
    "SIGKILL rank 1 once it has written 3 shards; torchrun stops; the same command finishes the cache, redoing only what is missing."
    t, ref = one_process
    cmd = _torchrun(*CACHE, "--data", t/"w", "--out", t/"killed", extra=["--standalone"])
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    part, lock, deadline = t/"killed"/"train"/"ranks"/"rank_001.json", t/"killed"/"train"/"ranks"/"rank_001.lock", time.time() + 600
    while time.time() < deadline:
        try:
            if len(json.loads(part.read_text())["shards"]) >= 3: break
        except (OSError, json.JSONDecodeError, KeyError): pass
        time.sleep(0.01)
    os.kill(json.loads(lock.read_text())["pid"], signal.SIGKILL)   # the rank's own lock names its process
    run.communicate(timeout=300)
    assert run.returncode != 0
    written = len(json.loads(part.read_text())["shards"])
    assert written < ref["splits"]["train"]["n_shards"] // 2, "killed too late to test anything"
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout)
    computed = sum(s["computed_items"] for s in r["splits"].values())
    assert r["complete"] and r["splits"]["train"]["reused_shards"] >= written and computed < ref["n_items"], (written, computed)
    _same(t/"one", t/"killed")


def test_ranks_that_disagree_stop_with_the_difference(tmp_path):
    "Two ranks given different data (a different seed) refuse to write a mixed cache."
    make_world(tmp_path/"w", WorldConfig(n_images=8, image_size=64, n_videos=0), progress=False)
    script = ("import os, sys; from sam3m4.cli import main; r = int(os.environ['RANK']); "
              f"sys.exit(main(['teacher', 'cache', '--data', '{tmp_path/'w'}', '--out', '{tmp_path/'c'}', '--teacher', 'annotation', "
              "'--image-size', '64', '--seed', str(r), '--json']))")
    (tmp_path/"run.py").write_text(script)
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(tmp_path/"run.py")],
                       capture_output=True, text=True, env=ENV, timeout=600)
    assert p.returncode != 0
    err = json.loads(next(l for l in p.stdout.splitlines() if l.startswith("{")))["error"]
    assert "the ranks disagree" in err and "rank 0" in err and "rank 1" in err
    assert not list((tmp_path/"c").glob("*/shard_*"))


def test_dry_run_says_what_the_cache_will_take(tmp_path, run_cli):
    "`--dry-run` computes nothing and estimates the bytes; the real build then writes that, headers aside; the student-grid option saves."
    run_cli("data", "make-world", tmp_path/"w", "--tiny", "--json", check=True)
    args = ["teacher", "cache", "--data", tmp_path/"w", "--teacher", "random-tiny", "--image-size", "64", "--min-score", "0", "--json"]
    est = json.loads(run_cli(*args, "--dry-run", check=True).stdout)
    assert est["dry_run"] and not (tmp_path/"c").exists() and est["teacher"]["feature_grid"] == 8
    real = json.loads(run_cli(*args, "--out", tmp_path/"c", check=True).stdout)
    assert 0 <= real["bytes"] - est["bytes"] <= 0.03 * real["bytes"], (real["bytes"], est["bytes"])
    small = json.loads(run_cli(*args, "--dry-run", "--feature-size", "4", check=True).stdout)
    saving = small["splits"]["train"]["feature_grid_saving"]
    assert saving["teacher_grid"] == 8 and saving["saved_bytes"] == est["splits"]["train"]["by_part"]["features"] * 3 // 4
    p = run_cli("teacher", "cache", "--data", tmp_path/"w", "--json")
    assert p.returncode == 2 and "--out" in json.loads(p.stdout)["error"]
