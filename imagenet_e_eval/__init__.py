"""Evaluation runner: score any classifier on ImageNet-E and write a results file."""
