"""Cross-task consistency (Zamir et al., CVPR 2020) on top of the Stage I data and engine.

- ``unet``:       the UNet of every network here (bilinear upsampling), registered as ``unet``;
- ``settings``:   resolved settings of each artifact from the ``consistency:`` config section;
- ``data``:       a split with several domains at once, in memory;
- ``perceptual``: train one Y -> Z network (``python -m taskonomy.consistency.perceptual``);
  ``rgb -> Z`` networks (the direct paths of the energy) are trained by the same command;
- ``train``:      RGB -> target with the direct loss alone (baseline) or plus k perceptual losses
  through frozen Y -> Z networks (``python -m taskonomy.consistency.train``);
- ``energy``:     consistency energy per image and pixel, energy-vs-error scatter, Spearman,
  images without ground truth (``python -m taskonomy.consistency.energy``);
- ``ood``:        writes scikit-image's bundled photographs to a folder (no download);
- ``viz``:        any domain's prediction as an 8-bit RGB image.

Artifacts: ``results/<run>/consistency/perceptual/<y>__<z>/model.pt``,
``results/<run>/consistency/<target>/{baseline,consistency}/model.pt``,
``results/<run>/consistency/<target>/energy/``. Rules: ``rules/consistency.smk``.
"""
