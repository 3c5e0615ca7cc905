"""Geometry of the synthetic data: encodings, normals, curvature, fixation, layout, poses."""
import numpy as np
import pytest

from taskonomy.data import encodings as enc
from taskonomy.data import geometry, render
from taskonomy.data.dataset import relative_pose_6d
from taskonomy.data.derive import point_info
from taskonomy.data.scene import Prim, Scene, View, build_scene, plan_views
from taskonomy.data.synth import make_scene


def _room(prims=()):
    mats = [(0, (1, 1, 1), 1.0, 1)] * 6
    sc = Scene("test", 0, np.zeros(3), np.array([5.0, 5.0, 3.0]), mats)
    sc.prims.extend(prims)
    return sc


def test_depth_encode_decode_round_trip():
    d = np.array([[0.0, 0.5, 1.2345], [7.3, 100.0, 127.99]])
    valid = np.array([[True, True, True], [True, True, False]])
    raw = enc.encode_depth(d, valid)
    assert raw.dtype == np.uint16 and raw[1, 2] == enc.DEPTH_MISSING
    back, ok = enc.decode_depth(raw)
    assert np.array_equal(ok, valid)
    assert np.abs(back[ok] - d[valid]).max() <= 0.5 / enc.DEPTH_UNITS + 1e-6
    # the training target is log(1 + raw) / log(2^16), masked where missing
    y, m = enc.target("depth_zbuffer", raw)
    assert y.shape == (1, 2, 3) and m[0, 1, 2] == 0 and y.max() <= 1.0


def test_normals_unit_and_facing_the_camera():
    sc = make_scene(3, 1, 2, 2)
    for view in list(sc.views.values())[:3]:
        gb = render.gbuffer(sc, view, 48)
        n = gb["n_cam"]
        assert np.allclose(np.sqrt((n ** 2).sum(-1)), 1.0, atol=1e-6)
        cx, cy, cz = gb["C"]
        facing = n[..., 0] * cx + n[..., 1] * cy + n[..., 2] * cz
        assert (facing <= 1e-9).all(), "every normal must face the camera (n . ray <= 0)"
        dec = enc.decode_normal(enc.encode_normal(n))          # x right, y up, z to camera
        assert np.abs(dec - n * np.array([1, -1, -1])).max() < 0.01


def test_sphere_curvature_is_one_over_r_and_plane_is_zero():
    r = 0.15
    sphere = Prim("sphere", np.array([2.5, 2.5, 1.0]), np.array([r, r, r]), 0, 16, 1)
    sc = _room([sphere])
    eye = np.array([2.5, 1.6, 1.1])
    view = View(0, 0, eye, geometry.look_at(eye, sphere.center), 0.5)
    gb = render.gbuffer(sc, view, 96)
    on = gb["ids"] == render.N_ROOM
    assert on.sum() > 500
    k1, k2 = gb["K"]
    assert np.allclose(k1[on], -1 / r) and np.allclose(k2[on], -1 / r)
    # through the PNG encoding, within 5%
    dec = enc.decode_curvature(enc.encode_curvature(k1, k2))
    assert np.abs(np.abs(dec[on]) - 1 / r).max() < 0.05 / r
    # independent check of the analytic normals: |dn| / |dp| between neighbours = 1/r
    P = np.stack(gb["P"], -1)
    N = np.stack(gb["N"], -1)
    both = on[:, 1:] & on[:, :-1]
    ratio = np.linalg.norm(N[:, 1:] - N[:, :-1], axis=-1)[both] / np.linalg.norm(P[:, 1:] - P[:, :-1], axis=-1)[both]
    assert abs(np.median(ratio) * r - 1) < 0.05
    room = gb["ids"] < render.N_ROOM
    assert room.any() and np.all(k1[room] == 0) and np.all(k2[room] == 0)


def test_fixated_point_is_at_the_image_centre_at_the_expected_depth():
    sc = make_scene(5, 2, 3, 3)
    size = 64
    for (p, v), view in sc.views.items():
        point, _ = sc.points[p]
        u, vv, z = geometry.project(point, view.eye, view.R, view.fov, size, size)
        assert abs(u[0] - size / 2) < 1e-6 and abs(vv[0] - size / 2) < 1e-6
        assert abs(z[0] - np.linalg.norm(point - view.eye)) < 1e-9
        # the optical axis hits the point: nothing in between, depth = camera distance
        t, _, _ = render.cast_rays(sc, view.eye, view.R[:, 2][None])
        assert abs(t[0] - z[0]) < 0.01 + 0.005 * z[0]
        gb = render.gbuffer(sc, view, size)
        centre = gb["depth_z"][size // 2 - 1: size // 2 + 1, size // 2 - 1: size // 2 + 1]
        assert np.median(np.abs(centre - z[0])) < 0.03 * z[0]


@pytest.mark.parametrize("yaw_deg,pitch_deg,roll", [(0, 0, 0.0), (30, -20, 0.1), (100, 10, -0.05), (-150, -35, 0.0)])
def test_vanishing_points_and_layout_agree_with_the_camera_rotation(yaw_deg, pitch_deg, roll):
    lo, hi = np.zeros(3), np.array([4.0, 6.0, 3.0])
    eye = np.array([1.5, 2.0, 1.4])
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    fwd = np.array([np.cos(pitch) * np.sin(yaw), np.cos(pitch) * np.cos(yaw), np.sin(pitch)])
    R = geometry.look_at(eye, eye + fwd, roll)
    vp = geometry.vanishing_points(R).reshape(3, 3)
    world = R @ vp.T                                     # back to world axes
    axes = np.abs(world).argmax(0)
    assert sorted(axes) == [0, 1, 2], "three distinct Manhattan directions"
    assert np.allclose(np.abs(world), np.eye(3)[:, axes], atol=1e-9)
    assert (vp[:, 2] >= -1e-12).all(), "each direction points in front of the camera"
    assert axes[1] == 2, "the second vanishing direction is the vertical"
    lay = geometry.room_layout(R, eye, lo, hi)
    M = geometry.pose_from_vector(np.r_[lay[:3], 0, 0, 0])[:3, :3]
    # canonical rotation: within 45 degrees of yaw from the identity, and consistent with R
    Q = R @ M @ geometry.LEVEL.T        # = Rz(k * 90 deg): the room's own yaw symmetry
    assert np.isclose(Q[2, 2], 1.0) and np.allclose(np.abs(Q).round(9) % 1, 0)
    assert np.allclose(lay[3:6], R.T @ ((lo + hi) / 2 - eye))
    k = round((np.degrees(np.arctan2(fwd[0], fwd[1])) % 360) / 90) % 4
    size = np.array([hi[0], hi[2], hi[1]]) if k % 2 == 0 else np.array([hi[1], hi[2], hi[0]])
    assert np.allclose(lay[6:], size)
    # the vertical direction and the level-camera axes match the layout rotation's columns
    assert np.allclose(np.abs(vp), np.abs(M.T), atol=1e-9)


def test_layout_is_canonical_over_the_four_yaw_symmetries():
    eye = np.array([2.0, 2.0, 1.5])
    R1 = geometry.look_at(eye, eye + [np.sin(0.2), np.cos(0.2), -0.1])
    R2 = geometry.look_at(eye, eye + [np.sin(0.2 + np.pi / 2), np.cos(0.2 + np.pi / 2), -0.1])
    a = geometry.room_layout(R1, eye, np.zeros(3), np.array([4.0, 4.0, 3.0]))
    b = geometry.room_layout(R2, eye, np.zeros(3), np.array([4.0, 4.0, 3.0]))
    assert np.allclose(a[:3], b[:3]) and np.allclose(a[6:], b[6:])


def test_relative_poses_compose():
    rng = np.random.default_rng(0)
    cams = [(geometry.look_at(e, e + rng.normal(size=3), rng.normal(0, 0.2)), e) for e in rng.uniform(0, 4, (3, 3))]
    (Ra, a), (Rb, b), (Rc, c) = cams
    T_ab, T_bc, T_ac = (geometry.relative_pose(Ra, a, Rb, b), geometry.relative_pose(Rb, b, Rc, c),
                        geometry.relative_pose(Ra, a, Rc, c))
    assert np.allclose(T_ab @ T_bc, T_ac)
    for T in (T_ab, T_bc, T_ac):
        assert np.allclose(geometry.pose_from_vector(geometry.pose_vector(T)), T)
    # the same through point_info JSON (what the loader reads)
    sc = make_scene(1, 0, 1, 3)
    infos = [point_info(sc, sc.views[(0, j)], 32, []) for j in range(3)]
    ab, bc, ac = (geometry.pose_from_vector(relative_pose_6d(infos[i], infos[j])) for i, j in ((0, 1), (1, 2), (0, 2)))
    assert np.allclose(ab @ bc, ac, atol=1e-5)


def test_every_scene_class_builds_and_plans():
    for cls in range(5):
        sc = build_scene(f"b{cls}", 100 + cls, cls)
        plan_views(sc, 3, 3, 1, render.cast_rays)
        assert len(sc.views) == 9 and len(sc.prims) >= 5
        for v in sc.views.values():
            assert np.all(v.eye > sc.lo) and np.all(v.eye < sc.hi)


def test_windows_have_no_depth_and_no_normals_like_holes_in_real_scans():
    from taskonomy.data.derive import derive_view
    from taskonomy.data.materials import MATERIAL_IDS
    window = Prim("plane", np.array([2.5, 4.996, 1.5]), np.array([0.6, 0.0, 0.5]), MATERIAL_IDS["window"], 0, 1,
                  axis=1, nodata=True)
    sc = _room([window])
    sc.points = [(np.array([2.5, 4.996, 1.5]), np.array([0.0, -1.0, 0.0]))]
    eye = np.array([2.5, 2.0, 1.5])
    view = View(0, 0, eye, geometry.look_at(eye, sc.points[0][0]), 0.9)
    out = derive_view(sc, view, 48)
    hole = out["depth_zbuffer"] == enc.DEPTH_MISSING
    assert 0 < hole.mean() < 0.5 and hole[24, 24]
    assert (out["depth_euclidean"] == enc.DEPTH_MISSING).sum() == hole.sum()
    assert np.all(out["normal"][hole] == 127) and np.all(out["reshading"][hole] == 0)
    assert not np.all(out["normal"][~hole] == 127, axis=-1).any()
    assert out["rgb"][hole].mean() > out["rgb"][~hole].mean(), "the sky is brighter than the room"
