"""Result files: signed, expiring URLs on the fake itself, and the images behind them."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from ideogram_mock.core import images
from ideogram_mock.core.numbers import ascii_int
from ideogram_mock.core.tasks import Task

EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
_NAME = re.compile(r"([0-9])\.(png|jpg|webp)")


@dataclass(frozen=True)
class FileRef:
    """A parsed file URL: which task's which image, and its signed expiry (Unix s)."""

    task_id: str
    index: int
    ext: str
    expires: int | None
    sig: str | None


class Files:
    def __init__(self, base_url: str, secret: str, image_format: str, cache_size: int = 16):
        self.base_url = base_url
        self._secret = secret.encode()
        self.ext = EXTENSIONS[image_format]
        self.image_format = image_format
        self._cache: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._cache_size = cache_size

    def _sign(self, task_id: str, name: str, expires: int) -> str:
        # Keyed BLAKE2b is a MAC in its own right and several times cheaper than HMAC-SHA256.
        msg = f"{task_id}/{name}:{expires}".encode()
        return hashlib.blake2b(msg, key=self._secret[:64], digest_size=10).hexdigest()

    def sign(self, subject: str, expires: int) -> str:
        """A signature for any file the fake serves (`subject` names it; `expires` in Unix s)."""
        return self._sign(subject, "", expires)

    def signed(self, subject: str, expires: int, sig: str | None) -> bool:
        return sig is not None and _same(self.sign(subject, expires), sig)

    def url(self, task_id: str, index: int, expires_ms: int) -> str:
        name = f"{index}.{self.ext}"
        expires = expires_ms // 1000
        sig = self._sign(task_id, name, expires)
        return f"{self.base_url}/files/{task_id}/{expires}/{sig}/{name}"

    def result_urls(self, task: Task, ttl_ms: int) -> list[str]:
        expires = task.complete_ms + ttl_ms
        return [self.url(task.task_id, i, expires) for i in range(task.num_images)]

    def parse(self, url: str) -> FileRef | None:
        """The file a URL of this fake names, or None for anything else."""
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            return None
        prefix = base.path.rstrip("/") + "/files/"
        if not parts.path.startswith(prefix):
            return None
        segments = parts.path[len(prefix) :].split("/")
        if len(segments) != 4:
            return None
        return self.ref(*segments)

    def ref(self, task_id: str, expires: str, sig: str, name: str) -> FileRef | None:
        """A file link's parts (`/files/{task}/{expires}/{sig}/{index}.{ext}`), or None."""
        match = _NAME.fullmatch(name)  # fullmatch: `$` would also match before a final newline
        if match is None:
            return None
        return FileRef(task_id, int(match[1]), match[2], ascii_int(expires), sig or None)

    def signature_ok(self, ref: FileRef) -> bool:
        if ref.expires is None or ref.sig is None:
            return False
        return _same(self._sign(ref.task_id, f"{ref.index}.{ref.ext}", ref.expires), ref.sig)

    def render(
        self,
        task: Task,
        index: int,
        edit: tuple[bytes, bytes] | None = None,
        image_format: str | None = None,
    ) -> bytes:
        """The image for a task's result `index` (the same bytes every time): the scene from
        the task's image key, the figure from its character key; for an edit whose input and
        mask are at hand, only the mask's black part is repainted."""
        width, height = task.size
        scene = images.key_of(task.image_key, index)
        fmt = image_format or self.image_format
        # An edit's inputs are part of what is drawn: two edits of one scene differ.
        key = (width, height, scene, task.character_key, task.edit, fmt)
        data = self._cache.get(key)
        if data is None:
            data = (
                None if edit is None else images.edited_image(*edit, scene, fmt, task.character_key)
            )
            if data is None:
                data = images.generated_image(width, height, scene, fmt, task.character_key)
            self._cache[key] = data
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return data


def _same(expected: str, given: str) -> bool:
    """A signature check in constant time (`compare_digest` refuses a str with non-ASCII
    characters, which no signature has: such a one is simply wrong)."""
    return given.isascii() and hmac.compare_digest(expected, given)
