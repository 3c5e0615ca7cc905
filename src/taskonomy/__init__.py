"""Taskonomy as reproducible software: task networks, transfers, AHP affinities and BIP taxonomies.

The package is split by stage; the console script ``taskonomy`` (``taskonomy.cli``) dispatches
to each stage's own command-line module, and the Snakemake rules call the same modules with
``python -m taskonomy.<module>``.
"""
__version__ = "0.1.0"
