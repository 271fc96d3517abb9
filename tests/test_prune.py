"""`sam3m4 prune` end to end: the dry run deletes nothing, --apply deletes exactly the plan, protected items survive; and
pruning folders the trainer itself wrote frees their intermediate checkpoints."""
import json
from pathlib import Path
import torch
from sam3m4.core import save_checkpoint

def _outputs(root: Path) -> Path:
    m = torch.nn.Linear(32, 32)
    ck = root/"20261101_000000_phase1"/"ckpt"
    for s in (10, 20, 30):   # every state.json carries the best-so-far record, as the trainer writes it
        save_checkpoint(ck/f"step_{s:06d}", m, {"step": s, "phase": 1, "kind": "train", "best": {"step": 10, "name": "step_000010"}})
    (ck/"latest").write_text("step_000030"); (ck/"best").write_text("step_000010")
    save_checkpoint(root/"final"/"ckpt"/"step_000001", m, {"step": 1, "kind": "final"})
    return ck

def test_prune_dry_run_then_apply(run_cli, tmp_path):
    ck = _outputs(tmp_path/"outputs")
    p = run_cli("prune", tmp_path/"outputs", "--json", check=True)
    plan = json.loads(p.stdout)
    assert plan["mode"] == "dry-run"
    assert [Path(i["path"]).name for i in plan["would_delete"]] == ["step_000020"]
    assert (ck/"step_000020").exists()                    # a dry run deletes nothing
    p = run_cli("prune", tmp_path/"outputs", "--apply", "--json", check=True)
    log = json.loads(p.stdout)
    assert [Path(i["path"]).name for i in log["deleted"]] == ["step_000020"]
    assert not (ck/"step_000020").exists()
    for kept in ("step_000010", "step_000030"): assert (ck/kept/"model.safetensors").exists()   # best, newest
    assert (tmp_path/"outputs"/"final"/"ckpt"/"step_000001").exists()                         # final
    assert Path(log["log"]).is_file()

def test_prune_report_reference_protects(run_cli, tmp_path):
    ck = _outputs(tmp_path/"outputs")
    rep = tmp_path/"outputs"/"20261102_000000_eval"; rep.mkdir()
    (rep/"summary.json").write_text(json.dumps({"checkpoints": {"student": str(ck/"step_000020")}}))
    plan = json.loads(run_cli("prune", tmp_path/"outputs", "--json", check=True).stdout)
    assert plan["would_delete"] == []

def test_prune_missing_root_is_clear_error(run_cli, tmp_path):
    p = run_cli("prune", tmp_path/"nope", "--json")
    assert p.returncode == 2 and "no such folder" in json.loads(p.stdout)["error"]


def test_prune_frees_checkpoints_the_trainer_wrote(tmp_path):
    "Two real training runs (3 checkpoints each) and a report naming one run's best: prune keeps what the pointers, keep_last and the report name, frees the rest."
    from sam3m4.world import make_world, TINY_WORLD
    from sam3m4.prune import apply_prune, dir_bytes, plan_prune
    from sam3m4.report import build_summary, write_summary
    from sam3m4.student import load_student
    from sam3m4.trainer import TrainConfig, train_phase
    torch.set_num_threads(1)
    make_world(tmp_path/"world", TINY_WORLD, progress=False)
    out = tmp_path/"outputs"
    runs = {r: train_phase(TrainConfig(student="tiny", steps=6, batch_size=4, ckpt_every=2, val_samples=4, device="cpu"), tmp_path/"world",
                           out/r, progress=False) for r in ("run_a", "run_b")}
    write_summary(build_summary(checkpoints={"student": str(Path(runs["run_b"].best).resolve())},
                                extra={"scope": {"data": str(tmp_path/"world")}}), out/"20990101_000000_eval")
    steps = {(r, p.name) for r in runs for p in (out/r/"ckpt").glob("step_*")}
    assert len(steps) == 6
    assert all("best" in json.loads((out/r/"ckpt"/n/"state.json").read_text()) for r, n in steps)   # the record that used to protect all
    keep = {(r, (out/r/"ckpt"/ptr).read_text().strip()) for r in runs for ptr in ("latest", "best")} | {("run_b", Path(runs["run_b"].best).name)}
    expected = steps - keep
    plan = plan_prune(out)
    assert {(i.path.parent.parent.name, i.path.name) for i in plan["delete"]} == expected and len(expected) >= 2
    assert plan["freed_bytes"] == sum(dir_bytes(out/r/"ckpt"/n) for r, n in expected) > 0
    apply_prune(out)
    assert {(r, p.name) for r in runs for p in (out/r/"ckpt").glob("step_*")} == keep
    for r, n in keep: load_student(out/r/"ckpt"/n)            # what stays still loads (checksums intact)
    for r in runs: load_student(out/r)                         # and the run folders still resolve (core.CKPT_RULE)
    assert plan_prune(out)["delete"] == []
