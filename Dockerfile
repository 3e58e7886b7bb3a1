# syntax=docker/dockerfile:1
# The datamoat application image: `docker build -t datamoat .`, then `docker run datamoat --help`.
# docker-compose.yml runs it as the topic creator, the firehose, the workers and the merger.
#
# BASE_IMAGE is python:3.11-slim by default. The offline image set (docker/images.sh) builds
# the same file on a bare Debian base (debootstrap): Python then comes from Debian's packages,
# and the Python dependencies from a wheelhouse (`offline-wheels/` in the build context)
# instead of an index.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN if ! command -v python3 > /dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv

# The wheelhouse, when the build context has one (else only pyproject.toml is copied), and
# the pip options that use it.
FROM base AS deps
COPY pyproject.toml offline-wheel[s] /tmp/deps/
RUN if ls /tmp/deps/*.whl > /dev/null 2>&1; then \
        echo "--no-index --find-links /tmp/deps" > /tmp/pip-options; \
    else \
        : > /tmp/pip-options; \
    fi

# Build the datamoat wheel from the sources.
FROM deps AS build
WORKDIR /src
# setup.py copies configs/ into the wheel (datamoat/_configs: an installed copy reads it).
COPY pyproject.toml setup.py MANIFEST.in LICENSE README.m[d] ./
COPY configs ./configs
COPY datamoat ./datamoat
COPY ingest ./ingest
COPY process ./process
COPY sinks ./sinks
RUN pip wheel $(cat /tmp/pip-options) --no-deps --wheel-dir /wheels .

FROM deps
# Third-party dependencies first, read from pyproject.toml: this layer is rebuilt only when
# the dependency list (or the wheelhouse) changes, not on every source edit. With the
# jetstream extra: compose's bluesky profile runs `datamoat ingest jetstream`.
RUN python -c "import tomllib; p = tomllib.load(open('/tmp/deps/pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['jetstream']))" > /tmp/requirements.txt \
    && pip install $(cat /tmp/pip-options) -r /tmp/requirements.txt \
    && rm -rf /tmp/deps /tmp/requirements.txt
# openssl for the one-shot `secrets` service of the secured compose cluster (which
# makes its CA and certificates as `datamoat broker start --security` does): the slim
# Python image has it already, the bare Debian base of the offline set gets it here.
RUN if ! command -v openssl > /dev/null; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssl \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /wheels /wheels
RUN pip install --no-index --no-deps /wheels/*.whl && rm -rf /wheels /tmp/pip-options

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
