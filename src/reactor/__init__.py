"""reactor: loyalty and CRM automation on Kafka customer events.

The public surface: load a configuration, decode events, run the pure core.
"""

from __future__ import annotations

from reactor.actions import Action, ReactionFailure
from reactor.config import Config, load_config
from reactor.engine import Outcome, next_due, process, run_due
from reactor.errors import (
    ConfigError,
    ConfigIssue,
    DeliveryError,
    InvalidEvent,
    ReactorError,
    RuleError,
    TemplateError,
)
from reactor.events import Event, decode_event
from reactor.state import ProfileState

__all__ = [
    "Action",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "DeliveryError",
    "Event",
    "InvalidEvent",
    "Outcome",
    "ProfileState",
    "ReactionFailure",
    "ReactorError",
    "RuleError",
    "TemplateError",
    "decode_event",
    "load_config",
    "next_due",
    "process",
    "run_due",
]

__version__ = "0.1.0"
