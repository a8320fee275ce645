"""common.py merges an override as `docker compose` does, so the checks see what compose runs.

  python -m unittest discover -s deploy/checks -p 'test_*.py'
"""

import tempfile
import unittest
from pathlib import Path

from common import ComposeModel, compose_models, merge

BASE = {"services": {"scorer": {
    "image": "aegis:local",
    "command": ["aegis-scorer", "--brokers=redpanda:9092", "--live-view=all"],
    "environment": {"AEGIS_LOG": "info"},
    "volumes": ["models:/models:ro", "keys:/keys:ro"],
    "healthcheck": {"test": ["CMD", "curl", "http://127.0.0.1:8080/healthz"], "interval": "5s"},
}}}


class MergeTest(unittest.TestCase):
    def test_command_entrypoint_and_health_test_are_replaced_whole(self):
        merged = merge(BASE, {"services": {"scorer": {
            "command": ["aegis-scorer", "--brokers=other:9092"],
            "healthcheck": {"test": ["CMD", "true"]}}}})
        scorer = merged["services"]["scorer"]
        self.assertEqual(scorer["command"], ["aegis-scorer", "--brokers=other:9092"])
        self.assertEqual(scorer["healthcheck"], {"test": ["CMD", "true"], "interval": "5s"})
        self.assertEqual(scorer["image"], "aegis:local")

    def test_environment_merges_by_variable_in_either_syntax(self):
        merged = merge(BASE, {"services": {"scorer": {"environment": ["AEGIS_LOG=debug", "AEGIS_SCORER_RULES=/r.json"]}}})
        self.assertEqual(merged["services"]["scorer"]["environment"],
                         {"AEGIS_LOG": "debug", "AEGIS_SCORER_RULES": "/r.json"})

    def test_volumes_merge_by_target_and_profiles_append(self):
        merged = merge(BASE, {"services": {"scorer": {"volumes": ["other:/models:ro"], "profiles": ["paysim"]}}})
        scorer = merged["services"]["scorer"]
        self.assertEqual(scorer["volumes"], ["keys:/keys:ro", "other:/models:ro"])
        self.assertEqual(scorer["profiles"], ["paysim"])

    def test_the_base_is_left_as_it_was(self):
        merge(BASE, {"services": {"scorer": {"command": ["x"], "volumes": ["v:/models"]}}})
        self.assertEqual(BASE["services"]["scorer"]["command"][0], "aegis-scorer")
        self.assertEqual(len(BASE["services"]["scorer"]["volumes"]), 2)


class ModelTest(unittest.TestCase):
    def test_an_include_items_files_merge_in_order_and_profiles_turn_services_off(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "deploy").mkdir()
            (root / "deploy" / "base.yaml").write_text(
                "services:\n  a: {image: x:1, command: [aegis-a, --one]}\n  b: {image: x:1}\n")
            (root / "deploy" / "over.yaml").write_text(
                "services:\n  a: {command: [aegis-a, --two]}\n  b: {profiles: [off]}\n")
            (root / "top.yaml").write_text("include:\n  - path: [deploy/base.yaml, deploy/over.yaml]\n")
            model = ComposeModel(root / "top.yaml")
            self.assertEqual(model.services["a"]["command"], ["aegis-a", "--two"])
            self.assertEqual(model.active, {"a"})
            self.assertTrue(model.where("a", "command").startswith(str(root / "deploy" / "over.yaml")))
            self.assertTrue(model.where("a", "image").startswith(str(root / "deploy" / "base.yaml")))

    def test_the_repositorys_card_model_is_paysims_with_the_overrides(self):
        paysim, cards = compose_models()[:2]
        self.assertEqual(paysim.services["scorer-1"]["command"], cards.services["scorer-1"]["command"])
        self.assertIn("--spec=/opt/aegis/specs/cards.toml", cards.services["trainer"]["command"])
        self.assertNotIn("shadow-trainer", cards.active)
        self.assertIn("shadow-trainer", paysim.active)


if __name__ == "__main__":
    unittest.main()
