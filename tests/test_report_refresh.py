"""A check job rewrites the index and the page of the model it checked, not every model's page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.ingest import ingest_frame
from monitor.pipeline.runner import Runner
from monitor.reports import model_slug, render_index
from monitor.store import open_store
from monitor.store.run_history import RunHistory
from monitor.store.runs import load_runs
from tests.conftest import make_config, model_dict
from tests.test_daemon import DAY, LIGHT, START, traffic


def test_a_job_rewrites_its_model_page_and_the_index_only(store_url: str, tmp_path: Path) -> None:
    names = ["alpha", "beta"]
    config = make_config(store_url, tmp_path, [model_dict(name=n, **LIGHT) for n in names])
    store = open_store(config)
    try:
        for model in config.models:
            frame = traffic(0, 120, prefix=f"{model.name}-")
            ingest_frame(store, model, "predictions", frame, source="t", now=START + 2 * DAY)
        runner = Runner(store, config, clock=lambda: START + DAY + timedelta(hours=1))
        reports = Path(config.reports.dir)
        pages = {n: reports / model_slug(n) / "index.html" for n in names}

        def page(name: str) -> str:
            return pages[name].read_text(encoding="utf-8")

        assert len(runner.cycle(config.models[0])) == 1
        assert "No runs yet" in page("beta")  # a model without a page gets one: the index links to it
        pages["alpha"].write_text("kept", encoding="utf-8")
        assert len(runner.cycle(config.models[1])) == 1
        assert page("alpha") == "kept" and "No runs yet" not in page("beta")  # alpha's runs did not change
        index = (reports / "index.html").read_text(encoding="utf-8")
        assert "alpha" in index and "beta" in index  # the index lists every model

        runner.check_window(config.models[0], START + DAY, force=True)  # outside a batch: its page too
        assert page("alpha") != "kept"

        pages["beta"].write_text("kept", encoding="utf-8")
        runner.refresh_index()  # `driftwatch report`: every page
        assert page("beta") != "kept"
    finally:
        store.dispose()


def test_run_history_rereads_a_model_only_when_its_runs_change(store_url: str, tmp_path: Path) -> None:
    names = ["alpha", "beta"]
    config = make_config(store_url, tmp_path, [model_dict(name=n, **LIGHT) for n in names])
    store = open_store(config)
    try:
        for model in config.models:
            for day in range(3):
                frame = traffic(day, 120, prefix=f"{model.name}-")
                ingest_frame(store, model, "predictions", frame, source="t", now=START + 4 * DAY)
        runner = Runner(store, config, clock=lambda: START + 2 * DAY + timedelta(hours=1))
        for model in config.models:
            assert len(runner.cycle(model)) == 2
        history, engine = RunHistory(), store.engine
        first = history.runs(engine, names)
        assert history.reads == 2 and [len(first[n]) for n in names] == [2, 2]
        assert history.runs(engine, names)["alpha"] is not first["alpha"]  # whole runs once, then kept
        again = history.runs(engine, names)
        assert history.reads == 2 and again["beta"] is history.runs(engine, names)["beta"]
        # Kept runs drop the details the index does not show; the index is the same.
        reports = Path(config.reports.dir)
        full = {n: load_runs(engine, n, limit=60) for n in names}
        assert render_index(reports, again) == render_index(reports, full)
        assert any(c.details for c in full["alpha"][0].checks)
        assert not any(c.details for c in again["alpha"][0].checks)

        history.runs(engine, names, changed=["alpha"])  # a page to rewrite: read whole
        assert history.reads == 3
        later = Runner(store, config, clock=lambda: START + 3 * DAY + timedelta(hours=1))
        assert len(later.cycle(config.models[1])) == 1  # a new run of beta, stored
        assert len(history.runs(engine, names)["beta"]) == 3 and history.reads == 4
        assert list(history.runs(engine, ["alpha"])) == ["alpha"] and history.reads == 4
    finally:
        store.dispose()
