"""A first-order power and energy-per-inference model for a FINN dataflow design on an FPGA card.

FINN designs are streaming pipelines that, in steady state, take one frame per ``max_cycles``
clock cycles, so energy per inference = board power / throughput. Board power is modelled as

    P = P_static + f_clk[MHz] x (c_lut x LUT + c_bram x BRAM18 + c_uram x URAM + c_dsp x DSP) x 1e-6

with ``P_static`` the card's idle power with the shell loaded and ``c_*`` dynamic µW per MHz per
used primitive at typical toggle rates (orders of magnitude from AMD's Power Estimator for
UltraScale+ at 12.5% toggle; not measured here). It ranks designs sensibly (static power makes
slow designs expensive per inference; big fast designs pay in dynamic power) but is not a
measurement: board measurements calibrate it (``PowerModel`` is a plain record to replace).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PowerModel:
    static_w: float = 20.0  # U280 idle with an XRT shell loaded: ~20 W
    lut_uw_per_mhz: float = 0.08
    bram18_uw_per_mhz: float = 6.0
    uram_uw_per_mhz: float = 14.0
    dsp_uw_per_mhz: float = 3.0


U280_POWER = PowerModel()


def power_w(*, lut: float, bram18: float, uram: float, dsp: float, clock_ns: float,
            model: PowerModel = U280_POWER) -> float:
    """Estimated board power (W) while the design streams at full rate."""
    mhz = 1e3 / clock_ns
    dynamic_uw = mhz * (model.lut_uw_per_mhz * lut + model.bram18_uw_per_mhz * bram18
                        + model.uram_uw_per_mhz * uram + model.dsp_uw_per_mhz * dsp)
    return model.static_w + dynamic_uw * 1e-6


def energy_per_inference_uj(*, fps: float, lut: float, bram18: float, uram: float, dsp: float, clock_ns: float,
                            model: PowerModel = U280_POWER) -> float:
    """Estimated energy per inference (µJ) at full throughput: power / fps."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return power_w(lut=lut, bram18=bram18, uram=uram, dsp=dsp, clock_ns=clock_ns, model=model) / fps * 1e6
