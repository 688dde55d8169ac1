"""Phase checks: does a frame set labelled with a phase have that phase?

A frame's *solid fraction* is :func:`alff.analysis.order.solid_fraction`:
the fraction of atoms whose Lechner-Dellago averaged q6 exceeds 0.40, with
the neighbour cutoff between the first and second coordination shells of a
**reference crystal** (the start structure the frames were run from). The
cutoff is derived from the reference itself, not from a table:

1. per atom, the distances to its 17 nearest neighbours, averaged over the
   atoms: a profile ``r_1 <= ... <= r_17``;
2. the coordination number ``c`` (4 to 16) is where the profile jumps the
   most (``max r_{c+1} / r_c``, which must exceed 1.1: a crystal has shells);
3. the cutoff is ``(r_c + r_{c+1}) / 2``, scaled to each frame's number
   density by ``(n_ref / n_frame)^(1/3)``.

Supported crystals (where q6 > 0.40 separates the crystal from its melt):

=============  ===  ==========================  =========================
crystal        c    cutoff / nearest distance   q6 (perfect)
=============  ===  ==========================  =========================
fcc            12   1.207                       0.575
hcp (ideal)    12   1.207                       0.485
bcc            14   1.394 (8 + 6 neighbours)    0.511
=============  ===  ==========================  =========================

Every other crystal is **not checked** (never a verdict): diamond (c = 4:
four neighbours give q6 ~ 0.5 even for random directions, so a liquid or an
amorphous network would pass as solid; q3-based order parameters are needed),
simple cubic (c = 6), any reference without a clear shell structure, a
reference with q6 <= 0.40, a cell that is not periodic in 3D (slabs), and
any frame whose cell is narrower than twice the cutoff in some direction (the
neighbour shell then holds periodic images of the same atoms, which impose
the cell's order on any liquid: q6 does not measure the phase).

A frame set's verdict, from the mean solid fraction ``f`` of its frames:
``solid`` (``f > 0.8``), ``liquid`` (``f < 0.2``), else ``mixed``. The
expected phase comes from the phase label (``explore.schedule[k].phase``),
case-insensitive: a label starting with ``solid`` or ``crystal`` expects
``solid``, one starting with ``liquid`` or ``melt`` expects ``liquid``; any
other label (``hot_solid``, ``surface_300K``, ``default``) is not checked. A
check's ``status`` is ``ok`` (the verdict is the expected phase),
``mismatch`` (it is not, ``mixed`` included) or ``not checked`` (with the
reason).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..neighbors import neighbor_list
from .order import solid_fraction, steinhardt_q

__all__ = ["PhaseReference", "expected_phase", "frame_verdict", "classify_frames", "classify_atoms",
           "check_fractions", "segment_checks",
           "SOLID_ABOVE", "LIQUID_BELOW", "OK", "MISMATCH", "NOT_CHECKED"]

#: mean solid fraction above which a frame set is solid, below which liquid
SOLID_ABOVE, LIQUID_BELOW = 0.8, 0.2
#: statuses of a check
OK, MISMATCH, NOT_CHECKED = "ok", "mismatch", "not checked"
#: q6 threshold of :func:`solid_fraction` (a reference crystal must exceed it)
Q6_THRESHOLD = 0.40
#: the smallest relative jump of the distance profile that counts as a shell gap
MIN_SHELL_GAP = 1.1
#: coordination numbers (first-shell neighbours) the classifier is calibrated for
SUPPORTED = {12: "close-packed (fcc/hcp)", 14: "bcc"}
_PREFIXES = {"solid": "solid", "crystal": "solid", "liquid": "liquid", "melt": "liquid"}
_N_PROFILE = 17
#: no dense 3D crystal has fewer first-shell neighbours (diamond has 4)
_MIN_COORDINATION = 4


def expected_phase(label):
    """The phase a label claims: ``'solid'``, ``'liquid'`` or None (not checked).

    Parameters
    ----------
    label : str
        A phase label (``explore.schedule[k].phase``).
    """
    name = str(label).strip().lower()
    return next((v for k, v in _PREFIXES.items() if name.startswith(k)), None)


def frame_verdict(mean_solid_fraction):
    """``'solid'``, ``'liquid'`` or ``'mixed'`` for a mean solid fraction."""
    f = float(mean_solid_fraction)
    return "solid" if f > SOLID_ABOVE else ("liquid" if f < LIQUID_BELOW else "mixed")


def _density(atoms):
    return len(atoms) / abs(atoms.cell.volume)


def _distance_profile(atoms, n=_N_PROFILE):
    """Mean over atoms of the distance to the k-th nearest neighbour,
    k = 1..n: (n,) array, or None when an atom has fewer than n neighbours
    within 2.1 (V/N)^(1/3)."""
    spacing = (abs(atoms.cell.volume) / len(atoms)) ** (1.0 / 3.0)
    i, _, _, d, _ = neighbor_list(atoms.positions, atoms.cell[:], atoms.pbc, 2.1 * spacing)
    counts = np.bincount(i, minlength=len(atoms))
    if counts.min() < n:
        return None
    order = np.lexsort((d, i))
    d, starts = d[order], np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.mean([d[s:s + n] for s in starts], axis=0)


def _widths(cell):
    """Perpendicular widths of a cell: (3,) array (A)."""
    c = np.asarray(cell, float)
    vol = abs(np.linalg.det(c))
    return np.array([vol / np.linalg.norm(np.cross(c[(k + 1) % 3], c[(k + 2) % 3])) for k in range(3)])


@dataclass(frozen=True)
class PhaseReference:
    """The crystal a frame set is compared with, and its q6 cutoff.

    Attributes
    ----------
    crystal : str
        ``fcc``, ``hcp``, ``close-packed`` (12 neighbours, q6 between the
        two), ``bcc`` or a description of an unsupported one.
    coordination : int
        First-shell neighbours (0: no shell structure found).
    cutoff : float
        q6 neighbour cutoff at the reference's density (A).
    density : float
        Atoms per A^3 of the reference.
    q6 : float
        Mean q6 of the reference with that cutoff.
    reason : str
        Why frames are not checked against it ('' when supported).
    """

    crystal: str
    coordination: int
    cutoff: float
    density: float
    q6: float
    reason: str = ""

    @property
    def supported(self):
        return not self.reason

    @classmethod
    def from_structure(cls, atoms):
        """Identify the crystal of a reference structure (perfect or
        thermally displaced) and derive its cutoff; see the module docstring.

        Parameters
        ----------
        atoms : ase.Atoms
            The reference (the start structure of the frames).
        """
        if not np.all(atoms.pbc):
            return cls("non-periodic", 0, np.nan, np.nan, np.nan,
                       "the structure is not periodic in 3D (a slab or cluster): no bulk phase to classify")
        r = _distance_profile(atoms)
        if r is None:
            return cls("unknown", 0, np.nan, _density(atoms), np.nan,
                       f"the reference has atoms with fewer than {_N_PROFILE} neighbours: not a dense bulk crystal")
        gaps = r[1:] / r[:-1]
        c = int(np.argmax(gaps[_MIN_COORDINATION - 1:])) + _MIN_COORDINATION
        density = _density(atoms)
        if gaps[c - 1] < MIN_SHELL_GAP:
            return cls("disordered", 0, np.nan, density, np.nan,
                       f"the reference has no coordination shell (largest distance jump {gaps[c - 1]:.3f} "
                       f"< {MIN_SHELL_GAP}): it is not a crystal")
        cutoff = 0.5 * (r[c - 1] + r[c])
        q6 = float(np.mean(steinhardt_q(atoms, cutoff)))
        if c not in SUPPORTED:
            return cls(f"{c}-fold coordinated", c, cutoff, density, q6,
                       f"the reference crystal is {c}-fold coordinated (diamond 4, simple cubic 6); the q6 > "
                       f"{Q6_THRESHOLD} criterion is calibrated only for fcc/hcp (12) and bcc (8 + 6)")
        if q6 <= Q6_THRESHOLD:
            return cls(f"{SUPPORTED[c]} with q6 {q6:.3f}", c, cutoff, density, q6,
                       f"the reference's own q6 ({q6:.3f}) is not above {Q6_THRESHOLD}")
        crystal = "bcc" if c == 14 else ("fcc" if q6 >= 0.55 else ("hcp" if q6 <= 0.50 else "close-packed"))
        return cls(crystal, c, float(cutoff), float(density), q6)

    def cutoff_for(self, atoms):
        """The cutoff scaled to a frame's number density (A)."""
        return float(self.cutoff * (self.density / _density(atoms)) ** (1.0 / 3.0))

    def frame_reason(self, atoms):
        """Why a frame cannot be classified against this reference ('' if it can)."""
        if not self.supported:
            return self.reason
        if not np.all(atoms.pbc):
            return "the frame is not periodic in 3D"
        rc = self.cutoff_for(atoms)
        w = _widths(atoms.cell[:])
        if w.min() < 2.0 * rc:
            return (f"the cell is too small to hold a phase: width {w.min():.2f} A < 2 x the q6 cutoff "
                    f"{rc:.2f} A ({len(atoms)} atoms; neighbours would be periodic images of the same atoms)")
        return ""

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in ("crystal", "coordination", "cutoff", "density", "q6", "reason")})


def classify_atoms(atoms, reference):
    """Solid fraction of one frame against a reference, or NaN with the
    reason when it cannot be classified.

    Returns
    -------
    fraction : float
    reason : str
    """
    why = reference.frame_reason(atoms)
    if why:
        return np.nan, why
    return solid_fraction(atoms, reference.cutoff_for(atoms), threshold=Q6_THRESHOLD)[0], ""


def check_fractions(fractions, reasons, label):
    """The verdict on a frame set from its frames' solid fractions.

    Parameters
    ----------
    fractions : (n,) float array-like
        Solid fraction per frame (NaN where not classified).
    reasons : (n,) list of str
        Why a frame was not classified ('' where it was).
    label : str
        The phase label the frames carry.

    Returns
    -------
    dict
        JSON-able: ``phase`` (the label), ``expected`` (``solid``,
        ``liquid`` or None), ``status`` (``ok``, ``mismatch``, ``not
        checked``), ``verdict`` (``solid``, ``liquid``, ``mixed`` or None),
        ``mean_solid_fraction``, ``solid_fraction`` (per frame, None where
        not classified), ``n_frames``, ``reason`` (of ``not checked``) and
        the thresholds.
    """
    f = np.asarray(fractions, float).reshape(-1)
    out = {"phase": str(label), "expected": expected_phase(label), "status": NOT_CHECKED, "verdict": None,
           "mean_solid_fraction": None, "solid_fraction": [None if np.isnan(x) else float(x) for x in f],
           "n_frames": len(f), "reason": "", "solid_above": SOLID_ABOVE, "liquid_below": LIQUID_BELOW}
    bad = [r for r in reasons if r]
    if out["expected"] is None:
        out["reason"] = (f"the phase label '{label}' claims no phase (only labels starting with "
                         "solid/crystal or liquid/melt are checked)")
    elif not len(f):
        out["reason"] = "no frames"
    elif bad or np.isnan(f).any():
        out["reason"] = bad[0] if bad else "a frame was not classified"
    else:
        verdict = frame_verdict(f.mean())
        out.update(mean_solid_fraction=float(f.mean()), verdict=verdict,
                   status=OK if verdict == out["expected"] else MISMATCH)
    return out


def classify_frames(frames, reference, label):
    """Classify a frame set that carries a phase label.

    Parameters
    ----------
    frames : list of ase.Atoms
    reference : PhaseReference
    label : str
        The phase label the frames carry.

    Returns
    -------
    dict
        :func:`check_fractions`' record with the reference's ``crystal``,
        ``coordination`` and ``cutoff`` (A, at the reference density).
    """
    if expected_phase(label) is None or not frames:
        fractions, reasons = np.full(len(frames), np.nan), [""] * len(frames)
    else:
        fractions, reasons = zip(*(classify_atoms(f, reference) for f in frames))
    return dict(check_fractions(fractions, reasons, label), **_reference_fields(reference))


def _reference_fields(reference):
    return {"crystal": reference.crystal, "coordination": reference.coordination,
            "cutoff": None if np.isnan(reference.cutoff) else float(reference.cutoff)}


def segment_checks(rows):
    """Verdicts on explored segments from per-frame rows.

    Parameters
    ----------
    rows : list of dict
        One per checked frame: ``trajectory``, ``segment`` (index in the
        schedule), ``phase``, ``step``, ``temperature_K`` (the segment's),
        ``solid_fraction`` (None where not classified), ``reason``,
        ``crystal``, ``cutoff``. A (trajectory, segment, step) seen twice
        (a resumed exploration) counts once.

    Returns
    -------
    list of dict
        Per (trajectory, segment), in order of appearance:
        :func:`check_fractions`' record with ``trajectory``, ``segment``,
        ``steps``, ``temperature_K``, ``crystal`` and ``cutoff``.
    """
    groups = {}
    for r in rows:
        groups.setdefault((r["trajectory"], int(r["segment"])), {})[int(r["step"])] = r
    out = []
    for (trajectory, k), by_step in groups.items():
        rs = [by_step[s] for s in sorted(by_step)]
        f = [np.nan if r["solid_fraction"] is None else float(r["solid_fraction"]) for r in rs]
        rec = check_fractions(f, [r.get("reason", "") for r in rs], rs[0]["phase"])
        out.append(dict(rec, trajectory=trajectory, segment=k, steps=sorted(by_step),
                        temperature_K=float(rs[0]["temperature_K"]), crystal=rs[0].get("crystal"),
                        cutoff=rs[0].get("cutoff")))
    return out
