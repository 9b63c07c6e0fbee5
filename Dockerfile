# newsmon: the daemon image. Two stages: `builder` makes a virtual environment with newsmon and
# its dependencies; the final stage copies that venv onto a clean base, with no compiler, no build
# tool and no package manager run. docs/deployment.md documents every value set below, and
# tests/test_container.py checks that they agree.
#
# The base image is a build argument so that a local mirror or a stand-in can replace it
# (podman build --build-arg PYTHON_IMAGE=...). Pinned by tag; pinning by digest
# (python:3.11-slim-bookworm@sha256:...) is better still, but no registry is reachable from the
# machines this file was written on, so the digest could not be read and is not guessed here.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# Optional extras, space- or comma-separated: NEWSMON_EXTRAS=semantic for rules with `like:`
# examples (numpy, tokenizers and WordLlama's model: about 150 MB more). Empty by default.
ARG NEWSMON_EXTRAS=""

# Dependencies first, read from pyproject.toml at the versions constraints.txt pins (those the
# tests ran against: an image built later gets the same ones), so this layer is reused until
# either changes.
# --only-binary: every dependency ships wheels (PyStemmer, brotli and psycopg[binary] included);
# a missing wheel must fail the build here rather than pull a compiler into the picture.
COPY pyproject.toml constraints.txt ./
RUN python -c "import os, sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
opt = {k: v for k, v in p['optional-dependencies'].items() if k != 'dev'}; \
extras = os.environ.get('NEWSMON_EXTRAS', '').replace(',', ' ').split(); \
bad = [e for e in extras if e not in opt]; \
sys.exit(f'NEWSMON_EXTRAS: no extra {bad[0]!r} (choose from: {\", \".join(sorted(opt))})') if bad else None; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in opt[e]]))" > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: -c constraints.txt -r requirements.txt

COPY README.md LICENSE ./
COPY monitor ./monitor
# newsmon itself, then pip and setuptools out of the venv: the final image needs neither.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/pip uninstall --yes pip setuptools


FROM ${PYTHON_IMAGE}

ARG NEWSMON_VERSION=0.1.0
ARG VCS_REF=""
ARG PYTHON_IMAGE
LABEL org.opencontainers.image.title="newsmon" \
      org.opencontainers.image.description="News-monitoring alert daemon: polls feeds, matches watch rules, alerts webhooks, Slack, email and chat apps exactly once." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${NEWSMON_VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# A fixed uid/gid, so that volume ownership and Kubernetes' runAsUser/fsGroup can name it.
# --no-log-init: a uid this high would otherwise grow /var/log/faillog and lastlog to megabytes.
# /data is group 0's too, and writable by it: a platform that runs images as an arbitrary uid
# (OpenShift; `docker run --user 12345`) runs them in group 0, and a new volume on /data takes
# this folder's owner and mode.
RUN groupadd --gid 10001 newsmon \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home --home-dir /data \
        --shell /usr/sbin/nologin newsmon \
    && mkdir -p /data /config \
    && chown 10001:0 /data \
    && chmod 0775 /data

COPY --from=builder /opt/venv /opt/venv
# The example rules, so that `docker run` works out of the box; mount your own over /rules.
COPY rules/ /rules/

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NEWSMON_DATABASE_URL=/data/newsmon.db \
    NEWSMON_CONFIG=/config/newsmon.yaml \
    NEWSMON_RULES=/rules \
    NEWSMON_HTTP_ADDR=0.0.0.0:9464

WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 9464

# The daemon finishes or releases its work within its grace period (8 s by default) on SIGTERM;
# give the container a stop timeout above that (docker stop -t, compose stop_grace_period,
# Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# Python's standard library only (no curl or wget in the image); see monitor/cli/healthcheck.py.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/venv/bin/python", "-m", "monitor.cli.healthcheck"]

ENTRYPOINT ["newsmon"]
CMD ["run"]
