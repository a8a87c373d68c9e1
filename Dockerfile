# The reactor worker, for docker-compose.yml (users with a Docker engine).
# Untested here: the machines this was written on run no Docker engine.

# Build the compiled wheel (REACTOR_COMPILE=1: mypyc needs a C compiler, which
# the full image has and the slim one does not).
FROM python:3.11 AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY _build ./_build
COPY src ./src
RUN REACTOR_COMPILE=1 pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY reactions ./reactions
COPY targets ./targets
COPY examples ./examples
ENV REACTOR_CONFIG=/app REACTOR_WEB_HOST=0.0.0.0
EXPOSE 6066
CMD ["reactor", "worker"]
