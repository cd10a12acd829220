"""compose.yaml runs the rainforest API without a poller and two poller replicas that write
the logs the rotation worker reads."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_two_pollers_on_the_log_volume() -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    poller = services["rainforest-poller"]
    assert poller["command"] == ["rainforest", "poll"]
    assert poller["deploy"]["replicas"] == 2
    assert "--no-poller" in services["rainforest"]["command"]
    assert services["rainforest-worker"]["command"] == ["worker", "rainforest"]
    logs = {v for v in services["rainforest-worker"]["volumes"] if v.endswith(":/data")}
    assert logs and logs <= set(poller["volumes"])
