"End-to-end checks of the `sam3m4` entry point itself (each stage's commands are tested beside their stage)."
import json

def test_help_lists_every_command(run_cli):
    p = run_cli("--help", check=True)
    for cmd in ["data", "teacher", "models", "train", "eval", "qa", "quantize", "export", "prune", "pipeline"]:
        assert f"\n  {cmd} " in p.stdout

def test_unknown_command_is_a_clear_json_error(run_cli):
    p = run_cli("frobnicate", "--json")
    assert p.returncode == 2
    assert json.loads(p.stdout) == {"error": json.loads(p.stdout)["error"]}
    assert "unknown command 'frobnicate'" in p.stderr
