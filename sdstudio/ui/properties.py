"""Observable properties on QObjects and two-way binding to widgets.

The idea comes from Krita AI Diffusion: a model class declares `steps = Property(20)` and gets a
getter, a setter that emits `steps_changed` only when the value really changes, and a flag saying
whether the value is saved between sessions. Widgets never hold the truth; `bind()` keeps one
widget property and one model property equal in both directions, so the model is always what
the user sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, Signal, SignalInstance
from PySide6.QtWidgets import QComboBox, QPlainTextEdit, QWidget

T = TypeVar("T")


class Property(Generic[T]):
    """A typed value on an `ObservableObject`: `name_changed(value)` is emitted on every real change.

    `persist=True` marks it for `to_dict`/`load_dict` (the settings file). The value's type is the
    default's type; loading accepts an int for a float property and nothing else of another type.
    """

    def __init__(self, default: T, persist: bool = True) -> None:
        self.default = default
        self.persist = persist
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance.__dict__.get(self.name, self.default)

    def __set__(self, instance: object, value: T) -> None:
        if not self.accepts(value):
            raise TypeError(f"{self.name} takes a {type(self.default).__name__}, not {value!r}")
        if isinstance(self.default, float):
            value = float(value)  # type: ignore[assignment]
        if instance.__dict__.get(self.name, self.default) == value:
            return
        instance.__dict__[self.name] = value
        getattr(instance, f"{self.name}_changed").emit(value)

    def accepts(self, value: object) -> bool:
        """Whether a stored value has this property's type (bool and int are told apart)."""
        kind = type(self.default)
        if isinstance(value, bool) or kind is bool:
            return isinstance(value, bool) and kind is bool
        if kind is float:
            return isinstance(value, int | float)
        if kind is list:
            return isinstance(value, list) and all(isinstance(item, str) for item in value)
        return isinstance(value, kind)


class _ObservableMeta(type(QObject)):  # type: ignore[misc]
    """Adds a `<name>_changed = Signal(object)` for each Property, before Qt builds the class.

    Signals must exist when the class is created (Qt reads them then), which is why this is a
    metaclass and not `__init_subclass__`. `object` keeps seeds above 2^31 intact.
    """

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> type:
        for key, value in list(namespace.items()):
            if isinstance(value, Property):
                namespace.setdefault(f"{key}_changed", Signal(object))
        return super().__new__(mcls, name, bases, namespace, **kwargs)


class ObservableObject(QObject, metaclass=_ObservableMeta):
    """A QObject whose `Property` attributes emit change signals and can be saved and loaded."""

    @classmethod
    def properties(cls) -> dict[str, Property]:
        found: dict[str, Property] = {}
        for klass in reversed(cls.__mro__):
            found.update({key: value for key, value in vars(klass).items() if isinstance(value, Property)})
        return found

    def to_dict(self) -> dict[str, Any]:
        """The persisted properties, as JSON-ready values."""
        return {name: getattr(self, name) for name, prop in self.properties().items() if prop.persist}

    def load_dict(self, data: dict[str, Any]) -> None:
        """Take the persisted properties found in `data` with the right type; ignore the rest."""
        for name, prop in self.properties().items():
            if prop.persist and name in data and prop.accepts(data[name]):
                setattr(self, name, data[name])

    def changed_signals(self, persisted_only: bool = True) -> list[SignalInstance]:
        """Every property's change signal (e.g. to schedule a settings save on any of them)."""
        return [getattr(self, f"{name}_changed") for name, prop in self.properties().items()
                if prop.persist or not persisted_only]


class _WidgetSide:
    """How to read, write and watch one property of one widget."""

    def __init__(self, widget: QWidget, name: str) -> None:
        self.read: Callable[[], Any]
        self.write: Callable[[Any], None]
        self.signal: SignalInstance
        if isinstance(widget, QComboBox) and name == "currentData":
            self.read, self.signal = widget.currentData, widget.currentIndexChanged
            self.write = self._combo_data_writer(widget)
        elif isinstance(widget, QPlainTextEdit) and name in ("plainText", "text"):
            self.read, self.write, self.signal = widget.toPlainText, widget.setPlainText, widget.textChanged
        else:
            self.read = self._reader(widget, name)
            self.write = self._writer(widget, name)
            self.signal = self._notifier(widget, name)

    @staticmethod
    def _combo_data_writer(combo: QComboBox) -> Callable[[Any], None]:
        def write(value: Any) -> None:
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)
        return write

    @staticmethod
    def _reader(widget: QWidget, name: str) -> Callable[[], Any]:
        for attr in (name, f"is{name[:1].upper()}{name[1:]}"):
            method = getattr(widget, attr, None)
            if callable(method):
                return method
        raise AttributeError(f"{type(widget).__name__} has no readable property '{name}'")

    @staticmethod
    def _writer(widget: QWidget, name: str) -> Callable[[Any], None]:
        for attr in (f"set_{name}", f"set{name[:1].upper()}{name[1:]}"):
            method = getattr(widget, attr, None)
            if callable(method):
                return method
        raise AttributeError(f"{type(widget).__name__} has no setter for '{name}'")

    @staticmethod
    def _notifier(widget: QWidget, name: str) -> SignalInstance:
        """`name_changed` (our widgets), `nameChanged` (Qt's naming), else the Q_PROPERTY's NOTIFY."""
        for attr in (f"{name}_changed", f"{name}Changed"):
            signal = getattr(widget, attr, None)
            if isinstance(signal, SignalInstance):
                return signal
        meta = widget.metaObject()
        index = meta.indexOfProperty(name)
        if index >= 0 and meta.property(index).hasNotifySignal():
            notify = bytes(meta.property(index).notifySignal().name().data()).decode()
            return getattr(widget, notify)
        raise AttributeError(f"{type(widget).__name__} has no change signal for '{name}'")


class Binding(QObject):
    """Keeps `model.<prop>` and a widget property equal both ways; lives (and dies) with the widget.

    The guard: while one side is being updated from the other, signals coming back are ignored, so
    a text edit's cursor is not reset by its own echo and no update ping-pongs. Only when the model
    keeps a different value than the widget sent (after `to_model`) is the widget corrected. `to_widget` and
    `to_model` convert between the two types (an int seed in a line edit); `to_model` may raise
    ValueError to leave the model as it is (an empty box while typing).
    """

    def __init__(
        self,
        model: ObservableObject,
        prop: str,
        widget: QWidget,
        widget_prop: str,
        to_widget: Callable[[Any], Any] | None = None,
        to_model: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(widget)
        self.model, self.prop = model, prop
        self._side = _WidgetSide(widget, widget_prop)
        self._to_widget = to_widget or _same
        self._to_model = to_model or _same
        self._busy = False
        getattr(model, f"{prop}_changed").connect(self.model_changed)
        self._side.signal.connect(self.widget_changed)
        self.model_changed(getattr(model, prop))

    def model_changed(self, value: Any) -> None:
        if self._busy:
            return
        shown = self._to_widget(value)
        if self._side.read() == shown:
            return
        self._busy = True
        try:
            self._side.write(shown)
        finally:
            self._busy = False

    def widget_changed(self, *_args: Any) -> None:
        if self._busy:
            return
        try:
            value = self._to_model(self._side.read())
        except ValueError:
            return
        self._busy = True
        try:
            setattr(self.model, self.prop, value)
            shown = self._to_widget(getattr(self.model, self.prop))
            if self._side.read() != shown:  # the model normalised it (a seed past 2^63-1): show that
                self._side.write(shown)
        finally:
            self._busy = False


def _same(value: Any) -> Any:
    return value


def bind(
    model: ObservableObject,
    prop: str,
    widget: QWidget,
    widget_prop: str,
    to_widget: Callable[[Any], Any] | None = None,
    to_model: Callable[[Any], Any] | None = None,
) -> Binding:
    """Bind `model.prop` to `widget`'s `widget_prop` both ways; the widget shows the model's value first.

    Widget properties: QLineEdit "text", QPlainTextEdit "plainText", QSpinBox/QDoubleSpinBox
    "value", QComboBox "currentText"/"currentData", QCheckBox/QToolButton "checked", SliderSpin
    "value" (or any widget with `name()`, `set_name()`/`setName()` and a `name_changed` signal).
    """
    return Binding(model, prop, widget, widget_prop, to_widget, to_model)
