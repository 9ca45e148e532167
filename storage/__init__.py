"""Storage: the only package that knows Redis. Use ``open_store(StorageConfig(...))`` and the
``HandleStore`` contract in ``storage.api``."""

from storage.open import open_store

__all__ = ["open_store"]
