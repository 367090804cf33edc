"""Random inputs for any structured catalog loss, from its generated module's INPUTS and its spec's domains
(shared by the CPU tests and the CUDA suite)."""
import numpy as np

from lossgen.catalog import spec_for


def axis_lengths(module, k: int) -> dict[str, int]:
    """k elements along the first axis, k + 1 along the second, ...: a loss with several axes
    gets a different length on each, so a kernel that mixes them up reads out of bounds."""
    return {axis: k + j for j, axis in enumerate(module.AXES)}


def random_inputs(name: str, module, n: int, k: int, rng, dtype=np.float64) -> list:
    """One array per input in spec order: (n, K_a) along its axis a (K_a from :func:`axis_lengths`),
    (n,) per row, (n,) class indices."""
    spec = spec_for(name)
    lengths = axis_lengths(module, k)
    out = []
    for (iname, role, _, kind) in module.INPUTS:
        dom = spec.input(iname).domain
        k = lengths[module.INPUT_AXES.get(iname, module.AXES[0])]
        shape = (n, k) if kind == "axis" else (n,)
        if kind == "axis" and role == "weight":
            shape = (k,)                        # one weight per class, as torch's weight=
        if module.AXES == ("set",):
            shape = (n, k)
        if kind == "index":
            out.append(rng.integers(0, k, n))
            continue
        if iname in ("cosine", "similarity") and name != "info_nce":   # cosines in (-1, 1)
            a = rng.uniform(-0.95, 0.95, size=shape)
        elif dom.values is not None:
            a = rng.choice(np.array(dom.values), size=shape)
        elif name in ("kl_div", "jensen_shannon") or (kind == "axis" and dom.name == "unit_interval" and dom.hi == 1
                                                     and role != "auxiliary" and module.AXES != ("set",)):
            a = rng.dirichlet(np.ones(k), n) if len(shape) == 2 else rng.uniform(size=shape)
            if name == "kl_div" and role == "prediction":
                a = np.log(a)
        elif dom.lo >= 0:
            a = rng.uniform(0.0 if role != "weight" else 0.5, 1.0 if dom.hi <= 1 else 3.0, size=shape)
        else:
            a = rng.normal(scale=2.0, size=shape)
        out.append(a.astype(dtype))
    names = [i[0] for i in module.INPUTS]
    if "onehot" in names:                       # Crammer-Singer: the one-hot row of the class index
        index = next(a for a, i in zip(out, module.INPUTS) if i[3] == "index")
        out[names.index("onehot")] = np.eye(lengths[module.INPUT_AXES["onehot"]], dtype=dtype)[index]
    if name == "circle":                        # disjoint masks, each row with a positive and a negative
        k = lengths[module.AXES[0]]
        pos = (rng.random((n, k)) < 0.3).astype(dtype)
        pos[:, 0], pos[:, 1] = 1, 0
        neg = (1 - pos).astype(dtype)
        if k > 2:                               # an element in neither mask (the anchor itself)
            pos[:, 2] = neg[:, 2] = 0
        out[names.index("positive")], out[names.index("negative")] = pos, neg
    return out
