"""Reports: self-contained HTML, provenance, determinism, specifications, PDF."""

from __future__ import annotations

import hashlib
import html
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pkpd import Bolus, datasets, load_model, simulate  # noqa: E402
from pkpd.errors import PkpdError  # noqa: E402
from pkpd.report import Report, SpecError, report_from_spec, run_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Checker(HTMLParser):
    """Records tags and checks that every element opened is closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: dict[str, int] = {}
        self.h2: list[str] = []
        self._h2: list[str] | None = None
        self.refs: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.handle_startendtag(tag, attrs)
        if tag == "h2":
            self._h2 = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action")]
        self.ids += [v for k, v in attrs if k == "id"]
        self.refs += re.findall(r"url\((#[^)]+)\)", " ".join(v or "" for _, v in attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "h2" and self._h2 is not None:
            self.h2.append("".join(self._h2).strip())
            self._h2 = None

    def handle_data(self, data: str) -> None:
        if self._h2 is not None:
            self._h2.append(data)


def parse(text: str) -> _Checker:
    c = _Checker()
    c.feed(text)
    c.close()
    return c


def without_date(text: str) -> str:
    lines = text.splitlines()
    dated = [k for k, line in enumerate(lines) if 'class="generated"' in line]
    assert len(dated) == 1
    return "\n".join(line for k, line in enumerate(lines) if k != dated[0])


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture(scope="module")
def model():
    return load_model("pk_1cmt_iv")


def build(model, CL: float = 2.8, seed: int = 7) -> tuple[Report, pd.DataFrame]:
    r = Report("One-compartment check", author="pkpd tests", seed=seed)
    r.add_text("# Introduction\nA *bolus* of 100 mg; <script>alert(1)</script> is text.\n\n"
               "- first point\n- second point\n\n## Details\nSee `pk_1cmt_iv`.")
    table = pd.DataFrame({"dose": [50, 100, 200], "cmax": [1.5625, 3.125, 6.25]})
    r.add_table(table, caption="Doses")
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4])
    r.add_figure(fig, caption="A parabola")
    r.add_model(model)
    sim = simulate(model, Bolus(0, 100, "central"), np.linspace(0, 24, 49), params={"CL": CL})
    r.add_simulation(sim)
    return r, table


@pytest.fixture(scope="module")
def report_html(model):
    r, table = build(model)
    return r, r.to_html(), table


def test_html_is_balanced_and_has_the_sections(report_html):
    r, text, _ = report_html
    assert text.startswith("<!DOCTYPE html>")
    c = parse(text)
    assert c.errors == []
    assert c.stack == []
    assert c.h2 == ["Contents", "Introduction", "Model: pk_1cmt_iv", "Simulation: pk_1cmt_iv",
                    "Provenance"]
    assert c.tags["math"] == 2  # d/dt(central) and the output conc
    # ids are unique over the document (two figures share none) and every link resolves
    assert len(c.ids) == len(set(c.ids))
    local = [ref[1:] for ref in c.refs if ref.startswith("#")]
    assert local and set(local) <= set(c.ids)
    assert c.tags["svg"] == 2  # the figure added and the simulation's
    assert c.tags["figure"] == 2 and c.tags["figcaption"] == 2
    assert c.tags.get("script", 0) == 0
    # text is escaped, never interpreted
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<em>bolus</em>" in text and "<code>pk_1cmt_iv</code>" in text
    assert plt.get_fignums() == []  # figures are closed once embedded


def test_equations_are_mathml_of_the_model(report_html, model):
    _, text, _ = report_html
    eq = re.findall(r'<math display="block">(.*?)</math>', text, flags=re.S)
    ode = html.unescape(eq[0])
    # d central / dt = -CL*central/V: a fraction of d(central) over d t, then the right-hand side
    assert ode.startswith("<mrow><mfrac><mrow><mi>d</mi><mi>central</mi></mrow>")
    assert all(f"<mi>{n}</mi>" in ode for n in ("CL", "V", "central"))
    assert "<mi>conc</mi><mo>=</mo>" in html.unescape(eq[1])


def test_no_network_resources(report_html):
    _, text, _ = report_html
    c = parse(text)
    assert all(not re.match(r"\s*(https?:)?//", ref) for ref in c.refs), c.refs
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text)
    assert "<link" not in text and "@import" not in text and "url(http" not in text


def test_provenance_hashes_and_versions(report_html, model):
    r, text, table = report_html
    prov = text[text.index('<h2 id="provenance">'):]
    # the library model (add_model) and the simulated one (CL overridden to the same value)
    assert sha(model.to_text()) in prov
    # the table's hash is that of its CSV text, computed here independently
    csv = "dose,cmax\n50,1.5625\n100,3.125\n200,6.25\n"
    assert sha(csv) in prov
    assert "name: pk_1cmt_iv" in html.unescape(prov)  # the model text
    for dep in ("numpy", "scipy", "sympy", "pandas", "lmfit", "numba", "matplotlib", "SALib",
                "python", "platform"):
        assert f">{dep}</th>" in prov
    assert re.search(r"<th class=\"l\">rtol</th><td class=\"l\">1e-06</td>", prov)
    assert ">seed<" in prov and ">7<" in prov


def test_same_seed_same_report_except_the_date(model):
    a = build(model)[0].to_html()
    b = build(model)[0].to_html()
    assert without_date(a) == without_date(b)
    assert re.search(r" at 0x[0-9a-f]+", a) is None  # no memory addresses


def test_changed_parameter_changes_hash_and_values(model):
    a = without_date(build(model, CL=2.8)[0].to_html())
    b = without_date(build(model, CL=5.6)[0].to_html())
    changed = model.with_params(CL=5.6)
    assert sha(changed.to_text()) in b and sha(changed.to_text()) not in a
    # the simulation's end value is 100/V exp(-CL/V 24) (closed form)
    for text, cl in ((a, 2.8), (b, 5.6)):
        end = 100 / 32 * math.exp(-cl / 32 * 24)
        assert f"<td>{end:.6g}</td>" in text


def pdf_pages(data: bytes) -> int:
    counts = re.findall(rb"/Type /Pages\b[^>]*?/Count (\d+)", data) or re.findall(
        rb"/Count (\d+)", data)
    assert len(counts) == 1
    return int(counts[0])


def test_pdf_is_written(tmp_path, model):
    r, _ = build(model)
    data = r.write_pdf(tmp_path / "report.pdf").read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    # title page, a page of text before each of the 2 figures, the 2 figures, provenance
    n = pdf_pages(data)
    assert n >= 6
    # a figure right after a figure adds exactly one page
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    r.add_figure(fig)
    assert pdf_pages(r.write_pdf(tmp_path / "more.pdf").read_bytes()) == n + 1


def test_generic_add_uses_summary_table_plot_and_provenance():
    class Result:
        model = None

        def summary(self) -> str:
            return "a duck-typed result"

        def to_frame(self) -> pd.DataFrame:
            return pd.DataFrame({"x": [1.0, 2.0]})

        def plot(self):
            fig, ax = plt.subplots()
            ax.bar([0, 1], [1, 2])
            return fig

        def provenance(self) -> dict:
            return {"solver": "exact", "answer": 42}

    r = Report("Duck")
    r.add(Result(), caption="My result")
    text = r.to_html()
    assert "a duck-typed result" in text and "<svg" in text
    assert '<th class="l">solver</th><td class="l">exact</td>' in text
    with pytest.raises(TypeError, match="cannot add a int"):
        r.add(3)


# --------------------------------------------------------------------------- specifications
SPEC = """
title = "pk check"
seed = 11

[[section]]
kind = "text"
text = "# Bolus\\nOne compartment."

[[section]]
kind = "simulate"
model = "pk_1cmt_iv"
regimen = "100 mg iv at 0 h"
until = "1 d"
params = { V = 20 }

[[section]]
kind = "population"
model = "pk_1cmt_iv"
regimen = "100 mg iv at 0 h"
until = "24 h"
step = "1 h"
n = 20
iiv = { CL = 0.3 }

[[section]]
kind = "sensitivity"
method = "local"
model = "pk_1cmt_iv"
regimen = "100 mg iv at 0 h"
until = 24
endpoint = { metric = "auc", output = "conc" }
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_spec_builds_a_deterministic_report(tmp_path):
    path = write(tmp_path, SPEC)
    out = run_report(path)
    assert out == tmp_path / "spec.html"
    text = out.read_text(encoding="utf-8")
    c = parse(text)
    assert c.errors == [] and c.stack == []
    assert c.h2 == ["Contents", "Bolus", "Simulation: pk_1cmt_iv", "Population: pk_1cmt_iv",
                    "Sensitivity (local): pk_1cmt_iv", "Provenance"]
    # params = { V = 20 }, "1 d" = 24 h: Cmax = 100/20, end = 5 exp(-2.8/20 * 24) (closed form)
    assert f"<td>{5.0:.6g}</td>" in text
    assert f"<td>{5 * math.exp(-2.8 / 20 * 24):.6g}</td>" in text
    assert sha(load_model("pk_1cmt_iv").with_params(V=20).to_text()) in text
    # AUC(0-24) = dose/CL (1 - exp(-k 24)); its normalised sensitivity to CL is
    # -1 + k 24 exp(-k 24) / (1 - exp(-k 24)) (closed form; trapezoid grid of step 0.01 h)
    k = 2.8 / 32
    expected = -1 + k * 24 * math.exp(-k * 24) / (1 - math.exp(-k * 24))
    ep = re.search(r"<td>AUC\(conc\)</td>\s*<td>mg/L\*h</td>\s*<td>[^<]+</td>\s*<td>CL</td>\s*"
                   r"<td>[^<]+</td>\s*<td>([^<]+)</td>", text)
    assert ep is not None
    assert abs(float(ep.group(1)) - expected) < 1e-4
    again = run_report(path, tmp_path / "again.html").read_text(encoding="utf-8")
    assert without_date(again) == without_date(text)


def test_spec_population_seed_changes_the_subjects(tmp_path):
    a = report_from_spec(write(tmp_path, SPEC)).to_html()
    b = report_from_spec(write(tmp_path, SPEC.replace("seed = 11", "seed = 12"))).to_html()
    assert without_date(a) != without_date(b)
    assert ">11<" in a and ">12<" in b


@pytest.mark.parametrize(("text", "section", "key", "hint"), [
    ('[[section]]\nkind = "text"\ntext = "x"\n[[section]]\nkind = "simulation"\n', 2, "kind",
     "'simulate'"),
    ('[[section]]\nkind = "simulate"\nmodel = "pk_1cmt_iv"\nregimen = "100 mg at 0 h"\n'
     'until = "1 d"\ncolour = "red"\n', 1, "colour", "takes: "),
    ('[[section]]\nkind = "simulate"\nmodel = "pk_1cmt_iv"\nuntil = "1 d"\n', 1, "regimen",
     "missing"),
    ('[[section]]\nkind = "simulate"\nmodel = "pk_1cmt_iv"\nregimen = "100 mg every 6 months"\n'
     'until = "1 d"\n', 1, "regimen", "months"),
    ('[[section]]\nkind = "model"\nmodel = "pk_1cmt_ivv"\n', 1, "model", "pk_1cmt_iv"),
    ('[[section]]\nkind = "simulate"\nmodel = "pk_1cmt_iv"\nregimen = "100 mg at 0 h"\n'
     'until = "3 months"\n', 1, "until", "weeks"),
    ('[[section]]\nkind = "simulate"\nmodel = "pk_1cmt_iv"\nregimen = "100 mg at 0 h"\n'
     'until = "1 d"\nparams = { Cl = 3 }\n', 1, "params", "CL"),
    ('[[section]]\nkind = "text"\ntext = "x"\n[[section]]\nkind = "sensitivity"\n'
     'method = "local"\nmodel = "pk_1cmt_iv"\nregimen = "100 mg at 0 h"\nuntil = 24\n'
     'endpoint = { metric = "ctrugh", output = "conc", time = 12 }\n', 2, "endpoint", "ctrough"),
    ('[[section]]\nkind = "sensitivity"\nmethod = "local"\nmodel = "pk_1cmt_iv"\n'
     'regimen = "100 mg at 0 h"\nuntil = 24\n'
     'endpoint = { metric = "ctrough", output = "conc", tim = 12 }\n', 1, "endpoint", "'time'"),
    ('[[section]]\nkind = "sensitivity"\nmethod = "sobol"\nmodel = "pk_1cmt_iv"\n'
     'regimen = "100 mg at 0 h"\nuntil = 24\nendpoint = { metric = "cmax", output = "conc" }\n'
     'params = { CL = [2, "x"] }\n', 1, "params", "[low, high]"),
    ('[[section]]\nkind = "fit"\nspec = "nowhere.toml"\n', 1, "spec", "does not exist"),
    ('[[section]]\nkind = "simulate"\nmodel = "pk_1cmt_iv"\nregimen = "100 ug at 0 h"\n'
     'until = "1 d"\n', 1, "regimen", "does not convert amounts"),
    ('[[section]]\nkind = "simulate"\nmodel = "pk_1cmt_iv"\nregimen = "weekly"\n'
     'until = "1 d"\n', 1, "regimen", "no 'regimen.weekly:' header"),
    ('[[section]]\nkind = "sensitivity"\nmethod = "local"\nmodel = "pk_1cmt_iv"\n'
     'regimen = "100 mg at 0 h"\nuntil = 24\n'
     'endpoint = { metric = "ctrough", output = "conc", time = "2 years" }\n', 1, "endpoint",
     "years differ in length"),
    ('[[section]]\nkind = "sensitivity"\nmethod = "local"\nmodel = "pk_1cmt_iv"\n'
     'regimen = "100 mg at 0 h"\nuntil = 24\n'
     'endpoint = { metric = "cmax", output = "cnc" }\n', 1, "endpoint", "did you mean 'conc'"),
    ('[[section]]\nkind = "dose_response"\nmodel = "pk_1cmt_iv"\nuntil = "2 d"\nn = 5\n'
     'iiv = { CL = 0.3 }\nregimens = { q12 = "100 mg iv every 12 h x 4" }\n'
     'endpoints.tr = { metric = "trough", output = "conc" }\n' + 'targets = { tr = "< 1e" }\n', 1, "targets.tr", "comparison with a number"),
    ('[[section]]\nkind = "dose_response"\nmodel = "pk_1cmt_iv"\nuntil = "2 d"\nn = 5\n'
     'iiv = { CL = 0.3 }\nregimens = { q12 = "100 mg iv every 12 h x 4" }\n'
     'endpoints.tr = { metric = "trough", output = "conc" }\n' + 'params = { CL = -5 }\n', 1, "params", "outside its bounds"),
])
def test_spec_errors_name_section_and_key(tmp_path, text, section, key, hint):
    path = write(tmp_path, 'title = "bad"\nseed = 1\n' + text)
    with pytest.raises(SpecError) as info:
        report_from_spec(path)
    msg = str(info.value)
    assert f"section {section}" in msg and f"key '{key}'" in msg and hint in msg, msg
    assert isinstance(info.value, PkpdError) and isinstance(info.value, ValueError)


def test_spec_file_errors(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        report_from_spec(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match="invalid TOML"):
        report_from_spec(write(tmp_path, "title = \n"))
    with pytest.raises(SpecError, match="unknown top-level key 'titel'.*title"):
        report_from_spec(write(tmp_path, 'titel = "x"\n[[section]]\nkind = "text"\ntext = "y"\n'))
    with pytest.raises(SpecError, match="at least one"):
        report_from_spec(write(tmp_path, 'title = "x"\n'))


def test_spec_fit_runs_in_memory(tmp_path):
    spec = write(tmp_path, f'title = "fit"\n[[section]]\nkind = "fit"\n'
                           f'spec = "{(ROOT / "fits" / "theoph_pooled.toml").as_posix()}"\n')
    before = set((ROOT / "fits").iterdir())
    text = report_from_spec(spec).to_html()
    assert set((ROOT / "fits").iterdir()) == before  # nothing written next to the fit spec
    assert "[[Fit Statistics]]" in html.unescape(text)
    assert text.count("<svg") == 2  # goodness of fit and the 12 individual fits


    # the provenance hashes the dataset as shipped (canonical CSV, computed here) and the
    # records fitted: 12 doses and 120 observations (the 12 samples at t = 0 are excluded)
    theoph = datasets.load("theoph")
    assert sha(theoph.to_csv(index=False, lineterminator="\n", na_rep="NaN")) in text
    shipped = re.search(r"dataset &#x27;theoph&#x27; \(as given\)</td><td>(\d+)</td>", text)
    fitted = re.search(r"Fit: pk_1cmt_oral: records fitted</td><td>(\d+)</td>", text)
    assert shipped is not None and int(shipped.group(1)) == len(theoph) == 144
    assert fitted is not None and int(fitted.group(1)) == 12 + 120


# --------------------------------------------------------------------------- the shipped example
def test_anti_cd20_report_end_to_end(tmp_path):
    out = run_report(ROOT / "reports" / "anti_cd20.toml", tmp_path)
    assert out == tmp_path / "anti_cd20.html"
    text = out.read_text(encoding="utf-8")
    c = parse(text)
    assert c.errors == [] and c.stack == []
    assert c.h2[1:] == ["Purpose", "Model: ocrelizumab_bcell", "Label regimen, typical patient",
                        "Label regimen, 100 virtual patients", "600 mg every 24, 36 or 48 weeks",
                        "Local sensitivity of the B-cell trough",
                        "Fit of B-cell turnover and kill to the simulated ocrelizumab dataset",
                        "Provenance"]
    assert c.tags["math"] >= 9 and c.tags["svg"] == 8
    # the fit on shipped data: the dataset as shipped is hashed in the provenance
    shipped = datasets.load("ocrelizumab_bcell")
    assert sha(shipped.to_csv(index=False, lineterminator="\n", na_rep="NaN")) in text
    # a section's text stands under its heading, before its results
    head = text.index(">600 mg every 24, 36 or 48 weeks</h2>")
    assert head < text.index("The same 100 virtual patients receive every") < text.index(
        "&lt;DoseResponse", head)
    model = load_model("ocrelizumab_bcell")
    assert sha(model.to_text()) in text
    plain = html.unescape(text)
    for regimen in ("q24w", "q36w", "q48w"):
        assert re.search(rf"600 mg {regimen}\s+dose 600 .*P = [01]\.\d{{3}}", plain)
    # B(t) is proportional to B0 (B0 enters only through production kout*B0 and the initial
    # value B(0) = B0), so d log(trough) / d log(B0) = 1 exactly.
    row = re.search(r"<td>B-cell trough at week 72</td>\s*<td>cells/uL</td>\s*<td>[^<]+</td>\s*"
                    r"<td>B0</td>\s*<td>[^<]+</td>\s*<td>([^<]+)</td>", text)
    assert row is not None
    assert abs(float(row.group(1)) - 1.0) < 1e-3


def test_spec_dose_response_with_curve_fit(tmp_path):
    doses = (5, 10, 20, 40, 80, 160)
    regs = "\n".join(f'"{d} mg" = "{d} mg iv at 0 h"' for d in doses)
    spec = write(tmp_path, f"""
title = "sigmoid Emax"
seed = 3
[[section]]
kind = "dose_response"
model = "sigmoid_emax_direct"
until = "24 h"
step = "0.5 h"
n = 3
fit = {{ endpoint = "peak effect", model = "sigmoid_emax", on = "median" }}
[section.regimens]
{regs}
[section.endpoints]
"peak effect" = {{ metric = "cmax", output = "effect" }}
[section.targets]
"peak effect" = {{ above = 40 }}
""")
    text = html.unescape(report_from_spec(spec).to_html())
    # The peak effect of a bolus D is E0 + Emax (D/V)^g / (EC50^g + (D/V)^g): a sigmoid Emax
    # curve in D with ED50 = EC50 * V = 2 mg/L * 10 L = 20 mg and h = g = 2.5 (closed form).
    ed50 = re.search(r"ED50:\s+([-+0-9.eE]+) \+/-", text)
    hill = re.search(r"\bh:\s+([-+0-9.eE]+) \+/-", text)
    assert ed50 is not None and hill is not None
    assert abs(float(ed50.group(1)) - 20) < 1e-4 and abs(float(hill.group(1)) - 2.5) < 1e-4
    for d in doses:
        peak = 10 + 50 * (d / 10) ** 2.5 / (2**2.5 + (d / 10) ** 2.5)
        p = 1.0 if peak > 40 else 0.0
        assert re.search(rf"{d} mg\s+dose {d}\s.*  {peak:<10.4g} .*P = {p:.3f}", text), d
    assert "peak effect against dose with the fitted curve" in text
    assert text.count("<svg") == 4


def test_spec_morris_ranks_clearance_for_auc(tmp_path):
    spec = write(tmp_path, """
title = "Morris"
seed = 5
[[section]]
kind = "sensitivity"
method = "morris"
model = "pk_1cmt_iv"
regimen = "100 mg iv at 0 h"
until = "2000 h"
step = "1 h"
n = 6
params = { CL = [1.0, 4.0], V = [16.0, 64.0] }
endpoint = { metric = "auc", output = "conc", method = "linlog" }
""")
    text = report_from_spec(spec).to_html()
    # AUC(0-2000 h) = dose/CL (1 - exp(-CL/V 2000)) = dose/CL to within 1e-13 (exact for linlog
    # on a mono-exponential): V has no effect
    rows = dict(re.findall(r"<td>AUC\(conc, linlog\)</td>\s*<td>(CL|V)</td>\s*<td>[^<]+</td>\s*"
                           r"<td>([^<]+)</td>", text))
    assert set(rows) == {"CL", "V"}
    assert float(rows["CL"]) > 10 and float(rows["V"]) < 1e-6 * float(rows["CL"])
    assert "Sensitivity (morris): pk_1cmt_iv" in text
    assert re.search(r"<th class=\"l\">used by</th>.*Sensitivity \(morris\): pk_1cmt_iv</th>"
                     r"<td class=\"l\">5<", text, flags=re.S)


# --------------------------------------------------------------------------- shared readers
def test_spec_error_is_the_one_of_pkpd_errors():
    import pkpd.errors

    assert SpecError is pkpd.errors.SpecError
    assert issubclass(SpecError, PkpdError) and issubclass(SpecError, ValueError)


def test_endpoint_tables_are_read_like_endpoint_text():
    from pkpd.dose_response import trough
    from pkpd.endpoints_spec import endpoint_spec_from_table, parse_endpoint_spec

    m = load_model("pk_1cmt_iv")  # time unit h, conc in mg/L
    table = endpoint_spec_from_table({"metric": "ctrough", "output": "conc", "time": "0.5 d"}, m)
    text = parse_endpoint_spec("ctrough:conc:time=0.5d", m)
    assert table.keywords == text.keywords == {"time": 12.0, "unit": "mg/L"}
    assert table.endpoint.name == text.endpoint.name == "Ctrough(conc, 12)"
    named = endpoint_spec_from_table({"metric": "auc", "output": "conc", "start": 0, "end": "1 d",
                                      "method": "linlog", "name": "exposure"}, m)
    assert named.endpoint.name == "exposure" and named.keywords["end"] == 24.0
    # AUC of C = 2 exp(-t) over [0, 24] h on a fine grid, against the closed form
    t = np.linspace(0, 24, 2401)
    assert float(named.endpoint((t, 2 * np.exp(-t)))) == pytest.approx(2 * (1 - np.exp(-24)),
                                                                        rel=1e-6)
    # an extra metric; a TOML integer stays an integer (trough's dose must be whole)
    tr = endpoint_spec_from_table({"metric": "trough", "output": "conc", "dose": 2}, m,
                                  extra={"trough": trough})
    assert tr.keywords["dose"] == 2 and "dose 2" in tr.endpoint.name
    with pytest.raises(SpecError, match="metric must be one of .*trough"):
        endpoint_spec_from_table({"metric": "troff", "output": "conc"}, m, extra={"trough": trough})
    with pytest.raises(SpecError, match="metric must be one of auc"):
        endpoint_spec_from_table({"metric": "trough", "output": "conc"}, m)
    with pytest.raises(SpecError, match="name must be a non-empty string"):
        endpoint_spec_from_table({"metric": "cmax", "output": "conc", "name": ""}, m)
    with pytest.raises(SpecError, match="an endpoint is a table"):
        endpoint_spec_from_table("cmax:conc", m)
    with pytest.raises(SpecError, match="method must be text"):
        endpoint_spec_from_table({"metric": "auc", "output": "conc", "method": 1}, m)
    with pytest.raises(SpecError, match="threshold must be a number"):
        endpoint_spec_from_table({"metric": "time_below", "output": "conc", "threshold": [1]}, m)


def test_spec_regimen_may_name_a_regimen_of_the_model_file(tmp_path):
    (tmp_path / "one.pkpd").write_text(
        "name: one\ntime: h\ndose: central\nregimen.twice: 100 mg iv every 12 h x 2\n"
        "[parameters]\nCL = 3 [L/h]\nV = 30 [L]\n[states]\ncentral = 0 [mg]\n"
        "[equations]\nd/dt(central) = -CL/V*central\n[outputs]\nconc = central/V [mg/L]\n",
        encoding="utf-8")
    path = write(tmp_path, 'title = "named"\n[[section]]\nkind = "simulate"\nmodel = "one.pkpd"\n'
                           'regimen = "twice"\ntimes = [0, 12, "1 d"]\n')
    text = report_from_spec(path).to_html()
    assert "every 12 h, 2 times from hour 0" in text
    # C(24) = 100/V (exp(-k 24) + exp(-k 12)), k = CL/V (closed form)
    k = 3 / 30
    assert f"<td>{100 / 30 * (math.exp(-k * 24) + math.exp(-k * 12)):.6g}</td>" in text


def test_a_failed_run_in_a_spec_stays_a_run_failure(tmp_path, capsys):
    from pkpd.cli import main
    from pkpd.errors import SimulationError

    path = write(tmp_path, 'title = "t"\nseed = 1\n[[section]]\nkind = "simulate"\n'
                           'model = "pk_1cmt_iv"\nregimen = "100 mg at 0 h"\nuntil = "1 d"\n'
                           'params = { V = 0 }\n')
    with pytest.raises(SimulationError, match=r"section 1 \(kind 'simulate'\): .*not finite"):
        report_from_spec(path)
    assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == 1  # run failed
    assert "section 1" in capsys.readouterr().err
