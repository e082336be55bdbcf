from __future__ import annotations

import subprocess
import sys

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.devices import BOARDS, RESOURCE_KINDS, Resources, check_fit, get_board, place_in_slrs


def test_estimators_stay_pure() -> None:
    code = ("import sys, estimators; bad = {'torch','finn','qonnx','onnx','optuna','pandas','brevitas'} "
            "& set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_u280_matches_finn_plus_platform() -> None:
    b = get_board("U280")
    assert b.part == "xcu280-fsvh2892-2L-e"
    assert b.total == Resources(lut=1_163_520, ff=2_327_040, bram18=3504, uram=960, dsp=8496)
    usable = b.usable()
    assert usable.lut == pytest.approx(1_163_520 * 0.7 - 10_718)
    assert usable.bram18 == pytest.approx(3504 * 0.8 - 8)
    assert usable.dsp == pytest.approx(8496 * 0.8)


def test_fit_names_the_limiting_resource() -> None:
    b = get_board("U280")
    small = check_fit(Resources(lut=2_878, bram18=11), b)
    assert small.fits and small.margin < 0
    big = check_fit(Resources(lut=100_000, bram18=3_000), b)
    assert not big.fits and big.limiting == "bram18" and big.margin > 0
    assert "bram18" in big.describe() and "does not fit" in big.describe()


def test_safety_margin_shrinks_budget() -> None:
    b = get_board("U280")
    lut = b.usable().lut * 0.95
    assert check_fit(Resources(lut=lut), b).fits
    assert not check_fit(Resources(lut=lut), b, safety_margin=0.1).fits


def test_unknown_board_lists_known() -> None:
    with pytest.raises(KeyError, match="known: .*U280"):
        get_board("ZCU104")
    assert "U280" in BOARDS


def test_resources_reject_negative() -> None:
    with pytest.raises(ValueError, match="lut"):
        Resources(lut=-1)


@pytest.mark.finn
@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_matches_finn_plus(name: str) -> None:
    from finn.util import platforms as pf
    from finn.util.basic import alveo_default_platform, part_map

    b = get_board(name)
    pfm = pf.platforms[name]()
    assert b.part == part_map[name]
    assert b.vitis_platform == alveo_default_platform[name]
    assert [[getattr(s, k) for k in RESOURCE_KINDS] for s in b.slrs] == pfm.compute_resources
    assert [b.limits[k] for k in RESOURCE_KINDS] == list(pf.DEFAULT_RES_LIMITS)
    assert [([RESOURCE_KINDS.index(k) for k in kinds], bound) for kinds, bound in b.avg_limits] == [
        (list(idx), bound) for idx, bound in pf.DEFAULT_AVG_CONSTRAINTS]
    # The one controller we charge is the one guide_resources charges on that SLR (HBM over DDR).
    guide = pfm.guide_resources[b.shell_slr]
    assert [getattr(b.slr_guide(b.shell_slr), k) for k in RESOURCE_KINDS] == guide
    assert b.shell_slr == (pfm.hbm_slr if pfm.hbm_slr >= 0 else pfm.ddr_slr[0])


def test_new_boards_are_there() -> None:
    assert {"U250", "U55C", "U280"} <= set(BOARDS)
    assert len(get_board("U250").slrs) == 4 and get_board("U250").shell.bram18 == 199
    assert get_board("U55C").shell_slr == 0 and get_board("U55C").shell.lut == 10_718


def test_slr_budgets_sum_to_whole_device() -> None:
    for b in BOARDS.values():
        total = Resources()
        for i in range(len(b.slrs)):
            total = total + b.slr_usable(i)
        for k in RESOURCE_KINDS:
            assert getattr(total, k) == pytest.approx(getattr(b.usable(), k))


def test_small_chain_fits_in_slr0() -> None:
    p = place_in_slrs([Resources(lut=20_000, bram18=30, dsp=40)] * 5, get_board("U280"))
    assert p.fits and p.slr_of == (0,) * 5 and p.margin < 0
    assert p.used[0].lut == 100_000 and p.used[1] == Resources() == p.used[2]
    assert p.describe().startswith("fits U280 in 1 SLR")


def test_big_chain_spills_into_slr1_and_slr2() -> None:
    layers = [Resources(lut=100_000, bram18=100)] * 6  # ~267k LUT per SLR: two layers each
    p = place_in_slrs(layers, get_board("U280"))
    assert p.fits and p.slr_of == (0, 0, 1, 1, 2, 2)
    assert not check_fit(Resources(lut=900_000), get_board("U280")).fits
    over = place_in_slrs(layers + [Resources(lut=100_000)], get_board("U280"),
                         names=[f"MVAU_hls_{i}" for i in range(7)])
    assert not over.fits and over.slr_of[-1] == 2 and over.margin > 0
    msg = over.describe()
    assert "MVAU_hls_6" in msg and "lut 100,000" in msg and "SLR2 has 66,448 left" in msg
    assert "SLR0" in msg and "SLR1" in msg


def test_layer_larger_than_any_slr_is_named() -> None:
    p = place_in_slrs([Resources(lut=1_000), Resources(lut=300_000), Resources(lut=1_000)],
                      get_board("U280"), names=["a", "huge", "c"])
    assert not p.fits
    msg = p.describe()
    assert "'huge'" in msg and "SLR0" in msg and "lut 300,000" in msg and "no SLR has more" in msg


def test_average_constraint_binds_before_per_kind_limits() -> None:
    b = get_board("U280")
    # Each kind under its 0.8 limit, but the mean of BRAM/URAM/DSP (over capacity-minus-shell) is 0.75.
    heavy = Resources(bram18=0.75 * 1192, uram=0.75 * 320, dsp=0.75 * 2736)
    p = place_in_slrs([heavy], b)
    assert max(p.utilization[0].values()) <= 1.0 and not p.fits
    assert "mean bram18/uram/dsp" in p.describe()
    assert place_in_slrs([heavy, heavy], dataclasses.replace(b, avg_limits=())).slr_of == (0, 1)


def test_fit_report_mentions_slr_verdict_optionally() -> None:
    b = get_board("U280")
    r = check_fit(Resources(lut=300_000), b)
    assert r.slr_placement is None and "per SLR" not in r.describe()
    p = place_in_slrs([Resources(lut=300_000)], b, names=["x"])
    both = dataclasses.replace(r, slr_placement=p)
    assert both.fits and "per SLR: does not fit" in both.describe()


def test_margin_applies_per_slr_and_names_the_slr_that_limits() -> None:
    b = get_board("U280")
    slr0 = b.slr_usable(0).lut
    # One layer filling SLR0 to 98% of its raw budget: the whole device is at a third.
    layers = [Resources(lut=0.98 * slr0), Resources(lut=1_000)]
    total = Resources(lut=0.98 * slr0 + 1_000)
    assert check_fit(total, b, safety_margin=0.15).fits  # the device-wide check alone says "fits"
    r = check_fit(total, b, safety_margin=0.15, layers=layers, names=["MVAU_hls_0", "MVAU_hls_1"])
    assert not r.fits and r.margin > 0 and r.slr_placement is not None and not r.slr_placement.fits
    assert r.reason is not None and r.reason.startswith("does not fit U280")
    assert "MVAU_hls_0" in r.reason and "SLR0" in r.reason and not r.describe().startswith("fits")
    # Without the margin it fits, and the verdict says which SLR limits.
    ok = check_fit(total, b, layers=layers)
    assert ok.fits and ok.margin <= 0 and ok.reason is None
    assert "SLR0 98%" in ok.describe() and "SLR0 limits" in ok.describe()
    # With a margin that leaves room, the message says what the percentages are of.
    small = check_fit(Resources(lut=2_000), b, safety_margin=0.15, layers=[Resources(lut=1_000)] * 2)
    assert small.fits and "less the 15% margin" in small.describe() and "SLR0 limits" in small.describe()


def test_placement_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="names"):
        place_in_slrs([Resources()], get_board("U280"), names=["a", "b"])
    with pytest.raises(ValueError, match="safety_margin"):
        place_in_slrs([], get_board("U280"), safety_margin=1.0)
    assert place_in_slrs([], get_board("U280")).fits


_layer = st.builds(
    Resources,
    lut=st.floats(0, 150_000), ff=st.floats(0, 200_000), bram18=st.floats(0, 400),
    uram=st.floats(0, 100), dsp=st.floats(0, 900),
)
_chain = st.lists(_layer, max_size=12)
_board = st.sampled_from(sorted(BOARDS))


@settings(max_examples=200, deadline=None)
@given(_chain, _board)
def test_used_over_slrs_is_sum_of_layers(layers: list[Resources], name: str) -> None:
    p = place_in_slrs(layers, get_board(name))
    assert len(p.slr_of) == len(layers) and list(p.slr_of) == sorted(p.slr_of)
    for k in RESOURCE_KINDS:
        assert sum(getattr(u, k) for u in p.used) == pytest.approx(sum(getattr(x, k) for x in layers))
        for s, u in enumerate(p.used):
            assert getattr(u, k) == pytest.approx(
                sum(getattr(x, k) for x, at in zip(layers, p.slr_of) if at == s))


@settings(max_examples=200, deadline=None)
@given(_chain, _board, st.floats(0, 0.95), st.floats(0, 0.95))
def test_safety_margin_is_monotone(layers: list[Resources], name: str, m1: float, m2: float) -> None:
    lo, hi = sorted((m1, m2))
    b = get_board(name)
    loose, tight = place_in_slrs(layers, b, safety_margin=lo), place_in_slrs(layers, b, safety_margin=hi)
    assert tight.fits <= loose.fits
    # A wider budget never pushes a layer of a fitting chain to a later SLR.
    assert not tight.fits or all(a <= c for a, c in zip(loose.slr_of, tight.slr_of))
