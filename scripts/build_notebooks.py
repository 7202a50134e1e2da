"""Builds the example notebooks in notebooks/ (run scripts/execute_notebooks.py after)."""

import sys

import nbformat as nbf
from nbformat.v4 import new_code_cell as plain_code
from nbformat.v4 import new_markdown_cell as md
from nbformat.v4 import new_notebook


def code(src, metadata=None):
    return plain_code(src, metadata=metadata or {})


def checked(src):
    return plain_code(src, metadata={"tags": ["nbval-check-output"]})


def nb(cells):
    n = new_notebook(cells=cells)
    n.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return n


CHECK = ""
books = {}
books["01_quickstart"] = nb(
    [
        md(
            "# Quickstart\n\nDeclare a sweep in a cell, run it on this machine's cores with the Rust "
            "kernel, and get a DataFrame back. Results land as Parquet under `SWEEP_ROOT` "
            "(default `./sweep-data`)."
        ),
        code("%load_ext sweep_magic\nimport sweep_magic as sm"),
        md("A grid can come from a Python variable: `{strikes}` is replaced by its value."),
        code("strikes = [80, 90, 100, 110, 120]"),
        code(
            "%%sweep run -o run\nexperiment: gbm_option\nname: quickstart\nseed: 7\nreplicates: 4\n"
            "params:\n  s0: 100\n  strike: {strikes}\n  sigma: [0.1, 0.2, 0.3]\n  rate: 0.02\n  paths: 20000"
        ),
        md(
            "Every row is a function of the spec alone, so these numbers are the same on every "
            "machine and backend:"
        ),
        checked(
            "df = run.to_pandas()\nprint(df.shape)\nprint(df[['point', 'replicate', 'strike', 'sigma', 'price']].head(4).round(6).to_string(index=False))"
        ),
        md("Replicates summarised with 95% confidence intervals, then plotted:"),
        checked(
            "summary = run.summary(by=['strike', 'sigma'], metrics=['price'])\nprint(summary.round(4).head(6).to_string(index=False))"
        ),
        code(
            "ax = run.plot(x='strike', y='price', hue='sigma')\nax.set_title('Monte Carlo call prices');"
        ),
    ]
)
books["02_editor"] = nb(
    [
        md(
            "# The widget editor\n\n`%sweep editor EXPERIMENT` builds a form from the experiment's declared "
            "parameters. It shows the point count and a time estimate as you edit, flags invalid input, "
            "and runs the sweep with a progress bar. Here we drive the same form from code."
        ),
        code("%load_ext sweep_magic\nimport sweep_magic as sm\ned = sm.editor('gbm_option')\ned"),
        checked(
            "ed.set('s0', 100.0)\ned.set('strike', mode='linspace', start=90, stop=110, n=5)\n"
            "ed.set('sigma', [0.15, 0.3])\ned.set('replicates', 3)\ned.set('seed', 11)\n"
            "print(ed.info.value.split(', about')[0])\nprint(ed.yaml.value)"
        ),
        md("Invalid input is flagged in the form, and the Run button is disabled:"),
        checked(
            "ed.set('sigma', 9.0)\nprint(ed.error.value.split('</span>')[0].split('&#9888; ')[1])\nprint('run disabled:', ed.run_button.disabled)"
        ),
        code(
            "ed.set('sigma', [0.15, 0.3])\nrun = ed.run(block=True)\nprint(ed.progress.value, '/', ed.progress.max, 'shards')"
        ),
        checked("print(run.summary(metrics=['price']).round(3).to_string(index=False))"),
    ]
)
books["03_ray"] = nb(
    [
        md(
            "# The same sweep on Ray\n\nThe `ray` backend runs shards as Ray tasks (locally here; "
            "`RAY_ADDRESS` or `address=` for a cluster) with the same Rust kernel and writer, so the "
            "result table is identical to the local one."
        ),
        code(
            "import ray\nimport pandas as pd\nimport sweep_magic as sm\n"
            "ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False);"
        ),
        code(
            "spec = {\n    'experiment': 'mmc_queue',\n    'seed': 3,\n    'replicates': 2,\n"
            "    'params': {'arrival_rate': {'linspace': [0.5, 1.8, 6]}, 'service_rate': 1.0,\n"
            "               'servers': [2, 3], 'customers': 20000},\n}\n"
            "on_ray = sm.run(spec, backend='ray').wait(progress=True)\nlocal = sm.run(spec, backend='local').wait()"
        ),
        checked(
            "a = on_ray.to_pandas().drop(columns='duration_us')\nb = local.to_pandas().drop(columns='duration_us')\n"
            "pd.testing.assert_frame_equal(a, b)\nprint('identical:', len(a), 'rows')"
        ),
        checked(
            "print(on_ray.summary(by=['servers', 'arrival_rate'], metrics=['mean_wait']).round(3).to_string(index=False))"
        ),
        code("ray.shutdown()"),
    ]
)
books["04_query"] = nb(
    [
        md(
            "# Queries, summaries and the Ising phase transition\n\nSQL is written in Athena's (Trino) "
            "dialect and runs locally on DuckDB (translated by sqlglot) over the same tables the cloud "
            "catalog has: `results_<experiment>`, `failures_<experiment>` (partitioned by `run_id`) and `runs`."
        ),
        code("%load_ext sweep_magic\nimport sweep_magic as sm"),
        code(
            "%%sweep run -o ising\nexperiment: ising2d\nseed: 1\nreplicates: 2\nparams:\n"
            "  size: [8, 16]\n  temperature: {linspace: [1.6, 3.2, 9]}\n  sweeps: 3000\n  burn_in: 500\n  algorithm: wolff"
        ),
        checked(
            "%%sweep query -o peaks\n"
            "SELECT size, temperature, round(avg(specific_heat), 3) AS c\n"
            "FROM last_run\nGROUP BY size, temperature\nORDER BY size, c DESC"
        ),
        checked("print(peaks.groupby('size').head(1).to_string(index=False))"),
        md(
            "The specific heat peaks near the exact critical temperature Tc = 2/ln(1+√2) ≈ 2.269, "
            "sharper for the larger lattice:"
        ),
        code(
            "import math\nax = ising.plot(x='temperature', y='specific_heat', hue='size')\n"
            "ax.axvline(2 / math.log(1 + math.sqrt(2)), ls='--', color='grey');"
        ),
        checked(
            "print(sm.query(\"SELECT experiment, state, rows_ok FROM runs WHERE experiment = 'ising2d'\").to_string(index=False))"
        ),
    ]
)
books["05_cloud"] = nb(
    [
        md(
            "# Cloud runs (AWS Lambda)\n\nThe same cells as on this machine, with `--cloud`: the spec "
            "goes to the orchestrator Lambda behind API Gateway (SigV4-signed), worker Lambdas compute "
            "the shards and write Parquet to S3, and `%%sweep query --cloud` runs the same SQL on "
            "Athena.\n\nConfiguration comes from the environment (`SWEEP_API_URL`, `SWEEP_S3_ROOT`, "
            "`SWEEP_REGION` and the AWS credential chain; see `docs/deploy.md`). In the tests this "
            "notebook runs against the local emulation (`sweep local-cloud up`: the real Lambda "
            "binaries under `cargo lambda watch` and an S3 server on loopback), where queries run on "
            "DuckDB over the S3 objects because Athena cannot be emulated."
        ),
        code("%load_ext sweep_magic\nimport sweep_magic as sm"),
        code(
            "%%sweep run --cloud -o run\nexperiment: gbm_option\nseed: 11\nreplicates: 2\n"
            "params: {s0: 100, strike: [90, 100, 110], sigma: [0.2, 0.3], paths: 20000}"
        ),
        md(
            "The query names one run, so Athena scans only that run's partition. `{run.run_id}` "
            "is replaced by the value as a SQL string literal."
        ),
        code(
            "%%sweep query --cloud -o by_strike\nSELECT strike, count(*) AS n, avg(price) AS price\n"
            "FROM results_gbm_option WHERE run_id = {run.run_id} GROUP BY strike ORDER BY strike"
        ),
        md(
            "Every row is a function of the spec alone: the cloud run equals a local run of the same "
            "spec, row for row (all columns but the wall-clock `duration_us`)."
        ),
        checked(
            "cloud_rows = run.to_pandas().drop(columns='duration_us')\n"
            "local_rows = sm.run(run.spec, backend='local').wait().to_pandas().drop(columns='duration_us')\n"
            "print(len(cloud_rows), cloud_rows.equals(local_rows), by_strike['n'].tolist())"
        ),
    ]
)
OU = '%%sweep kernel ou\nconst DESCRIPTION: &str = "Ornstein-Uhlenbeck process from x0 = 0, sampled exactly on a time grid.";\n\nfn params() -> Vec<Param> {\n    vec![\n        Param::float("theta").default(1.0).above(0.0).max(100.0).unit("1/s")\n            .describe("Mean-reversion rate."),\n        Param::float("sigma").default(1.0).min(0.0).max(1e3).describe("Noise scale."),\n        Param::float("t").default(1.0).above(0.0).max(1e3).unit("s").describe("Time horizon."),\n        Param::int("steps").default(100).range(1.0, 1e6).describe("Time steps to the horizon."),\n    ]\n}\n\nfn metrics() -> Vec<Metric> {\n    vec![Metric::float("x_t").describe("X at the horizon.")]\n}\n\nfn run(p: &Params, seed: u64) -> Result<Vec<Value>, KernelError> {\n    let (theta, sigma, steps) = (p.f64("theta"), p.f64("sigma"), p.i64("steps"));\n    let dt = p.f64("t") / steps as f64;\n    let decay = (-theta * dt).exp();\n    let spread = sigma * ((1.0 - decay * decay) / (2.0 * theta)).sqrt();\n    let mut rng = Rng::new(seed);\n    let mut x = 0.0;\n    for _ in 0..steps {\n        x = x * decay + spread * rng.normal();\n    }\n    Ok(vec![Value::from(x)])\n}'
books["06_own_kernel"] = nb(
    [
        md(
            "# Your own Rust kernel\n\nA kernel written in a cell: `%%sweep kernel NAME` compiles "
            "the cell's Rust (the declarations and `run`) against the kernel SDK, loads the library "
            "and registers it, so `%%sweep run`, the editor, queries and estimates treat it like a "
            "built-in; the same library runs on Ray and on Lambda (`docs/kernels.md`). An "
            "unchanged cell is not compiled again; a one-line change rebuilds in about a second."
        ),
        code("%load_ext sweep_magic\nimport sweep_magic as sm"),
        md(
            "An Ornstein-Uhlenbeck process, dX = -theta X dt + sigma dW from X(0) = 0, stepped with "
            "its exact Gaussian transition. Randomness comes only from `Rng::new(seed)`, the "
            "engine's own generator, so every backend computes the same bits."
        ),
        code(OU),
        code(
            "%%sweep run -o run\nexperiment: ou\nseed: 3\nreplicates: 4000\n"
            "params: {theta: [0.5, 2.0], sigma: 1.0, steps: 50}"
        ),
        md(
            "X(t) is normal with mean 0 and variance sigma^2 (1 - e^(-2 theta t)) / (2 theta). With "
            "4,000 replicates per point the sample variance has a standard error of "
            "var * sqrt(2 / 3999), about 2.2% of it; the check allows 4 standard errors."
        ),
        checked(
            "import math\n"
            "df = run.to_pandas()\n"
            "for theta, rows in df.groupby('theta'):\n"
            "    var = (1 - math.exp(-2 * theta)) / (2 * theta)\n"
            "    se_var = var * math.sqrt(2 / (len(rows) - 1))\n"
            "    se_mean = math.sqrt(var / len(rows))\n"
            "    print(theta, len(rows), abs(rows.x_t.mean()) < 4 * se_mean, "
            "abs(rows.x_t.var() - var) < 4 * se_var)"
        ),
        md(
            "The kernel is in the registry with its origin; its library's sha256 is recorded in "
            "the run's manifest and pinned in its spec, so the run can never be resumed with "
            "another build."
        ),
        checked(
            "ou = next(e for e in sm.experiments() if e.name == 'ou')\n"
            "print(ou.origin, [p.name for p in ou.params], run.spec['kernel_sha256'] == ou.sha256)"
        ),
    ]
)
# Names on the command line (e.g. `06_own_kernel`) write only those notebooks.
for name in sys.argv[1:] or books:
    nbf.write(books[name], f"notebooks/{name}.ipynb")
print("written")
