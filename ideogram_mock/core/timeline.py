"""Pure lifecycle: how long a task takes, and its state and progress at a moment."""

from __future__ import annotations

import functools

from ideogram_mock.core.tasks import Speed, Stage, Task, Timeline

# Seconds at time scale 1, close to the ~20 s seen live for one BALANCED image.
WAITING_S = 1.0
QUEUING_S = 2.0
GENERATING_S: dict[Speed, float] = {"turbo": 8.0, "balanced": 14.0, "quality": 20.0}
PER_EXTRA_IMAGE_S: dict[Speed, float] = {"turbo": 2.0, "balanced": 3.0, "quality": 4.0}
# A failing task gives up a quarter of the way through generating.
FAIL_FRACTION = 0.25


@functools.lru_cache(maxsize=1024)
def timeline(
    speed: Speed,
    num_images: int,
    time_scale: float,
    *,
    fails: bool = False,
    total_s: float | None = None,
) -> Timeline:
    """The task's phases; `total_s` (from a rule) fixes the whole duration instead. The same
    arguments give the same object (tasks share it)."""
    waiting, queuing = WAITING_S, QUEUING_S
    generating = GENERATING_S[speed] + PER_EXTRA_IMAGE_S[speed] * (num_images - 1)
    if fails:
        generating *= FAIL_FRACTION
    if total_s is not None:
        natural = waiting + queuing + generating
        ratio = total_s / natural
        waiting, queuing, generating = waiting * ratio, queuing * ratio, generating * ratio
    else:
        waiting, queuing, generating = (
            waiting * time_scale,
            queuing * time_scale,
            generating * time_scale,
        )
    # Boundaries from cumulative sums, so rounding never stretches the whole.
    return Timeline(
        round(waiting * 1000),
        round((waiting + queuing) * 1000),
        round((waiting + queuing + generating) * 1000),
    )


def stage_at(task: Task, now_ms: int) -> Stage:
    """The task's stage at `now_ms`; terminal from `complete_ms` on, never changing after."""
    age, phases = now_ms - task.created_ms, task.phases
    if age >= phases.complete:
        if task.canceled:
            return Stage.CANCELED
        return Stage.FAILED if task.failure is not None else Stage.SUCCEEDED
    if age >= phases.generating:
        return Stage.RUNNING
    if age >= phases.queuing:
        return Stage.QUEUED
    return Stage.PENDING


def progress_at(task: Task, now_ms: int) -> int:
    """0–100: 0 until generating, then linear, 100 when ended."""
    age, phases = now_ms - task.created_ms, task.phases
    if age >= phases.complete:
        return 100
    if age < phases.generating:
        return 0
    return min(99, (age - phases.generating) * 100 // (phases.complete - phases.generating))


def updated_at(task: Task, now_ms: int) -> int:
    """The time of the last state change at or before `now_ms`."""
    age, phases = now_ms - task.created_ms, task.phases
    for offset in (phases.complete, phases.generating, phases.queuing):
        if age >= offset:
            return task.created_ms + offset
    return task.created_ms
