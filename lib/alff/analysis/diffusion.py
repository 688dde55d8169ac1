"""Mean squared displacements and diffusion coefficients."""

from __future__ import annotations

import numpy as np

__all__ = ["unwrap_positions", "mean_squared_displacement", "diffusion_coefficient", "nearest_sites", "site_jumps"]


def unwrap_positions(positions, cells):
    """Continuous trajectories from positions wrapped into the cell.

    Successive frames are joined by the minimum-image displacement, so atoms
    must move less than half a cell between frames.

    Parameters
    ----------
    positions : (T, N, 3) Cartesian positions
    cells : (T, 3, 3) or (3, 3) cell(s)

    Returns
    -------
    (T, N, 3) unwrapped positions
    """
    x = np.asarray(positions, float)
    cells = np.broadcast_to(np.asarray(cells, float), (len(x), 3, 3))
    ds = np.einsum("tni,tij->tnj", x[1:] - x[:-1], np.linalg.inv(cells[1:]))
    ds -= np.round(ds)
    steps = np.einsum("tni,tij->tnj", ds, cells[1:])
    return np.concatenate([x[:1], x[:1] + np.cumsum(steps, axis=0)])


def mean_squared_displacement(unwrapped, max_lag=None, atoms=None):
    """MSD averaged over atoms and time origins.

    Parameters
    ----------
    unwrapped : (T, N, 3)
    max_lag : int, optional
        Largest lag in frames (default T // 2).
    atoms : array of int or bool, optional
        The atoms to average over.

    Returns
    -------
    (max_lag + 1,) MSD in A^2 at lags 0..max_lag
    """
    x = np.asarray(unwrapped, float)
    if atoms is not None:
        x = x[:, atoms]
    T = len(x)
    max_lag = T // 2 if max_lag is None else int(max_lag)
    if not 0 < max_lag < T:
        raise ValueError(f"max_lag must be in 1..{T - 1}, got {max_lag}")
    # MSD(m) = <x(t+m)^2> + <x(t)^2> - 2 <x(t+m) x(t)> over the T - m origins,
    # the cross term by FFT: O(T log T) per coordinate instead of O(T^2)
    d2 = np.sum(x * x, axis=2)  # (T, N)
    csum = np.concatenate([[0.0], np.cumsum(d2.sum(axis=1))])
    m = np.arange(max_lag + 1)
    s1 = csum[T - m] + (csum[T] - csum[m])  # sum over t < T-m of |x(t)|^2 + |x(t+m)|^2
    n = 1 << int(np.ceil(np.log2(2 * T)))
    f = np.fft.rfft(x, n=n, axis=0)
    corr = np.fft.irfft((f * f.conj()).real.sum(axis=(1, 2)) + 0j, n=n)[:max_lag + 1]
    counts = (T - np.arange(max_lag + 1)) * x.shape[1]
    msd = (s1 - 2.0 * corr) / counts
    msd[0] = 0.0
    return np.maximum(msd, 0.0)


def diffusion_coefficient(unwrapped, dt_ps, fit=(0.2, 0.8), n_blocks=5, atoms=None):
    """Diffusion coefficient from the MSD slope, with a block error bar.

    ``D = slope / 6`` of the MSD over the lag window ``fit`` (fractions of
    the largest lag). The error bar is the standard error of the D of
    ``n_blocks`` consecutive blocks of the trajectory.

    Parameters
    ----------
    unwrapped : (T, N, 3)
    dt_ps : float
        Time between frames (ps).
    fit : (float, float)
    n_blocks : int
    atoms : optional atom selection

    Returns
    -------
    D, D_err : float
        In A^2/ps (1 A^2/ps = 1e-8 m^2/s).
    """
    x = np.asarray(unwrapped, float)

    def slope(seg):
        msd = mean_squared_displacement(seg, atoms=atoms)
        lags = np.arange(len(msd))
        lo, hi = int(fit[0] * (len(msd) - 1)), int(fit[1] * (len(msd) - 1))
        lo, hi = max(lo, 1), max(hi, lo + 2)
        return np.polyfit(lags[lo:hi + 1] * dt_ps, msd[lo:hi + 1], 1)[0] / 6.0

    D = slope(x)
    T = len(x)
    size = T // n_blocks
    if n_blocks < 2 or size < 8:
        return float(D), float("nan")
    Ds = [slope(x[b * size:(b + 1) * size]) for b in range(n_blocks)]
    return float(D), float(np.std(Ds, ddof=1) / np.sqrt(n_blocks))


def nearest_sites(positions, sites, cell):
    """The lattice site nearest to each atom in each frame (minimum image).

    Parameters
    ----------
    positions : (T, N, 3) Cartesian positions
    sites : (M, 3) Cartesian lattice sites of the ideal crystal
    cell : (3, 3) the (fixed) cell

    Returns
    -------
    (T, N) int, index of the nearest site
    """
    x = np.asarray(positions, float)
    cell = np.asarray(cell, float)
    inv = np.linalg.inv(cell)
    fs = np.asarray(sites, float) @ inv  # (M, 3)
    out = np.empty(x.shape[:2], dtype=np.int64)
    for t in range(len(x)):
        ds = (x[t] @ inv)[:, None, :] - fs[None, :, :]  # (N, M, 3)
        ds -= np.round(ds)
        d2 = np.sum((ds @ cell) ** 2, axis=2)
        out[t] = np.argmin(d2, axis=1)
    return out


def site_jumps(positions, sites, cell):
    """Number of jumps between lattice sites along a trajectory.

    An atom jumps when its nearest lattice site changes from one frame to
    the next; in a cell with one vacancy each vacancy jump moves one atom,
    so this counts vacancy jumps (a jump there and straight back counts
    twice: both crossings happened). Frames must be closer in time than a
    jump's duration is short, i.e. every few tens of MD steps.

    Parameters
    ----------
    positions : (T, N, 3)
    sites : (M, 3)
    cell : (3, 3)

    Returns
    -------
    int
    """
    k = nearest_sites(positions, sites, cell)
    return int(np.count_nonzero(k[1:] != k[:-1]))
