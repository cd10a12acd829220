"""First poll times of the users a poller starts (pure logic)."""

from services.rainforest.schedule import LastPoll, first_poll_times, start_offset_s

PERIOD, LATEST = 6.0, 10.0
NOW = 1_000_000.0


def test_new_users_spread_over_the_period_and_handed_over_users_keep_their_cadence() -> None:
    users = {"000001": LastPoll(0.0), "000002": LastPoll(NOW - 2.0), "000003": LastPoll(NOW)}
    times = first_poll_times(users, NOW, PERIOD, LATEST)
    assert times["000001"] == (NOW + start_offset_s("000001", PERIOD), 0.0)
    assert times["000002"] == (NOW + 4.0, 0.0)
    assert times["000003"] == (NOW + PERIOD, 0.0)


def test_users_of_an_expired_lease_come_due_half_a_period_later() -> None:
    # the dead holder may have polled each a period after its recorded poll, unrecorded
    users = {f"{i:06d}": LastPoll(NOW - i / 100, handed_over=False) for i in range(300)}
    times = first_poll_times(users, NOW, PERIOD, LATEST)
    assert all(at == users[c].at + 1.5 * PERIOD and late == 0 for c, (at, late) in times.items())


def test_overdue_users_are_caught_up_oldest_first_spread_within_their_deadlines() -> None:
    # a survivor taking 1,000 users of an expired lease, last polled 4-10 s ago
    users = {f"{i:06d}": LastPoll(NOW - 4 - i * 0.006, handed_over=False) for i in range(1000)}
    times = first_poll_times(users, NOW, PERIOD, LATEST)
    assert all(NOW <= at <= users[c].at + LATEST for c, (at, _) in times.items())
    overdue = sorted((users[c].at, at) for c, (at, _) in times.items() if c >= "000834")
    assert all(at > last + 1.5 * PERIOD for last, at in overdue)  # late, never early
    order = [at for _, at in overdue]
    assert order == sorted(order)  # the oldest last poll goes first
    assert order[-1] - order[0] > 0.5  # spread, not one burst at NOW
    assert all(times[c][1] > 0 for c in users if c > "000834")  # reported late
    assert all(times[c] == (users[c].at + 9, 0) for c in users if c < "000834")


def test_users_past_their_deadline_go_first_without_narrowing_the_window() -> None:
    users = {"late": LastPoll(NOW - 30.0), **{f"{i:03d}": LastPoll(NOW - 8.0) for i in range(99)}}
    times = first_poll_times(users, NOW, PERIOD, LATEST)
    assert times["late"] == (NOW, 30.0 - PERIOD)
    others = sorted(at for c, (at, _) in times.items() if c != "late")
    assert others[0] > NOW and others[-1] <= NOW - 8.0 + LATEST  # spread over the 2 s left
    assert others[-1] - others[0] > 1.5
