# sightline as a Hugging Face Docker Space (or any container host): the web app and the REST API on
# port 7860, with the bundled demo model and an embedded workspace. No configuration needed.
# Debian 12, as on the development machines, so the system package names below are the ones tested.
FROM python:3.11-slim-bookworm

# libgl1 and libglib2.0-0: opencv-python (a dependency of trackers) links libGL and glib, and `import cv2`
# fails without them on a slim image (scripts/system-deps.sh checks the same list). No ffmpeg: PyAV's
# wheels bundle their own FFmpeg, and nothing else runs it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

# Spaces run the container as uid 1000. Its app folder and the workspace inside it are made here, as
# root, and handed to that user: some builders create a missing WORKDIR as root whatever USER says.
RUN useradd -m -u 1000 user \
 && mkdir -p /home/user/app/data \
 && chown -R user:user /home/user/app
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    PYTHONUNBUFFERED=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    PYTHONPATH=/home/user/app/src \
    SIGHTLINE_WORKSPACE=/home/user/app/data
WORKDIR /home/user/app

# Which PyTorch build: `cpu` (PyTorch's CPU wheels, for CPU Spaces: no CUDA libraries) or `cuda` (the
# package index's build, for GPU hosts; it also runs on a CPU). docker build --build-arg TORCH=cuda .
ARG TORCH=cpu
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

COPY --chown=user requirements.txt .
# torch and torchvision first, at requirements.txt's versions. The CPU build's `+cpu` versions exist only
# on PyTorch's index, so both come from there (their dependencies from either index). Then
# the rest, constrained to the torch just installed, so pip keeps it (`torch==2.14.1` is met by
# 2.14.1+cpu) and fails rather than swapping it.
RUN torch_pins=$(grep -E '^torch(vision)?==' requirements.txt) \
 && case "$TORCH" in \
      cpu)  pip install --no-cache-dir --user --extra-index-url "$TORCH_CPU_INDEX" \
              $(printf '%s+cpu ' $torch_pins) ;; \
      cuda) pip install --no-cache-dir --user $torch_pins ;; \
      *)    echo "TORCH must be cpu or cuda, not '$TORCH'" >&2; exit 1 ;; \
    esac \
 && pip freeze --user | grep -E '^torch(vision)?==' > /tmp/installed-torch.txt \
 && pip install --no-cache-dir --user -c /tmp/installed-torch.txt -r requirements.txt \
 && rm /tmp/installed-torch.txt
COPY --chown=user . .

EXPOSE 7860
# healthy once a model is loaded and takes requests (/ready answers 503 before); the first start loads it
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:${GRADIO_SERVER_PORT}/ready', timeout=8)"
CMD ["python", "app.py"]
