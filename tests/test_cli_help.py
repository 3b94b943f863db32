"""The help reads like its peers' (lm-eval, accelerate, TRL): one line per command in the list, every
option with help and a placeholder that says what it takes (FILE, DIR, N, a choice; none for a
flag), no text lost to rich's markup."""

import pytest
import typer
from conftest import run_cli
from typer.core import TyperArgument

from forgetscope.cli import app

COMMANDS = typer.main.get_command(app)


def _commands():
    return sorted(COMMANDS.commands.items())


@pytest.mark.parametrize(("name", "command"), _commands())
def test_every_option_has_help_and_a_placeholder(name, command):
    for param in command.params:
        assert param.help, f"{name} {param.name}: no help"
        if isinstance(param, TyperArgument):
            assert param.metavar and param.metavar.isupper(), f"{name} {param.name}: no placeholder"
        elif param.is_flag:
            assert param.metavar == "", f"{name} {param.opts}: a flag shows no type"
        else:
            assert param.metavar or param.type_descriptor.is_choice, f"{name} {param.opts}: no placeholder"


@pytest.mark.parametrize("name", ["", *COMMANDS.commands])
def test_help_shows_no_raw_types(name, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    proc = run_cli(*([name] if name else []), "--help")
    assert proc.returncode == 0, proc.stderr
    for raw in ("<bool>", "<list[", "<str>", "{"):
        assert raw not in proc.stdout, f"forgetscope {name} --help: {raw!r} in\n{proc.stdout}"


def test_command_list_is_one_line_each_and_markup_is_kept(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    root = run_cli("--help").stdout
    rows = [ln for ln in root.splitlines() if ln.startswith("│ ") and "Commands" not in ln]
    listed = [ln.split()[1] for ln in rows if ln.split()[1] in COMMANDS.commands]
    assert sorted(listed) == sorted(COMMANDS.commands)
    for name, command in COMMANDS.commands.items():
        assert "\n" not in command.help.split("\n\n")[0].strip(), f"{name}: its summary is not one line"
    assert "'eval.lm_eval_tasks=[arc_easy]'" in run_cli("reanalyze", "--help").stdout  # rich would eat "[arc_easy]"


def test_dtype_is_a_choice():
    proc = run_cli("eval", "m", "--probes", "p.jsonl", "--dtype", "fp8")
    assert proc.returncode == 2 and "fp32" in proc.stderr and "bf16" in proc.stderr, proc.stderr
