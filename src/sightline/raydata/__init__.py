"""Project-scale runs as Ray Data jobs (``predict_detached(..., engine="ray")``): see docs/scale-out.md."""
