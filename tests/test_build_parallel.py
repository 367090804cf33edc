"""lossgen.build.build_many: a process pool over specs writes the same bytes as a serial build."""
from lossgen.build import build_many
from lossgen.paths import specs_dir

SPECS = ["mse", "huber", "hinge"]


def test_parallel_build_is_byte_identical_to_serial(tmp_path):
    paths = [specs_dir() / f"{n}.toml" for n in SPECS]
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    serial.mkdir()
    parallel.mkdir()
    seen = []
    rs = build_many(paths, serial, certify=False, jobs=1)
    rp = build_many(paths, parallel, certify=False, jobs=2, on_result=lambda k, r: seen.append((k, r.name)))
    assert [r.name for r in rs] == [r.name for r in rp] == SPECS
    assert seen == list(enumerate(SPECS))
    assert all(r.status == "written" for r in rs + rp)
    for n in SPECS:
        assert (serial / f"{n}.py").read_bytes() == (parallel / f"{n}.py").read_bytes()
    # nothing changed: a second parallel build leaves every file as it is
    again = build_many(paths, parallel, certify=False, jobs=2)
    assert [r.status for r in again] == ["unchanged"] * len(SPECS)


def test_a_failing_spec_fails_alone(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nloss = "pred +"\n')
    out = tmp_path / "out"
    out.mkdir()
    rs = build_many([bad, specs_dir() / "mse.toml"], out, certify=False, jobs=2)
    assert rs[0].status == "failed" and rs[0].error
    assert rs[1].status == "written" and (out / "mse.py").is_file()
    assert not (out / "bad.py").exists()
