# One image for every forklift service; the command picks the service.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --create-home --uid 10001 forklift
COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir -c constraints.txt . \
    && mkdir -p /data && chown forklift /data
USER forklift
ENV FORKLIFT_DATA_DIR=/data FORKLIFT_LOG_FORMAT=json
ENTRYPOINT ["forklift"]
CMD ["--help"]
