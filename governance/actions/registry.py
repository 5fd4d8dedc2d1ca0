"""The registry of governance actions. Policies name actions by these keys (``Policy.governance_actions``)
and read the choices through ``all_actions()`` without importing the actions themselves."""

from __future__ import annotations

from governance.actions.base import Action

_ACTIONS: dict[str, Action] = {}


def register_action(cls: type[Action]) -> type[Action]:
    """Class decorator: register one instance of ``cls`` under its key; a duplicate key raises."""
    if cls.key in _ACTIONS:
        raise ValueError(f"A governance action with the key {cls.key!r} is already registered.")
    _ACTIONS[cls.key] = cls()
    return cls


def all_actions() -> list[Action]:
    return list(_ACTIONS.values())


def get_action(key: str) -> Action | None:
    return _ACTIONS.get(key)


def actions_for(target_type: str) -> list[Action]:
    return [action for action in _ACTIONS.values() if action.target_type == target_type]
