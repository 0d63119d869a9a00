"""Load benchmark of videolikes: see bench/run.py and the README."""
