"""Give an already-imported pyarrow the NumPy that became importable after it.

pyarrow looks for NumPy exactly once, when ``pyarrow.lib`` is imported: with no NumPy it
keeps ``np = None`` in several of its modules and never initialises the NumPy C API of its
C++ layer (``arrow::py::arrow_init_numpy``).  The engine imports pyarrow long before a
plugin's packages (``--virtual-env-location``, ``pe install package numpy``) reach
``sys.path``, so without this bridge ``Table.to_pandas()``, ``pa.array(ndarray)`` and
``Array.to_numpy()`` keep failing with "NumPy is not present" for the life of the process.
"""

from __future__ import annotations

import ctypes
import glob
import importlib
import logging
import os
import sys
import threading
from types import ModuleType

__all__ = ["enable_numpy"]

_log = logging.getLogger("pe.processing")

# Itanium-mangled `int arrow::py::arrow_init_numpy()`, exported by libarrow_python.
_INIT_SYMBOL = "_ZN5arrow2py16arrow_init_numpyEv"
# `bool arrow::py::numpy_imported`, what arrow::py::has_numpy() returns.
_FLAG_SYMBOL = "_ZN5arrow2py14numpy_importedE"

_lock = threading.Lock()
_enabled = False


def enable_numpy() -> bool:
    """Make NumPy (and pandas through it) usable by pyarrow if NumPy is importable now.

    Returns True when pyarrow can use NumPy afterwards, False otherwise (no NumPy, a NumPy
    older than 2, or pyarrow's native library not found).  Idempotent, thread-safe and
    cheap once it has succeeded; it never raises, failures are logged at debug.
    """
    if _enabled:
        return True
    with _lock:
        return _enable_locked()


def _enable_locked() -> bool:
    """Do the work under the lock; records success so later calls return at once."""
    global _enabled
    if _enabled:
        return True
    try:
        ok = _enable()
    except Exception:  # never let a plugin environment quirk take the engine down
        _log.debug("numpy bridge: enabling NumPy for pyarrow failed", exc_info=True)
        return False
    _enabled = ok
    return ok


def _enable() -> bool:
    """Initialise pyarrow's NumPy support if it missed NumPy at import time."""
    try:
        import pyarrow.lib as palib
    except ImportError:
        _log.debug("numpy bridge: pyarrow is not importable", exc_info=True)
        return False

    np: ModuleType | None = getattr(palib, "np", None)
    if np is None:
        try:
            np = importlib.import_module("numpy")
        except ImportError:
            _log.debug("numpy bridge: NumPy is not importable", exc_info=True)
            return False
        # pyarrow itself refuses NumPy 1.x (lib.pyx raises ImportError for it).
        major = str(getattr(np, "__version__", "0")).partition(".")[0]
        if not major.isdigit() or int(major) < 2:
            _log.debug("numpy bridge: pyarrow needs NumPy >= 2, found %s",
                       getattr(np, "__version__", "?"))
            return False
        if not _numpy_c_api_ready():
            return False
        lib = _loaded_libarrow_python()
        if lib is None:
            return False
        init = getattr(lib, _INIT_SYMBOL)
        init.restype = ctypes.c_int
        init.argtypes = []
        # `except -1` in pyarrow's declaration: -1 means a Python error is set, which PyDLL
        # raises.  Either way arrow has already set its has_numpy() flag: clear it again, or
        # every later conversion would use NumPy's C API through a null table and crash.
        try:
            rc = init()
        except Exception:
            _clear_numpy_flag(lib)
            raise
        if rc != 0:
            _clear_numpy_flag(lib)
            _log.debug("numpy bridge: arrow_init_numpy() returned %d", rc)
            return False
    _patch_modules(np)
    return True


def _numpy_c_api_ready() -> bool:
    """True if NumPy's C API capsules are there, as arrow_init_numpy() will import them."""
    try:
        core = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:
        _log.debug("numpy bridge: NumPy has no importable C core", exc_info=True)
        return False
    for attr in ("_ARRAY_API", "_UFUNC_API"):
        if type(getattr(core, attr, None)).__name__ != "PyCapsule":
            _log.debug("numpy bridge: numpy._core._multiarray_umath.%s is missing", attr)
            return False
    return True


def _clear_numpy_flag(lib: ctypes.PyDLL) -> None:
    """Undo the ``numpy_imported = true`` that arrow_init_numpy() sets before it can fail."""
    try:
        ctypes.c_bool.in_dll(lib, _FLAG_SYMBOL).value = False
    except (ValueError, OSError):
        _log.debug("numpy bridge: cannot clear arrow's numpy flag", exc_info=True)


def _loaded_libarrow_python() -> ctypes.PyDLL | None:
    """Return the libarrow_python this process already uses, never a fresh copy of it.

    Wheels carry ``libarrow_python.so``, ``.so.<abi>`` and ``.so.<abi>.<x>.<y>`` as three
    separate copies (not symlinks).  Initialising a copy that pyarrow does not link against
    sets up that copy's private NumPy table only, and the next ``pa.array(ndarray)``
    crashes in the real one.  So only already-loaded copies are used (RTLD_NOLOAD by name,
    which glibc matches against the loaded library's SONAME, then /proc/self/maps).
    """
    import pyarrow

    dirs: list[str] = []
    try:
        dirs.extend(str(d) for d in pyarrow.get_library_dirs())
    except Exception:
        _log.debug("numpy bridge: pyarrow.get_library_dirs() failed", exc_info=True)
    dirs.append(os.path.dirname(os.path.abspath(pyarrow.__file__)))

    candidates: list[str] = []
    for d in dict.fromkeys(dirs):
        for pattern in ("libarrow_python.so*", "libarrow_python.*.dylib", "libarrow_python.dylib"):
            candidates.extend(sorted(glob.glob(os.path.join(d, pattern))))
    if not candidates:
        _log.debug("numpy bridge: no libarrow_python library in %s", dirs)
        return None

    nload = getattr(os, "RTLD_NOLOAD", 0)
    if not nload:  # without it a bare name could load a fresh, wrong copy
        _log.debug("numpy bridge: RTLD_NOLOAD is not available here")
        return None
    names = list(dict.fromkeys(os.path.basename(c) for c in candidates))
    names += _loaded_paths(candidates)
    for name in names:
        try:
            # PyDLL: the call must hold the GIL (it imports NumPy's C API).
            lib = ctypes.PyDLL(name, mode=ctypes.RTLD_GLOBAL | nload)
            getattr(lib, _INIT_SYMBOL)
        except (OSError, AttributeError):
            continue
        return lib
    _log.debug("numpy bridge: none of %s is loaded in this process", candidates)
    return None


def _loaded_paths(candidates: list[str]) -> list[str]:
    """Paths of libarrow_python copies mapped into this process (Linux), else empty."""
    wanted = {os.path.realpath(c) for c in candidates}
    found: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").partition("/")[2]
                path = "/" + path if path else ""
                if path and os.path.realpath(path) in wanted and path not in found:
                    found.append(path)
    except OSError:
        pass
    return found


def _patch_modules(np: ModuleType) -> None:
    """Fill the ``np = None`` left in every pyarrow module imported before NumPy was."""
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "pyarrow" or name.startswith("pyarrow.")):
            continue
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict) and "np" in namespace and namespace["np"] is None:
            setattr(module, "np", np)
    # _compute decides at import time which inputs count as arrays (quantile `q`, ...).
    compute = sys.modules.get("pyarrow._compute")
    types = getattr(compute, "SUPPORTED_INPUT_ARR_TYPES", None)
    if isinstance(types, tuple) and np.ndarray not in types:
        setattr(compute, "SUPPORTED_INPUT_ARR_TYPES", types + (np.ndarray,))
