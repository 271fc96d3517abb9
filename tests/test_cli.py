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

def test_verbose_is_accepted_by_every_command_and_reaches_the_filters(run_cli, tmp_path):
    "`--verbose` anywhere in the arguments: the command runs as without it, and third-party notes are left unfiltered."
    quiet, loud = run_cli("models", "--json", check=True), run_cli("models", "--json", "--verbose", check=True)
    assert json.loads(quiet.stdout) == json.loads(loud.stdout)
    assert "--verbose" in run_cli("--help", check=True).stdout
    prog = ("import logging, sys; from sam3m4.cli import main; main(sys.argv[1:]); "
            "logging.getLogger('torch.utils._pytree').warning('Calling register_constant() on Enum subclasses is deprecated')")
    import subprocess, sys
    runs = {flag: subprocess.run([sys.executable, "-c", prog, "models", "--json", *flag], capture_output=True, text=True, cwd=tmp_path)
            for flag in ((), ("--verbose",))}
    assert "register_constant" not in runs[()].stderr and "register_constant" in runs[("--verbose",)].stderr
