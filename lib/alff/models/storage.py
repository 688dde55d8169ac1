"""Models on disk: ``<stem>.json`` (settings) + ``<stem>.npz`` (arrays), no pickle.

Both files are written atomically (complete temporary files renamed over
the old ones); the JSON records the npz's SHA-256, so a pair whose halves
come from different saves (a copy, a kill between the two renames, or an
edit) is refused on load instead of mixing two models.

Loading validates before anything is computed: :func:`open_model` checks
the JSON (valid, an object, the ``format``, the ``version``: files without
one are version 1), the npz (a readable archive without pickled objects,
the recorded checksum) and gives a :class:`ModelFile` whose ``key`` and
``array`` methods check settings and arrays (type, shape, finite values).
Every problem is a :class:`ModelFileError` naming the file and what is
wrong with it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..jobs import write_json
from ..kernels.blocks import self_kernel_diag

__all__ = ["ModelFileError", "ModelFile", "model_stem", "write_model", "read_model", "read_meta", "open_model",
           "gp_settings", "check_gp_arrays"]

_MISSING = object()
_KINDS = {"f": ("fiu", np.float64, "numbers"), "i": ("iu", np.int64, "integers"), "b": ("b", bool, "booleans")}


class ModelFileError(ValueError):
    """A saved model that cannot be used as it is on disk: unreadable,
    truncated, edited, of another format or a newer version. The message
    names the file and the problem."""


def model_stem(path):
    """``path`` without a ``.json``/``.npz`` suffix."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".npz") else p


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_model(path, meta, arrays):
    """Write ``stem.npz`` and ``stem.json`` (with the npz's ``npz_sha256``)
    atomically; returns the JSON path. A failed write leaves the previous
    files and no temporary file."""
    stem = model_stem(path)
    # both complete as temporaries before either replaces its file: a
    # failed save leaves the old pair; only a kill between the two renames
    # mixes them, and the checksum refuses that pair on load
    with atomic_path(stem.with_suffix(".npz")) as tmp_npz:
        np.savez_compressed(tmp_npz, **arrays)
        with atomic_path(stem.with_suffix(".json")) as tmp_json:
            write_json(tmp_json, dict(meta, npz_sha256=_sha256(tmp_npz)))
    return stem.with_suffix(".json")


def _fail(path, problem, sep=": "):
    raise ModelFileError(f"{path}{sep}{problem}")


def read_meta(path):
    """The settings (JSON object) of a saved model, with its ``format``.

    Raises
    ------
    FileNotFoundError
        No ``stem.json``.
    ModelFileError
        Not valid JSON, not an object, or no string ``format``.
    """
    meta_path = model_stem(path).with_suffix(".json")
    try:
        text = meta_path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"no saved model at {meta_path}") from None
    except (OSError, UnicodeDecodeError) as err:
        _fail(meta_path, f"cannot be read ({err})")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as err:
        _fail(meta_path, f"is not valid JSON (truncated or edited?): {err}", sep=" ")
    if not isinstance(meta, dict):
        _fail(meta_path, f"holds a JSON {type(meta).__name__}, not the object of a saved model")
    if "format" not in meta:
        _fail(meta_path, "key 'format' missing (not a saved alff model?)")
    if not isinstance(meta["format"], str):
        _fail(meta_path, f"key 'format' is {meta['format']!r}, not a format name")
    return meta


def _read_npz(npz_path):
    """(arrays, sha256) of a saved model's npz."""
    try:
        data = npz_path.read_bytes()
    except FileNotFoundError:
        _fail(npz_path, f"missing: the model's arrays (its {npz_path.with_suffix('.json').name} alone is not a "
                        f"model)", sep=" is ")
    except OSError as err:
        _fail(npz_path, f"cannot be read ({err})")
    if not data.startswith(b"PK"):
        _fail(npz_path, "is not a valid npz archive (truncated?): " + ("the file is empty" if not data else
                        "no zip header"), sep=" ")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}, hashlib.sha256(data).hexdigest()
    except ValueError as err:
        if "pickle" in str(err):
            _fail(npz_path, "holds pickled objects (alff never writes those; refused)")
        _fail(npz_path, f"is not a valid npz archive (truncated?): {err}", sep=" ")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError) as err:
        _fail(npz_path, f"is not a valid npz archive (truncated?): {err}", sep=" ")


def open_model(path, fmt, version):
    """Read and check the pair written by :func:`write_model`.

    Parameters
    ----------
    path : str or Path
        ``stem``, ``stem.json`` or ``stem.npz``.
    fmt : str
        The expected ``format`` field.
    version : int
        The newest format version this code reads (files without a
        ``version`` are version 1).

    Returns
    -------
    ModelFile
        Its loader checks the settings and arrays, then calls
        :meth:`ModelFile.check_pair` (the npz is the one the JSON names).

    Raises
    ------
    ModelFileError
    """
    stem = model_stem(path)
    meta = read_meta(stem)
    mf = ModelFile(stem, meta, {})
    if meta["format"] != fmt:
        mf.fail(f"is a '{meta['format']}' file, not an '{fmt}' file", sep=" ")
    v = meta.get("version", 1)
    if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
        mf.fail(f"key 'version' is {v!r}, not a format version (an integer from 1)")
    if v > version:
        mf.fail(f"has format version {v} of '{fmt}', newer than this alff reads (up to {version}): "
                f"update alff to load it", sep=" ")
    digest = meta.get("npz_sha256")
    if digest is not None and not isinstance(digest, str):
        mf.fail(f"key 'npz_sha256' is {digest!r}, not a checksum")
    mf.arrays, mf.npz_sha256 = _read_npz(mf.npz_path)
    return mf


def read_model(path, fmt, version):
    """(meta, arrays) of a model written by :func:`write_model`, checked as
    by :func:`open_model` (raises :class:`ModelFileError`)."""
    mf = open_model(path, fmt, version)
    mf.check_pair()
    return mf.meta, mf.arrays


def _shape_text(shape):
    return "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class ModelFile:
    """A saved model being loaded: its settings ``meta``, its ``arrays``,
    and checks that raise :class:`ModelFileError` naming the file.

    Attributes
    ----------
    stem, json_path, npz_path : Path
    meta : dict
    arrays : dict of ndarray
    """

    def __init__(self, stem, meta, arrays):
        self.stem = Path(stem)
        self.json_path = self.stem.with_suffix(".json")
        self.npz_path = self.stem.with_suffix(".npz")
        self.meta = meta
        self.arrays = arrays
        self.npz_sha256 = None

    def check_pair(self):
        """Refuse an npz whose checksum differs from the one the JSON
        recorded (files from different saves, or an edit). Called after the
        specific checks of a loader, which name a damaged array better."""
        digest = self.meta.get("npz_sha256")
        if digest is not None and digest != self.npz_sha256:
            self.fail(f"does not belong to {self.json_path.name}: its checksum differs from the one recorded there "
                      f"(the two files come from different saves, or one was edited)", npz=True, sep=" ")

    def fail(self, problem, npz=False, sep=": "):
        """Raise :class:`ModelFileError` for the JSON (or the npz) file."""
        _fail(self.npz_path if npz else self.json_path, problem, sep)

    def key(self, name, types=None, default=_MISSING, what=None):
        """Setting ``name`` of the JSON, of one of ``types`` (``numbers.Real``
        and ``Integral`` exclude booleans); ``default`` when absent (absent
        without a default is an error)."""
        if name not in self.meta:
            if default is _MISSING:
                self.fail(f"key '{name}' missing")
            return default
        v = self.meta[name]
        if types is None:
            return v
        types = types if isinstance(types, tuple) else (types,)
        ok = any(v is None if t is None else isinstance(v, t) for t in types)
        if isinstance(v, bool) and bool not in types:
            ok = False
        if ok and isinstance(v, Real) and not isinstance(v, Integral) and not np.isfinite(v):
            ok = False
        if not ok:
            self.fail(f"key '{name}' is {v!r}, expected {what or ' or '.join(_type_name(t) for t in types)}")
        return v

    def number(self, name, default=_MISSING, positive=False, none=False):
        """A finite number setting (``positive``: > 0; ``none``: may be null)."""
        v = self.key(name, (Real, None) if none else Real, default,
                     what=("a positive number" if positive else "a number") + (" or null" if none else ""))
        if v is not None and positive and not v > 0:
            self.fail(f"key '{name}' is {v!r}, expected a positive number")
        return None if v is None else float(v)

    def species(self, name="species"):
        """A list of increasing distinct atomic numbers."""
        v = self.key(name, list)
        if not v or not all(isinstance(z, Integral) and not isinstance(z, bool) and 1 <= z <= 118 for z in v) \
                or sorted(set(v)) != v:
            self.fail(f"key '{name}' is {v!r}, expected increasing distinct atomic numbers")
        return [int(z) for z in v]

    def count(self, name, default=_MISSING):
        """An integer setting >= 0."""
        v = self.key(name, Integral, default, what="a count (an integer >= 0)")
        if v < 0:
            self.fail(f"key '{name}' is {v!r}, expected a count (an integer >= 0)")
        return int(v)

    def array(self, name, shape=None, kind="f", finite=True, why=None, default=_MISSING):
        """Array ``name`` of the npz, converted to ``kind`` ("f" float64,
        "i" int64, "b" bool), of ``shape`` (ints, or None for any length).

        ``why`` completes the message of a wrong shape ("has shape (10,) but
        <why>"); ``finite`` refuses NaN and infinities."""
        if name not in self.arrays:
            if default is _MISSING:
                self.fail(f"array '{name}' missing", npz=True)
            return default
        a = self.arrays[name]
        kinds, dtype, word = _KINDS[kind]
        if not isinstance(a, np.ndarray):
            self.fail(f"array '{name}' is not a numpy array (a foreign member of the archive)", npz=True)
        if a.dtype.kind not in kinds:
            self.fail(f"array '{name}' holds {a.dtype} values, expected {word}", npz=True)
        if shape is not None and (a.ndim != len(shape)
                                  or any(s is not None and s != n for s, n in zip(shape, a.shape))):
            self.fail(f"array '{name}' has shape {a.shape}" + (f" but {why}" if why else
                                                                f", expected {_shape_text(shape)}"), npz=True)
        if finite and kind == "f" and not np.isfinite(a).all():
            self.fail(f"non-finite values in '{name}'", npz=True)
        return np.asarray(a, dtype)


def _type_name(t):
    return {None: "null", Real: "a number", Integral: "an integer", str: "a string", bool: "true or false",
            dict: "an object", list: "a list"}.get(t, getattr(t, "__name__", str(t)))


# -------------------------------------------------- Gaussian-process files
def _real(v):
    return isinstance(v, Real) and not isinstance(v, bool) and bool(np.isfinite(v))


def gp_settings(mf, hyp_names):
    """The settings of a saved Gaussian process, checked.

    Returns
    -------
    dict
        ``init`` (keywords of the constructor), ``species``, ``hyps``,
        ``e0`` (``{Z: eV}`` or None), ``n_updates``, ``log_likelihood``.
    """
    cutoffs = mf.key("cutoffs", dict)
    if not cutoffs:
        mf.fail("key 'cutoffs' is empty: it needs at least one of 'twobody', 'threebody'")
    for k, v in cutoffs.items():
        if not _real(v):
            mf.fail(f"key 'cutoffs': '{k}' is {v!r}, not a distance")
    species = mf.species()
    hyps = mf.key("hyps", dict)
    missing = [k for k in hyp_names if k not in hyps]
    if missing or set(hyps) - set(hyp_names):
        mf.fail(f"key 'hyps' has {sorted(hyps)}, expected {list(hyp_names)}")
    bad = [f"{k}={hyps[k]!r}" for k in hyp_names if not (_real(hyps[k]) and hyps[k] > 0)]
    if bad:
        mf.fail(f"key 'hyps': {', '.join(bad)} (hyperparameters are positive numbers)")
    e0 = mf.key("e0", (dict, None), default=None)
    if e0 is not None:
        try:
            e0 = {int(k): v for k, v in e0.items()}
        except ValueError:
            mf.fail(f"key 'e0' has keys {sorted(e0)}, expected atomic numbers")
        if not all(_real(v) for v in e0.values()):
            mf.fail(f"key 'e0' has values {list(e0.values())}, expected finite energies")
        e0 = {k: float(v) for k, v in e0.items()}
    init = dict(cutoffs=cutoffs, species=species, hyps=dict(hyps), reference_energies=e0,
                energy_labels=mf.key("energy_labels", bool), stress_labels=mf.key("stress_labels", bool),
                maxiter=mf.count("maxiter", 20), opt_tol=mf.number("opt_tol", 1e-4, positive=True),
                opt_rtol=mf.number("opt_rtol", 1e-6, positive=True),
                optimize_first=mf.count("optimize_first", 0),
                optimize_every=mf.count("optimize_every", 0))
    return {"init": init, "species": list(species), "hyps": {k: float(v) for k, v in hyps.items()}, "e0": e0,
            "n_updates": mf.count("n_updates", 0),
            "log_likelihood": mf.number("log_likelihood", None, none=True)}


def _labels_text(kind):
    parts = [(int(np.sum(kind == 0)), "force components"), (int(np.sum(kind == 1)), "energies"),
             (int(np.sum(kind == 2)), "stress components")]
    parts = [f"{n} {w}" for n, w in parts if n]
    if len(parts) == 1:
        return parts[0]
    return f"{len(kind)} labels ({', '.join(parts) or 'none'})"


def check_gp_arrays(mf, model):
    """The solution arrays of a saved Gaussian process, checked against its
    training set (rebuilt from the file as ``model._y`` and the label kinds).

    Shapes and finite values of ``L``, ``alpha``, ``y``, ``K2``, ``K3`` and
    ``K_ls``; then consistency: ``y`` are the training labels, the
    diagonals of ``K2``/``K3`` are the kernel of the saved frames (cutoffs,
    length scales, positions), ``L`` is the Cholesky factor of the
    covariance at the saved hyperparameters up to diagonal jitter (two
    random probes) and ``alpha`` solves it for ``y`` (each O(n^2) at most).

    Returns
    -------
    L, alpha, K2, K3, K_ls
    """
    kind = model._noise_kind
    n = len(kind)
    why = f"the training set has {_labels_text(kind)}"
    L = mf.array("L", (n, n), why=why)
    alpha = mf.array("alpha", (n,), why=why)
    y = mf.array("y", (n,), why=why)
    K2 = mf.array("K2", (n, n), why=why)
    K3 = mf.array("K3", (n, n), why=why)
    K_ls = mf.array("K_ls", (2,))
    h = model.hyps_
    if not np.allclose(y, model._y, rtol=1e-9, atol=1e-12):
        mf.fail("array 'y' differs from the labels of the saved training frames", npz=True)
    if n == 0:
        return L, alpha, K2, K3, K_ls
    if np.any(np.triu(L, 1) != 0) or not np.all(np.diag(L) > 0):
        mf.fail("array 'L' is not a lower Cholesky factor (upper entries or a non-positive diagonal)", npz=True)
    if (K_ls[0], K_ls[1]) != (h["ls2"], h["ls3"]):
        mf.fail(f"array 'K_ls' {K_ls.tolist()} is not the length scales (ls2, ls3) = ({h['ls2']}, {h['ls3']}) "
                f"of 'hyps' in {mf.json_path.name}", npz=True)
    d2, d3 = self_kernel_diag(model._blocks, h["ls2"], h["ls3"], model.use2, model.use3)
    if not (np.allclose(np.diag(K2), d2, rtol=1e-6, atol=1e-12) and np.allclose(np.diag(K3), d3, rtol=1e-6,
                                                                                  atol=1e-12)):
        mf.fail(f"arrays 'K2', 'K3' are not the kernel of the saved training frames at the cutoffs "
                f"{model.cutoffs} and length scales of {mf.json_path.name} (settings or frames edited?)", npz=True)
    noise = model._noise(kind, model._noise_scale)
    # two random sign probes: L L^T V - K_y V = D V with D >= 0 diagonal,
    # the jitter robust_cholesky may have added (at most 1e-4 of a mean
    # diagonal, so of the largest); anything else is rounding (~n eps)
    V = np.random.default_rng(0).choice([-1.0, 1.0], size=(n, 2))
    R = L @ (L.T @ V) - (h["sigma2"] ** 2 * (K2 @ V) + h["sigma3"] ** 2 * (K3 @ V) + noise[:, None] * V)
    D = R * V
    top = float(np.max(h["sigma2"] ** 2 * np.diag(K2) + h["sigma3"] ** 2 * np.diag(K3) + noise))
    tiny = 1e-9 * top
    if not (np.abs(D[:, 0] - D[:, 1]).max() <= tiny and D.min() >= -tiny and D.max() <= 1.01e-4 * top + tiny):
        mf.fail("arrays 'L', 'K2', 'K3' and the hyperparameters in "
                f"{mf.json_path.name} do not fit together (L L^T is not the covariance)", npz=True)
    r = L @ (L.T @ alpha) - y
    if not np.linalg.norm(r) <= 1e-8 * (np.sum(L * L) * np.linalg.norm(alpha) + np.linalg.norm(y)):
        mf.fail("array 'alpha' does not solve (L L^T) alpha = y", npz=True)
    return L, alpha, K2, K3, K_ls
