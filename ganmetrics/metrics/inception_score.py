"""The Inception Score of a set of classifier logits (Salimans et al. 2016).

Reproduces the split convention of the original TensorFlow code and of torch-fidelity
(``torch_fidelity.metric_isc.isc_features_to_metric`` with ``shuffle=False``).
"""

from __future__ import annotations

import math

import torch

from ganmetrics.defaults import DEFAULTS
from ganmetrics.metrics._arrays import ArrayLike, as_samples, check_int


def inception_score(logits: ArrayLike, splits: int = DEFAULTS["is_splits"]) -> tuple[float, float]:
    r"""Return the Inception Score ``(mean, std)`` over ``splits`` contiguous chunks of ``logits``.

    For each chunk :math:`C` (Salimans et al. 2016, "Improved Techniques for Training GANs", Sec. 4),

    .. math::

        \mathrm{IS}_C = \exp\Big( \frac{1}{|C|} \sum_{i \in C}
            \mathrm{KL}\big(p(y \mid x_i) \,\|\, p_C(y)\big) \Big),
        \qquad p_C(y) = \frac{1}{|C|} \sum_{i \in C} p(y \mid x_i),

    where :math:`p(y \mid x_i)` is the softmax of row ``i`` of ``logits``. The returned mean and standard
    deviation are taken over the ``splits`` chunk scores, the standard deviation with ``ddof = 0``
    (as ``np.std`` in the original code and in torch-fidelity).

    Estimator choices: chunk ``k`` holds rows ``k*N//splits`` up to (excluding) ``(k+1)*N//splits``, in input
    order (no shuffling); the log-softmax and :math:`\log p_C(y)` (a log-sum-exp) are computed in float64.

    Parameters
    ----------
    logits:
        ``(N, K)`` numpy array or torch tensor of unnormalised class scores (the Inception logits), on any
        device; the computation runs on that device.
    splits:
        Number of chunks, ``1 <= splits <= N``.

    Raises
    ------
    TypeError
        ``logits`` is not a numeric array or tensor, or ``splits`` is not an integer (any ``numbers.Integral``,
        not a bool).
    ValueError
        ``logits`` is not 2-D, is empty or holds NaN/Inf; ``splits`` is outside ``[1, N]``.
    """
    log_p = as_samples(logits, "logits", min_samples=1)
    n = log_p.shape[0]
    splits = check_int(splits, "splits", 1)
    if splits > n:
        raise ValueError(f"splits: must be between 1 and the number of logits rows ({n}), got {splits}")
    log_p = torch.log_softmax(log_p, dim=1)
    p = log_p.exp()
    scores = []
    for k in range(splits):
        lo, hi = k * n // splits, (k + 1) * n // splits
        log_marginal = torch.logsumexp(log_p[lo:hi], dim=0) - math.log(hi - lo)
        mean_kl = (p[lo:hi] * (log_p[lo:hi] - log_marginal)).sum(dim=1).mean()
        scores.append(mean_kl.exp())
    scores_t = torch.stack(scores)
    return float(scores_t.mean()), float(scores_t.std(correction=0))
