"""FutureBench: build a next-event multiple-choice benchmark, filter it blind, evaluate
models on it, and export it as an lmms-eval task (V1, Wang et al., arXiv 2505.22457,
FutureBench)."""
