# One image for every paradex-hub service; the command picks the service (python -m services.<name>).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install .
RUN useradd --system --uid 10001 hub
USER hub
CMD ["python", "-m", "services"]
