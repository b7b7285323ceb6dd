"""Database URLs as they may be printed, and the store of each plant of a cloud."""

from __future__ import annotations

from mixflow.store import shown_url, tenant_url


def test_a_printed_url_never_shows_the_password() -> None:
    shown = shown_url("postgresql://mixflow:s3cret-Pw@db:5432/mixflow?options=-csearch_path%3Dplant_a")
    assert "s3cret-Pw" not in shown and "mixflow:***@db:5432/mixflow" in shown
    assert shown_url("sqlite:///plant.db") == "sqlite:///plant.db"
    assert shown_url("mysql://root:pw@x/y") == "<the database URL>"  # refused, and still not printed


def test_each_plant_has_a_store_of_its_own_beside_the_cloud() -> None:
    assert tenant_url("sqlite:////srv/cloud.db", "Kun-Shan") == "sqlite:////srv/cloud.plant-kun_shan.db"
    assert tenant_url("postgresql://db/mixflow", "a").endswith("/mixflow?options=-csearch_path%3Dplant_a")
    assert tenant_url("postgresql://db/mixflow?sslmode=require", "a").endswith("?sslmode=require&options="
                                                                               "-csearch_path%3Dplant_a")
