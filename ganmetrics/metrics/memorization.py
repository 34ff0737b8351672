"""Per-sample neighbour analysis of generated samples: nearest real neighbours, authenticity, realism, coverage
misses, and the C_T data-copying test.

Everything here streams over the samples in ``chunk_size x chunk_size`` distance blocks, as
``ganmetrics.metrics.prdc`` does (whose k-NN radius code and distance blocks are reused): no ``n x m`` matrix is
held, memory is ``O(chunk_size**2 + (n + m) * k)`` besides the inputs. Distances are Euclidean, float64, from
``ganmetrics.metrics.transport.cost_matrix`` (identical points at distance exactly 0).

Definitions, with real samples :math:`x_i` (``n``), generated samples :math:`y_j` (``m``), and :math:`r_k(x_i)`
the distance from :math:`x_i` to its k-th nearest real neighbour, itself excluded (prdc's convention):

- *Nearest real neighbours* of :math:`y_j`: the ``k`` real samples closest to it, ascending, with distances.
- *Authenticity* (Alaa et al. 2022, "How Faithful is your Synthetic Data? Sample-level Metrics for Evaluating
  and Auditing Generative Models", ICML, Sec. 3.3): with :math:`i^*(j)` the real sample nearest to
  :math:`y_j`, the sample is *unauthentic* (a likely copy) when it is at least as close to :math:`x_{i^*}` as
  :math:`x_{i^*}`'s own nearest real neighbour, :math:`\\|y_j - x_{i^*}\\| \\le r_1(x_{i^*})`. The
  unauthentic fraction is the share of such :math:`y_j`; ``100 * (1 - unauthentic_fraction)`` is dgm-eval's
  ``authpct`` (which counts a sample authentic when :math:`r_1(x_{i^*}) < \\|y_j - x_{i^*}\\|`).
- *Realism score* (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
  Models", NeurIPS, Sec. 5, eq. (3)): :math:`R(y_j) = \\max_i r_k(x_i) / \\|y_j - x_i\\|` over the real
  samples whose radius is at most the median radius (the authors prune the half of the hyperspheres with the
  largest radii, ``clamp_to_percentile=50``). As the authors' code, the division is regularised with
  ``eps = 1e-5`` added to the squared distance: :math:`R(y_j) = \\max_i \\sqrt{r_k(x_i)^2 / (\\|y_j - x_i\\|^2
  + \\epsilon)}` -- the square root of the value their code returns (it works in squared distances), so the
  ranking is theirs and an exact copy gets a finite score. ``R >= 1`` means inside some real hypersphere.
- *Coverage misses* (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models", ICML,
  eq. (2)): the real samples whose k'-NN ball holds no generated sample,
  :math:`\\min_j \\|x_i - y_j\\| \\ge r_{k'}(x_i)`; coverage is one minus their share.
- *C_T* (Meehan, Chaudhuri & Dasgupta 2020, "A Non-Parametric Test to Detect Data-Copying in Generative
  Models", AISTATS, Sec. 3, eq. (2)-(4)), see ``data_copying_test``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int, check_same_dims
from ganmetrics.metrics.prdc import _nearest_neighbour_distances
from ganmetrics.metrics.transport import cost_matrix

# The authors' regulariser of the realism score, in squared-distance units (Kynkäänniemi et al., realism_score).
REALISM_EPS = 1e-5
# Lloyd iterations of the k-means partition of the C_T test (it stops earlier when no assignment changes).
KMEANS_MAX_ITER = 100


@dataclass(frozen=True)
class SampleNeighbours:
    """Per-sample neighbour quantities of generated samples against real ones (numpy arrays, float64/int64).

    ``fake_to_real_distances`` and ``fake_to_real_indices``: ``(m, k)``, each generated sample's ``k`` nearest
    real samples, nearest first. ``real_nn_distance``: ``(n,)``, each real sample's distance to its nearest
    other real sample, :math:`r_1`. ``realism``: ``(m,)`` realism scores. ``real_to_fake_distance``: ``(n,)``,
    each real sample's distance to its nearest generated sample. ``coverage_radius``: ``(n,)``,
    :math:`r_{k'}(x_i)`. See the module docstring for the definitions and papers.
    """

    fake_to_real_distances: np.ndarray
    fake_to_real_indices: np.ndarray
    real_nn_distance: np.ndarray
    realism: np.ndarray
    real_to_fake_distance: np.ndarray
    coverage_radius: np.ndarray

    @property
    def relative_nn_distance(self) -> np.ndarray:
        """Return ``(m,)``: each generated sample's nearest-real distance over that real sample's own ``r_1``.

        Below 1: closer to its nearest real sample than any other real sample is (Alaa et al.'s unauthentic
        samples are those at or below 1). ``inf`` where that real sample has a duplicate (``r_1 = 0``) and the
        generated sample does not sit on it; ``nan`` never (0/0 is reported as 0: an exact copy of a duplicate).
        """
        nearest = self.fake_to_real_distances[:, 0]
        radius = self.real_nn_distance[self.fake_to_real_indices[:, 0]]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = nearest / radius
        return np.where(nearest == 0, 0.0, ratio)

    @property
    def unauthentic(self) -> np.ndarray:
        """Return ``(m,)`` booleans: :math:`\\|y_j - x_{i^*}\\| \\le r_1(x_{i^*})` (Alaa et al. 2022, Sec. 3.3)."""
        return self.fake_to_real_distances[:, 0] <= self.real_nn_distance[self.fake_to_real_indices[:, 0]]

    @property
    def unauthentic_fraction(self) -> float:
        """Return the share of generated samples that are unauthentic (see ``unauthentic``), in [0, 1]."""
        return float(self.unauthentic.mean())

    @property
    def coverage_misses(self) -> np.ndarray:
        """Return the indices of the real samples no generated sample covers, least covered first.

        A real sample is missed when :math:`\\min_j \\|x_i - y_j\\| \\ge r_{k'}(x_i)` (Naeem et al. 2020 count it
        covered under strict ``<``); the order is by ``real_to_fake_distance / coverage_radius``, descending.
        """
        missed = np.flatnonzero(self.real_to_fake_distance >= self.coverage_radius)
        with np.errstate(divide="ignore"):
            ratio = self.real_to_fake_distance[missed] / self.coverage_radius[missed]
        return missed[np.argsort(-ratio, kind="stable")]

    @property
    def coverage(self) -> float:
        """Return coverage (Naeem et al. 2020, eq. (2)): the share of real samples that are not missed."""
        return 1.0 - len(self.coverage_misses) / len(self.coverage_radius)


def sample_neighbours(
    real: ArrayLike,
    fake: ArrayLike,
    k: int = DEFAULTS["prdc_k"],
    *,
    realism_k: int = DEFAULTS["prdc_k"],
    coverage_k: int = DEFAULTS["prdc_density_k"],
    realism_eps: float = REALISM_EPS,
    chunk_size: int = DEFAULTS["prdc_chunk_size"],
) -> SampleNeighbours:
    """Return the per-sample neighbour quantities of ``fake`` against ``real`` as a ``SampleNeighbours``.

    One pass of ``chunk_size x chunk_size`` blocks over the real samples' own distances (their radii
    :math:`r_1`, :math:`r_{k_R}`, :math:`r_{k'}`, by ``prdc``'s running top-k) and one over generated-by-real
    blocks, which keeps, per generated sample, a running top-``k`` of real distances with indices and the running
    maximum of :math:`\\sqrt{r_{k_R}(x_i)^2 / (\\|y_j - x_i\\|^2 + \\epsilon)}` over the pruned real samples, and
    per real sample the running minimum distance to a generated one. Formulas and papers: module docstring.

    Parameters
    ----------
    real, fake:
        ``(n, d)`` and ``(m, d)`` features (numpy or torch, any device; computed on ``real``'s device in
        float64). ``real`` needs more than ``max(k, realism_k, coverage_k)`` rows; ``fake`` at least 1.
    k:
        Nearest real neighbours kept per generated sample, ``>= 1``.
    realism_k:
        Neighbourhood size of the realism score's radii (Kynkäänniemi et al. use 3).
    coverage_k:
        Neighbourhood size of coverage's radii (Naeem et al. use 5).
    realism_eps:
        Added to the squared distance in the realism score (the authors' ``1e-5``), ``> 0``.
    chunk_size:
        Rows (and columns) per distance block; the result does not depend on it (beyond float64 ties).

    Raises
    ------
    TypeError
        An input is not a numeric array/tensor, or an integer option is not an integer.
    ValueError
        An input is not 2-D, holds NaN/Inf or has too few rows; the dimensions differ; an option is out of range.
    """
    k = check_int(k, "k", 1)
    realism_k = check_int(realism_k, "realism_k", 1)
    coverage_k = check_int(coverage_k, "coverage_k", 1)
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    if not (isinstance(realism_eps, (int, float)) and math.isfinite(realism_eps) and realism_eps > 0):
        raise ValueError(f"realism_eps: must be a positive finite number, got {realism_eps!r}")
    x = as_samples(real, "real", min_samples=max(k, realism_k, coverage_k) + 1)
    y = as_samples(fake, "fake", min_samples=1, device=x.device)
    check_same_dims(x, y, ("real", "fake"))

    real_nn = _nearest_neighbour_distances(x, max(realism_k, coverage_k) + 1, chunk_size)
    realism_radius = real_nn[:, realism_k]
    pruned_radius = torch.where(realism_radius <= torch.quantile(realism_radius, 0.5), realism_radius, 0.0)

    m, n = y.shape[0], x.shape[0]
    best_d = torch.empty((m, k), dtype=torch.float64, device=x.device)
    best_i = torch.empty((m, k), dtype=torch.int64, device=x.device)
    realism = torch.zeros(m, dtype=torch.float64, device=x.device)
    nearest_fake = torch.full((n,), torch.inf, dtype=torch.float64, device=x.device)
    for j in range(0, m, chunk_size):
        fakes = slice(j, j + chunk_size)
        rows = y[fakes].shape[0]
        row_d = torch.empty((rows, 0), dtype=torch.float64, device=x.device)
        row_i = torch.empty((rows, 0), dtype=torch.int64, device=x.device)
        for i in range(0, n, chunk_size):
            reals = slice(i, i + chunk_size)
            d = cost_matrix(y[fakes], x[reals], "euclidean")  # (fake rows, real columns)
            columns = torch.arange(i, i + d.shape[1], device=x.device).expand_as(d)
            cand_d, cand_i = torch.cat([row_d, d], dim=1), torch.cat([row_i, columns], dim=1)
            top = cand_d.topk(min(k, cand_d.shape[1]), dim=1, largest=False)
            row_d, row_i = top.values, cand_i.gather(1, top.indices)
            ratio = (pruned_radius[reals].square() / (d.square() + realism_eps)).amax(dim=1)
            realism[fakes] = torch.maximum(realism[fakes], ratio)
            nearest_fake[reals] = torch.minimum(nearest_fake[reals], d.amin(dim=0))
        best_d[fakes], best_i[fakes] = row_d, row_i

    return SampleNeighbours(
        fake_to_real_distances=best_d.cpu().numpy(),
        fake_to_real_indices=best_i.cpu().numpy(),
        real_nn_distance=real_nn[:, 1].cpu().numpy(),
        realism=realism.sqrt().cpu().numpy(),
        real_to_fake_distance=nearest_fake.cpu().numpy(),
        coverage_radius=real_nn[:, coverage_k].cpu().numpy(),
    )


@dataclass(frozen=True)
class DataCopyingResult:
    """The C_T statistic and its parts, per cell (arrays of length ``cells``).

    ``c_t``: the statistic (``<< 0``: data copying; ``>> 0``: under-fitting; under the null each cell's Z is
    about standard normal, so their weighted mean is too or narrower). ``cell_z``: each cell's Z_U (0 for a cell
    without generated samples). ``cell_test_fraction``, ``cell_fake_fraction``: :math:`P_n(\\pi)`,
    :math:`Q_m(\\pi)`. ``included``: the cells of :math:`\\Pi_\\tau` (``Q_m(\\pi) > \\tau``). ``tau``.
    """

    c_t: float
    cell_z: np.ndarray
    cell_test_fraction: np.ndarray
    cell_fake_fraction: np.ndarray
    included: np.ndarray
    tau: float


def _nearest_in_cell(
    query: torch.Tensor, query_cells: torch.Tensor, train: torch.Tensor, train_cells: torch.Tensor, chunk_size: int
) -> torch.Tensor:
    """Return each query row's distance to the nearest training row of its own cell (blocked running min)."""
    nearest = torch.full((query.shape[0],), torch.inf, dtype=torch.float64, device=query.device)
    for j in range(0, query.shape[0], chunk_size):
        rows = slice(j, j + chunk_size)
        for i in range(0, train.shape[0], chunk_size):
            cols = slice(i, i + chunk_size)
            d = cost_matrix(query[rows], train[cols], "euclidean")
            d.masked_fill_(query_cells[rows, None] != train_cells[None, cols], torch.inf)
            nearest[rows] = torch.minimum(nearest[rows], d.amin(dim=1))
    return nearest


def mann_whitney_z(fake_distances: np.ndarray, test_distances: np.ndarray) -> float:
    """Return the Z-scored Mann-Whitney U of generated against test distances (Meehan et al. 2020, eq. (2)).

    .. math:: Z_U = \\frac{U - (m n / 2 - 1/2)}{\\sqrt{m n (m + n + 1) / 12}},\\qquad
              U = \\sum_{a, b} 1[L(q_a) > L(p_b)] + \\tfrac12 1[L(q_a) = L(p_b)]

    over the ``m`` generated distances :math:`L(q_a)` and ``n`` test distances :math:`L(p_b)`: ``U`` is the
    statistic ``scipy.stats.mannwhitneyu(fake, test)`` returns, computed from average ranks, and the ``-1/2`` is
    the authors' continuity correction (``data_copying_tests.Zu``). No tie correction of the variance.
    """
    m, n = len(fake_distances), len(test_distances)
    ranks = rankdata(np.concatenate([fake_distances, test_distances]))
    u = float(ranks[:m].sum()) - m * (m + 1) / 2
    return (u - (m * n / 2 - 0.5)) / math.sqrt(m * n * (m + n + 1) / 12)


def c_t_statistic(
    train: ArrayLike,
    test: ArrayLike,
    fake: ArrayLike,
    train_cells: ArrayLike,
    test_cells: ArrayLike,
    fake_cells: ArrayLike,
    tau: float | None = None,
    *,
    chunk_size: int = DEFAULTS["prdc_chunk_size"],
) -> DataCopyingResult:
    """Return the C_T data-copying statistic of Meehan et al. 2020 (AISTATS, eq. (4)) for given cell labels.

    .. math::

        C_T(P_n, Q_m) = \\frac{\\sum_{\\pi \\in \\Pi_\\tau} P_n(\\pi)\\, Z_U(L_\\pi(P_n), L_\\pi(Q_m))}
                              {\\sum_{\\pi \\in \\Pi_\\tau} P_n(\\pi)},\\qquad
        \\Pi_\\tau = \\{\\pi : Q_m(\\pi) > \\tau\\}

    where :math:`L_\\pi(z)` is the distance from :math:`z` to the nearest training sample in its own cell
    :math:`\\pi`, :math:`Z_U` is ``mann_whitney_z`` of the generated against the held-out test distances of the
    cell, and :math:`P_n(\\pi)`, :math:`Q_m(\\pi)` are the shares of test and generated samples in the cell
    (the authors' ``C_T``, ``Zu_cells``, ``Zu`` in ``data_copying_tests.py``).

    Parameters: ``train`` ``(l, d)`` the training set T the model saw; ``test`` ``(n, d)`` held-out real samples
    P_n of the same distribution; ``fake`` ``(m, d)`` generated samples Q_m; ``*_cells`` integer cell labels
    ``0 .. K-1`` of each set; ``tau`` the least share of generated samples a cell needs (default ``20 / m``, the
    authors'); ``chunk_size`` the distance block.

    Raises ``ValueError`` when a cell has no training or no test sample (use fewer cells), when no cell has more
    than ``tau`` of the generated samples, or on bad arrays, labels or ``tau``.
    """
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    t = as_samples(train, "train", min_samples=1)
    p = as_samples(test, "test", min_samples=1, device=t.device)
    q = as_samples(fake, "fake", min_samples=1, device=t.device)
    check_same_dims(t, p, ("train", "test"))
    check_same_dims(t, q, ("train", "fake"))
    labels = [
        _cell_labels(train_cells, "train_cells", len(t)),
        _cell_labels(test_cells, "test_cells", len(p)),
        _cell_labels(fake_cells, "fake_cells", len(q)),
    ]
    cells = int(max(int(lab.max()) for lab in labels)) + 1
    train_count, test_count, fake_count = (np.bincount(lab, minlength=cells) for lab in labels)
    empty = np.flatnonzero((train_count == 0) | (test_count == 0))
    if len(empty):
        raise ValueError(
            f"cells: cell(s) {', '.join(map(str, empty))} hold no training or no test sample; use fewer cells"
        )
    m = len(q)
    tau = 20 / m if tau is None else tau
    if not (isinstance(tau, (int, float)) and 0 <= tau < 1):
        raise ValueError(f"tau: must lie in [0, 1), got {tau!r}")
    test_fraction, fake_fraction = test_count / len(p), fake_count / m
    included = fake_fraction > tau
    if not included.any():
        raise ValueError(f"tau: no cell holds more than tau = {tau:g} of the {m} generated samples")

    device_labels = [torch.from_numpy(lab).to(t.device) for lab in labels]
    test_l = _nearest_in_cell(p, device_labels[1], t, device_labels[0], chunk_size).cpu().numpy()
    fake_l = _nearest_in_cell(q, device_labels[2], t, device_labels[0], chunk_size).cpu().numpy()
    cell_z = np.zeros(cells)
    for cell in np.flatnonzero(fake_count > 0):
        cell_z[cell] = mann_whitney_z(fake_l[labels[2] == cell], test_l[labels[1] == cell])
    weights = test_fraction[included]
    return DataCopyingResult(
        c_t=float(weights @ cell_z[included] / weights.sum()),
        cell_z=cell_z,
        cell_test_fraction=test_fraction,
        cell_fake_fraction=fake_fraction,
        included=included,
        tau=float(tau),
    )


def _cell_labels(cells: ArrayLike, name: str, rows: int) -> np.ndarray:
    """Return cell labels as a non-negative int64 numpy vector of length ``rows``; raise naming ``name``."""
    labels = cells.detach().cpu().numpy() if isinstance(cells, torch.Tensor) else np.asarray(cells)
    if labels.ndim != 1 or len(labels) != rows:
        raise ValueError(f"{name}: expected {rows} labels in a 1-D vector, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or (len(labels) and labels.min() < 0):
        raise ValueError(f"{name}: labels must be non-negative integers, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def kmeans_cells(
    train: ArrayLike, cells: int, seed: int = DEFAULTS["seed"], *, chunk_size: int = DEFAULTS["prdc_chunk_size"]
) -> torch.Tensor:
    """Return ``(cells, d)`` float64 k-means centres of ``train``: k-means++ seeding, then Lloyd iterations.

    k-means++ (Arthur & Vassilvitskii 2007): the first centre a uniformly drawn row, each next one drawn with
    probability proportional to the squared distance to the nearest chosen centre, from a CPU
    ``torch.Generator`` seeded with ``seed``. Lloyd's iterations (at most ``KMEANS_MAX_ITER``, until no
    assignment changes) assign each row to its nearest centre (ties to the lowest index) and move each centre
    to the mean of its rows; an emptied centre keeps its place. Assign new points with ``nearest_centre``.

    Raises ``ValueError`` when ``train`` has fewer rows than ``cells``, ``cells < 1`` or ``seed < 0``.
    """
    cells = check_int(cells, "cells", 1)
    x = as_samples(train, "train", min_samples=cells)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", 0))
    first = int(torch.randint(x.shape[0], (1,), generator=generator))
    centres = x[first : first + 1]
    nearest_sq = cost_matrix(x, centres, "sqeuclidean")[:, 0]
    for _ in range(1, cells):
        total = float(nearest_sq.sum())
        if total == 0:  # fewer distinct rows than cells: repeat a centre (its cell stays empty)
            pick = first
        else:
            pick = int(torch.multinomial((nearest_sq / total).cpu(), 1, generator=generator))
        centres = torch.cat([centres, x[pick : pick + 1]])
        nearest_sq = torch.minimum(nearest_sq, cost_matrix(x, x[pick : pick + 1], "sqeuclidean")[:, 0])
    assignment = nearest_centre(x, centres, chunk_size=chunk_size)
    for _ in range(KMEANS_MAX_ITER):
        sums = torch.zeros_like(centres).index_add_(0, assignment, x)
        counts = torch.bincount(assignment, minlength=cells)
        occupied = counts > 0
        centres = centres.clone()
        centres[occupied] = sums[occupied] / counts[occupied, None]
        updated = nearest_centre(x, centres, chunk_size=chunk_size)
        if torch.equal(updated, assignment):
            break
        assignment = updated
    return centres


def nearest_centre(
    points: ArrayLike, centres: ArrayLike, *, chunk_size: int = DEFAULTS["prdc_chunk_size"]
) -> torch.Tensor:
    """Return the int64 index of each row's nearest centre (Euclidean; ties to the lowest index), in blocks."""
    x = as_samples(points, "points", min_samples=1)
    c = as_samples(centres, "centres", min_samples=1, device=x.device)
    check_same_dims(x, c, ("points", "centres"))
    return torch.cat(
        [cost_matrix(x[i : i + chunk_size], c, "sqeuclidean").argmin(dim=1) for i in range(0, x.shape[0], chunk_size)]
    )


def data_copying_test(
    train: ArrayLike,
    test: ArrayLike,
    fake: ArrayLike,
    cells: int = DEFAULTS["ct_cells"],
    tau: float | None = None,
    seed: int = DEFAULTS["seed"],
    *,
    chunk_size: int = DEFAULTS["prdc_chunk_size"],
) -> DataCopyingResult:
    """Return the C_T data-copying test (Meehan et al. 2020) on a k-means partition of the training set.

    The cells are the Voronoi cells of ``kmeans_cells(train, cells, seed)`` (k-means on the training set, as in
    the paper's experiments and dgm-eval's ``compute_CTscore``, which uses 3 cells); every set is assigned to its
    nearest centre and ``c_t_statistic`` is computed on those labels (see there for the formula). ``C_T << 0``
    (e.g. below -3) says the generated samples lie closer to the training set than held-out real samples do:
    data copying; an independent sample of the same distribution gives about N(0, 1).

    Raises what ``kmeans_cells`` and ``c_t_statistic`` raise.
    """
    t = as_samples(train, "train", min_samples=1)
    centres = kmeans_cells(t, cells, seed, chunk_size=chunk_size)
    train_cells, test_cells, fake_cells = (nearest_centre(z, centres, chunk_size=chunk_size) for z in (t, test, fake))
    return c_t_statistic(t, test, fake, train_cells, test_cells, fake_cells, tau=tau, chunk_size=chunk_size)
