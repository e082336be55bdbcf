"""Calibration from synthesized designs: a known correction is recovered from a synthetic dataset.

The dataset is synthetic on purpose (there is no Vivado here): each node's "synthesized" value is
a known affine function of the estimators' own per-node estimate for real TFC/CNV graphs, plus
noise. The test checks the fit recovers that function and what the MAPE table says about it.
"""
from __future__ import annotations

import numpy as np
import pytest

import estimators as est
from estimators.calibration import Calibration, Sample, base_op_type, fit_calibration, mape, resource_summary
from estimators.families import cnv_graph, tfc_graph

PART = est.get_board("U280").part
# The "truth" the synthetic synthesis follows: synth = a * estimate + b, per (op_type, resource).
# (These graphs embed thresholds in the MVAUs, and the solver keeps their weights in LUTs here.)
TRUTH = {("MVAU", "lut"): (1.30, 150.0), ("ConvolutionInputGenerator", "lut"): (1.10, -20.0)}


def _synthetic(noise: float, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    graphs = [tfc_graph((w,) * 3, wb, ab) for w in (64, 128, 256) for wb, ab in ((1, 1), (2, 2), (4, 4))]
    graphs += [cnv_graph((64, 64, 128, 128, 256, 256), (512, 512), wb, ab) for wb, ab in ((1, 1), (2, 2))]
    for g, graph in enumerate(graphs):
        # a different folding per design, so estimates vary within a node type
        sol = est.solve_for_target(graph, PART, target_fps=float(10 ** (3 + g % 4)), clock_ns=5.0,
                                   weights=est.device_weights(est.get_board("U280")))
        estimate = est.estimate_graph(sol.graph, PART, clock_ns=5.0)
        for op, cost in zip(estimate.op_types, estimate.costs):
            for resource in ("lut", "bram18"):
                value = float(getattr(cost, resource))
                a, b = TRUTH.get((op, resource), (1.0, 0.0))
                synth = max(0.0, (a * value + b) * (1 + noise * rng.standard_normal()))
                samples.append(Sample(op, resource, value, round(synth), design=f"design{g}"))
    return samples


def test_known_affine_correction_is_recovered() -> None:
    samples = _synthetic(noise=0.0)
    calib = fit_calibration(samples, min_samples=5)
    for (op, resource), (a, b) in TRUTH.items():
        c = calib.correction(op, resource)
        assert c is not None and c.n >= 5, (op, resource)
        assert c.kind == "affine" and c.used
        # synthesized counts are integers (rounded): the fit is exact up to that rounding
        assert c.a == pytest.approx(a, rel=2e-3), (op, resource, c)
        assert c.b == pytest.approx(b, abs=2.0), (op, resource, c)
        assert c.mape_after is not None and c.mape_before is not None and c.mape_after < 0.5 < c.mape_before
    # Node types whose synthesis matches the estimate are left (effectively) alone.
    for c in calib.table():
        if (c.op_type, c.resource) not in TRUTH and c.kind != "none" and c.used:
            assert c.a == pytest.approx(1.0, abs=1e-6) and c.b == pytest.approx(0.0, abs=1e-3)


def test_noisy_data_still_recovers_and_improves_mape() -> None:
    samples = _synthetic(noise=0.03, seed=1)
    calib = fit_calibration(samples)
    c = calib.correction("MVAU_hls", "lut")  # FINN's op type works too
    assert c is not None and c.used
    assert c.a == pytest.approx(1.30, rel=0.05)
    summary = {r.resource: r for r in resource_summary(samples, calib)}
    lut = summary["lut"]
    assert lut.mape_before is not None and lut.mape_after is not None
    assert lut.mape_after < lut.mape_before / 3
    assert lut.n == sum(1 for s in samples if s.resource == "lut")


def test_minimum_sample_count_and_scale_kind() -> None:
    few = [Sample("MVAU", "lut", e, 2 * e) for e in (100.0, 200.0, 300.0)]
    calib = fit_calibration(few, min_samples=5)
    c = calib.correction("MVAU", "lut")
    assert c is not None and c.kind == "none" and not c.used and "fewer than 5" in c.note
    assert calib.correct("MVAU", "lut", 100.0) == 100.0
    calib = fit_calibration(few, min_samples=3, kind="scale")
    assert calib.correct("MVAU", "lut", 50.0) == pytest.approx(100.0)
    # All estimates equal: an affine fit is ill-posed; the scale factor is used instead.
    same = [Sample("Pool", "lut", 10.0, m) for m in (20.0, 21.0, 19.0, 20.0, 20.0)]
    c = fit_calibration(same).correction("Pool", "lut")
    assert c is not None and c.kind == "scale" and c.a == pytest.approx(2.0)


def test_correction_that_does_not_generalise_is_not_used() -> None:
    # Pure noise around the estimate: leave-one-out does not beat the raw estimate.
    rng = np.random.default_rng(3)
    samples = [Sample("MVAU", "lut", e, e * (1 + 0.02 * rng.standard_normal())) for e in
               rng.uniform(1000, 2000, size=6)]
    c = fit_calibration(samples).correction("MVAU", "lut")
    assert c is not None and not c.used and "leave-one-out" in c.note


def test_estimate_graph_applies_calibration() -> None:
    graph = est.solve_for_target(tfc_graph((64, 64, 64), 2, 2), PART, target_fps=1e5, clock_ns=5.0,
                                 weights=est.device_weights(est.get_board("U280"))).graph
    raw = est.estimate_graph(graph, PART, clock_ns=5.0)
    calib = fit_calibration(_synthetic(noise=0.0))
    fixed = est.estimate_graph(graph, PART, clock_ns=5.0, calibration=calib)
    assert fixed.calibrated and not raw.calibrated
    assert fixed.max_cycles == raw.max_cycles and fixed.critical_path_cycles == raw.critical_path_cycles
    for op, a, b in zip(raw.op_types, raw.costs, fixed.costs):
        if op == "MVAU":
            assert b.lut == pytest.approx(max(0.0, 1.30 * a.lut + 150.0), rel=1e-3)
    assert fixed.lut == pytest.approx(sum(c.lut for c in fixed.costs))


def test_round_trip_and_helpers() -> None:
    calib = fit_calibration(_synthetic(noise=0.0))
    again = Calibration.from_dict(calib.to_dict())
    assert again.to_dict() == calib.to_dict()
    assert base_op_type("MVAU_hls") == "MVAU" and base_op_type("ConvolutionInputGenerator_rtl") == \
        "ConvolutionInputGenerator"
    assert mape([110.0, 0.0], [100.0, 0.0]) == pytest.approx(10.0)
    assert mape([1.0], [0.0]) is None
    with pytest.raises(ValueError, match="resource must be one of"):
        Sample("MVAU", "ff", 1.0, 1.0)
