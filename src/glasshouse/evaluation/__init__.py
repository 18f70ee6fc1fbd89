"""Accuracy evaluation: pair protocols (LFW View 2, CSV pair lists), metrics, calibration and plots.

Pure computation lives in :mod:`pairs`, :mod:`metrics`, :mod:`protocol` and :mod:`calibrate`; :mod:`runner`
embeds images with the engine and writes the JSON summaries and DET plots the CLI reports.
"""
