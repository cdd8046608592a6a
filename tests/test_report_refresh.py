"""A check job rewrites the index and the page of the model it checked, not every model's page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.ingest import ingest_frame
from monitor.pipeline.runner import Runner
from monitor.reports import model_slug
from monitor.store import open_store
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
