# One image for every paradex-hub service; the command picks the service (python -m services.<name>).
# Every package comes from constraints.txt (pinned, transitive), so two builds of one commit agree.
# Python 3.11: the native Pedersen backend (starknet-pathfinder-crypto) has wheels for it alone
# (our own backend serves 3.12+ at about twice the signing time; see README "Dependencies").
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
RUN pip install --constraint constraints.txt pip setuptools wheel
COPY shared ./shared
COPY services ./services
RUN pip install --no-build-isolation --constraint constraints.txt '.[server]' \
 && python -c "import services.state.__main__, services.commands.__main__, services.feed.__main__, services.reconciler.__main__, services.simulator.__main__"
RUN useradd --system --uid 10001 hub
USER hub
CMD ["python", "-m", "services"]
