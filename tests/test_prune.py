"`sam3m4 prune` end to end: the dry run deletes nothing, --apply deletes exactly the plan, protected items survive."
import json
from pathlib import Path
import torch
from sam3m4.core import save_checkpoint

def _outputs(root: Path) -> Path:
    m = torch.nn.Linear(32, 32)
    ck = root/"20261101_000000_phase1"/"ckpt"
    for s in (10, 20, 30): save_checkpoint(ck/f"step_{s:06d}", m, {"step": s, "phase": 1, "kind": "train"})
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
