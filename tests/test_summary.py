"""summary.md leads with how far the taxonomy can be trusted: Table 1 against its bar and the
agreement with the paper's tables (issue 12); rendered from real comparisons of the paper's
released tables, no pipeline needed."""
from taskonomy.supervision import bip
from taskonomy.supervision.compare import compare_tables
from taskonomy.supervision.summary import render, table1_lines
from taskonomy.supervision.tree import best_ari


def test_table1_lines_name_the_networks_below_the_bar():
    ok = [{"task": t, "vs_avg": 0.9, "vs_random": 0.95, "n_images": 180} for t in ("normal", "reshading")]
    text = "\n".join(table1_lines(ok))
    assert "every network clears the bar" in text and "| normal | 0.90 | 0.95 | 180 |" in text
    bad = ok + [{"task": "room_layout", "vs_avg": 0.52, "vs_random": 0.71, "n_images": 180},
                {"task": "class_scene", "vs_avg": 0.79, "vs_random": 0.75, "n_images": 180}]
    text = "\n".join(table1_lines(bad))
    assert "below the bar" in text and "vs avg: room_layout;" in text
    assert "vs random: room_layout, class_scene" in text
    assert "| room_layout | **0.52** | **0.71** | 180 |" in text


def test_summary_shows_the_agreement_with_the_paper_next_to_the_papers_own():
    run = compare_tables("paper", "paper-16k", budgets=(4,))
    ref = compare_tables("paper-1k", "paper-16k", budgets=(4,))
    pol = bip.solve("paper", budget=4, max_order=1).to_dict()
    sig = {"settings": {"budget": 4, "max_order": 1, "n_random": 10, "seed": 0}, "scores": {}}
    text = render("r", "16k", pol, sig, [], compare=run, reference=ref, tree=best_ari("paper"),
                  reference_tree=best_ari("paper-16k"),
                  table1=[{"task": "normal", "vs_avg": 0.9, "vs_random": 0.9, "n_images": 9}])
    assert text.index("Table 1") < text.index("Agreement with the paper") < text.index("recommended policy")
    assert f"median Spearman rho {run['median_rho']:.2f}" in text
    assert f"agree at rho {ref['median_rho']:.2f}" in text
    assert "best adjusted Rand index" in text and "| normal |" in text


def test_summary_has_the_seed_to_seed_line_only_with_a_replicate():
    # a stand-in for eval/<size>/replicate_1/compare.json: same keys as any `taskonomy compare`
    rep = compare_tables("paper-1k", "paper-16k", budgets=(4,))
    pol = bip.solve("paper", budget=4, max_order=1).to_dict()
    sig = {"settings": {"budget": 4, "max_order": 1, "n_random": 10, "seed": 0}, "scores": {}}
    text = render("r", "16k", pol, sig, [], replicate=rep)
    line = ("Seed-to-seed agreement (Stage II retrained with another seed, same images): median rho "
            f"{rep['median_rho']:.3f} over {rep['n_targets']} targets ({rep['n_rho_above_0_5']} above 0.5)")
    assert line in text and "eval/16k/replicate_1/compare.png" in text
    assert text.index("Seed-to-seed") < text.index("recommended policy")
    assert "Seed-to-seed" not in render("r", "16k", pol, sig, [])
