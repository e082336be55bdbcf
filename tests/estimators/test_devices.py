from __future__ import annotations

import subprocess
import sys

import pytest

from estimators.devices import BOARDS, Resources, check_fit, get_board


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
    with pytest.raises(KeyError, match="known: U280"):
        get_board("ZCU104")
    assert "U280" in BOARDS


def test_resources_reject_negative() -> None:
    with pytest.raises(ValueError, match="lut"):
        Resources(lut=-1)
