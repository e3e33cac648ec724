"""make_table.py on the synthetic inputs in testdata/ (standard library only):
    python3 bench/gpu/test_make_table.py"""
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_table  # noqa: E402


def render_testdata() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "gpu.md")
        make_table.main(["--tunesmith", os.path.join(HERE, "testdata", "tunesmith-synthetic.json"),
                         "--pytorch", os.path.join(HERE, "testdata", "pytorch-synthetic.json"),
                         "--commit", "abc1234", "--date", "2026-11-22", "--out", out])
        with open(out) as f:
            return f.read()


class MakeTableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.md = render_testdata()
        cls.lines = cls.md.splitlines()

    def line(self, start: str) -> str:
        found = [line for line in self.lines if line.startswith(start)]
        self.assertEqual(len(found), 1, f"one line starting {start!r}")
        return found[0]

    def test_header_names_card_driver_commit_date_and_marks_synthetic_input(self):
        self.assertIn("SYNTHETIC TEST INPUT", self.md)
        self.assertIn("Card: NVIDIA H100 80GB HBM3; driver 570.00.00; commit abc1234; 2026-11-22.", self.md)
        self.assertIn("GB = 10^9 bytes", self.md)

    def test_one_table_per_method(self):
        for title in ("## LoRA (bf16 base)", "## QLoRA (NF4 base)", "## LISA", "## ZO-SGD (MeZO)"):
            self.assertIn(title, self.lines)

    def test_row_cells(self):
        self.assertEqual(self.line("| 512 | 14.16 GiB / 15.20 GB"),
                         "| 512 | 14.16 GiB / 15.20 GB | 15.83 GiB / 17.00 GB | 8,533 | 4,741 | 1.80× | 25.0% | 14.0% |")
        # missing PyTorch row -> dashes; skipped and OOM rows say so
        self.assertIn("| 2048 | 15.27 GiB / 16.40 GB | — | 7,877 | — | — | 23.0% | — |", self.lines)
        self.assertIn("| 2048 | 6.89 GiB / 7.40 GB | skipped | 5,535 | skipped | — | 16.0% | skipped |", self.lines)
        self.assertIn("| 2048 | OOM (at 73.57 GiB) | 24.21 GiB / 26.00 GB | OOM | 5,251 | — | OOM | 21.0% |", self.lines)

    def test_targets(self):
        expected = {
            "| LISA 7B seq 1024: peak ≤ 20 GB |": "| 18.90 GB | PASS |",
            "| QLoRA 7B seq 2048: peak ≤ 7 GB |": "| 7.40 GB | FAIL |",
            "| LoRA bf16 7B seq 1024: peak ≤ 16 GB |": "| 15.60 GB | PASS |",
            "| ZO-SGD 7B max over seqs: peak ≤ 15 GB |": "| 14.80 GB | PASS |",
            "| LoRA seq 512: Tunesmith tok/s ≥ 1.5× PyTorch + PEFT |": "| 1.80× | PASS |",
            "| LoRA seq 1024: Tunesmith tok/s ≥ 1.5× PyTorch + PEFT |": "| 1.40× | FAIL |",
            "| LoRA seq 2048: Tunesmith tok/s ≥ 1.5× PyTorch + PEFT |": "| — | no data |",
        }
        for start, end in expected.items():
            self.assertTrue(self.line(start).endswith(end), self.line(start))
        self.assertIn("4 of 7 targets pass.", self.md)

    def test_zo_target_fails_on_any_oom(self):
        rows = {("zo-sgd", 512): {"status": "ok", "peak_driver_bytes": 1e9},
                ("zo-sgd", 2048): {"status": "oom", "peak_driver_bytes": 8e10}}
        self.assertEqual(make_table.memory_target("zo-sgd", None, 15e9, rows)[:2], ("OOM", "FAIL"))
        self.assertEqual(make_table.memory_target("lisa", 1024, 20e9, rows)[:2], ("—", "no data"))


if __name__ == "__main__":
    unittest.main()
