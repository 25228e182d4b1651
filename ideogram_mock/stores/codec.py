"""Tasks as bytes, for stores that keep them outside this process: one compact JSON array."""

from __future__ import annotations

import orjson

from ideogram_mock.core.tasks import Failure, Task, Timeline


def task_to_bytes(task: Task) -> bytes:
    failure = task.failure
    return orjson.dumps(
        (
            task.task_id, task.provider, task.api_key, task.model, task.request,
            task.callback_url, task.created_ms, task.queuing_ms, task.generating_ms,
            task.complete_ms, task.num_images, task.size, task.image_key, task.character_key,
            task.edit, task.credits, None if failure is None else (failure.code, failure.msg),
            task.rule_id, task.canceled,
        )
    )  # fmt: skip


def task_from_bytes(data: bytes) -> Task:
    (
        task_id, provider, api_key, model, request, callback_url, created_ms, queuing_ms,
        generating_ms, complete_ms, num_images, size, image_key, character_key, edit, credits,
        failure, rule_id, canceled,
    ) = orjson.loads(data)  # fmt: skip
    return Task(
        task_id=task_id,
        provider=provider,
        api_key=api_key,
        model=model,
        packed_request=request,  # a task read from outside lives for one request: kept plain
        callback_url=callback_url,
        created_ms=created_ms,
        phases=Timeline(
            queuing_ms - created_ms, generating_ms - created_ms, complete_ms - created_ms
        ),
        num_images=num_images,
        size=(size[0], size[1]),
        image_key=image_key,
        character_key=character_key,
        edit=None if edit is None else (edit[0], edit[1]),
        credits=credits,
        failure=None if failure is None else Failure(failure[0], failure[1]),
        rule_id=rule_id,
        canceled=canceled,
    )
