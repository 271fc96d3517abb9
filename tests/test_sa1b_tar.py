"SA-1B straight from its tar shards: random access, streaming across ranks x workers, inspect (issue 16)."
import json, tarfile, warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_util

from sam3m4.core import ConfigError, DataError
from sam3m4.data import read_image
from sam3m4.prompts import DualTokenizer
from sam3m4.sa1b import assign_shards, load_sa1b, load_sa1b_tar, sa1b_shards, SA1BShardStream, tar_index
from sam3m4.grounded import collate_samples, GroundedDataset

torch.set_num_threads(1)
H, W, N = 36, 48, 10    # 10 images, non-square


def _rle(m):
    r = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def _masks(i):
    a = np.zeros((H, W), bool); a[2:10, 3:3 + i + 2] = True
    b = np.zeros((H, W), bool); b[20:30, 30:40] = True
    return [a, b] if i % 3 else [a]


def _write_pair(d: Path, i: int):
    Image.fromarray(np.random.default_rng(i).integers(0, 255, (H, W, 3), dtype=np.uint8)).save(d/f"sa_{i}.jpg", quality=90)
    anns = [{"id": 100 * i + k, "segmentation": _rle(m), "bbox": [float(v) for v in (3, 2, i + 2, 8)] if k == 0 else [30.0, 20.0, 10.0, 10.0],
             "area": int(m.sum()), "predicted_iou": 0.9, "stability_score": 0.95, "crop_box": [0, 0, W, H], "point_coords": [[5.0, 5.0]]}
            for k, m in enumerate(_masks(i))]
    (d/f"sa_{i}.json").write_text(json.dumps({"image": {"image_id": i, "width": W, "height": H, "file_name": f"sa_{i}.jpg"}, "annotations": anns}))


def _pack(files, tar: Path, prefix=""):
    with tarfile.open(tar, "w") as tf:   # jpg then json per image, as the SA-1B shards hold them
        for f in files: tf.add(f, arcname=prefix + f.name)


@pytest.fixture
def sa1b(tmp_path):
    "The same 10 images unpacked (folder/), in one shard (one/sa_000000.tar) and in 5 shards of 1-3 images (shards/)."
    d = tmp_path/"folder"; d.mkdir()
    for i in range(1, N + 1): _write_pair(d, i)
    pairs = lambda ids: [p for i in ids for p in (d/f"sa_{i}.jpg", d/f"sa_{i}.json")]
    (tmp_path/"one").mkdir(); _pack(pairs(range(1, N + 1)), tmp_path/"one"/"sa_000000.tar")
    (tmp_path/"shards").mkdir()
    for s, ids in enumerate([[1, 2, 3], [4], [5, 6], [7, 8], [9, 10]]):
        _pack(pairs(ids), tmp_path/"shards"/f"sa_{s:06d}.tar", prefix="./" if s == 1 else "")
    return tmp_path


@pytest.fixture(scope="module")
def tok(): return DualTokenizer()


def test_shard_records_equal_the_unpacked_folder(sa1b):
    a, _ = load_sa1b(sa1b/"folder")
    for src in (sa1b/"one"/"sa_000000.tar", sa1b/"shards"):
        b, skipped = load_sa1b_tar(src)
        assert skipped == [] and len(b) == N
        assert sorted((r.image_id, r.height, r.width, json.dumps(r.annotations)) for r in a) == \
               sorted((r.image_id, r.height, r.width, json.dumps(r.annotations)) for r in b)
        by = {r.image_id: r for r in a}
        for r in b: assert np.array_equal(read_image(r.file), read_image(by[r.image_id].file))   # bytes read in place, one seek
    assert [p.name for p in sa1b_shards(sa1b/"shards")] == [f"sa_{s:06d}.tar" for s in range(5)]
    with pytest.raises(DataError, match="no SA-1B tar shards"): sa1b_shards(sa1b/"folder")


def test_inspect_json_on_a_shard_matches_the_unpacked_files(sa1b, capsys):
    from sam3m4.cli import main
    def inspect(p):
        capsys.readouterr(); rc = main(["data", "inspect", str(p), "--json"]); return rc, json.loads(capsys.readouterr().out)
    rc1, folder = inspect(sa1b/"folder"); rc2, shard = inspect(sa1b/"one"/"sa_000000.tar"); rc3, shards = inspect(sa1b/"shards")
    assert rc1 == rc2 == rc3 == 0 and folder["images"] and shard == folder
    assert sorted(shards["images"], key=lambda i: i["file"]) == sorted(folder["images"], key=lambda i: i["file"])
    # a corrupt image is skipped under the same name, in the folder and in the shard
    jpg = sa1b/"folder"/"sa_4.jpg"; jpg.write_bytes(jpg.read_bytes()[:200])
    _pack([p for i in range(1, N + 1) for p in (sa1b/"folder"/f"sa_{i}.jpg", sa1b/"folder"/f"sa_{i}.json")], sa1b/"one"/"sa_000000.tar")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, folder = inspect(sa1b/"folder"); _, shard = inspect(sa1b/"one"/"sa_000000.tar")
    assert shard["images"] == folder["images"] and len(folder["images"]) == N - 1
    assert [s["file"] for s in shard["skipped"]] == [s["file"] for s in folder["skipped"]] == ["sa_4.jpg"]
    assert "truncated" in shard["skipped"][0]["reason"]


def _read(stream_kw, workers: int):
    "Image ids each (rank, worker) reader yields, in order, through a real DataLoader."
    out = {}
    for rank in range(stream_kw.pop("world_size")):
        ds = SA1BShardStream(world_size=2, rank=rank, **stream_kw)
        dl = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate_samples)
        out[rank] = [i for b in dl for i in b["image_id"]]
        stream_kw = dict(stream_kw)
    return out


def test_two_ranks_two_workers_read_every_sample_exactly_once(sa1b, tok):
    kw = {"shards": sa1b/"shards", "tokenizer": tok, "image_size": 32, "world_size": 2}
    got = _read(dict(kw), workers=2)
    ids = [i for r in got.values() for i in r]
    assert sorted(ids, key=int) == [str(i) for i in range(1, N + 1)]       # every sample, none twice
    # shard i -> reader i mod 4 (rank-major): rank 0 reads shards 0 and 4 (worker 0) and 1 (worker 1), rank 1 shards 2 and 3
    assert sorted(got[0], key=int) == ["1", "2", "3", "4", "9", "10"] and sorted(got[1], key=int) == ["5", "6", "7", "8"]
    assert _read(dict(kw), workers=2) == got                                 # deterministic order
    # the samples are what GroundedDataset makes of the same records: same image tensor, same masks
    it = next(iter(SA1BShardStream(sa1b/"shards", tok, image_size=32, world_size=1, rank=0)))
    recs, _ = load_sa1b(sa1b/"folder")
    ref = GroundedDataset([r for r in recs if r.image_id == it["image_id"]], ["object"], tok, 32, negative_ratio=0.0)[0]
    assert torch.equal(it["image"], ref["image"]) and torch.equal(it["masks"], ref["masks"]) and it["presence"] == 1.0


def test_fewer_shards_than_readers(sa1b, tok):
    assert [assign_shards(3, r, 2, w, 2) for r in range(2) for w in range(2)] == [[0], [1], [2], []]   # the 4th reader idles
    got = _read({"shards": sorted((sa1b/"shards").glob("*.tar"))[:3], "tokenizer": tok, "image_size": 32, "world_size": 2}, workers=2)
    assert sorted((i for r in got.values() for i in r), key=int) == [str(i) for i in range(1, 7)]
    s = SA1BShardStream(sorted((sa1b/"shards").glob("*.tar"))[:1], tok, world_size=1, rank=0)
    with pytest.warns(UserWarning, match="no shard to read"):   # one shard, two workers of one rank: worker 1 idles
        import unittest.mock as um
        with um.patch("torch.utils.data.get_worker_info", return_value=type("W", (), {"id": 1, "num_workers": 2})()):
            assert s.my_shards() == []
    with pytest.raises(ConfigError, match="1 shard\\(s\\) for 2 ranks"):
        SA1BShardStream(sorted((sa1b/"shards").glob("*.tar"))[:1], tok, world_size=2, rank=1)


def test_truncated_and_corrupt_shards(sa1b, tok):
    tar = sa1b/"shards"/"sa_000000.tar"; good = tar.read_bytes()
    idx, problem = tar_index(tar)
    assert problem is None and sorted(idx) == ["sa_1.jpg", "sa_1.json", "sa_2.jpg", "sa_2.json", "sa_3.jpg", "sa_3.json"]
    cut = idx["sa_2.json"].offset + 10
    tar.write_bytes(good[:cut])                                   # the shard stops inside sa_2.json
    with pytest.raises(DataError, match=r"sa_000000\.tar: .*truncated"): load_sa1b_tar(tar)
    with pytest.warns(UserWarning, match="skipped"):
        recs, skipped = load_sa1b_tar(sa1b/"shards", skip_bad=True)
    assert sorted(int(r.image_id) for r in recs) == [1] + list(range(4, N + 1))      # sa_1 survives, sa_2 and sa_3 are lost
    assert any("sa_000000.tar" in s["file"] for s in skipped)
    s = SA1BShardStream(tar, tok, image_size=32, world_size=1, rank=0)
    assert [x["image_id"] for x in s] == ["1"] and s.bad_items                     # the stream keeps what it can read, and says so
    (sa1b/"x.tar").write_bytes(b"not a tar at all" * 64)
    with pytest.raises(DataError, match=r"x\.tar: is not an uncompressed tar"): load_sa1b_tar(sa1b/"x.tar")


def test_benchmark_script_runs_and_prints_ratios(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_sa1b_tar", Path(__file__).parents[1]/"scripts"/"bench_sa1b_tar.py")
    bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
    r = bench.main(["--images", "6", "--write-size", "64", "--sizes", "32", "--workers", "0", "--shards", "2", "--repeats", "1", "--json"])
    row = r["table"][0]
    assert r["images"] == 6 and set(r["scan_images_per_s"]) == {"tar", "folder"}
    assert row["folder"] > 0 and row["tar"] > 0 and row["stream"] > 0 and abs(row["tar/folder"] - row["tar"] / row["folder"]) < 0.01
