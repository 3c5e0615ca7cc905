"""Taskonomy data: the embedded procedural indoor dataset and the loader of the real layout.

- ``scene``     rooms of primitives, materials, lights, sampled points and fixating cameras
- ``render``    the analytic numpy ray caster (G-buffer + shaded RGB)
- ``derive``    every stored domain computed from the G-buffer (edges, keypoints, segments...)
- ``geometry``  camera maths: poses, room layout, vanishing points
- ``encodings`` the on-disk encodings of the real dataset (writer and loader share them)
- ``synth``     writes a dataset in the Taskonomy layout (``taskonomy data synth``)
- ``dataset``   PyTorch datasets over that layout (also real Taskonomy folders)
- ``check`` / ``sheet``  validation and contact sheets (``taskonomy data check|sheet``)
"""
