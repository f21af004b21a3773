"""Baseline schedule policy: setpoints by local time of day and day type.

The policy reads local time from the observation alone (the environment's
hour-of-day and day-of-week sin/cos pairs and its `is_holiday` field), so it
runs inside a TF-Agents Actor like any learned policy. Holidays come from the
environment's `BuildingCalendar` (gin: `building_calendar.holidays`), which
publishes them as `is_holiday`; the policy only decides what to do on them.

A day schedule is a list of events; each event sets both setpoints from its
local time until the next event. Before the day's first event the day's last
event applies (a thermostat-style cyclic schedule). Defaults are the
reference system's: on working days 06:00-19:00 supply air 292 K and supply
water 350 K, otherwise 285 K and 315 K; weekends and holidays stay at the
night values.

Events are dicts with explicit names, so gin files cannot swap the two
setpoints by position:

    create_schedule_policy.weekday_events = [
        {"time": "06:00", "supply_water_setpoint_k": 350.0,
         "supply_air_heating_setpoint_k": 292.0},
        {"time": "19:00", "supply_water_setpoint_k": 315.0,
         "supply_air_heating_setpoint_k": 285.0},
    ]

Setpoints become actions through the environment's `ActionMapping`, in its
`ACTION_NAMES` order (supply water first). The schedule is compiled into a
table of actions per day type (Monday..Sunday, holiday) and minute of day;
the Python and TensorFlow policies both just look actions up in it.

Usage from a binary:

    policy = create_schedule_policy(env.time_step_spec(), env.action_spec())
    tf_policy = policy.as_tf_policy()   # same actions, as a TFPolicy
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import gin
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.policies import py_policy, tf_policy
from tf_agents.specs import array_spec, tensor_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts

from smart_control.environment import action_mapping as action_mapping_lib
from smart_control.environment import building_calendar, observations

MINUTES_PER_DAY = 1440
HOLIDAY_ROW = 7  # rows 0-6 are Monday..Sunday

EVENT_TIME = "time"
EVENT_SUPPLY_WATER = "supply_water_setpoint_k"
EVENT_SUPPLY_AIR = "supply_air_heating_setpoint_k"

DEFAULT_WEEKDAY_EVENTS = (
    {EVENT_TIME: "06:00", EVENT_SUPPLY_WATER: 350.0, EVENT_SUPPLY_AIR: 292.0},
    {EVENT_TIME: "19:00", EVENT_SUPPLY_WATER: 315.0, EVENT_SUPPLY_AIR: 285.0},
)
DEFAULT_WEEKEND_EVENTS = (
    {EVENT_TIME: "00:00", EVENT_SUPPLY_WATER: 315.0, EVENT_SUPPLY_AIR: 285.0},
)


@dataclasses.dataclass(frozen=True)
class ScheduleEvent:
    """From `minute` (local, after midnight) on, hold these setpoints (K)."""

    minute: int
    supply_water_k: float
    supply_air_heating_k: float


def parse_events(
    events: Sequence[Mapping[str, object]], name: str
) -> list[ScheduleEvent]:
    """Validates and sorts a day schedule.

    Args:
      events: Dicts with keys "time" ("HH:MM"), "supply_water_setpoint_k" and
        "supply_air_heating_setpoint_k".
      name: Parameter name for error messages.

    Raises:
      ValueError: on an empty schedule, missing or unknown keys, malformed or
        repeated times.
    """
    if not events:
        raise ValueError(f"{name} needs at least one event")
    keys = {EVENT_TIME, EVENT_SUPPLY_WATER, EVENT_SUPPLY_AIR}
    parsed = []
    for event in events:
        if not isinstance(event, Mapping) or set(event) != keys:
            raise ValueError(
                f"{name}: event {event!r} must have exactly the keys {sorted(keys)}"
            )
        seconds = building_calendar.parse_time_of_day(event[EVENT_TIME], name)
        if seconds % 60 or seconds >= 86400:
            raise ValueError(
                f"{name}: event time {event[EVENT_TIME]!r} must be HH:MM < 24:00"
            )
        parsed.append(
            ScheduleEvent(
                seconds // 60,
                float(event[EVENT_SUPPLY_WATER]),
                float(event[EVENT_SUPPLY_AIR]),
            )
        )
    parsed.sort(key=lambda e: e.minute)
    minutes = [e.minute for e in parsed]
    if len(set(minutes)) != len(minutes):
        raise ValueError(f"{name}: two events at the same time")
    return parsed


def day_actions(
    events: Sequence[ScheduleEvent], mapping: action_mapping_lib.ActionMapping
) -> np.ndarray:
    """(1440, 2) float32 actions, one per minute of a day."""
    table = np.empty((MINUTES_PER_DAY, 2), dtype=np.float32)
    # Before the first event the last one is still in force.
    table[:] = mapping.to_action(
        events[-1].supply_water_k, events[-1].supply_air_heating_k
    )
    for i, event in enumerate(events):
        end = events[i + 1].minute if i + 1 < len(events) else MINUTES_PER_DAY
        table[event.minute : end] = mapping.to_action(
            event.supply_water_k, event.supply_air_heating_k
        )
    return table


def build_action_table(
    weekday_events: Sequence[Mapping[str, object]],
    weekend_events: Sequence[Mapping[str, object]],
    holiday_events: Sequence[Mapping[str, object]] | None,
    weekend_days: Sequence[int],
    mapping: action_mapping_lib.ActionMapping,
) -> np.ndarray:
    """(8, 1440, 2) float32 actions by day type (Mon..Sun, holiday) and minute.

    Raises:
      ValueError: on invalid events, weekend days outside 0-6, or setpoints
        outside the mapping's ranges.
    """
    days = {int(d) for d in weekend_days}
    if not days <= set(range(7)):
        raise ValueError(f"weekend_days={tuple(weekend_days)} must be in 0..6")
    weekday = day_actions(parse_events(weekday_events, "weekday_events"), mapping)
    weekend = day_actions(parse_events(weekend_events, "weekend_events"), mapping)
    holiday = (
        weekend
        if holiday_events is None
        else day_actions(parse_events(holiday_events, "holiday_events"), mapping)
    )
    rows = [weekend if d in days else weekday for d in range(7)] + [holiday]
    return np.stack(rows)


def _check_specs(time_step_spec: ts.TimeStep, action_spec) -> None:
    names = observations.observation_names()
    shape = tuple(time_step_spec.observation.shape)
    if shape != (len(names),):
        raise ValueError(
            f"observation shape {shape} is not the building environment's "
            f"({len(names)},)"
        )
    if tuple(action_spec.shape) != (len(action_mapping_lib.ACTION_NAMES),):
        raise ValueError(f"action shape {tuple(action_spec.shape)} is not (2,)")


class SchedulePolicy(py_policy.PyPolicy):
    """The schedule policy as a `PyPolicy` (accepts batched observations)."""

    def __init__(
        self,
        time_step_spec: ts.TimeStep,
        action_spec: array_spec.BoundedArraySpec,
        weekday_events: Sequence[Mapping[str, object]] = DEFAULT_WEEKDAY_EVENTS,
        weekend_events: Sequence[Mapping[str, object]] = DEFAULT_WEEKEND_EVENTS,
        holiday_events: Sequence[Mapping[str, object]] | None = None,
        weekend_days: Sequence[int] = (5, 6),
        mapping: action_mapping_lib.ActionMapping | None = None,
    ):
        """Builds the policy.

        Args:
          time_step_spec: The environment's time step spec.
          action_spec: The environment's action spec.
          weekday_events: Schedule of working days.
          weekend_events: Schedule of weekend days.
          holiday_events: Schedule of holidays; None uses `weekend_events`.
          weekend_days: Weekdays (Monday = 0) that follow `weekend_events`.
          mapping: Action mapping; None builds the gin-configured
            `action_mapping()`, the one the environment uses.

        Raises:
          ValueError: on specs that are not the building environment's, or
            invalid schedules.
        """
        _check_specs(time_step_spec, action_spec)
        super().__init__(time_step_spec, action_spec)
        self._mapping = (
            mapping if mapping is not None else action_mapping_lib.action_mapping()
        )
        self._table = build_action_table(
            weekday_events, weekend_events, holiday_events, weekend_days, self._mapping
        )
        index = observations.INDEX
        self._holiday_index = index["is_holiday"]

    @property
    def action_table(self) -> np.ndarray:
        """(8, 1440, 2) actions by day type (Mon..Sun, holiday) and minute."""
        return self._table

    def _action(self, time_step, policy_state, seed=None):
        del seed  # deterministic
        observation = np.asarray(time_step.observation)
        minute, weekday = observations.decode_local_time(observation)
        holiday = observation[..., self._holiday_index] > 0.5
        day = np.where(holiday, HOLIDAY_ROW, weekday)
        return policy_step.PolicyStep(self._table[day, minute], policy_state, ())

    def as_tf_policy(self) -> ScheduleTFPolicy:
        """The same schedule as a `TFPolicy`."""
        return ScheduleTFPolicy(
            tensor_spec.from_spec(self.time_step_spec),
            tensor_spec.from_spec(self.action_spec),
            self._table,
        )


class ScheduleTFPolicy(tf_policy.TFPolicy):
    """The schedule policy in TensorFlow; build it with `as_tf_policy()`."""

    def __init__(self, time_step_spec, action_spec, action_table: np.ndarray):
        _check_specs(time_step_spec, action_spec)
        super().__init__(time_step_spec, action_spec, clip=False)
        self._table = tf.constant(action_table, dtype=tf.float32)
        index = observations.INDEX
        self._hour_sin = index["hour_of_day_sin"]
        self._hour_cos = index["hour_of_day_cos"]
        self._day_sin = index["day_of_week_sin"]
        self._day_cos = index["day_of_week_cos"]
        self._holiday = index["is_holiday"]

    def _variables(self):
        return []

    def _actions(self, observation):
        # float64 to decode exactly like the numpy policy does.
        obs = tf.cast(observation, tf.float64)
        two_pi = 2.0 * np.pi
        day_angle = tf.atan2(obs[..., self._hour_sin], obs[..., self._hour_cos])
        week_angle = tf.atan2(obs[..., self._day_sin], obs[..., self._day_cos])
        minutes = tf.math.floormod(
            day_angle / two_pi * MINUTES_PER_DAY, MINUTES_PER_DAY
        )
        minute = tf.math.floormod(
            tf.floor(minutes + observations.MINUTE_TOLERANCE), float(MINUTES_PER_DAY)
        )
        weekday = tf.math.floormod(tf.round(week_angle / two_pi * 7.0), 7.0)
        # A float64 constant: in a tf.function a Python float would be
        # float32 and tf.where refuses the mix.
        holiday_row = tf.constant(HOLIDAY_ROW, tf.float64)
        day = tf.where(obs[..., self._holiday] > 0.5, holiday_row, weekday)
        indices = tf.cast(tf.stack([day, minute], axis=-1), tf.int32)
        return tf.gather_nd(self._table, indices)

    def _action(self, time_step, policy_state, seed):
        del seed
        return policy_step.PolicyStep(
            self._actions(time_step.observation), policy_state, ()
        )

    def _distribution(self, time_step, policy_state):
        action = self._actions(time_step.observation)
        return policy_step.PolicyStep(
            tfp.distributions.Deterministic(loc=action), policy_state, ()
        )


@gin.configurable
def create_schedule_policy(
    time_step_spec: ts.TimeStep,
    action_spec: array_spec.BoundedArraySpec,
    weekday_events: Sequence[Mapping[str, object]] = DEFAULT_WEEKDAY_EVENTS,
    weekend_events: Sequence[Mapping[str, object]] = DEFAULT_WEEKEND_EVENTS,
    holiday_events: Sequence[Mapping[str, object]] | None = None,
    weekend_days: Sequence[int] | None = None,
) -> SchedulePolicy:
    """Gin factory of the schedule policy (a `PyPolicy`).

    Args:
      time_step_spec: The environment's time step spec.
      action_spec: The environment's action spec.
      weekday_events: Schedule of working days.
      weekend_events: Schedule of weekend days.
      holiday_events: Schedule of holidays (None: same as weekends).
      weekend_days: Weekend weekdays; None takes them from the gin-configured
        `building_calendar()`, the calendar the environment uses.
    """
    if weekend_days is None:
        weekend_days = sorted(building_calendar.building_calendar().weekend_days)
    return SchedulePolicy(
        time_step_spec,
        action_spec,
        weekday_events=weekday_events,
        weekend_events=weekend_events,
        holiday_events=holiday_events,
        weekend_days=weekend_days,
    )


@gin.configurable
def create_schedule_tf_policy(
    time_step_spec: ts.TimeStep, action_spec: array_spec.BoundedArraySpec
) -> ScheduleTFPolicy:
    """The gin-configured schedule policy as a `TFPolicy` (numpy specs in)."""
    return create_schedule_policy(time_step_spec, action_spec).as_tf_policy()
