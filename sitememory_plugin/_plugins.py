"""The plugin manager: built-in plugins by name, entry points, and plugins named in the environment."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

import pluggy

from . import hookspecs
from ._core.errors import PluginError

#: Entry-point group third-party plugins register under (the same word as the project name).
ENTRY_POINT_GROUP = "sitememory"
#: Comma-separated module names or ``.py`` file paths to load as plugins.
ENV_PLUGINS = "SITEMEMORY_PLUGINS"
#: Comma-separated plugin names (built-in or entry point) not to register.
ENV_DISABLE = "SITEMEMORY_DISABLE_PLUGINS"
#: Set to ``1`` to skip entry points (e.g. to rule out an installed plugin).
ENV_NO_AUTOLOAD = "SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD"


def _builtins() -> list[tuple[str, Callable[[], object]]]:
    from ._builtins import consent, overlays, politeness, prompt, recorder, selectors, timeouts

    return [
        ("recorder", recorder.Recorder),
        ("timeouts", timeouts.AdaptiveTimeouts),
        ("politeness", politeness.AutoThrottle),
        ("selectors", selectors.SelectorResolver),
        ("overlays", overlays.OverlayHandlers),
        ("consent", consent.ConsentDetector),
        ("prompt", prompt.PromptContext),
    ]


def builtin_names() -> tuple[str, ...]:
    """Names of the built-in plugins, each of which can be disabled."""
    return tuple(name for name, _ in _builtins())


def make_plugin_manager(
    *, disable: Iterable[str] = (), entry_points: bool = True, environment: bool = True
) -> PluginManager:
    """A new plugin manager with the built-ins, the entry-point plugins and ``$SITEMEMORY_PLUGINS``.

    :param disable: plugin names not to register (``$SITEMEMORY_DISABLE_PLUGINS`` adds to them);
        a plugin of your own may then take the name, e.g. a configured ``AdaptiveTimeouts``.
    :param entry_points: load the ``sitememory`` entry-point group (unless
        ``$SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD`` is set).
    :param environment: read the environment variables above.
    :raises PluginError: a plugin failed to import or does not fit the hook specifications.
    """
    pm = PluginManager()
    blocked = set(disable)
    if environment:
        blocked.update(_names(os.environ.get(ENV_DISABLE, "")))
    for name, factory in _builtins():
        if name not in blocked:
            pm.register(factory(), name)
    if entry_points and not (environment and os.environ.get(ENV_NO_AUTOLOAD)):
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in blocked:
                continue
            dist = f" (distribution {ep.dist.name})" if ep.dist is not None else ""
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name!r}{dist} failed to import {ep.value!r}: "
                    f"{type(exc).__name__}: {exc}", ep.name,
                ) from exc
            pm.register(plugin, ep.name)
    if environment:
        for spec in _names(os.environ.get(ENV_PLUGINS, "")):
            plugin, name = load_plugin(spec)
            if name not in blocked:
                pm.register(plugin, name)
    return pm


class PluginManager(pluggy.PluginManager):
    """pluggy's manager for the ``sitememory`` project, checking each plugin as it registers.

    :meth:`register` raises :class:`PluginError` for a plugin that implements an unknown
    ``sitememory_`` hook (a typo would otherwise never be called), takes a parameter its hook
    does not have, is a wrapper (wrappers cannot be isolated, see ``_hookcall``), or takes a
    name already in use.
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        label = name or self.get_canonical_name(plugin)
        if name is not None and self.has_plugin(name):
            raise PluginError(
                f"plugin name {name!r} is taken: disable the plugin of that name first "
                f"(make_plugin_manager(disable=[{name!r}]) or {ENV_DISABLE})", name,
            )
        try:
            registered = super().register(plugin, name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {label!r} does not fit: {exc}", label) from exc
        if registered is None:  # blocked by name (set_blocked)
            return None
        for caller in self.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                    self.unregister(plugin)
                    raise PluginError(
                        f"plugin {label!r}: {caller.name} is a wrapper; sitememory hooks take plain "
                        "implementations", label, caller.name,
                    )
        unknown = [
            n for n in dir(plugin)
            if n.startswith(hookspecs.PROJECT + "_") and not hasattr(hookspecs, n)
            and self.parse_hookimpl_opts(plugin, n) is not None
        ]
        if unknown:
            self.unregister(plugin)
            raise PluginError(f"plugin {label!r} implements unknown hooks: {', '.join(unknown)}", label)
        return registered


def register(pm: PluginManager, plugin: object, name: str | None = None) -> str:
    """Register ``plugin`` on ``pm`` (with its checks); returns the name it got."""
    registered = pm.register(plugin, name)
    return registered or name or pm.get_canonical_name(plugin)


def load_plugin(spec: str) -> tuple[ModuleType, str]:
    """Import a plugin named by a module name or a ``.py`` file path; returns it and its name."""
    path = Path(spec).expanduser()
    if spec.endswith(".py") or os.sep in spec:
        name = path.stem
        if not path.is_file():
            raise PluginError(f"plugin file {spec!r} does not exist", name)
        # A unique module name per file, so that two "hooks.py" in different places never share
        # a module; as plugins both would be named "hooks", which register() refuses clearly.
        digest = hashlib.blake2b(str(path.resolve()).encode(), digest_size=4).hexdigest()
        module_name = f"sitememory_local_{name}_{digest}"
        if module_name in sys.modules:
            return sys.modules[module_name], name
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise PluginError(f"plugin file {spec!r} cannot be imported", name)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise PluginError(
                f"plugin {name!r} failed to import from {spec!r}: {type(exc).__name__}: {exc}", name
            ) from exc
        return module, name
    try:
        return importlib.import_module(spec), spec
    except Exception as exc:
        raise PluginError(
            f"plugin {spec!r} failed to import: {type(exc).__name__}: {exc}", spec
        ) from exc


def plugin_hooks(pm: pluggy.PluginManager) -> dict[str, list[str]]:
    """Each registered plugin's name and the hooks it implements."""
    out: dict[str, list[str]] = {}
    for name, plugin in pm.list_name_plugin():
        out[name] = sorted(c.name for c in pm.get_hookcallers(plugin) or ())
    return out


_default: PluginManager | None = None
_default_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process's shared plugin manager, made on first use by :func:`make_plugin_manager`.

    ``attach()`` uses it unless given ``plugins=``; register your own plugins on it.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = make_plugin_manager()
        return _default


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
