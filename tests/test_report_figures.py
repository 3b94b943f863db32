"""Report figures: tick labels of log-like step axes are plain numbers, never raw math text."""

from forgetscope.report.figures import new_figure, plain_log_ticks, step_axis, step_ticks


def _labels(fig):
    fig.canvas.draw()
    return [t.get_text() for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_xticklabels(minor=True)) if t.get_text()]


def test_log_and_symlog_step_axes_have_plain_tick_labels():
    fig, (a, b) = new_figure(ncols=2)
    steps = [0, 3, 10, 58, 186, 600]
    a.plot(steps[1:], [0.9, 0.8, 0.6, 0.3, 0.1])
    a.set_xscale("log")
    b.plot(steps, [1.0, 0.9, 0.8, 0.6, 0.3, 0.1])
    step_axis(b, steps)
    assert any("$" in t for t in _labels(fig))  # what matplotlib writes by default: math text, shown raw here
    plain_log_ticks(fig)
    labels = _labels(fig)
    assert labels and not any("$" in t or "mathdefault" in t for t in labels), labels
    assert {"10", "100"} <= set(labels)


def _ticks(ax):
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


def test_step_axes_label_the_checkpoints_of_any_schedule():
    """Checkpoints at steps 2, 4, 6 (a user's TRL run): a decade-ticked axis labelled them "0", "1" (symlog,
    with the base) or "1", "10" (log); the step axis labels the checkpoints themselves."""
    fig, (a, b) = new_figure(ncols=2)
    a.plot([0, 2, 4, 6], [0.9, 0.8, 0.7, 0.6])
    step_axis(a, [0, 2, 4, 6])
    b.plot([2, 4, 6], [0.8, 0.7, 0.6])
    step_axis(b, [6, 2, 4, 4])
    plain_log_ticks(fig)
    fig.canvas.draw()
    assert _ticks(a) == ["0", "2", "4", "6"] and a.get_xscale() == "symlog"
    assert _ticks(b) == ["2", "4", "6"] and b.get_xscale() == "log"
    assert not [t for ax in (a, b) for t in ax.get_xticklabels(minor=True) if t.get_text()]


def test_many_checkpoints_are_thinned_evenly_on_the_log_axis():
    demo = [0, 10, 18, 32, 58, 104, 186, 334, 600]
    assert step_ticks(demo) == demo  # nine: every one
    many = list(range(0, 1001, 10))
    got = step_ticks(many, most=6)
    assert len(got) <= 6 and got[0] == 0 and got[-1] == 1000 and got == sorted(set(got))
    assert got[1] < 100  # spread on the log axis: not evenly in steps


def test_seed_counts_read_as_words_in_every_report_template():
    """"1 seed", "5 seeds" (not "5 seed(s)"), in the filter the templates use and in the verdict line."""
    from pathlib import Path

    from forgetscope.report.page import _env, seeds_text

    assert [seeds_text(n) for n in (1, 2, 5)] == ["1 seed", "2 seeds", "5 seeds"]
    assert _env.from_string("{{ s|length|seeds }}").render(s=[0]) == "1 seed"
    templates = Path(__file__).resolve().parents[1] / "src" / "forgetscope" / "report"
    assert not [p for p in templates.rglob("*") if p.suffix in (".py", ".j2") and "seed(s)" in p.read_text()]


def test_the_caption_names_each_restorer_line_by_the_colour_it_is_drawn_in():
    """The colour words of the trajectory caption are matplotlib's own names for the drawn colours
    (tab:purple is #9467bd, ...), and the template takes them from the figure's list, in order."""
    from pathlib import Path

    from matplotlib.colors import to_hex

    from forgetscope.report.trajectory import OTHER_RESTORER_COLORS, other_restorer_color

    for hex_color, word in OTHER_RESTORER_COLORS:
        assert to_hex(f"tab:{word}") == hex_color
    assert [other_restorer_color(i)[1] for i in range(5)] == ["purple", "brown", "pink", "cyan", "purple"]
    template = Path(__file__).resolve().parents[1] / "src/forgetscope/report/templates/trajectory.html.j2"
    assert "(purple)" not in template.read_text() and "other_restorer_colors[loop.index0]" in template.read_text()


def test_a_figure_is_embedded_as_matplotlib_lays_it_out_and_draws_it():
    """to_data_uri drops tight_layout's placeholder engine before saving (one draw less): the PNG is
    byte for byte the one matplotlib writes with the engine kept, long labels and a legend included."""
    import base64
    import io

    import matplotlib.pyplot as plt

    from forgetscope.report.figures import to_data_uri

    def drawn():
        fig, (a, b) = new_figure(ncols=2)
        a.plot([1, 2, 3], [3, 1, 2], label="a rather long legend entry")
        a.set_ylabel("score on the probe of the held-out people (%)")
        a.legend()
        b.bar(["pseudo", "actual"], [4.0, 9.5])
        b.set_title("a title long enough to need the layout")
        return fig

    fig = drawn()
    plain_log_ticks(fig)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    uri = to_data_uri(drawn())
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == buf.getvalue()
