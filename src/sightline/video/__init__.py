"""Video: probing, frame sampling, and (later) tracking and H.264 encoding."""
