"""Stage IV: which tasks to supervise and which to transfer (the paper's BIP, Sec. 3.4).

``tables`` reads the paper's released affinities and the project's own ``affinity.csv`` into
one form; ``bip`` solves and scores supervision policies; ``cli``, ``sweep``, ``tree`` and
``plots`` are the ``taskonomy solve | sweep | tree | affinity-plot`` commands.
"""
