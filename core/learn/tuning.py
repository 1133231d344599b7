"""Tuning, on a real sweep's trials: one numeric parameter of its search space as a 1-D slice,
the trials' (x, objective) points, what a grid of N points and seeded random search would try,
and a Gaussian-process surrogate fitted to the trials (scikit-learn's GaussianProcessRegressor,
Matern ν = 5/2 plus white noise, on log x where the parameter is log-scaled) with its mean, ±2σ
band and the Expected Improvement acquisition over a grid of x; the next point EI picks marked. Beside it
TPE, Optuna's default Bayesian sampler, computed on the same slice: the trials split at Optuna's γ into
good and bad, a Parzen density (truncated Gaussian kernels, Scott's bandwidth) over each, and l/g over
the grid with its largest value marked.

The sweep is the ``sweep`` knob's (an id or name), else the newest finished sweep in the
workbench's store (the one the page and ``lmwb`` read from ``$LMWB_STORE`` / ``$LMWB_HOME``).
Checks: μ and σ by hand from the fitted kernel against ``predict(return_std=True)``; EI by hand
(erf) against statistics.NormalDist; each trial's objective against its run's metric rows in the store;
each TPE density integrates to 1 over the range (trapezoids), its kernels and the argmax of l/g against
scipy.stats.truncnorm, Scott's bandwidth against scipy.stats.gaussian_kde's.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import replace
from statistics import NormalDist
from typing import Any

import numpy as np

from core.config import section_params
from core.errors import ConfigError, WorkbenchError
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough, check
from core.metrics import metric_label
from core.params import Param
from core.store import Store, SweepRecord

FORMULA = (r"k(r)=c\left(1+\frac{\sqrt{5}r}{l}+\frac{5r^2}{3l^2}\right)e^{-\sqrt{5}r/l}+\sigma_n^2[r=0],\quad "
           r"\mu(x)=k_*^\top K^{-1}y,\quad \sigma^2(x)=k(x,x)-k_*^\top K^{-1}k_*,\quad "
           r"\mathrm{EI}(x)=d\,\Phi\left(\frac{d}{\sigma}\right)+\sigma\,\phi\left(\frac{d}{\sigma}\right),\ d=\mu(x)-f^*,"
           r"\quad \mathrm{TPE}:\ x_{\mathrm{next}}=\arg\max_x\,\frac{l(x)}{g(x)}")
CURVE = 31  # points of x the surrogate is evaluated at
ALPHA = 1e-10  # sklearn's jitter on K's diagonal, stated so the hand computation adds it too
FINISHED = ("completed", "stopped")
INTEGRAL = 2001  # points of the trapezoid rule that checks each TPE density integrates to 1
INTEGRAL_TOLERANCE = 1e-3


def walkthrough(trained: Any, text: str, *, sweep: str = "", param: str = "", points: int = 5,
                seed: int = 0) -> Walkthrough:
    """Grid, random and GP-based search on ``param`` of ``sweep``'s trials; ``text``: values of x
    to ask the surrogate about. ``trained`` is unused (the chapter reads a sweep, not a run)."""
    from optuna.trial import TrialState  # Optuna and sklearn: only when the chapter is computed

    from core.sweep import SweepSpec, load_study  # Optuna and pandas, as above

    store = Store()
    record = _sweep(store, sweep)
    spec = SweepSpec.from_dict(record.spec)
    dims = [d for d in spec.search_space().dims if _numeric(d)]
    if not dims:
        raise ConfigError("sweep", record.name, "a sweep with a numeric parameter in its space",
                          reason=f"{record.name} sweeps only {', '.join(spec.space)}")
    dim = next((d for d in dims if d.key == param.strip()), None) if param.strip() else dims[0]
    if dim is None:
        raise ConfigError("param", param, "one of " + ", ".join(d.key for d in dims),
                          reason=f"not a numeric parameter of sweep {record.name}")
    declared = _declared(spec.base, dim.key)
    log = dim.log if dim.choices is None else bool(declared and declared.log and min(dim.choices) > 0)
    bounds = (dim.low, dim.high) if dim.choices is None else (min(dim.choices), max(dim.choices))
    lo, hi = float(bounds[0] or 0.0), float(bounds[1] or 0.0)  # a range always has both
    name, goal = (declared.title if declared else dim.key), metric_label(spec.metric)
    maximize = spec.direction == "maximize"
    trials = [t for t in load_study(store, record).get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if dim.key in t.params and t.value is not None]
    if not trials:
        raise WorkbenchError(f"sweep {record.name} has no complete trial with {dim.key} yet: let it run, "
                             "or pick another sweep")
    xs = np.array([float(t.params[dim.key]) for t in trials])
    ys = np.array([t.value for t in trials], dtype=float)
    notes = [f"Sweep {record.name} ({record.id}, {spec.method}, {record.status}): {len(trials)} complete trials; "
             f"x = {dim.key} ({dim.describe()}), objective: {spec.direction} {goal}.",
             "Optuna's default Bayesian sampler (the workbench's 'tpe' method) is TPE, not a GP: it splits the "
             "finished trials into the best γ share and the rest, fits a Parzen (kernel) density l(x) to the good "
             "ones and g(x) to the others, and tries the x with the largest l(x)/g(x) (computed below). The 'gp' "
             "method is Optuna's GPSampler: a Matern-5/2 GP like the one below, with log EI as its acquisition."]
    if len(spec.space) > 1:
        notes.append(f"The sweep also varies {', '.join(k for k in spec.space if k != dim.key)}: this slice "
                     "projects every trial onto x, and the white-noise term absorbs what the others change.")
    steps = [Step(f"The trials: x = {name}, y = {goal}", np.stack([xs, ys], axis=1),
                  tuple(f"trial {t.number}" for t in trials), ("x", "y"), decimals=5,
                  note=f"Best so far f* = {(ys.max() if maximize else ys.min()):.5g} ({spec.direction}).")]
    checks = [_stored(store, trials, spec.metric, maximize)]
    grid = (list(dim.choices) if dim.choices is not None else
            replace(dim, points=points, step=None).grid_values())  # the engine's own grid, N points
    rng = np.random.default_rng(seed)  # a list of values: drawn among them, as Optuna draws a categorical
    drawn = (rng.choice(np.array(dim.choices, dtype=float), points) if dim.choices is not None else
             (np.exp if log else np.asarray)(rng.uniform(_t(lo, log), _t(hi, log), points)))
    drawn = np.round(drawn) if dim.kind == "int" else drawn
    n = max(len(grid), points)
    table = np.full((n, 2), np.nan)
    table[: len(grid), 0], table[:points, 1] = grid, drawn
    how = ("every listed value; random: draws among them" if dim.choices is not None else
           ("evenly spaced on log x (geometric)" if log else "evenly spaced") + " from low to high; random: "
           "uniform draws" + (" of log x" if log else ""))
    steps.append(Step(f"What a grid of {len(grid)} and random search with {points} draws would try", table,
                      tuple(str(i + 1) for i in range(n)), ("grid", "random"), decimals=6,
                      note=f"Grid: {how} (seed {seed}). Neither looks at the results: the next trial is the same "
                           "whatever the last ones scored."))
    if dim.choices is None and len(trials) >= 2:
        tpe_steps, tpe_checks = _tpe(xs, ys, [t.number for t in trials], lo, hi, log, maximize, goal, notes)
    else:
        tpe_steps, tpe_checks = [], []
        notes.append("TPE is not computed here: " + ("Optuna treats a list of values as categories, and TPE then "
                     "counts good and bad trials per value instead of fitting densities over x." if dim.choices
                     is not None else "it needs at least two trials, one good and one bad."))
    if len(trials) < 3:
        notes.append(f"{len(trials)} complete trial{'s' if len(trials) > 1 else ''}: too few to fit a surrogate "
                     "(its noise and length scale need at least 3). Let the sweep run more trials.")
        return Walkthrough("tuning", FORMULA, _symbols(name, goal, log), steps + tpe_steps, checks + tpe_checks,
                           notes)
    gp_steps, gp_checks = _surrogate(xs, ys, lo, hi, log, maximize, text, notes)
    return Walkthrough("tuning", FORMULA, _symbols(name, goal, log), steps + gp_steps + tpe_steps,
                       checks + gp_checks + tpe_checks, notes)


def good_trials(n: int) -> int:
    """How many of ``n`` finished trials TPE calls good: Optuna's default gamma, min(⌈0.1 n⌉, 25)."""
    return min(math.ceil(0.1 * n), 25)


def bandwidth(points: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """The kernels' width h over ``points`` (on the range [low, high]) and Scott's rule's value (nan for
    fewer than two distinct points): Scott's σ̂ m^(-1/5), at least (high - low) / min(100, 1 + m), the
    floor Optuna's "magic clip" puts on its own bandwidths so one trial is not a spike."""
    m = len(points)
    scott = float(np.std(points, ddof=1) * m ** -0.2) if m >= 2 else math.nan
    floor = (high - low) / min(100, 1 + m)
    return (scott if np.isfinite(scott) and scott > floor else floor), scott


def parzen(t: np.ndarray, points: np.ndarray, h: float, low: float, high: float) -> np.ndarray:
    """The Parzen density at ``t``: the mean of Gaussian kernels of width ``h`` on ``points``, each cut to
    [low, high] and rescaled so it (and so the density) integrates to 1 over the range."""
    erf = np.vectorize(math.erf)
    mass = 0.5 * (erf((high - points) / (h * math.sqrt(2))) - erf((low - points) / (h * math.sqrt(2))))
    kernels = np.exp(-0.5 * ((t[:, None] - points[None, :]) / h) ** 2) / (h * math.sqrt(2 * math.pi)) / mass
    return np.asarray(kernels.mean(axis=1))


def _tpe(xs: np.ndarray, ys: np.ndarray, numbers: list[int], lo: float, hi: float, log: bool, maximize: bool,
         goal: str, notes: list[str]) -> tuple[list[Step], list[Check]]:
    from scipy.stats import gaussian_kde, truncnorm  # type: ignore[import-untyped]  # only when computed

    n = len(xs)
    n_good = good_trials(n)
    order = np.argsort(-ys if maximize else ys, kind="stable")
    good = np.zeros(n, dtype=bool)
    good[order[:n_good]] = True
    t, a, b = (np.log(xs) if log else xs), _t(lo, log), _t(hi, log)
    on = "log x" if log else "x"
    curve = np.geomspace(lo, hi, CURVE) if log else np.linspace(lo, hi, CURVE)
    grid = np.log(curve) if log else curve
    groups = {"l": t[good], "g": t[~good]}
    widths = {k: bandwidth(p, a, b) for k, p in groups.items()}
    dens = {k: parzen(grid, p, widths[k][0], a, b) for k, p in groups.items()}
    ratio = dens["l"] / np.maximum(dens["g"], 1e-300)
    pick = int(np.argmax(ratio))
    fine = np.linspace(a, b, INTEGRAL)
    checks = []
    for k, p in groups.items():
        h = widths[k][0]
        f = parzen(fine, p, h, a, b)
        area = float(((f[1:] + f[:-1]) / 2 * np.diff(fine)).sum())
        checks.append(check(f"{k}(x) integrates to 1 over the range of {on} ({INTEGRAL} trapezoids)", np.array(area),
                            np.array(1.0), INTEGRAL_TOLERANCE))
        other = np.mean([truncnorm.pdf(grid, (a - c) / h, (b - c) / h, loc=c, scale=h) for c in p], axis=0)
        checks.append(check(f"{k}(x) by hand against the mean of scipy.stats.truncnorm kernels", dens[k], other, 1e-9))
        if np.isfinite(widths[k][1]):
            kde = gaussian_kde(p)  # bw_method "scott": the data's covariance times n^(-2/5)
            checks.append(check(f"Scott's bandwidth of {k} against scipy.stats.gaussian_kde's",
                                np.array(widths[k][1]), np.array(math.sqrt(float(kde.covariance[0, 0]))), 1e-9))
    independent = np.mean([truncnorm.pdf(grid, (a - c) / widths["l"][0], (b - c) / widths["l"][0], loc=c,
                                         scale=widths["l"][0]) for c in groups["l"]], axis=0) / np.mean(
        [truncnorm.pdf(grid, (a - c) / widths["g"][0], (b - c) / widths["g"][0], loc=c, scale=widths["g"][0])
         for c in groups["g"]], axis=0)
    checks.append(check("the x of the largest l/g against the argmax of scipy.stats.truncnorm's ratio",
                        np.array(float(curve[pick])), np.array(float(curve[int(np.argmax(independent))])), 0))
    said = {k: (f"h = {h:.4g}" + (" (Scott's rule)" if h == scott else f" (the floor; Scott's rule gives {scott:.4g})"
                                   if np.isfinite(scott) else " (the floor: Scott's rule needs two points)"))
            for k, (h, scott) in widths.items()}
    notes.append(f"TPE, simplified: γ = Optuna's default, min(⌈0.1 n⌉, 25) = {n_good} good trial"
                 f"{'s' if n_good > 1 else ''} of {n}; Gaussian kernels on {on}, cut to the range and rescaled, of "
                 f"width h = Scott's rule σ̂ m^(-1/5) but at least (range)/min(100, 1 + m) (Optuna's 'magic clip'; "
                 f"Optuna's own widths come from the gaps between neighbouring trials, and it adds a prior kernel and "
                 f"weights): l: {said['l']}, g: {said['g']}. Optuna draws 24 candidates from l and keeps the best "
                 "l/g; here l/g is read over the whole grid.")
    rows = tuple(f"{v:.4g}" for v in curve)
    sorted_rows = tuple(f"trial {numbers[i]}" for i in order)
    steps = [
        Step(f"TPE: the trials split at γ (best {n_good} of {n} good)",
             np.stack([xs[order], ys[order], good[order].astype(float)], axis=1), sorted_rows,
             ("x", "y", "good"), decimals=5, mark=n_good - 1,
             tex=r"\text{good}=\text{the best }\min(\mathrm{ceil}(0.1\,n),\,25)\text{ trials}",
             note=f"Best first ({'largest' if maximize else 'smallest'} {goal}); ◀: the last good trial. "
                  "l(x) is fitted to the good ones, g(x) to the rest."),
        Step("TPE: the Parzen densities l(x) (good) and g(x) (bad), and l/g",
             np.stack([curve, dens["l"], dens["g"], ratio], axis=1), rows, ("x", "l(x)", "g(x)", "l(x)/g(x)"),
             decimals=5, mark=pick, tex=r"l(x)=\frac{1}{m}\sum_{i\in\text{good}}K_h(x-x_i),\quad "
             r"g(x)=\frac{1}{n-m}\sum_{i\in\text{bad}}K_h(x-x_i)",
             note=f"Densities per unit of {on}; each integrates to 1 over the range. Where l is high and g low, "
                  "good trials are dense and bad ones rare."),
        Step("TPE's acquisition: l(x)/g(x) over x", np.stack([curve, ratio], axis=1), rows, ("x", "l(x)/g(x)"),
             curve=True, mark=pick, decimals=5, tex=r"x_{\mathrm{next}}=\arg\max_x\,\frac{l(x)}{g(x)}",
             note=f"TPE would try x = {curve[pick]:.4g} next (the largest l/g; maximising it maximises Expected "
                  "Improvement under TPE's model). Compare the GP's EI pick above."),
    ]
    return steps, checks


def _surrogate(xs: np.ndarray, ys: np.ndarray, lo: float, hi: float, log: bool, maximize: bool, text: str,
               notes: list[str]) -> tuple[list[Step], list[Check]]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    def u(x: np.ndarray) -> np.ndarray:  # x to [0, 1] over the range, on log x where log-scaled
        return ((np.log(x) if log else x) - _t(lo, log)) / (_t(hi, log) - _t(lo, log))

    kernel = (ConstantKernel(1.0, (1e-2, 1e2)) * Matern(0.3, (0.05, 10.0), nu=2.5)
              + WhiteKernel(1e-2, (1e-6, 1.0)))
    gp = GaussianProcessRegressor(kernel, alpha=ALPHA, normalize_y=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a bound reached on a few points: still a fit
        gp.fit(u(xs)[:, None], ys)
    c, ell = float(gp.kernel_.k1.k1.constant_value), float(gp.kernel_.k1.k2.length_scale)
    noise = float(gp.kernel_.k2.noise_level)
    # Grid of x over the range, plus the values of x the learner typed.
    curve = np.geomspace(lo, hi, CURVE) if log else np.linspace(lo, hi, CURVE)
    asked = [v for v in _numbers(text) if not log or v > 0]
    if not _numbers(text):
        notes.append("Your input has no number: type values of x (e.g. 0.001 0.01) to see μ, σ and EI there.")
    elif len(asked) < len(_numbers(text)):
        notes.append("Values of x at or below 0 are left out: this parameter is searched on log x.")
    grid = np.concatenate([curve, asked])
    mean_y, std_y = float(ys.mean()), float(ys.std()) or 1.0  # normalize_y: y standardised, as sklearn does

    def matern(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        r = np.abs(a[:, None] - b[None, :]) * math.sqrt(5) / ell
        return c * (1 + r + r**2 / 3) * np.exp(-r)

    train = u(xs)
    big_k = matern(train, train) + (noise + ALPHA) * np.eye(len(xs))
    k_star = matern(u(grid), train)
    solved = np.linalg.solve(big_k, np.stack([(ys - mean_y) / std_y, *k_star], axis=1))
    mu = mean_y + std_y * (k_star @ solved[:, 0])
    var = c + noise - np.einsum("ij,ji->i", k_star, solved[:, 1:])
    sigma = std_y * np.sqrt(np.maximum(var, 0.0))
    own_mu, own_sigma = gp.predict(u(grid)[:, None], return_std=True)
    best = float(ys.max() if maximize else ys.min())
    d = (mu - best) if maximize else (best - mu)
    z = d / np.maximum(sigma, 1e-12)
    erf = np.vectorize(math.erf)
    ei = d * 0.5 * (1 + erf(z / math.sqrt(2))) + sigma * np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
    normal = NormalDist()  # the standard library's normal: a second, independent Φ and φ
    ei_other = d * np.array([normal.cdf(v) for v in z]) + sigma * np.array([normal.pdf(v) for v in z])
    pick = int(np.argmax(ei[:CURVE]))
    checks = [check("μ(x) by hand from the fitted kernel against sklearn's predict", mu, own_mu, 1e-6),
              check("σ(x) by hand against sklearn's predict(return_std=True)", sigma, own_sigma, 1e-6),
              check("EI by hand (erf) against the formula with statistics.NormalDist's cdf and pdf", ei, ei_other, 1e-9)]
    notes.append(f"Fitted by maximum likelihood: c = {c:.4g}, l = {ell:.4g} (in units of the range of "
                 f"{'log x' if log else 'x'}), σ_n² = {noise:.3g} (on y standardised: mean {mean_y:.4g}, "
                 f"standard deviation {std_y:.4g}).")
    rows = tuple(f"{v:.4g}" for v in curve)
    band = np.stack([mu[:CURVE], sigma[:CURVE], mu[:CURVE] - 2 * sigma[:CURVE],
                     mu[:CURVE] + 2 * sigma[:CURVE], ei[:CURVE]], axis=1)
    steps = [
        Step("The surrogate over x: mean, ±2σ band and Expected Improvement", band, rows,
             ("μ(x)", "σ(x)", "μ - 2σ", "μ + 2σ", "EI(x)"), decimals=5, mark=pick,
             tex=r"\mu(x)-2\sigma(x)\ \text{to}\ \mu(x)+2\sigma(x)", note="Near a trial σ shrinks to the noise; between and beyond the "
             "trials it grows: that is where the surrogate is unsure."),
        Step("The acquisition: Expected Improvement over x", np.stack([curve, ei[:CURVE]], axis=1), rows,
             ("x", "EI(x)"), curve=True, mark=pick, decimals=6,
             tex=r"\mathrm{EI}(x)=\mathrm{E}[\max(0,f(x)-f^*)]",
             note=f"EI weighs a good mean (exploitation) against a wide σ (exploration); the next trial would "
                  f"be x = {curve[pick]:.4g}, the largest EI."),
    ]
    if asked:
        steps.append(Step("Your values of x", np.stack([mu, sigma, ei], axis=1)[CURVE:], tuple(f"{v:g}" for v in asked),
                          ("μ(x)", "σ(x)", "EI(x)"), decimals=5,
                          note=f"The range searched is [{lo:g}, {hi:g}]; outside it the surrogate only extrapolates."))
    return steps, checks


def _stored(store: Store, trials: list[Any], metric: str, maximize: bool) -> Check:
    """Each trial's objective (Optuna's value: its run's best validation score) against the metric
    rows its run logged in the store."""
    stored = []
    for t in trials:
        rows = store.metrics(t.user_attrs.get("run_id", ""), names=metric, split="val")["value"].dropna()
        stored.append((rows.max() if maximize else rows.min()) if len(rows) else math.nan)
    return check(f"each trial's objective against the best validation {metric_label(metric)} its run logged "
                 "in the store", np.array([t.value for t in trials]), np.array(stored), 1e-9)


def _sweep(store: Store, ref: str) -> SweepRecord:
    if ref.strip():
        try:
            return store.get_sweep(ref.strip())
        except WorkbenchError as exc:
            raise ConfigError("sweep", ref, "the id or name of a sweep in the store", reason=str(exc)) from None
    found = store.list_sweeps(status=FINISHED)
    if not found:
        raise WorkbenchError("no finished sweep in the store: run one on the Sweeps page (a few trials of the "
                             "Quick preset will do), or name a running one with the sweep knob")
    return found[0]


def _numeric(dim: Any) -> bool:
    if dim.choices is None:
        return dim.kind in ("int", "float")
    return len(dim.choices) > 1 and all(isinstance(c, int | float) and not isinstance(c, bool) for c in dim.choices)


def _declared(base: dict[str, Any], key: str) -> Param | None:
    """The parameter's declaration (its title, whether it is searched on a log scale)."""
    section, name = key.split(".", 1)
    component = None if section == "training" else base.get(section, {}).get("name")
    try:
        return next((p for p in section_params(section, component) if p.name == name), None)
    except (ConfigError, KeyError):  # a component swept away from the base's: no single declaration
        return None


def _t(x: float, log: bool) -> float:
    return math.log(x) if log else float(x)


def _numbers(text: str) -> list[float]:
    """The numbers in ``text``, in order (words that are not numbers are skipped)."""
    words = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text)
    return [float(w) for w in words]


def _symbols(name: str, goal: str, log: bool) -> tuple[Symbol, ...]:
    return (
        Symbol("x", f"the parameter's value ({name}); the kernel reads it as a share of the range"
               + (" of log x" if log else "")),
        Symbol("y", f"the trials' objective ({goal}), standardised to mean 0 and standard deviation 1"),
        Symbol("k(r)", "the Matern ν = 5/2 kernel: how alike the objective is at two x a distance r apart"),
        Symbol(r"c,\ l", "the kernel's scale and length scale, fitted to the trials by maximum likelihood"),
        Symbol(r"\sigma_n^2", "white noise: what x alone does not explain (other parameters, seeds)"),
        Symbol("K", "the kernel between every pair of trials, with the noise on its diagonal"),
        Symbol("k_*", "the kernel between x and each trial"),
        Symbol(r"\mu(x),\ \sigma(x)", "the surrogate's guess of the objective at x and its uncertainty"),
        Symbol("f^*", "the best objective among the trials so far"),
        Symbol(r"\Phi,\ \phi", "the standard normal's cumulative distribution and density"),
        Symbol("d", "the gain the mean promises over f*: μ - f* when maximising (f* - μ when minimising)"),
        Symbol(r"l(x),\ g(x)", "TPE's densities of x among the good trials and among the others"),
        Symbol(r"K_h", "a Gaussian kernel of width h (the bandwidth), cut to the range"),
        Symbol(r"m,\ n", "the good trials (Optuna's γ: the best ⌈0.1 n⌉, at most 25) and all finished trials"),
    )
