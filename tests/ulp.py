"""Error of a float result against a high-precision truth, in units in the last place
(the one definition, in lossgen.verify.ulps, that the certificate also uses)."""
from lossgen.verify.ulps import kink_side_truths, ulp_error

__all__ = ["kink_side_truths", "ulp_error"]
