"""nextevent: next-event prediction data, benchmarks and rewards for video language models.

Cut videos at causal turning points, build training data and benchmarks from the past and
future segments, export them to training engines, and score models. See the README.
"""

__version__ = "0.1.0"
