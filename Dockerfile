# syntax=docker/dockerfile:1
# The datamoat application image: `docker build -t datamoat .`, then `docker run datamoat --help`.
# docker-compose.yml runs it as the topic creator, the firehose and the workers.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Build the datamoat wheel from the sources.
FROM base AS build
WORKDIR /src
COPY pyproject.toml README.m[d] ./
COPY datamoat ./datamoat
COPY ingest ./ingest
COPY process ./process
COPY sinks ./sinks
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM base
# Third-party dependencies first, read from pyproject.toml: this layer is rebuilt only when
# the dependency list changes, not on every source edit.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/pyproject.toml /tmp/requirements.txt
COPY --from=build /wheels /wheels
RUN pip install --no-deps /wheels/*.whl && rm -rf /wheels

# The default pipeline config goes where datamoat.config looks for it (configs/ beside the
# packages: the repository root in a checkout, site-packages here); DATAMOAT_<SECTION>_<KEY>
# environment variables override it. Fail the build, not the container, if it can't load.
COPY configs/datamoat.toml /tmp/datamoat.toml
RUN target="$(python -c 'from datamoat.config import default_config_path as p; print(p())')" \
    && mkdir -p "$(dirname "$target")" \
    && mv /tmp/datamoat.toml "$target" \
    && python -c 'from datamoat.config import load_config; load_config()' \
    && datamoat --help > /dev/null

# Unprivileged user; /data is its working directory and holds the output (/data/out, a
# volume in docker-compose.yml).
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home datamoat \
    && mkdir -p /data/out && chown -R datamoat:datamoat /data
WORKDIR /data
USER datamoat

EXPOSE 8000
ENTRYPOINT ["datamoat"]
CMD ["--help"]
