"""Evaluation (综合评价): indicators, scores, rankings and hot spots over a period (docs/evaluation.md)."""
