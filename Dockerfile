# CNN Explorer, one Streamlit replica per container. For a class, run several behind a balancer
# with sticky sessions: deploy/compose.yaml (HAProxy) or deploy/kubernetes.yaml (ingress-nginx).
#   docker build -t cnn-explorer .
#   docker run -p 8501:8501 -e STREAMLIT_SERVER_COOKIE_SECRET=$(openssl rand -hex 32) cnn-explorer
FROM python:3.11-slim

# STREAMLIT_BROWSER_SERVER_ADDRESS: a headless Streamlit looks up the machine's external IP
# over the internet unless it is set. EXPLORER_MAX_JOBS: training runs at once per container
# (more wait in a queue).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_BROWSER_SERVER_ADDRESS=localhost \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    EXPLORER_MAX_JOBS=1

# Not root: the app needs to write only its caches (~/.cache: torch weights, datasets).
RUN useradd --create-home --uid 1000 explorer
WORKDIR /app

# Dependencies first, so a code change does not reinstall torch. Plain `pip install .` takes
# torch from PyPI with its CUDA libraries (several GB; it runs fine on a CPU). For a much
# smaller CPU-only image, take torch and torchvision from PyTorch's CPU index instead:
#   RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu .
# With Ray (the `ray` extra), the same image is a web replica, a Ray head or a Ray worker
# (deploy/compose.yaml, deploy/kubernetes.yaml).
COPY pyproject.toml README.md ./
COPY explorer/ explorer/
RUN pip install '.[ray]'

# The rest: pages/, assets/, .streamlit/config.toml (read from the working directory).
COPY . .
RUN mkdir -p /home/explorer/.cache && chown -R explorer /home/explorer/.cache
USER explorer

EXPOSE 8501
# Streamlit answers "ok" here once it can serve; a balancer should use the same path.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]
# Every replica of one deployment needs the same STREAMLIT_SERVER_COOKIE_SECRET (set at run time).
# explorer.ui.serve = streamlit run explorer/Home.py, with torch and the default network warmed up.
CMD ["python", "-m", "explorer.ui.serve", "--server.port", "8501", "--server.address", "0.0.0.0"]
