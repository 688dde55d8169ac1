"""The MLIP package's file formats: ``.mtp`` potentials and ``.cfg``
configurations (MLIP-2 and MLIP-3, non-magnetic).

``.mtp``: ``key = value`` lines; the radial basis section
(``radial_basis_type = RBChebyshev`` with ``min_dist``, ``max_dist``,
``radial_basis_size``, ``radial_funcs_count``; MLIP-3's ``min``, ``max``,
``size`` are read too) and, for a trained potential, ``radial_coeffs``: a
``t1-t2`` line per species pair followed by ``radial_funcs_count`` lines of
``radial_basis_size`` numbers in braces. Lists are in braces:
``alpha_index_basic = {{0, 0, 0, 0}, ...}``.

``.cfg``: ``BEGIN_CFG`` ... ``END_CFG`` blocks with ``Size``,
``Supercell`` (lattice vectors as rows; absent for a molecule),
``AtomData: id type cartes_x cartes_y cartes_z [fx fy fz]`` (types are
0-based indices into the potential's species), ``Energy``,
``PlusStress: xx yy zz yz xz xy`` (minus the stress times the volume, eV)
and ``Feature name value`` lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["read_mtp_file", "write_mtp_file", "read_cfg", "write_cfg", "MLIPFileError"]


class MLIPFileError(ValueError):
    """A ``.mtp`` or ``.cfg`` file that cannot be read: names the file and
    the line."""


_INT_KEYS = {"species_count", "radial_basis_size", "radial_funcs_count", "alpha_moments_count",
             "alpha_index_basic_count", "alpha_index_times_count", "alpha_scalar_moments", "size"}
_FLOAT_KEYS = {"scaling", "min_dist", "max_dist", "min", "max"}
_ALIASES = {"min": "min_dist", "max": "max_dist", "size": "radial_basis_size"}


def _braced(text, path, lineno):
    """Numbers of a braced (possibly nested) list, flat."""
    body = text.replace("{", " ").replace("}", " ").replace(",", " ").split()
    try:
        return [float(x) for x in body]
    except ValueError as err:
        raise MLIPFileError(f"{path}:{lineno}: cannot read the list {text[:60]!r}: {err}") from None


def read_mtp_file(path):
    """Fields of an ``.mtp`` file.

    Returns
    -------
    dict
        ``species_count``, ``min_dist``, ``max_dist``, ``radial_basis_size``,
        ``radial_funcs_count``, ``scaling`` (1 when absent),
        ``radial_coeffs`` (n_species, n_species, n_radial, size) or None
        (untrained), ``alpha_index_basic`` (B, 4), ``alpha_index_times``
        (T, 4), ``alpha_moment_mapping`` (S,), ``alpha_moments_count``,
        ``species_coeffs`` (n_species,) or None, ``moment_coeffs`` (S,) or
        None, and the text fields (``version``, ``potential_name``,
        ``potential_tag``, ``radial_basis_type``).
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise MLIPFileError(f"{path}: cannot read: {err}") from None
    if not lines or lines[0].strip() != "MTP":
        raise MLIPFileError(f"{path}: not an MLIP .mtp file (the first line is not 'MTP')")
    out = {"scaling": 1.0, "radial_coeffs": None, "species_coeffs": None, "moment_coeffs": None}
    k = 1
    while k < len(lines):
        line = lines[k].strip()
        k += 1
        if not line:
            continue
        if line == "radial_coeffs":
            need = [key for key in ("species_count", "radial_funcs_count", "radial_basis_size") if key not in out]
            if need:
                raise MLIPFileError(f"{path}:{k}: radial_coeffs before {', '.join(need)}")
            ns, nr, size = out["species_count"], out["radial_funcs_count"], out["radial_basis_size"]
            coeffs = np.zeros((ns, ns, nr, size))
            for _ in range(ns * ns):
                if k >= len(lines):
                    raise MLIPFileError(f"{path}: radial_coeffs end early")
                m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", lines[k].strip())
                if not m:
                    raise MLIPFileError(f"{path}:{k + 1}: expected a species pair 't1-t2', got {lines[k].strip()!r}")
                a, b = int(m.group(1)), int(m.group(2))
                if a >= ns or b >= ns:
                    raise MLIPFileError(f"{path}:{k + 1}: species pair {a}-{b} with species_count = {ns}")
                k += 1
                for mu in range(nr):
                    vals = _braced(lines[k], path, k + 1) if k < len(lines) else []
                    if len(vals) != size:
                        raise MLIPFileError(f"{path}:{k + 1}: radial_coeffs {a}-{b} mu={mu} has {len(vals)} "
                                            f"numbers, radial_basis_size = {size}")
                    coeffs[a, b, mu] = vals
                    k += 1
            out["radial_coeffs"] = coeffs
            continue
        if "=" not in line:
            raise MLIPFileError(f"{path}:{k}: cannot read {line[:60]!r}")
        key, value = (x.strip() for x in line.split("=", 1))
        key = _ALIASES.get(key, key)
        try:
            if key in _INT_KEYS or key in {"radial_basis_size"}:
                out[key] = int(value)
            elif key in _FLOAT_KEYS or key in {"min_dist", "max_dist"}:
                out[key] = float(value)
            elif key in {"alpha_index_basic", "alpha_index_times"}:
                vals = _braced(value, path, k)
                out[key] = np.array(vals, np.int64).reshape(-1, 4)
            elif key == "alpha_moment_mapping":
                out[key] = np.array(_braced(value, path, k), np.int64)
            elif key in {"species_coeffs", "moment_coeffs"}:
                out[key] = np.array(_braced(value, path, k), float)
            else:
                out[key] = value
        except (ValueError, TypeError) as err:
            if isinstance(err, MLIPFileError):
                raise
            raise MLIPFileError(f"{path}:{k}: bad value of {key}: {value[:60]!r}") from None
    for key in ("species_count", "min_dist", "max_dist", "radial_basis_size", "radial_funcs_count",
                "alpha_moments_count", "alpha_index_basic", "alpha_moment_mapping"):
        if key not in out:
            raise MLIPFileError(f"{path}: no {key}")
    out.setdefault("alpha_index_times", np.zeros((0, 4), np.int64))
    rb = out.get("radial_basis_type", "RBChebyshev")
    if rb != "RBChebyshev":
        raise MLIPFileError(f"{path}: radial_basis_type {rb!r}: only RBChebyshev is supported")
    checks = [("alpha_index_basic_count", len(out["alpha_index_basic"])),
              ("alpha_index_times_count", len(out["alpha_index_times"])),
              ("alpha_scalar_moments", len(out["alpha_moment_mapping"]))]
    for key, n in checks:
        if key in out and out[key] != n:
            raise MLIPFileError(f"{path}: {key} = {out[key]} but the list has {n} entries")
    if out["moment_coeffs"] is not None and len(out["moment_coeffs"]) != len(out["alpha_moment_mapping"]):
        raise MLIPFileError(f"{path}: {len(out['moment_coeffs'])} moment_coeffs for "
                            f"{len(out['alpha_moment_mapping'])} alpha_scalar_moments")
    if out["species_coeffs"] is not None and len(out["species_coeffs"]) != out["species_count"]:
        raise MLIPFileError(f"{path}: {len(out['species_coeffs'])} species_coeffs for species_count = "
                            f"{out['species_count']}")
    return out


def _fmt(x):
    """17 significant digits: a float read back is bitwise the same."""
    return f"{x:.16e}"


def _list(values, fmt=_fmt):
    return "{" + ", ".join(fmt(v) for v in values) + "}"


def write_mtp_file(path, fields):
    """Write an ``.mtp`` file (MLIP-2 layout) from the fields of
    :func:`read_mtp_file` (coefficients may be None for an untrained
    potential)."""
    f = fields
    ns = int(f["species_count"])
    out = ["MTP", f"version = {f.get('version', '1.1.0')}", f"potential_name = {f.get('potential_name', 'MTP1m')}"]
    if f.get("scaling", 1.0) != 1.0:
        out.append(f"scaling = {_fmt(f['scaling'])}")
    out += [f"species_count = {ns}", f"potential_tag = {f.get('potential_tag', '')}",
            "radial_basis_type = RBChebyshev",
            f"\tmin_dist = {_fmt(f['min_dist'])}", f"\tmax_dist = {_fmt(f['max_dist'])}",
            f"\tradial_basis_size = {int(f['radial_basis_size'])}",
            f"\tradial_funcs_count = {int(f['radial_funcs_count'])}"]
    if f.get("radial_coeffs") is not None:
        out.append("\tradial_coeffs")
        for a in range(ns):
            for b in range(ns):
                out.append(f"\t\t{a}-{b}")
                for row in f["radial_coeffs"][a, b]:
                    out.append("\t\t\t" + _list(row))
    basic = np.asarray(f["alpha_index_basic"], int).reshape(-1, 4)
    times = np.asarray(f["alpha_index_times"], int).reshape(-1, 4)
    mapping = np.asarray(f["alpha_moment_mapping"], int)
    ints = lambda rows: "{" + ", ".join("{" + ", ".join(str(int(v)) for v in r) + "}" for r in rows) + "}"  # noqa: E731
    out += [f"alpha_moments_count = {int(f['alpha_moments_count'])}",
            f"alpha_index_basic_count = {len(basic)}", f"alpha_index_basic = {ints(basic)}",
            f"alpha_index_times_count = {len(times)}", f"alpha_index_times = {ints(times)}",
            f"alpha_scalar_moments = {len(mapping)}", f"alpha_moment_mapping = {_list(mapping, str)}"]
    if f.get("species_coeffs") is not None:
        out.append(f"species_coeffs = {_list(f['species_coeffs'])}")
    if f.get("moment_coeffs") is not None:
        out.append(f"moment_coeffs = {_list(f['moment_coeffs'])}")
    Path(path).write_text("\n".join(out) + "\n")


def read_cfg(path, species):
    """Configurations of a ``.cfg`` file as ASE Atoms.

    Parameters
    ----------
    path : str or Path
    species : sequence of str
        Chemical symbols in MLIP's type order (type k is ``species[k]``).

    Returns
    -------
    list of ase.Atoms
        With a SinglePointCalculator holding energy, forces and stress
        (ASE's sign: ``stress = -PlusStress / volume``) where the file has
        them, and ``info['mlip_features']`` (dict) for ``Feature`` lines.
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    path = Path(path)
    species = list(species)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise MLIPFileError(f"{path}: cannot read: {err}") from None
    frames, k = [], 0

    def fail(msg):
        raise MLIPFileError(f"{path}:{k}: {msg}")

    while k < len(lines):
        line = lines[k].strip()
        k += 1
        if not line:
            continue
        if line != "BEGIN_CFG":
            fail(f"expected BEGIN_CFG, got {line[:60]!r}")
        n, cell, atoms_rows, cols, energy, plus, feats = None, None, None, None, None, None, {}
        while True:
            if k >= len(lines):
                fail("the file ends inside a configuration (no END_CFG)")
            line = lines[k].strip()
            k += 1
            if line == "END_CFG":
                break
            if not line:
                continue
            if line.startswith("Size"):
                n = int(lines[k].split()[0])
                k += 1
            elif line.startswith("Supercell"):
                cell = []
                while k < len(lines) and re.match(r"^\s*[-+0-9.]", lines[k]):
                    cell.append([float(x) for x in lines[k].split()])
                    k += 1
            elif line.startswith("AtomData:"):
                cols = line.split(":", 1)[1].split()
                if n is None:
                    fail("AtomData before Size")
                atoms_rows = []
                for _ in range(n):
                    if k >= len(lines):
                        fail("the file ends inside AtomData")
                    atoms_rows.append(lines[k].split())
                    k += 1
            elif line.startswith("Energy"):
                energy = float(lines[k].split()[0])
                k += 1
            elif line.startswith("PlusStress:"):
                names = line.split(":", 1)[1].split() or ["xx", "yy", "zz", "yz", "xz", "xy"]
                vals = dict(zip(names, (float(x) for x in lines[k].split())))
                try:
                    plus = [vals[c] for c in ("xx", "yy", "zz", "yz", "xz", "xy")]
                except KeyError as err:
                    fail(f"PlusStress has no {err} component")
                k += 1
            elif line.startswith("Feature"):
                parts = line.split(None, 2)
                if len(parts) >= 2:
                    feats[parts[1]] = parts[2] if len(parts) > 2 else ""
            else:
                fail(f"cannot read {line[:60]!r}")
        if atoms_rows is None:
            fail("a configuration without AtomData")
        col = {c: m for m, c in enumerate(cols)}
        for c in ("type", "cartes_x", "cartes_y", "cartes_z"):
            if c not in col:
                fail(f"AtomData has no {c} column (it has {cols})")
        arr = np.array(atoms_rows, dtype=float)
        types = arr[:, col["type"]].astype(int)
        if types.min() < 0 or types.max() >= len(species):
            fail(f"type {types.max()} but only {len(species)} species given ({species})")
        pos = arr[:, [col["cartes_x"], col["cartes_y"], col["cartes_z"]]]
        symbols = [species[t] for t in types]
        if cell:
            atoms = Atoms(symbols, positions=pos, cell=np.array(cell), pbc=[True] * len(cell) + [False] * (3 - len(cell)))
        else:
            atoms = Atoms(symbols, positions=pos)
        results = {}
        if energy is not None:
            results["energy"] = energy
        if all(c in col for c in ("fx", "fy", "fz")):
            results["forces"] = arr[:, [col["fx"], col["fy"], col["fz"]]]
        if plus is not None and atoms.pbc.all():
            xx, yy, zz, yz, xz, xy = plus
            results["stress"] = -np.array([xx, yy, zz, yz, xz, xy]) / atoms.get_volume()
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        if feats:
            atoms.info["mlip_features"] = feats
        frames.append(atoms)
    return frames


def write_cfg(path, frames, species):
    """Write ASE Atoms (with energy, forces, stress where present) as a
    ``.cfg`` file; ``species`` gives MLIP's type order."""
    species = list(species)
    out = []
    for n_frame, atoms in enumerate(frames):
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
        if unknown:
            raise ValueError(f"frame {n_frame}: species {unknown} not in {species}")
        types = [species.index(s) for s in atoms.get_chemical_symbols()]
        calc = atoms.calc
        res = getattr(calc, "results", {}) if calc is not None else {}
        out += ["BEGIN_CFG", " Size", f"    {len(atoms)}"]
        if atoms.pbc.any():
            out.append(" Supercell")
            for k in range(3):
                if atoms.pbc[k]:
                    out.append("    " + " ".join(f"{x:.10f}" for x in atoms.cell[k]))
        forces = res.get("forces")
        cols = "id type cartes_x cartes_y cartes_z" + (" fx fy fz" if forces is not None else "")
        out.append(f" AtomData: {cols}")
        for a in range(len(atoms)):
            row = f"    {a + 1} {types[a]} " + " ".join(f"{x:.10f}" for x in atoms.positions[a])
            if forces is not None:
                row += " " + " ".join(f"{x:.10f}" for x in forces[a])
            out.append(row)
        if "energy" in res:
            out += [" Energy", f"    {res['energy']:.12f}"]
        if "stress" in res and atoms.pbc.all():
            s = np.asarray(res["stress"], float)
            if s.shape == (3, 3):
                s = s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            plus = -s * atoms.get_volume()
            out += [" PlusStress: xx yy zz yz xz xy", "    " + " ".join(f"{x:.10f}" for x in plus)]
        for name, value in atoms.info.get("mlip_features", {}).items():
            out.append(f" Feature {name} {value}")
        out.append("END_CFG")
        out.append("")
    Path(path).write_text("\n".join(out) + "\n")
