# The reactor worker, for docker-compose.yml (users with a Docker engine).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
COPY reactions ./reactions
COPY targets ./targets
COPY examples ./examples
ENV REACTOR_CONFIG=/app REACTOR_WEB_HOST=0.0.0.0
EXPOSE 6066
CMD ["reactor", "worker"]
