"""Chapters 03–04 (vanilla CNN, transfer learning): models, training settings and selection, experiments scored per
protocol, pretrained musicnn, the linear baseline and probes, prediction.
"""
