# MBO image: one image for the three Dagster containers of docker-compose.yml.
# By default it runs the MBO code location as a gRPC code server on port 4000;
# the webserver and daemon services override the command.
#
#   docker build -t mbo .
#   docker run --rm -p 4000:4000 -e MBO_DATABASE_URL=postgresql://... mbo
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    MBO_HOME=/opt/dagster/mbo_home

WORKDIR /opt/dagster/app

# 1. Dependencies, read from pyproject.toml alone: editing the code does not
#    invalidate this (slow) layer.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 2. The project itself. Editable install: mbo_pipelines finds dbt_project/
#    next to its own folder (settings.PROJECT_ROOT), so the code stays here.
COPY mbo_pipelines ./mbo_pipelines
COPY optimizer ./optimizer
COPY dbt_project ./dbt_project
RUN rm -rf dbt_project/target dbt_project/logs dbt_project/dbt_packages \
    && pip install --no-deps -e .

# 3. The dbt manifest, parsed now (dbt parse needs no database) so the code
#    location loads the dbt assets without parsing at start-up.
RUN cd dbt_project && dbt parse --project-dir . --profiles-dir . \
    && test -f target/manifest.json

# 4. The Dagster instance (run/event/schedule storage in PostgreSQL, queued
#    runs) and the compose workspace (see deploy/).
COPY deploy/dagster.yaml deploy/workspace.yaml /opt/dagster/deploy/
RUN mkdir -p "$DAGSTER_HOME/storage" "$MBO_HOME" \
    && cp /opt/dagster/deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && useradd --create-home --uid 1000 mbo \
    && chown -R mbo "$DAGSTER_HOME" "$MBO_HOME" /opt/dagster/app/dbt_project

USER mbo

EXPOSE 4000 3000

CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "mbo_pipelines.definitions"]
