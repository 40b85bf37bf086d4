"""What autoresearch's analysis.ipynb does to a results.tsv, cell by cell, as a script.

Run it in the folder that holds results.tsv (as the notebook is): it loads the file with pandas,
counts the outcomes, lists the kept experiments, plots val_bpb over experiments with the running
best into progress.png, prints the summary statistics and ranks the kept improvements. It raises
where the notebook would (for instance when no row is `keep`). Written for orgloop's tests; it
reads the same columns and statuses the notebook reads.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

# Load the TSV: five columns, statuses upper-cased
df = pd.read_csv("results.tsv", sep="\t")
df["val_bpb"] = pd.to_numeric(df["val_bpb"], errors="coerce")
df["memory_gb"] = pd.to_numeric(df["memory_gb"], errors="coerce")
df["status"] = df["status"].str.strip().str.upper()
print(f"Total experiments: {len(df)}")
print(f"Columns: {list(df.columns)}")

# Outcomes
counts = df["status"].value_counts()
print("Experiment outcomes:")
print(counts.to_string())
n_keep, n_discard = counts.get("KEEP", 0), counts.get("DISCARD", 0)
if n_keep + n_discard > 0:
    print(f"Keep rate: {n_keep}/{n_keep + n_discard} = {n_keep / (n_keep + n_discard):.1%}")

# Kept experiments
kept = df[df["status"] == "KEEP"].copy()
print(f"KEPT experiments ({len(kept)} total):")
for i, row in kept.iterrows():
    print(
        f"  #{i:3d}  bpb={row['val_bpb']:.6f}  mem={row['memory_gb']:.1f}GB  {row['description']}"
    )

# val_bpb over time, with the running best of the kept ones
fig, ax = plt.subplots(figsize=(16, 8))
valid = df[df["status"] != "CRASH"].copy().reset_index(drop=True)
baseline_bpb = valid.loc[0, "val_bpb"]
below = valid[valid["val_bpb"] <= baseline_bpb + 0.0005]
disc = below[below["status"] == "DISCARD"]
ax.scatter(disc.index, disc["val_bpb"], c="#cccccc", s=12, alpha=0.5, label="Discarded")
kept_v = below[below["status"] == "KEEP"]
ax.scatter(kept_v.index, kept_v["val_bpb"], c="#2ecc71", s=50, label="Kept")
kept_mask = valid["status"] == "KEEP"
kept_idx, kept_bpb = valid.index[kept_mask], valid.loc[kept_mask, "val_bpb"]
ax.step(kept_idx, kept_bpb.cummin(), where="post", color="#27ae60", label="Running best")
for idx, bpb in zip(kept_idx, kept_bpb, strict=True):
    desc = str(valid.loc[idx, "description"]).strip()
    ax.annotate(desc[:42] + "..." if len(desc) > 45 else desc, (idx, bpb), fontsize=8.0)
ax.set_title(f"Autoresearch Progress: {len(df)} Experiments, {n_keep} Kept Improvements")
best_bpb = kept_bpb.min()
margin = (baseline_bpb - best_bpb) * 0.15
ax.set_ylim(best_bpb - margin, baseline_bpb + margin)
plt.tight_layout()
plt.savefig("progress.png", dpi=150, bbox_inches="tight")
print("Saved to progress.png")

# Summary statistics
baseline_bpb = df.iloc[0]["val_bpb"]
best_row = kept.loc[kept["val_bpb"].idxmin()]
improvement = baseline_bpb - kept["val_bpb"].min()
print(f"Baseline val_bpb:  {baseline_bpb:.6f}")
print(f"Best val_bpb:      {kept['val_bpb'].min():.6f}")
print(f"Total improvement: {improvement:.6f} ({improvement / baseline_bpb * 100:.2f}%)")
print(f"Best experiment:   {best_row['description']}")
print("Cumulative effort per improvement:")
for _, row in kept.reset_index().iterrows():
    print(f"  Experiment #{row['index']:3d}: bpb={row['val_bpb']:.6f}  {row['description']}")

# Top hits: each kept experiment's gain over the kept one before it
kept["prev_bpb"] = kept["val_bpb"].shift(1)
kept["delta"] = kept["prev_bpb"] - kept["val_bpb"]
hits = kept.iloc[1:].copy().sort_values("delta", ascending=False)
for rank, (_, row) in enumerate(hits.iterrows(), 1):
    print(f"{rank:4d}  {row['delta']:+.6f}  {row['val_bpb']:.6f}  {row['description']}")
print(f"      {hits['delta'].sum():+.6f}  TOTAL improvement over baseline")
