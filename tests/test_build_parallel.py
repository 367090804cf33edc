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


def _then_hook(spec_path):
    """A picklable ``then``: which process ran it, for which spec."""
    import os
    return os.getpid(), spec_path.stem


def test_then_runs_in_the_worker_after_each_spec_that_built(tmp_path):
    import os
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nloss = "pred +"\n')
    out = tmp_path / "out"
    out.mkdir()
    paths = [bad] + [specs_dir() / f"{n}.toml" for n in SPECS]
    rs = build_many(paths, out, certify=False, jobs=2, then=_then_hook)
    assert [r.name for r in rs[1:]] == SPECS                 # results in the given order
    assert rs[0].status == "failed" and rs[0].then is None   # not after a failure
    assert [r.then[1] for r in rs[1:]] == SPECS
    assert all(r.then[0] != os.getpid() for r in rs[1:])     # in the worker processes
    serial = build_many(paths[1:], out, certify=False, jobs=1, then=_then_hook)
    assert [r.then for r in serial] == [(os.getpid(), n) for n in SPECS]
