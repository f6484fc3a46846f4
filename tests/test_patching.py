import sys
import types

import wrapt

from autorr import _patching
from autorr._patching import Patch


def _module(name):
    module = types.ModuleType(name)

    class Client:
        def send(self, x):
            return f"sent {x}"

    module.Client = Client
    return module


def _factory(_module):
    def wrapper(wrapped, instance, args, kwargs):
        return "wrapped " + wrapped(*args, **kwargs)

    return wrapper


def test_patches_an_imported_module_and_uninstalls_cleanly(monkeypatch):
    module = _module("fake_lib_a")
    monkeypatch.setitem(sys.modules, "fake_lib_a", module)
    original = module.Client.__dict__["send"]
    patch = Patch("fake_lib_a", "Client.send", _factory)
    _patching.install([patch])
    _patching.install([patch])  # idempotent: wrapped once
    assert module.Client().send(1) == "wrapped sent 1"
    assert "fake_lib_a.Client.send" in _patching.installed()
    _patching.uninstall([patch])
    assert module.Client.__dict__["send"] is original
    assert module.Client().send(1) == "sent 1"


def test_patches_on_first_import(monkeypatch, tmp_path):
    (tmp_path / "fake_lib_b.py").write_text("class Client:\n    def send(self, x):\n        return f'sent {x}'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    patch = Patch("fake_lib_b", "Client.send", _factory)
    _patching.install([patch])
    import fake_lib_b

    try:
        assert fake_lib_b.Client().send(2) == "wrapped sent 2"
    finally:
        _patching.uninstall([patch])
        sys.modules.pop("fake_lib_b", None)


def test_someone_elses_wrapper_on_top_is_left_alone(monkeypatch):
    module = _module("fake_lib_c")
    monkeypatch.setitem(sys.modules, "fake_lib_c", module)
    patch = Patch("fake_lib_c", "Client.send", _factory)
    _patching.install([patch])
    wrapt.wrap_function_wrapper(module, "Client.send", lambda w, i, a, k: "theirs " + w(*a, **k))
    _patching.uninstall([patch])
    assert module.Client().send(3) == "theirs wrapped sent 3"


def test_missing_attribute_is_skipped(monkeypatch):
    module = _module("fake_lib_d")
    monkeypatch.setitem(sys.modules, "fake_lib_d", module)
    patch = Patch("fake_lib_d", "AsyncClient.send", _factory)
    _patching.install([patch])
    assert "fake_lib_d.AsyncClient.send" not in _patching.installed()
    _patching.uninstall([patch])
