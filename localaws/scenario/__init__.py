"""The deterministic AWS account scenario generator (tests, the demo and benchmarks).

build_scenario(name) -> Scenario: an account's CloudTrail history, streamed in time order.
write_scenario_files(scenario, out_dir): the history as files, without a server.
apply_scenario(scenario, endpoint_url=..., add_events=..., out_dir=...): the account in the emulator.
principal_key(record): the stable key of a record's principal (the product's convention).
"""

from localaws.scenario.apply import AppliedScenario, apply_scenario
from localaws.scenario.files import write_scenario_files
from localaws.scenario.keys import principal_key
from localaws.scenario.scenario import PRESETS, Scenario, build_scenario

__all__ = [
    "PRESETS",
    "AppliedScenario",
    "Scenario",
    "apply_scenario",
    "build_scenario",
    "principal_key",
    "write_scenario_files",
]
