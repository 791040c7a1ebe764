"""What every task (speech, vision, text) shares: its lifecycle and its provenance.

A task is created from its options (``X.create(XOptions(...))``), is closed with :meth:`Closeable.close` or
``with``, and says what runs it in :attr:`Task.provenance`: the bundle, the variant, the onnxruntime providers
really used and any provider fallback taken. Its results carry the same four fields, flat (``result.bundle``,
``result.variant``, ``result.providers``, ``result.fallback``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from edge_sdk.errors import InvalidInputError

if TYPE_CHECKING:
    from edge_sdk.runtime import LoadedModel

_T = TypeVar("_T", bound="Closeable")


@dataclass(frozen=True)
class Provenance:
    """What produced a result: read once when a task loads its model, and kept after :meth:`Closeable.close`.

    Attributes:
        bundle: Name of the bundle the model came from.
        variant: The variant that runs (``fp32``, ``int8``, ...).
        providers: onnxruntime providers really used, in order of preference.
        fallback: The provider fallback the device profile allowed and that was taken, or None.
    """

    bundle: str
    variant: str
    providers: tuple[str, ...]
    fallback: str | None = None

    @classmethod
    def of(cls, model: LoadedModel) -> Provenance:
        """The provenance of a loaded bundle variant."""
        return cls(model.bundle.name, model.variant.name, tuple(model.providers), model.device.fallback)

    def to_dict(self) -> dict:
        """JSON-ready form: ``{"bundle", "variant", "providers", "fallback"}``, as results write them."""
        return {"bundle": self.bundle, "variant": self.variant, "providers": list(self.providers), "fallback": self.fallback}


class CarriesProvenance:
    """A result or event whose flat fields ``bundle``, ``variant``, ``providers`` and ``fallback`` say what produced
    it; :attr:`provenance` gathers them as the task's :attr:`Task.provenance` does."""

    bundle: str
    variant: str
    providers: tuple[str, ...]
    fallback: str | None

    @property
    def provenance(self) -> Provenance:
        """The four provenance fields as one :class:`Provenance`."""
        return Provenance(self.bundle, self.variant, tuple(self.providers), self.fallback)


class Closeable:
    """The end of a task's life: ``with`` calls :meth:`close`, and calls after it raise.

    A subclass's ``close()`` drops what it holds and calls ``super().close()``; its methods start with
    ``_require_open()``. ``_reopen`` says how to get a new one.
    """

    _closed = False
    _reopen = "create a new one"

    def close(self) -> None:
        """Mark this closed; later calls raise ``InvalidInputError``. Idempotent."""
        self._closed = True

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _require_open(self) -> None:
        if self._closed:
            raise InvalidInputError(f"the {type(self).__name__} is closed; {self._reopen}")


class Task(Closeable):
    """A loaded model's lifecycle (:class:`Closeable`) and its :attr:`provenance`, set once by the subclass;
    ``variant``, ``providers`` and ``fallback`` read it too."""

    _provenance: Provenance

    @property
    def provenance(self) -> Provenance:
        """The bundle, variant, providers and fallback this task runs on; readable after :meth:`close`."""
        return self._provenance

    @property
    def variant(self) -> str:
        """The variant that runs (``fp32``, ``int8``, ...)."""
        return self._provenance.variant

    @property
    def providers(self) -> tuple[str, ...]:
        """onnxruntime providers really used."""
        return self._provenance.providers

    @property
    def fallback(self) -> str | None:
        """Provider fallback allowed by the device profile and taken, or None."""
        return self._provenance.fallback
