"""Hand-written code that generated modules call: stable scalar primitives,
argument checks and the array API around the kernels."""
