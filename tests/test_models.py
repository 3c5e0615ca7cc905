"""Registry, shapes of every network part, losses and metrics of every task kind (random tensors)."""
import pytest
import torch

from taskonomy.losses import LOSSES, class_weights_from_counts, metric, per_image_loss
from taskonomy.metrics import angular_error_deg, per_image_metrics
from taskonomy.models import ModelSettings, create_model, list_models, model_kind
from taskonomy.tasks import CLASSES, EMBEDDING, LOWDIM, NONE, PIXEL, SIAMESE, TASKS, TASK_LIST

B, H = 2, 32


def fake_target(task, b=B, h=H):
    t = TASKS[task]
    if t.kind in (PIXEL,):
        return torch.randn(b, t.channels, h, h)
    if t.kind in (EMBEDDING, CLASSES):
        return torch.randint(0, t.channels if t.kind == CLASSES else 5, (b, h, h))
    if t.loss == "ce":
        return torch.randint(0, t.channels, (b,))
    if t.loss == "kl":
        return torch.softmax(torch.randn(b, t.channels), 1)
    return torch.randn(b, t.channels)


def fake_input(task, b=B, h=H):
    t = TASKS[task]
    if task == "jigsaw":
        return torch.randn(b, 9, 3, 10, 10)
    return torch.randn(b, t.views, 3, h, h) if t.kind == SIAMESE else torch.randn(b, 3, h, h)


def test_registry_lists_every_part_and_unknown_names_list_valid_ones():
    names = list_models()
    for n in ("resnet50_taskonomy", "resnet_tiny", "resnet_small", "pixel_decoder", "embedding_decoder",
              "classes_decoder", "fc_head", "siamese_head", "readout", "task_network", "transfer_network"):
        assert n in names
    with pytest.raises(KeyError, match="resnet_tiny"):
        create_model("resnet_huge")


@pytest.mark.parametrize("name", [n for n in list_models() if model_kind(n) == "encoder"])
def test_encoders_give_8_channel_representation_at_their_stride(name):
    enc = create_model(name)
    hw = 256 if name == "resnet50_taskonomy" else 64
    with torch.no_grad():
        rep = enc(torch.zeros(1, 3, hw, hw))
    assert rep.shape == (1, 8, hw // enc.stride, hw // enc.stride)
    if name == "resnet50_taskonomy":            # the paper's 16x16x8 at 256 px
        assert rep.shape == (1, 8, 16, 16)


def test_small_encoder_strides_8_and_16():
    for s in (8, 16):
        enc = create_model("resnet_tiny", stride=s)
        assert enc(torch.zeros(1, 3, 64, 64)).shape == (1, 8, 64 // s, 64 // s)
    with pytest.raises(ValueError, match="stride"):
        create_model("resnet_tiny", stride=4)


@pytest.mark.parametrize("task", [t.id for t in TASK_LIST])
def test_task_network_output_and_loss_per_image(task):
    t = TASKS[task]
    x = fake_input(task)
    net = create_model("task_network", task=task, settings=ModelSettings(),
                       input_hw=tuple(x.shape[-2:]))
    single = x.flatten(0, 1) if t.kind == SIAMESE else x
    assert net.encode(single).shape[:2] == (single.shape[0], 8)
    if t.kind == NONE:
        assert net.decoder is None
        return
    out = net(x)
    if t.kind in (PIXEL, EMBEDDING, CLASSES):
        assert out.shape == (B, t.channels, H, H)
    else:
        assert out.shape == (B, t.channels)
    y = fake_target(task)
    m = torch.ones(B, 1, H, H) if t.kind in (PIXEL, EMBEDDING, CLASSES) else None
    loss = per_image_loss(task, out, y, m)
    assert loss.shape == (B,) and torch.isfinite(loss).all()
    loss.mean().backward()           # every task's loss is differentiable w.r.t. the encoder
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.encoder.parameters())


@pytest.mark.parametrize("target", ["normal", "class_scene", "egomotion", "segment_unsup2d"])
@pytest.mark.parametrize("k", [1, 3])
def test_transfer_network_reads_concatenated_reps(target, k):
    t = TASKS[target]
    net = create_model("transfer_network", target=target, n_sources=k, rep_hw=(4, 4), stride=8, out_hw=(H, H))
    reps = torch.randn(B, t.views, 8 * k, 4, 4) if t.kind == SIAMESE else torch.randn(B, 8 * k, 4, 4)
    out = net(reps)
    assert out.shape == ((B, t.channels, H, H) if t.kind in (PIXEL, EMBEDDING, CLASSES) else (B, t.channels))
    n_conv = [m for m in net.readout.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(n_conv) == 2 and n_conv[0].in_channels == 8 * k


def test_masked_l1_ignores_invalid_pixels_and_is_per_image():
    pred, y = torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    y[0, :, :2] = 10.0                       # large error only where the mask is 0
    m = torch.ones(2, 1, 4, 4)
    m[0, :, :2] = 0
    assert per_image_loss("depth_zbuffer", pred, y, m).tolist() == [0.0, 0.0]
    y[1] = 1.0
    assert per_image_loss("depth_zbuffer", pred, y, m).tolist() == [0.0, 1.0]


def test_ce_soft_and_hard_targets_agree_and_kl_is_zero_at_target():
    logits = torch.randn(3, 5)
    hard = torch.tensor([0, 3, 4])
    soft = torch.nn.functional.one_hot(hard, 5).float()
    assert torch.allclose(LOSSES["ce"](logits, hard), LOSSES["ce"](logits, soft))
    p = torch.softmax(logits, 1)
    assert torch.allclose(LOSSES["kl"](torch.log(p), p), torch.zeros(3), atol=1e-5)


def test_metric_loss_prefers_embeddings_that_separate_segments():
    seg = torch.zeros(1, 16, 16, dtype=torch.long)
    seg[:, :, 8:] = 1
    good = torch.zeros(1, 4, 16, 16)
    good[:, 0, :, :8] = 1
    good[:, 1, :, 8:] = 1
    bad = torch.zeros(1, 4, 16, 16)
    bad[:, 0] = 1
    assert metric(good, seg) < 1e-6 < metric(bad, seg)


def test_rebalanced_weights_upweight_rare_classes():
    w = class_weights_from_counts(torch.tensor([1000.0, 10.0, 0.0]))
    assert w[1] > w[0] and w[2] == w.max()
    logits = torch.zeros(1, 3, 2, 2)
    y = torch.tensor([[[0, 1], [0, 0]]])
    assert per_image_loss("segment_semantic", logits, y, None, w).shape == (1,)


def test_metrics_angular_error_and_accuracy():
    n = torch.zeros(1, 3, 2, 2)
    n[:, 2] = 1
    p = torch.zeros(1, 3, 2, 2)
    p[:, 0] = 1
    assert torch.allclose(angular_error_deg(n, n), torch.zeros(1), atol=1e-2)
    assert torch.allclose(angular_error_deg(p, n), torch.full((1,), 90.0))
    assert set(per_image_metrics("normal", p, n)) == {"angular_error"}
    acc = per_image_metrics("class_scene", torch.tensor([[0.0, 2.0], [3.0, 0.0]]), torch.tensor([1, 1]))
    assert acc["accuracy"].tolist() == [1.0, 0.0]
    assert per_image_metrics("segment_semantic", torch.randn(2, 17, 4, 4),
                             torch.zeros(2, 4, 4, dtype=torch.long))["accuracy"].shape == (2,)


@pytest.mark.parametrize("task", ["depth_zbuffer", "room_layout", "fixated_pose", "class_scene", "class_object"])
def test_output_scale_starts_the_network_at_the_training_average(task):
    """After fit_output_scale, a network whose decoder outputs 0 predicts the training mean
    (regression) or the class prior (classification): it starts at the average guess."""
    from taskonomy.models import fit_output_scale
    from taskonomy.models.networks import output_statistics
    t = TASKS[task]
    torch.manual_seed(0)
    y = fake_target(task, b=64)
    if t.loss in ("l1", "l1_masked", "l2"):
        y = 4.0 + 0.1 * y                      # far from zero, small spread (depth, room size)
    net = create_model("task_network", task=task, settings=ModelSettings(), input_hw=(H, H))
    fit_output_scale(net, task, y, None)
    mean, std = output_statistics(task, y)
    # a decoder that outputs 0 predicts the scale's mean
    out = net.scale(torch.zeros(3, t.channels, *([H, H] if t.kind == PIXEL else [])))
    if t.loss in ("ce", "kl"):
        prior = torch.softmax(out[0].flatten() if out.dim() == 2 else out[0, :, 0, 0], 0)
        counts = (y.sum(0) if y.dim() == 2 else torch.bincount(y.long(), minlength=t.channels)).double()
        assert torch.allclose(prior.double(), (counts + 1) / (counts.sum() + t.channels), atol=1e-5)
        assert torch.equal(std, torch.ones(t.channels))
    elif y.dim() == 4:                          # pixel regression: the mean image, and the
        dims = (0, 2, 3)                       # whole untrained network predicts exactly it
        assert torch.allclose(out[0], y.mean(0), atol=1e-5)
        assert torch.allclose(std, y.std(dims, unbiased=False), rtol=1e-2)
        assert torch.allclose(mean, y.mean(dims), atol=1e-4)
        pred = net(torch.randn(2, 3, H, H))
        assert torch.allclose(pred, y.mean(0).expand_as(pred), atol=1e-5)
        # another output size (a user's image in `taskonomy predict`): the prior is resized
        assert net.scale(torch.zeros(1, t.channels, 2 * H, 2 * H)).shape == (1, t.channels, 2 * H, 2 * H)
    else:
        assert torch.allclose(out[0], y.mean(0), atol=1e-4)
        assert torch.allclose(std, y.std(0), rtol=1e-2)
    # the statistics travel with the weights, and an older checkpoint without them loads as identity
    sd = net.state_dict()
    net2 = create_model("task_network", task=task, settings=ModelSettings(), input_hw=(H, H))
    net2.load_state_dict(sd)
    assert torch.equal(net2.scale.mean, net.scale.mean) and torch.equal(net2.scale.prior, net.scale.prior)
    old = {k: v for k, v in sd.items() if not k.startswith("scale.")}
    net2.load_state_dict(old)
    assert torch.equal(net2.scale.mean, torch.zeros(t.channels)) and net2.scale.prior.numel() == 0
    # a checkpoint from before the per-pixel prior (mean and std only) loads as it was trained
    no_prior = {k: v for k, v in sd.items() if k != "scale.prior"}
    net2.load_state_dict(no_prior)
    assert torch.equal(net2.scale.mean, net.scale.mean) and net2.scale.prior.numel() == 0


def test_output_scale_masks_invalid_pixels():
    from taskonomy.models.networks import output_statistics
    y = torch.full((4, 1, 8, 8), 0.6)
    y[:, :, :4] = 0.0                          # invalid pixels (depth with no data) are 0
    m = torch.ones(4, 1, 8, 8)
    m[:, :, :4] = 0
    mean, std = output_statistics("depth_zbuffer", y, m)
    assert torch.allclose(mean, torch.tensor([0.6])) and std.item() == pytest.approx(1e-3)
