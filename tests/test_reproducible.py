"""Generated files are reproducible byte for byte (the CI also runs `lossgen check --full`
over the whole catalog)."""
import pytest

from lossgen.build import generate, header_status
from lossgen.cpu_dispatch import numpy_dispatch_problem
from lossgen.certificate import split
from lossgen.paths import generated_dir, specs_dir
from lossgen.spec import load_spec


@pytest.mark.parametrize("name", ["huber", "dpo", "focal", "gaussian_nll"])
def test_generation_matches_committed_file(name):
    """Byte for byte, but for the accuracy certificate in the committed header (a
    measurement of the generated text, bound to it by its content hash)."""
    gen = generate(specs_dir() / f"{name}.toml")
    head, block, body = split((generated_dir() / f"{name}.py").read_text(encoding="utf-8"))
    assert block.startswith("# accuracy certificate of content sha256 ")
    assert gen.files[f"{name}.py"].encode() == (head + body).encode()


def test_generation_is_deterministic_within_a_process():
    a = generate(specs_dir() / "tukey.toml").files["tukey.py"]
    b = generate(specs_dir() / "tukey.toml").files["tukey.py"]
    assert a == b


def test_every_generated_file_is_current():
    for spec_path in sorted(specs_dir().glob("*.toml")):
        spec = load_spec(spec_path)
        assert header_status(generated_dir() / f"{spec.name}.py", spec.source_sha256) is None, spec.name


def test_numpy_runs_its_x86_64_v3_code():
    """NumPy's AVX-512 paths give other last bits than its AVX2 ones: lossgen caps it at
    x86-64-v3 before it loads (lossgen.cpu_dispatch), so that every machine measures the
    lowering's candidates alike."""
    assert numpy_dispatch_problem() is None
