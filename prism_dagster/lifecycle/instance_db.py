"""The production profile's PostgreSQL (``deploy/dagster.yaml``), named by environment variables.

Dagster's instance and, unless prism.yaml names another, the status store share it. The
names are those Dagster's Helm chart sets (``DAGSTER_PG_PASSWORD`` from its secret).
"""

from __future__ import annotations

import os

import sqlalchemy as sa

HOST_ENV = "DAGSTER_PG_HOST"
PORT_ENV = "DAGSTER_PG_PORT"
USER_ENV = "DAGSTER_PG_USER"
PASSWORD_ENV = "DAGSTER_PG_PASSWORD"
DB_ENV = "DAGSTER_PG_DB"
#: dagster-postgres is written for psycopg2; SQLAlchemy 2.1's bare ``postgresql://`` means
#: psycopg 3, so the profile and the status store both name the driver.
DRIVER = "postgresql+psycopg2"


def instance_db_url() -> str | None:
    """The profile's database as a SQLAlchemy URL, or None when ``DAGSTER_PG_HOST`` is unset."""
    host = os.environ.get(HOST_ENV)
    if not host:
        return None
    url = sa.URL.create(
        DRIVER,
        username=os.environ.get(USER_ENV, "dagster"),
        password=os.environ.get(PASSWORD_ENV) or None,
        host=host,
        port=int(os.environ.get(PORT_ENV) or 5432),
        database=os.environ.get(DB_ENV, "dagster"),
    )
    return url.render_as_string(hide_password=False)
