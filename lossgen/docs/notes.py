"""Editorial facts of the catalog that no spec states: which distribution a loss is the
negative log-likelihood of (up to constants and scale), and what it is typically used
for.  A loss without an entry reads "-" and its category's typical use.

``None`` for ``nll`` means: not the negative log-likelihood of a distribution.
"""
from __future__ import annotations

#: name -> (NLL of which distribution, typical use)
NOTES: dict[str, tuple[str | None, str]] = {
    "bce": ("Bernoulli", "binary classification on probabilities"),
    "bce_with_logits": ("Bernoulli (pos_weight = 1)", "binary / multi-label classification on logits"),
    "cauchy": ("Cauchy", "robust regression, heavy-tailed noise"),
    "diffusion_mse": ("Gaussian (fixed variance)", "denoising diffusion models (noise prediction)"),
    "dpo": ("Bradley-Terry (Bernoulli on preferences)", "preference fine-tuning of language models"),
    "elastic_net": ("Laplace-Gaussian mixture prior (MAP)", "sparse and grouped regularisation"),
    "exponential": (None, "boosting (AdaBoost)"),
    "focal": (None, "dense object detection, class imbalance"),
    "gamma_deviance": ("Gamma (unit deviance)", "positive, skewed targets (GLM)"),
    "gan_discriminator": ("Bernoulli (real vs generated)", "GAN discriminator training"),
    "gan_generator_minimax": (None, "GAN generator (original minimax game)"),
    "gan_generator_nonsaturating": ("Bernoulli (generated labelled real)", "GAN generator training"),
    "gan_hinge_discriminator": (None, "GAN discriminator (hinge, SN-GAN)"),
    "gaussian_nll": ("Gaussian (predicted variance)", "heteroscedastic regression, uncertainty"),
    "geman_mcclure": (None, "robust regression, vision (outlier rejection)"),
    "hinge": (None, "max-margin classification (SVM)"),
    "huber": (None, "robust regression"),
    "l1_penalty": ("Laplace prior (MAP)", "sparsity (lasso)"),
    "l2_penalty": ("Gaussian prior (MAP)", "weight decay (ridge)"),
    "log_cosh": ("hyperbolic secant", "smooth robust regression"),
    "logistic": ("Bernoulli (labels -1/+1)", "binary classification (logistic regression)"),
    "mae": ("Laplace", "median regression"),
    "modified_huber": (None, "classification with probability estimates (SGD)"),
    "mse": ("Gaussian (fixed variance)", "least-squares regression"),
    "msle": ("log-normal (of 1 + y)", "regression of non-negative, relative errors"),
    "poisson_nll": ("Poisson", "count regression"),
    "pseudo_huber": (None, "smooth robust regression"),
    "quantile": ("asymmetric Laplace", "quantile regression, prediction intervals"),
    "ramp": (None, "classification robust to label noise"),
    "smooth_l1": (None, "bounding-box regression"),
    "smoothed_hinge": (None, "smooth max-margin classification"),
    "squared_hinge": (None, "max-margin classification (L2-SVM)"),
    "tukey": (None, "robust regression, outlier rejection"),
    "tweedie_deviance": ("Tweedie (compound Poisson-gamma)", "non-negative targets with exact zeros"),
    "vae_kl": (None, "variational autoencoders (KL to N(0, 1) prior)"),
    "wasserstein_critic": (None, "Wasserstein GAN critic"),
    "welsch": (None, "robust regression, outlier rejection"),
    "zero_one": (None, "evaluation (classification error)"),
}

CATEGORY_USE = {
    "regression": "regression", "robust": "robust regression", "classification": "classification",
    "segmentation": "segmentation", "generative": "generative models", "ranking": "ranking",
    "metric": "metric learning", "preference": "preference learning", "penalty": "regularisation",
}


def nll_of(name: str) -> str:
    entry = NOTES.get(name)
    return (entry[0] or "-") if entry else "-"


def typical_use(name: str, category: str) -> str:
    entry = NOTES.get(name)
    return entry[1] if entry else CATEGORY_USE.get(category, category)
