"""``RATEBOOK_METRICS_TOKEN``: the metrics name every entity, so a deployment can close them
to all but its scraper; without the token they stay open (``test_routes``)."""

from __future__ import annotations

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine

from ratebook.api import create_app
from ratebook.settings import Settings
from tests.support.api_server import LiveServer


def test_metrics_answer_only_the_metrics_token_when_one_is_set(engine: Engine) -> None:
    settings = Settings(database_url="sqlite://", metrics_token=SecretStr("scrape-me"))
    server = LiveServer(create_app(settings, engine=engine))
    try:
        with httpx.Client(base_url=server.url) as client:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": "Basic scrape-me"},
                {"Authorization": "Bearer scrape-me-too"},
            ):
                refused = client.get("/metrics", headers=headers)
                assert refused.status_code == 401, headers
                assert refused.json()["code"] == "UNAUTHENTICATED"
                assert refused.headers["WWW-Authenticate"] == "Bearer"
                assert "scrape-me" not in refused.text
            scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            assert scraped.status_code == 200
            assert "ratebook_http_request_duration_seconds_bucket" in scraped.text
            # the probes stay open
            assert client.get("/healthz").status_code == 200
    finally:
        server.stop()
