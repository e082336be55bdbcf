"""Folding and partition together: more cards buy speed where one card's budget binds."""
from __future__ import annotations

import pytest

from estimators.devices import Resources, get_board
from estimators.families import cnv_graph
from estimators.folding import FoldingLimits, apply_choice, option_tables
from estimators.front import reachable_levels, select_levels
from estimators.multi_fpga import cheapest_meeting, designs_per_card_count, fastest_on_cards
from estimators.partition import partition
from estimators.power import U280_POWER
from estimators.solver import device_weights, solve_for_budget

U280 = get_board("U280")
LIMITS = FoldingLimits(wwidth_max=None)  # CNV at full parallelism
CAP = 0.2  # a fifth of each card's usable budget: one card no longer holds the fastest CNV


@pytest.fixture(scope="module")
def cnv() -> object:
    return cnv_graph((64, 64, 128, 128, 256, 256), (512, 512), 2, 2)


@pytest.fixture(scope="module")
def per_count(cnv: object) -> list:
    return designs_per_card_count(cnv, U280, max_cards=3, clock_ns=5.0, limits=LIMITS, max_utilization=CAP)


def test_more_cards_are_never_slower_and_two_beat_one(per_count: list) -> None:
    fps = [d.fps for d in per_count]
    assert all(d.met and d.reason is None for d in per_count)
    assert fps == sorted(fps) and fps[1] > fps[0]
    assert [d.n_cards for d in per_count][:2] == [1, 2] and all(d.n_cards <= d.max_cards for d in per_count)
    two = per_count[1]
    assert len(two.cards) == 2 and all(c.fit.fits and c.utilization <= 1.0 for c in two.cards)
    assert two.latency_ns > two.partition.max_cycles * 5.0  # critical path plus one hop
    total = sum((c.used for c in two.cards), Resources())
    assert two.power_w == pytest.approx(sum(c.power_w for c in two.cards))
    assert two.power_w > 2 * U280_POWER.static_w and total.lut > 0
    assert two.energy_uj == pytest.approx(two.power_w / two.fps * 1e6)


def test_fastest_is_the_fastest_level_that_partitions(cnv: object, per_count: list) -> None:
    tables = option_tables(cnv, U280.part, LIMITS)
    levels = list(reachable_levels(tables))
    weights = device_weights(U280)
    for d in per_count:
        k = levels.index(d.partition.max_cycles)
        if k == 0:
            continue
        faster = apply_choice(cnv, tables, [int(c) for c in select_levels(tables, [levels[k - 1]], weights)[0]])
        assert not partition(faster, U280, cards=d.max_cards, clock_ns=5.0, max_utilization=CAP).feasible


def test_one_card_agrees_with_the_single_card_solver(cnv: object) -> None:
    one = fastest_on_cards(cnv, U280, cards=1, clock_ns=5.0, limits=LIMITS)
    alone = solve_for_budget(cnv, U280.part, board=U280, clock_ns=5.0, limits=LIMITS)
    assert one.met and one.n_cards == 1 and one.fps == pytest.approx(alone.fps)


def test_cheapest_meeting_a_target_takes_the_fewest_cards(cnv: object, per_count: list) -> None:
    target = (per_count[0].fps + per_count[1].fps) / 2  # out of one capped card's reach, within two's
    d = cheapest_meeting(cnv, U280, target_fps=target, cards=3, clock_ns=5.0, limits=LIMITS, max_utilization=CAP)
    assert d.met and d.fps >= target and d.n_cards == 2
    assert d.energy_uj is not None and d.power_w is not None
    easy = cheapest_meeting(cnv, U280, target_fps=per_count[0].fps / 4, cards=3, clock_ns=5.0, limits=LIMITS,
                            max_utilization=CAP)
    assert easy.met and easy.n_cards == 1 and easy.energy_uj is not None and easy.energy_uj < d.energy_uj * 4
    alone = cheapest_meeting(cnv, U280, target_fps=target, cards=1, clock_ns=5.0, limits=LIMITS, max_utilization=CAP)
    assert not alone.met and "does not fit 1 card" in str(alone.reason)
    far = cheapest_meeting(cnv, U280, target_fps=1e7, cards=3, clock_ns=5.0, limits=LIMITS, max_utilization=CAP)
    assert not far.met and "cannot be met" in str(far.reason) and far.limiting_layers


def test_card_count_is_validated(cnv: object) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="cards must be an integer >= 1"):
            fastest_on_cards(cnv, U280, cards=bad, clock_ns=5.0)  # type: ignore[arg-type]
